/* sage_queue_try_put/try_get: the non-blocking put and get with the fewest
 * arguments, for bindings that pay per converted argument (ctypes). */
#include "config.h"

#include <errno.h>
#include <limits.h>

#include "internal.h"

SAGE_API int sage_queue_try_put(sage_queue *q, const void *data, int len) {
  if (len < 0)
    return sage__fail(-EINVAL, "try_put: negative length %d", len);
  return sage_queue_put(q, data, (size_t)len, 0);
}

SAGE_API int sage_queue_try_get(struct sage_recv *r) {
  if (r == NULL)
    return sage__fail(-EINVAL, "try_get: request is NULL");
  if (r->cap > INT_MAX)
    return sage__fail(-EINVAL, "try_get: capacity %zu is over INT_MAX", r->cap);
  int rc = sage_queue_get(r->queue, r->buf, r->cap, &r->len, 0);
  return rc == 0 ? (int)r->len : rc;
}
