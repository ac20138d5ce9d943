/* Error details and logging through the host, for in-tree transports. */
#include "config.h"

#include "host.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static const struct sage_host *host;

/* A host built against an older ABI may lack a field: check its size. */
#define HOST_HAS(field)                                                        \
  (host != NULL &&                                                             \
   host->size >= offsetof(struct sage_host, field) + sizeof host->field &&     \
   host->field != NULL)

void sage_plugin_set_host(const struct sage_host *h) {
  if (h != NULL)
    host = h;
}

int sage_plugin_fail(int code, const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (HOST_HAS(set_detail))
    host->set_detail(text);
  return code;
}

void sage_plugin_log(int level, const char *transport, const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (HOST_HAS(log))
    host->log(level, transport, text);
}
