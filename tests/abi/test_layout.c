/* The live ABI header must stay binary-compatible with the frozen 1.0
 * header: every 1.0 field at the same offset with the same size, every
 * struct at least as large, every constant and the entry symbol unchanged,
 * and the same major. A failure here means a change needs a new major
 * (docs/PLUGINS.md, "Versioning"). */
#include "config.h"

#include <string.h>

#include "abi_check.h"
#include "abi_layout.h"

static void compare(const struct abi_row *old, const struct abi_row *now) {
  switch (old->kind) {
  case ABI_FIELD:
    ABI_CHECK(now->value == old->value && now->size == old->size,
              "%s: offset %llu size %llu (1.0: offset %llu size %llu)",
              old->name, (unsigned long long)now->value,
              (unsigned long long)now->size, (unsigned long long)old->value,
              (unsigned long long)old->size);
    break;
  case ABI_STRUCT:
    ABI_CHECK(now->value >= old->value, "%s: %llu bytes (1.0: %llu)", old->name,
              (unsigned long long)now->value, (unsigned long long)old->value);
    break;
  case ABI_CONSTANT:
    ABI_CHECK(now->value == old->value, "%s = %#llx (1.0: %#llx)", old->name,
              (unsigned long long)now->value, (unsigned long long)old->value);
    break;
  }
}

int main(void) {
  size_t i = 0;
  for (; abi_layout_1_0[i].name != NULL; i++) {
    ABI_CHECK(abi_layout_live[i].name != NULL &&
                  strcmp(abi_layout_live[i].name, abi_layout_1_0[i].name) == 0,
              "row %zu names match", i);
    compare(&abi_layout_1_0[i], &abi_layout_live[i]);
  }
  ABI_CHECK(i > 60, "%zu rows of the 1.0 surface compared", i);
  ABI_CHECK(strcmp(abi_entry_1_0, abi_entry_live) == 0,
            "entry symbol '%s' (1.0: '%s')", abi_entry_live, abi_entry_1_0);
  printf("%s\n", abi_failures ? "ABI layout BROKEN" : "ABI layout ok");
  return abi_failures ? 1 : 0;
}
