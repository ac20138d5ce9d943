/* Defines LAYOUT_TABLE and LAYOUT_ENTRY from whichever ABI header was
 * included before this file. Included once per header by layout_1_0.c and
 * layout_live.c; no include guard on purpose. */
#include <stddef.h>

#include "abi_layout.h"
#include "fields_1_0.h"

#define FIELD_ROW(s, f)                                                        \
  {#s "." #f, ABI_FIELD, offsetof(struct s, f), sizeof(((struct s *)0)->f)},
#define STRUCT_ROW(s)                                                          \
  {"sizeof(struct " #s ")", ABI_STRUCT, sizeof(struct s), 0},
#define CONSTANT_ROW(c) {#c, ABI_CONSTANT, (uint64_t)(c), 0},

const struct abi_row LAYOUT_TABLE[] = {
    ABI_1_0_FIELDS(FIELD_ROW) ABI_1_0_STRUCTS(STRUCT_ROW)
        ABI_1_0_CONSTANTS(CONSTANT_ROW){NULL, ABI_FIELD, 0, 0}};

const char LAYOUT_ENTRY[] = SAGE_TRANSPORT_ENTRY_SYMBOL;
