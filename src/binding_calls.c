/* The calls made for bindings: sage_queue_try_put/try_get, the
 * non-blocking put and get with the fewest arguments, for bindings that pay
 * per converted argument (ctypes); and the put calls that also leave their
 * result in a struct sage_send, where a binding reads it when an
 * asynchronous exception replaced the return value. */
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

static int no_request(const char *op) {
  return sage__fail(-EINVAL, "%s: request is NULL", op);
}

SAGE_API int sage_queue_try_put(struct sage_send *s, const void *data,
                                int len) {
  if (s == NULL)
    return no_request("try_put");
  if (len < 0)
    return s->result = sage__fail(-EINVAL, "try_put: negative length %d", len);
  if (s->queue != NULL && sage__queue_forked(s->queue))
    return s->result = after_fork("try_put");
  return s->result = sage_queue_put(s->queue, data, (size_t)len, 0);
}

SAGE_API int sage_queue_put_r(struct sage_send *s, const void *data, size_t len,
                              int64_t timeout_ns) {
  if (s == NULL)
    return no_request("put_r");
  return s->result = sage_queue_put(s->queue, data, len, timeout_ns);
}

SAGE_API int sage_queue_put_back_r(struct sage_send *s, const void *data,
                                   size_t len) {
  if (s == NULL)
    return no_request("put_back_r");
  int rc = sage_queue_put(s->queue, data, len, 0);
  if (rc == 0) /* the same task: its first put counted it (join) */
    (void)sage_queue_task_done(s->queue, 1);
  return s->result = rc;
}

SAGE_API int sage_queue_commit_r(struct sage_send *s, uint64_t token) {
  if (s == NULL)
    return no_request("commit_r");
  return s->result = sage_queue_commit(s->queue, token);
}

SAGE_API int sage_queue_try_get(struct sage_recv *r) {
  if (r == NULL)
    return no_request("try_get");
  if (r->cap > INT_MAX)
    return sage__fail(-EINVAL, "try_get: capacity %zu is over INT_MAX", r->cap);
  if (r->queue != NULL && sage__queue_forked(r->queue))
    return after_fork("try_get");
  int rc = sage_queue_get(r->queue, r->buf, r->cap, &r->len, 0);
  return rc == 0 ? (int)r->len : rc;
}
