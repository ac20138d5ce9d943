/* One row of an ABI layout table (see fields_1_0.h, layout_table.h). */
#ifndef SAGE_ABI_LAYOUT_H
#define SAGE_ABI_LAYOUT_H

#include <stdint.h>

enum abi_row_kind { ABI_FIELD, ABI_STRUCT, ABI_CONSTANT };

struct abi_row {
  const char *name;
  enum abi_row_kind kind;
  uint64_t value; /* field offset, struct size or constant value */
  uint64_t size;  /* field size */
};

extern const struct abi_row abi_layout_1_0[];
extern const struct abi_row abi_layout_live[];
extern const char abi_entry_1_0[];
extern const char abi_entry_live[];

#endif
