/* sage_queue_try_put/try_get: the non-blocking put and get with the fewest
 * arguments, for bindings that pay per converted argument (ctypes). */
#include "config.h"

#include <errno.h>
#include <limits.h>

#include "internal.h"

/* The first call of a handle in a forked child may wait: not here. */
static int after_fork(const char *op) {
  return sage__fail(-EINPROGRESS,
                    "%s: first call on this handle since fork: use "
                    "sage_queue_put/get",
                    op);
}

SAGE_API int sage_queue_try_put(sage_queue *q, const void *data, int len) {
  sage__put_begin();
  if (len < 0)
    return sage__fail(-EINVAL, "try_put: negative length %d", len);
  if (q != NULL && sage__queue_forked(q))
    return after_fork("try_put");
  return sage_queue_put(q, data, (size_t)len, 0);
}

SAGE_API int sage_queue_try_get(struct sage_recv *r) {
  if (r == NULL)
    return sage__fail(-EINVAL, "try_get: request is NULL");
  if (r->cap > INT_MAX)
    return sage__fail(-EINVAL, "try_get: capacity %zu is over INT_MAX", r->cap);
  if (r->queue != NULL && sage__queue_forked(r->queue))
    return after_fork("try_get");
  int rc = sage_queue_get(r->queue, r->buf, r->cap, &r->len, 0);
  return rc == 0 ? (int)r->len : rc;
}
