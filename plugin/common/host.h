/* Plugin side of the host services (struct sage_host): error details and
 * logging through the host, shared by the in-tree transports. Each plugin
 * links its own copy, so the stored host is per plugin. */
#ifndef SAGE_PLUGIN_HOST_H
#define SAGE_PLUGIN_HOST_H

#include <sage/transport.h>

/* Keeps the host given to the entry function (NULL is ignored). */
void sage_plugin_set_host(const struct sage_host *host);

/* Sets the caller's error detail through the host; returns `code`. */
int sage_plugin_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Logs one line through the host, tagged with `transport`. */
void sage_plugin_log(int level, const char *transport, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
