/* Criterion wrapper of the conformance suite: one test per check, against
 * $SAGE_CONFORMANCE_TRANSPORT (default shm). Capability-gated checks are
 * skipped with the reason. The mutants below show that each check fails
 * against a transport breaking the rule it checks. */
#include "config.h"

#include <criterion/criterion.h>
#include <sage/queue.h>
#include <stdio.h>
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
CONFORMANCE(create_options)
CONFORMANCE(refused_options)
CONFORMANCE(error_detail)
CONFORMANCE(max_message)
CONFORMANCE(stats_fields)
CONFORMANCE(stats_counting)
CONFORMANCE(wait_flags)
CONFORMANCE(list)
CONFORMANCE(unlink)
CONFORMANCE(depth)
CONFORMANCE(attachments)
CONFORMANCE(observe)
CONFORMANCE(eintr)
CONFORMANCE(fork)
CONFORMANCE(cross_process)

Test(conformance, every_check_has_a_test) {
  cr_assert_eq(sage_conformance_count, 30,
               "add a CONFORMANCE() line for each new check");
}

/* Runs check `name` on the "sloppy" fixture (shm with the rule `mutation`
 * broken, tests/fixtures/sloppy_transport.c): it must fail, saying `why`. */
static void run_mutant(const char *name, const char *mutation,
                       const char *why) {
  const char *fixtures = getenv("SAGE_TEST_FIXTURES");
  const char *plugins = getenv("SAGE_TEST_PLUGINS");
  cr_assert(fixtures != NULL && plugins != NULL, "run through make check");
  char path[1024], base[1024], loaded[64];
  snprintf(path, sizeof path, "%s/sage-sloppy.so", fixtures);
  snprintf(base, sizeof base, "%s/sage-shm.so", plugins);
  setenv("SAGE_SLOPPY_BASE", base, 1);
  setenv("SAGE_SLOPPY", mutation, 1);
  int rc = sage_transport_load_path(path, loaded, sizeof loaded);
  cr_assert_eq(rc, 0, "load %s: %s", path, sage_last_error());
  struct conf_ctx ctx;
  cr_assert_eq(sage_conformance_init(&ctx, loaded), 0, "%s", sage_last_error());
  for (size_t i = 0; i < sage_conformance_count; i++) {
    if (strcmp(sage_conformance_checks[i].name, name) != 0)
      continue;
    enum conf_result res =
        sage_conformance_run(&ctx, &sage_conformance_checks[i]);
    cr_assert_eq(res, CONF_FAIL, "%s passed with mutation %s (%s)", name,
                 mutation, ctx.why);
    cr_assert(strstr(ctx.why, why) != NULL,
              "%s failed for another reason than '%s': %s", name, why, ctx.why);
    return;
  }
  cr_assert_fail("no conformance check named %s", name);
}

#define MUTANT(name, mutation, why)                                            \
  Test(conformance_mutants, name) {                                            \
    run_mutant(#name, mutation, why);                                          \
  }

MUTANT(create_options, "create", "create=always on an existing queue")
MUTANT(refused_options, "mode", "mode=rw-all")
MUTANT(error_detail, "detail", "oversize put")
MUTANT(max_message, "max_message", "max_message")
MUTANT(stats_fields, "creator", "creator_pid")
MUTANT(stats_counting, "timeouts", "get that timed out")
MUTANT(wait_flags, "flags", "get SLICE that expired")
MUTANT(list, "list", "callback returned 42")
MUTANT(unlink, "unlink", "unless_attached=1")
MUTANT(depth, "depth", "depth when empty")
MUTANT(attachments, "attach", "attachments with one handle")
MUTANT(observe, "observe", "observe handle counted")
MUTANT(eintr, "eintr", "want -EINTR")
MUTANT(fork, "fork", "child")
MUTANT(cross_process, "xproc", "round 0")
