/* ABI fixture "abi10": a transport built against the FROZEN 1.0 header
 * (tests/abi/transport_1_0.h), as a plugin compiled years ago would be.
 * Every host with ABI major 1 must keep loading it and must answer
 * -ENOTSUP for any optional op beyond its ops table. */
#include "config.h"

#include "transport_1_0.h"

#include "tiny_queue.c"

_Static_assert(SAGE_TRANSPORT_ABI_MAJOR == 1 && SAGE_TRANSPORT_ABI_MINOR == 0,
               "abi10 must be built against the frozen 1.0 header");

static const struct sage_transport_ops ops = {
    .size = sizeof(struct sage_transport_ops), /* the 1.0 table */
    .open = tiny_open,
    .put = tiny_put,
    .get = tiny_get,
    .stats = tiny_stats,
    .close = tiny_close,
    .destroy = tiny_destroy,
    .depth = tiny_depth,
};

static const struct sage_transport_descriptor descriptor = {
    .abi_version = SAGE_TRANSPORT_ABI_VERSION,
    .size = sizeof(struct sage_transport_descriptor),
    .name = "abi10",
    .version = "1.0.0-fixture",
    .description = "ABI fixture built against the frozen 1.0 header",
    .capabilities = SAGE_CAP_MPMC | SAGE_CAP_ITEM_BOUND,
    .ops = &ops,
};

SAGE_PLUGIN_EXPORT const struct sage_transport_descriptor *
SAGE_TRANSPORT_ENTRY(const struct sage_host *h) {
  (void)h;
  return &descriptor;
}
