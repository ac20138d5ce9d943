/* Key/value open-option parsing shared by the in-tree transports (linked
 * statically into each plugin; not part of the ABI). */
#ifndef SAGE_PLUGIN_OPTIONS_H
#define SAGE_PLUGIN_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

enum sage_opt_type {
  SAGE_OPT_SIZE, /* unsigned integer, optional K/M/G suffix (powers of 1024) */
  SAGE_OPT_BOOL, /* 1/0, true/false, yes/no, on/off */
  SAGE_OPT_MODE, /* octal permission bits, at most 0777 */
  SAGE_OPT_ENUM, /* one of `choices`; stored as its index (uint64_t) */
};

struct sage_opt_spec {
  const char *key;
  enum sage_opt_type type;
  size_t offset;     /* where the uint64_t result goes in the out struct */
  uint64_t min, max; /* inclusive bounds for SIZE */
  const char *const *choices; /* NULL-terminated, for ENUM */
};

/* Parses NULL-terminated key/value pairs into `out` per `specs`. Keys not in
 * specs are an error unless they start with "x-". A key given twice is an
 * error. Returns 0 or -EINVAL with a reason in `why`. */
int sage_opts_parse(const char *const *options,
                    const struct sage_opt_spec *specs, size_t nspecs, void *out,
                    char *why, size_t why_cap);

/* Parses one SIZE value ("4096", "64K", "1M", "2G"). Returns 0 or -EINVAL. */
int sage_opts_parse_size(const char *text, uint64_t *out);

#endif
