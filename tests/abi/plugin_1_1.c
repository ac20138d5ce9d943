/* ABI fixture "abi11": the same transport built against the SIMULATED 1.1
 * header (generated from the live one by tests/abi/local.mk), declaring
 * minor 1 and implementing
 * the op 1.1 appends (purge). A 1.0 host must refuse it by name and
 * reason; a 1.1 host must load it and call purge. */
#include "config.h"

#include <sage/transport.h> /* the 1.1 one: -I tests/abi/abi11 */

#include "tiny_queue.c"

_Static_assert(SAGE_TRANSPORT_ABI_MAJOR == 1 && SAGE_TRANSPORT_ABI_MINOR == 1,
               "abi11 must be built against the simulated 1.1 header");

static int tiny_purge(sage_transport_queue *q, uint64_t *removed) {
  pthread_mutex_lock(&tiny_lock);
  *removed = q->t->count;
  q->t->gets += q->t->count;
  q->t->head = q->t->count = 0;
  pthread_mutex_unlock(&tiny_lock);
  return 0;
}

static const struct sage_transport_ops ops = {
    .size = sizeof(struct sage_transport_ops), /* the 1.1 table */
    .open = tiny_open,
    .put = tiny_put,
    .get = tiny_get,
    .stats = tiny_stats,
    .close = tiny_close,
    .destroy = tiny_destroy,
    .depth = tiny_depth,
    .purge = tiny_purge,
};

static const struct sage_transport_descriptor descriptor = {
    .abi_version = SAGE_TRANSPORT_ABI_VERSION,
    .size = sizeof(struct sage_transport_descriptor),
    .name = "abi11",
    .version = "1.1.0-fixture",
    .description = "ABI fixture built against the simulated 1.1 header",
    .capabilities = SAGE_CAP_MPMC | SAGE_CAP_ITEM_BOUND,
    .ops = &ops,
};

SAGE_PLUGIN_EXPORT const struct sage_transport_descriptor *
SAGE_TRANSPORT_ENTRY(const struct sage_host *h) {
  (void)h;
  return &descriptor;
}
