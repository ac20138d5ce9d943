/* The flat, handle-based queue API: validates arguments and dispatches to
 * the transport's ops table. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define QUEUE_NAME_MAX 128
#define STACK_BATCH 64

struct sage_queue {
  const struct sage__plugin *plugin;
  sage_transport_queue *tq;
  uint64_t serial;   /* unique per handle in this process, never reused */
  int64_t wait_mask; /* ~SAGE_WAIT_FLAGS unless the plugin takes them */
  _Atomic unsigned forks_seen; /* fork_count at its last put or get */
  char name[QUEUE_NAME_MAX + 1];
};

static _Atomic uint64_t next_serial = 1;

/* Forked children: a handle's first call in one may wait (the transport
 * re-attaches), so the try calls leave that call to sage_queue_put/get. */
static _Atomic unsigned fork_count;
static pthread_once_t fork_watch = PTHREAD_ONCE_INIT;

static void count_fork(void) {
  atomic_fetch_add_explicit(&fork_count, 1, memory_order_relaxed);
}

static void watch_forks(void) {
  pthread_atfork(NULL, NULL, count_fork);
}

static void note_forks_seen(sage_queue *q) {
  atomic_store_explicit(&q->forks_seen,
                        atomic_load_explicit(&fork_count, memory_order_relaxed),
                        memory_order_relaxed);
}

int sage__queue_forked(const sage_queue *q) {
  return atomic_load_explicit(&q->forks_seen, memory_order_relaxed) !=
         atomic_load_explicit(&fork_count, memory_order_relaxed);
}

/* After a put or get: rc says the transport got as far as the queue (a
 * failed re-attach returns something else, and the next call retries). */
static void note_settled(sage_queue *q, int rc) {
  if ((rc == 0 || rc == -EAGAIN || rc == -ETIMEDOUT || rc == -EMSGSIZE ||
       rc == -EINTR) &&
      sage__queue_forked(q))
    note_forks_seen(q);
}

/* A wait as the plugin takes it: SAGE_WAIT_* flags only if it declared
 * SAGE_CAP_WAIT_FLAGS (a negative wait, forever, carries none). */
#define WAIT(q, t) ((t) < 0 ? (t) : (t) & (q)->wait_mask)

/* Queue names: [A-Za-z0-9][A-Za-z0-9_.-]{0,127}, the same for every
 * transport so a name can move between transports. */
