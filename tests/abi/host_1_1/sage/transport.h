/* Makes <sage/transport.h> resolve to the simulated 1.1 header when the
 * library sources are compiled as the "1.1 host" (tests/abi/local.mk). */
#include "../../transport_1_1.h"
