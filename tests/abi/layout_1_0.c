/* The 1.0 layout table, from the frozen header. */
#include "config.h"

#include "transport_1_0.h"

#define LAYOUT_TABLE abi_layout_1_0
#define LAYOUT_ENTRY abi_entry_1_0
#include "layout_table.h"
