/* Capability names, and the ops each capability needs (SAGE_CAPABILITIES
 * in sage/transport.h): a plugin that declares one without its ops is
 * refused at load. */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define OP(field)                                                              \
  { #field, offsetof(struct sage_transport_ops, field) }

static const struct {
  const char *name;
  size_t offset;
} optional_ops[] = {
    OP(put_batch), OP(get_batch), OP(reserve), OP(commit), OP(cancel),
    OP(peek),      OP(release),   OP(list),    OP(unlink), OP(attachments),
    OP(depth),     OP(task_done), OP(join),
};

#define SAGE_XX_CAP(name, bit, text, ops) {bit, text, ops},
static const struct {
  unsigned bit;
  const char *name;
  const char *ops; /* space-separated op names */
} capabilities[] = {SAGE_CAPABILITIES(SAGE_XX_CAP)};
#undef SAGE_XX_CAP

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

SAGE_API const char *sage_capability_name(unsigned bit) {
  for (size_t i = 0; i < COUNT(capabilities); i++)
    if (capabilities[i].bit == bit)
      return capabilities[i].name;
  return NULL;
}

/* Whether ops has the optional op named name[0..len). */
static int has_op(const struct sage_transport_ops *ops, const char *name,
                  size_t len) {
  for (size_t i = 0; i < COUNT(optional_ops); i++) {
    if (strlen(optional_ops[i].name) != len ||
        memcmp(optional_ops[i].name, name, len) != 0)
      continue;
    void (*fn)(void) = NULL;
    if (ops->size >= optional_ops[i].offset + sizeof fn)
      memcpy(&fn, (const char *)ops + optional_ops[i].offset, sizeof fn);
    return fn != NULL;
  }
  return 0;
}

int sage__capabilities_check(uint64_t caps,
                             const struct sage_transport_ops *ops, char *why,
                             size_t cap) {
  for (size_t i = 0; i < COUNT(capabilities); i++) {
    if (!(caps & ((uint64_t)1 << capabilities[i].bit)))
      continue;
    for (const char *op = capabilities[i].ops; *op != '\0';) {
      size_t len = strcspn(op, " ");
      if (!has_op(ops, op, len)) {
        snprintf(why, cap,
                 "declares capability '%s' but its op '%.*s' is missing "
                 "(NULL or beyond the ops table's size)",
                 capabilities[i].name, (int)len, op);
        return SAGE_EBADPLUGIN;
      }
      op += len + strspn(op + len, " ");
    }
  }
  return 0;
}
