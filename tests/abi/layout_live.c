/* The same table from the live header (include/sage/transport.h). */
#include "config.h"

#include <sage/transport.h>

#define LAYOUT_TABLE abi_layout_live
#define LAYOUT_ENTRY abi_entry_live
#include "layout_table.h"