static int queue_name_ok(const char *name) {
  if (name == NULL || *name == '\0' || *name == '.' || *name == '-' ||
      *name == '_')
    return 0;
  size_t n = 0;
  for (const char *c = name; *c != '\0'; c++, n++) {
    int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
             (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-';
    if (!ok || n >= QUEUE_NAME_MAX)
      return 0;
  }
  return 1;
}

static int bad_queue_name(const char *name) {
  return sage__fail(SAGE_EBADNAME,
                    "invalid queue name '%.140s': use 1-%d characters of "
                    "A-Z a-z 0-9 _ . - starting with a letter or digit",
                    name != NULL ? name : "(null)", QUEUE_NAME_MAX);
}

/* A failing op keeps the transport's detail, or gets a generic one. */
static int op_result(const sage_queue *q, const char *op, int rc) {
  if (rc < 0 && !sage__detail_commit())
    sage__fail_lazy(rc, op, q->serial, q->name, q->plugin->name);
  return rc;
}

static int no_op(const sage_queue *q, const char *op) {
  return sage__fail(-ENOTSUP, "transport '%s' does not support %s",
                    q->plugin->name, op);
}

#define CHECK_Q(q)                                                             \
  do {                                                                         \
    if ((q) == NULL)                                                           \
      return sage__fail(-EINVAL, "queue handle is NULL");                      \
    sage__plugin_call_begin();                                                 \
  } while (0)

SAGE_API int sage_queue_open(const char *transport, const char *name,
                             const char *const *options, sage_queue **out) {
  if (out == NULL)
    return sage__fail(-EINVAL, "sage_queue_open: out is NULL");
  *out = NULL;
  if (!queue_name_ok(name))
    return bad_queue_name(name);
  const struct sage__plugin *p;
  int rc = sage__registry_get(sage_transport_choose(transport), &p);
  if (rc != 0)
    return rc;
  sage_queue *q = calloc(1, sizeof *q);
  if (q == NULL)
    return sage__fail(-ENOMEM, "out of memory");
  q->plugin = p;
  q->wait_mask = p->desc->capabilities & SAGE_CAP_WAIT_FLAGS
                     ? ~(int64_t)0
                     : ~(int64_t)SAGE_WAIT_FLAGS;
  q->serial = atomic_fetch_add_explicit(&next_serial, 1, memory_order_relaxed);
  snprintf(q->name, sizeof q->name, "%s", name);
  pthread_once(&fork_watch, watch_forks);
  note_forks_seen(q);
  sage__plugin_call_begin();
  rc = p->ops->open(name, options, &q->tq);
  if (rc != 0) {
    op_result(q, "open", rc);
    free(q);
    return rc;
  }
  *out = q;
  return 0;
}

SAGE_API int sage_queue_put(sage_queue *q, const void *data, size_t len,
                            int64_t timeout_ns) {
  sage__put_begin(); /* first: a failed check leaves 1, not an older result */
  CHECK_Q(q);
  if (data == NULL && len > 0)
    return sage__fail(-EINVAL, "put: data is NULL");
  int rc = q->plugin->ops->put(q->tq, data, len, WAIT(q, timeout_ns));
  note_settled(q, rc);
  return sage__put_end(op_result(q, "put", rc));
}

SAGE_API int sage_queue_get(sage_queue *q, void *buf, size_t cap, size_t *len,
                            int64_t timeout_ns) {
  CHECK_Q(q);
  if ((buf == NULL && cap > 0) || len == NULL)
    return sage__fail(-EINVAL, "get: buffer or length pointer is NULL");
  int rc = q->plugin->ops->get(q->tq, buf, cap, len, WAIT(q, timeout_ns));
  note_settled(q, rc);
  return op_result(q, "get", rc);
}

SAGE_API int sage_queue_put_batch(sage_queue *q, const void *const *datas,
                                  const size_t *lens, size_t count,
                                  size_t *done, int64_t timeout_ns) {
  CHECK_Q(q);
  size_t ignored;
  if (done == NULL)
    done = &ignored;
  *done = 0;
  if (count > 0 && (datas == NULL || lens == NULL))
    return sage__fail(-EINVAL, "put_batch: arrays are NULL");
  if (!SAGE__HAS_OP(q->plugin, put_batch))
    return no_op(q, "put_batch");
  struct sage_msg stack[STACK_BATCH];
  struct sage_msg *msgs =
      count <= STACK_BATCH ? stack : malloc(count * sizeof *msgs);
  if (msgs == NULL)
    return sage__fail(-ENOMEM, "put_batch: out of memory");
  for (size_t i = 0; i < count; i++)
    msgs[i] = (struct sage_msg){datas[i], lens[i]};
  int rc =
      q->plugin->ops->put_batch(q->tq, msgs, count, done, WAIT(q, timeout_ns));
  if (msgs != stack)
    free(msgs);
  return op_result(q, "put_batch", rc);
}

SAGE_API int sage_queue_get_batch(sage_queue *q, void *buf, size_t cap,
                                  size_t *lens, size_t max, size_t *count,
                                  int64_t timeout_ns) {
  CHECK_Q(q);
  if (count == NULL || (max > 0 && lens == NULL) || (buf == NULL && cap > 0))
    return sage__fail(-EINVAL, "get_batch: NULL argument");
  *count = 0;
  if (!SAGE__HAS_OP(q->plugin, get_batch))
    return no_op(q, "get_batch");
  return op_result(q, "get_batch",
                   q->plugin->ops->get_batch(q->tq, buf, cap, lens, max, count,
                                             WAIT(q, timeout_ns)));
}

SAGE_API int sage_queue_reserve(sage_queue *q, size_t len, void **ptr,
                                uint64_t *token, int64_t timeout_ns) {
  CHECK_Q(q);
  if (ptr == NULL || token == NULL)
    return sage__fail(-EINVAL, "reserve: NULL argument");
  if (!SAGE__HAS_OP(q->plugin, reserve) || !SAGE__HAS_OP(q->plugin, commit) ||
      !SAGE__HAS_OP(q->plugin, cancel))
    return no_op(q, "reserve/commit");
  return op_result(
      q, "reserve",
      q->plugin->ops->reserve(q->tq, len, ptr, token, WAIT(q, timeout_ns)));
}

SAGE_API int sage_queue_commit(sage_queue *q, uint64_t token) {
  CHECK_Q(q);
  if (!SAGE__HAS_OP(q->plugin, commit))
    return no_op(q, "commit");
  return op_result(q, "commit", q->plugin->ops->commit(q->tq, token));
}

SAGE_API int sage_queue_cancel(sage_queue *q, uint64_t token) {
  CHECK_Q(q);
  if (!SAGE__HAS_OP(q->plugin, cancel))
    return no_op(q, "cancel");
  return op_result(q, "cancel", q->plugin->ops->cancel(q->tq, token));
}

SAGE_API int sage_queue_peek(sage_queue *q, const void **ptr, size_t *len,
                             uint64_t *token, int64_t timeout_ns) {
  CHECK_Q(q);
  if (ptr == NULL || len == NULL || token == NULL)
    return sage__fail(-EINVAL, "peek: NULL argument");
  if (!SAGE__HAS_OP(q->plugin, peek) || !SAGE__HAS_OP(q->plugin, release))
    return no_op(q, "peek/release");
  return op_result(
      q, "peek",
      q->plugin->ops->peek(q->tq, ptr, len, token, WAIT(q, timeout_ns)));
}

SAGE_API int sage_queue_release(sage_queue *q, uint64_t token) {
  CHECK_Q(q);
  if (!SAGE__HAS_OP(q->plugin, release))
    return no_op(q, "release");
  return op_result(q, "release", q->plugin->ops->release(q->tq, token));
}

SAGE_API int sage_queue_stats(sage_queue *q, struct sage_stats *st) {
  CHECK_Q(q);
  if (st == NULL || st->size < 8)
    return sage__fail(-EINVAL,
                      "stats: set st->size = sizeof(struct sage_stats)");
  uint32_t size = st->size < sizeof *st ? st->size : (uint32_t)sizeof *st;
  struct sage_stats full;
  memset(&full, 0, sizeof full);
  full.size = sizeof full;
  int rc = q->plugin->ops->stats(q->tq, &full);
  if (rc == 0) {
    memcpy((char *)st + 8, (char *)&full + 8, size - 8);
    st->size = size;
  }
  return op_result(q, "stats", rc);
}

SAGE_API int sage_queue_attachments(sage_queue *q, int32_t *pids, size_t cap) {
  CHECK_Q(q);
  if (pids == NULL && cap > 0)
    return sage__fail(-EINVAL, "attachments: pids is NULL");
  if (!SAGE__HAS_OP(q->plugin, attachments))
    return no_op(q, "attachments");
  return op_result(q, "attachments",
                   q->plugin->ops->attachments(q->tq, pids, cap));
}

SAGE_API int sage_queue_depth(sage_queue *q, uint64_t *items, uint64_t *bytes) {
  CHECK_Q(q);
  if (items == NULL || bytes == NULL)
    return sage__fail(-EINVAL, "depth: NULL argument");
  if (SAGE__HAS_OP(q->plugin, depth))
    return op_result(q, "depth", q->plugin->ops->depth(q->tq, items, bytes));
  struct sage_stats st = {.size = sizeof st};
  int rc = sage_queue_stats(q, &st);
  *items = st.items;
  *bytes = st.bytes_used;
  return rc;
}

SAGE_API int sage_queue_task_done(sage_queue *q, uint64_t count) {
  CHECK_Q(q);
  if (!SAGE__HAS_OP(q->plugin, task_done))
    return no_op(q, "task_done");
  return op_result(q, "task_done", q->plugin->ops->task_done(q->tq, count));
}

SAGE_API int sage_queue_join(sage_queue *q, int64_t timeout_ns) {
  CHECK_Q(q);
  if (!SAGE__HAS_OP(q->plugin, join))
    return no_op(q, "join");
  return op_result(q, "join",
                   q->plugin->ops->join(q->tq, SAGE_WAIT_NS(timeout_ns)));
}

SAGE_API const char *sage_queue_transport_name(const sage_queue *q) {
  return q != NULL ? q->plugin->name : NULL;
}

SAGE_API const char *sage_queue_name(const sage_queue *q) {
  return q != NULL ? q->name : NULL;
}

SAGE_API int sage_queue_close(sage_queue *q) {
  CHECK_Q(q);
  int rc = op_result(q, "close", q->plugin->ops->close(q->tq));
  free(q);
  return rc;
}

SAGE_API int sage_queue_destroy(sage_queue *q) {
  CHECK_Q(q);
  int rc = op_result(q, "destroy", q->plugin->ops->destroy(q->tq));
  free(q);
  return rc;
}

/* Loads `transport` and checks it offers optional op `op`. */
static int plugin_with(const char *transport, const struct sage__plugin **p) {
  return sage__registry_get(sage_transport_choose(transport), p);
}

SAGE_API int sage_queue_unlink(const char *transport, const char *name,
                               const char *const *options) {
  if (!queue_name_ok(name))
    return bad_queue_name(name);
  const struct sage__plugin *p;
  int rc = plugin_with(transport, &p);
  if (rc != 0)
    return rc;
  if (!SAGE__HAS_OP(p, unlink))
    return sage__fail(-ENOTSUP, "transport '%s' cannot remove queues by name",
                      p->name);
  sage__plugin_call_begin();
  rc = p->ops->unlink(name, options);
  if (rc < 0 && !sage__detail_commit())
    sage__fail(rc, "remove queue '%s' (transport %s): %s", name, p->name,
               sage_strerror(rc));
  return rc;
}

SAGE_API int sage_queue_list(const char *transport, const char *const *options,
                             sage_list_cb cb, void *ctx) {
  if (cb == NULL)
    return sage__fail(-EINVAL, "list: callback is NULL");
  const struct sage__plugin *p;
  int rc = plugin_with(transport, &p);
  if (rc != 0)
    return rc;
  if (!SAGE__HAS_OP(p, list))
    return sage__fail(-ENOTSUP, "transport '%s' cannot list its queues",
                      p->name);
  sage__plugin_call_begin();
  rc = p->ops->list(options, cb, ctx);
  if (rc < 0 && !sage__detail_commit())
    sage__fail(rc, "list queues (transport %s): %s", p->name,
               sage_strerror(rc));
  return rc;
}
