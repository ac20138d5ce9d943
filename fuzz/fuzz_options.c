/* libFuzzer harness: the key/value open-option parser shared by the in-tree
 * transports (plugin/common/options.c).
 *
 * Input: byte 0 sets the size of the error buffer; the rest is split at NUL
 * bytes into strings that become the NULL-terminated key/value array (an
 * odd count leaves the last key without a value, which the parser must
 * refuse). The spec table mirrors the shm transport's options and covers
 * every option type. On success every parsed value must respect its spec;
 * on failure the reason must be a terminated string inside its buffer. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STRINGS 160
#define NOT_SET 0xdeadbeefcafef00dull

struct parsed {
  uint64_t capacity, max_items, mode, create, auto_cleanup, spin_ns, uid;
};

static const char *const create_modes[] = {"auto", "always", "never", NULL};

#define OPT(key, type, field, lo, hi, choices)                                 \
  { key, type, offsetof(struct parsed, field), lo, hi, choices }

static const struct sage_opt_spec specs[] = {
    OPT("capacity", SAGE_OPT_SIZE, capacity, 4096, 4ull << 30, NULL),
    OPT("max_items", SAGE_OPT_SIZE, max_items, 0, 1u << 24, NULL),
    OPT("mode", SAGE_OPT_MODE, mode, 0, 0, NULL),
    OPT("create", SAGE_OPT_ENUM, create, 0, 0, create_modes),
    OPT("auto_cleanup", SAGE_OPT_BOOL, auto_cleanup, 0, 0, NULL),
    OPT("spin_ns", SAGE_OPT_SIZE, spin_ns, 0, 1000000000, NULL),
    OPT("uid", SAGE_OPT_SIZE, uid, 0, UINT32_MAX, NULL),
};
#define N_SPECS (sizeof specs / sizeof specs[0])

#define CHECK(cond)                                                            \
  do                                                                           \
    if (!(cond)) {                                                             \
      fprintf(stderr, "invariant failed: %s\n", #cond);                        \
      abort();                                                                 \
    }                                                                          \
  while (0)

static int in_spec(const struct sage_opt_spec *spec, uint64_t v) {
  switch (spec->type) {
  case SAGE_OPT_SIZE:
    return v >= spec->min && v <= spec->max;
  case SAGE_OPT_BOOL:
    return v <= 1;
  case SAGE_OPT_MODE:
    return v <= 0777;
  case SAGE_OPT_ENUM:
    return v < 3;
  }
  return 0;
}

static void check_values(const struct parsed *p) {
  for (size_t i = 0; i < N_SPECS; i++) {
    uint64_t v;
    memcpy(&v, (const char *)p + specs[i].offset, sizeof v);
    CHECK(v == NOT_SET || in_spec(&specs[i], v));
  }
}

/* sage_opts_parse_size alone: a success must round-trip for plain digits. */
static void check_size(const char *text) {
  uint64_t v;
  if (sage_opts_parse_size(text, &v) != 0)
    return;
  size_t len = strlen(text);
  if (len > 0 && len < 20 && strspn(text, "0123456789") == len)
    CHECK(v == strtoull(text, NULL, 10));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t why_cap = 1 + data[0] % 256;
  char *copy = malloc(size); /* the strings, each NUL-terminated */
  memcpy(copy, data + 1, size - 1);
  copy[size - 1] = '\0';
  const char *strings[MAX_STRINGS + 1];
  size_t n = 0;
  for (char *p = copy; n < MAX_STRINGS && p < copy + size - 1;
       p += strlen(p) + 1)
    strings[n++] = p;
  strings[n] = NULL;
  struct parsed out;
  for (size_t i = 0; i < N_SPECS; i++) {
    uint64_t mark = NOT_SET;
    memcpy((char *)&out + specs[i].offset, &mark, sizeof mark);
  }
  char *why = malloc(why_cap);
  int rc = sage_opts_parse(strings, specs, N_SPECS, &out, why, why_cap);
  if (rc == 0)
    check_values(&out);
  else
    CHECK(rc == -EINVAL && memchr(why, '\0', why_cap) != NULL);
  for (size_t i = 0; i < n; i++)
    check_size(strings[i]);
  free(why);
  free(copy);
  return 0;
}
