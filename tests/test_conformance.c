/* Criterion wrapper of the conformance suite: one test per check, against
 * $SAGE_CONFORMANCE_TRANSPORT (default shm). Capability-gated checks are
 * skipped with the reason. */
#include "config.h"

#include <criterion/criterion.h>
#include <sage/queue.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conformance.h"

static void run_named(const char *name) {
  const char *transport = getenv("SAGE_CONFORMANCE_TRANSPORT");
  if (transport == NULL || *transport == '\0')
    transport = "shm";
  struct conf_ctx ctx;
  int rc = sage_conformance_init(&ctx, transport);
  cr_assert_eq(rc, 0, "load %s: %s", transport, sage_last_error());
  for (size_t i = 0; i < sage_conformance_count; i++) {
    if (strcmp(sage_conformance_checks[i].name, name) != 0)
      continue;
    enum conf_result res =
        sage_conformance_run(&ctx, &sage_conformance_checks[i]);
    if (res == CONF_SKIP)
      cr_skip_test("%s: %s", transport, ctx.why);
    cr_assert_eq(res, CONF_PASS, "%s/%s: %s", transport, name, ctx.why);
    return;
  }
  cr_assert_fail("no conformance check named %s", name);
}

#define CONFORMANCE(name)                                                      \
  Test(conformance, name) {                                                    \
    run_named(#name);                                                          \
  }

CONFORMANCE(fifo)
CONFORMANCE(all_sizes)
CONFORMANCE(emsgsize)
CONFORMANCE(eagain)
CONFORMANCE(timeouts)
CONFORMANCE(stats)
CONFORMANCE(batch)
CONFORMANCE(zero_copy)
CONFORMANCE(persistence)
CONFORMANCE(blocking_wakeup)
CONFORMANCE(many_sleepers)
CONFORMANCE(item_bound)
CONFORMANCE(options)
CONFORMANCE(two_handles)
CONFORMANCE(tasks)

Test(conformance, every_check_has_a_test) {
  cr_assert_eq(sage_conformance_count, 15,
               "add a CONFORMANCE() line for each new check");
}
