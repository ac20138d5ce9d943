/* The transport conformance suite: checks every transport must pass, gated
 * by the capabilities it declares. Used by the Criterion suite, the
 * standalone runner (tests/run_conformance) and `sage-queue check-plugin`. */
#ifndef SAGE_CONFORMANCE_H
#define SAGE_CONFORMANCE_H

#include <stddef.h>
#include <stdint.h>

enum conf_result { CONF_PASS = 0, CONF_FAIL = 1, CONF_SKIP = 77 };

#define CONF_MAX_HANDLES 4

struct conf_ctx {
  const char *transport;
  uint64_t caps;
  char why[1024]; /* failure or skip reason */
  /* handles a check opened and has not closed yet: destroyed after the
   * check, so a failing check leaves nothing behind */
  struct sage_queue *open[CONF_MAX_HANDLES];
};

struct conf_check {
  const char *name;
  const char *summary;
  uint64_t needs; /* SAGE_CAP_* required; skipped otherwise */
  enum conf_result (*run)(struct conf_ctx *ctx);
};

extern const struct conf_check sage_conformance_checks[];
extern const size_t sage_conformance_count;

/* Prepares ctx for `transport` (loads it, reads capabilities). Returns 0
 * or the registry's error code. */
int sage_conformance_init(struct conf_ctx *ctx, const char *transport);

/* Runs one check (skipping it when a capability is missing). */
enum conf_result sage_conformance_run(struct conf_ctx *ctx,
                                      const struct conf_check *check);

#endif
