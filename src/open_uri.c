/* sage_queue_open_uri: opens the queue a URI names (see uri.c). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "internal.h"
#include "uri.h"

/* The URI's options with extra's (key, value pairs) replacing the same
 * keys and added after them; NULL-terminated in out (2 * cap + 1). */
static int merge(const struct sage_uri *u, const char *const *extra,
                 const char **out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < u->n_options; i++) {
    const char *key = u->options[2 * i];
    int replaced = 0;
    for (size_t j = 0; extra != NULL && extra[j] != NULL; j += 2)
      replaced |= strcmp(extra[j], key) == 0;
    if (!replaced) {
      out[2 * n] = key;
      out[2 * n + 1] = u->options[2 * i + 1];
      n++;
    }
  }
  for (size_t j = 0; extra != NULL && extra[j] != NULL; j += 2) {
    if (extra[j + 1] == NULL)
      return sage__fail(-EINVAL, "extra option '%.40s' has no value", extra[j]);
    if (n == cap)
      return sage__fail(-EINVAL, "more than %zu options", cap);
    out[2 * n] = extra[j];
    out[2 * n + 1] = extra[j + 1];
    n++;
  }
  out[2 * n] = NULL;
  return 0;
}

int sage_queue_open_uri(const char *uri, const char *const *extra_options,
                        sage_queue **out) {
  if (out == NULL)
    return sage__fail(-EINVAL, "open_uri: out is NULL");
  *out = NULL;
  struct sage_uri u;
  if (sage__uri_parse(uri, &u) != 0)
    return sage__fail(-EINVAL, "%s", u.error);
  const char *options[2 * 2 * SAGE_URI_MAX_OPTIONS + 1];
  int rc = merge(&u, extra_options, options, 2 * SAGE_URI_MAX_OPTIONS);
  if (rc != 0)
    return rc;
  return sage_queue_open(u.transport, u.name, options, out);
}
