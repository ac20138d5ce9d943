/* A grown host, for real: libsagequeue's own sources (registry, loader,
 * flat API) compiled against the SIMULATED 1.1 header, linked into this
 * program instead of the library (tests/abi/local.mk). It checks what a
 * minor bump promises:
 *  - the plugin built with the frozen 1.0 header still loads and works,
 *    although its ops table is shorter than this host's;
 *  - the host calls the op 1.1 appends (purge) on the 1.1 plugin, using
 *    the real size-checked dispatch (SAGE__HAS_OP from src/internal.h),
 *    and answers -ENOTSUP for it on the 1.0 plugin, touching nothing. */
#include "config.h"

#include <errno.h>
#include <sage/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi_check.h"
#include "internal.h"

_Static_assert(SAGE_TRANSPORT_ABI_MINOR == 1,
               "this host must be built against the simulated 1.1 header");

/* What the 1.1 flat API would add: sage_queue_purge, by queue name. */
static int purge(const char *transport, const char *name, uint64_t *removed) {
  const struct sage__plugin *p;
  int rc = sage__registry_get(transport, &p);
  if (rc != 0)
    return rc;
  if (!SAGE__HAS_OP(p, purge))
    return -ENOTSUP;
  sage_transport_queue *tq;
  const char *never[] = {"create", "never", NULL};
  rc = p->ops->open(name, never, &tq);
  if (rc != 0)
    return rc;
  rc = p->ops->purge(tq, removed);
  p->ops->close(tq);
  return rc;
}

static sage_queue *open_with_three(const char *transport) {
  sage_queue *q = NULL;
  int rc = sage_queue_open(transport, "grown", NULL, &q);
  ABI_CHECK(rc == 0, "%s loads and opens in the 1.1 host: %s", transport,
            rc ? sage_last_error() : "");
  if (rc != 0)
    return NULL;
  for (int i = 0; i < 3; i++)
    ABI_CHECK(sage_queue_put(q, "m", 1, 0) == 0, "%s: put %d", transport, i);
  return q;
}

static uint64_t items_of(sage_queue *q) {
  uint64_t items = 0, bytes = 0;
  sage_queue_depth(q, &items, &bytes);
  return items;
}

int main(void) {
  const char *b = getenv("SAGE_TEST_BUILDDIR");
  if (b == NULL) {
    fprintf(stderr, "run through make check\n");
    return 77;
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/tests/abi/.libs", b);
  setenv("SAGE_PLUGIN_PATH", dir, 1);
  ABI_CHECK(sage_abi_version() == ((1u << 16) | 1u), "host ABI is 1.1");

  sage_queue *q11 = open_with_three("abi11");
  sage_queue *q10 = open_with_three("abi10");
  if (q11 == NULL || q10 == NULL)
    return 1;
  uint64_t removed = 0;
  int rc = purge("abi11", "grown", &removed);
  ABI_CHECK(rc == 0 && removed == 3, "purge is called on the 1.1 plugin: %d",
            rc);
  ABI_CHECK(items_of(q11) == 0, "and it took effect");
  removed = 99;
  rc = purge("abi10", "grown", &removed);
  ABI_CHECK(rc == -ENOTSUP, "purge on the 1.0 plugin answers -ENOTSUP: %d", rc);
  ABI_CHECK(removed == 99 && items_of(q10) == 3,
            "and the 1.0 plugin was not touched");
  char buf[8];
  size_t len;
  ABI_CHECK(sage_queue_get(q10, buf, sizeof buf, &len, 0) == 0 && len == 1,
            "the 1.0 plugin keeps working after the refused op");
  sage_queue_destroy(q10);
  sage_queue_destroy(q11);
  return abi_failures ? 1 : 0;
}
