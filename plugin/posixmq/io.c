/* Putting and taking messages: kernel waits with deadlines, counters, and
 * messages held back for a caller whose buffer was too small. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "posixmq.h"

#define NS_PER_SEC 1000000000ll
/* How long close waits to hand a held message back to a full queue. */
#define RETURN_TIMEOUT_NS (1000ll * 1000 * 1000)

int64_t pmq_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* mq_timedsend/mq_timedreceive take an absolute CLOCK_REALTIME deadline:
 * the monotonic time left is turned into one just before each wait. */
static struct timespec wall_deadline(int64_t left_ns) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t nsec = ts.tv_nsec + left_ns % NS_PER_SEC;
  ts.tv_sec += (time_t)(left_ns / NS_PER_SEC + nsec / NS_PER_SEC);
  ts.tv_nsec = (long)(nsec % NS_PER_SEC);
  return ts;
}

/* One send or receive. */
struct xfer {
  int send;
  const void *src; /* send */
  size_t len;      /* send: message size */
  unsigned prio;   /* send */
  void *dst;       /* receive */
  size_t cap;      /* receive: buffer size, >= mq_msgsize */
  size_t got;      /* receive: message size */
};

/* One kernel call; `abs` NULL waits forever. Returns 0 or -errno
 * (-ETIMEDOUT when the deadline passed, or at once for a past deadline
 * when it would block). */
static int attempt(pmq_queue *q, struct xfer *x, const struct timespec *abs) {
  if (x->send) {
    int r = abs ? mq_timedsend(q->mqd, x->src, x->len, x->prio, abs)
                : mq_send(q->mqd, x->src, x->len, x->prio);
    return r == 0 ? 0 : -errno;
  }
  unsigned prio;
  ssize_t n = abs ? mq_timedreceive(q->mqd, x->dst, x->cap, &prio, abs)
                  : mq_receive(q->mqd, x->dst, x->cap, &prio);
  if (n < 0)
    return -errno;
  x->got = (size_t)n;
  return 0;
}

/* Waits until the monotonic deadline (< 0: forever). A wall clock stepped
 * forward ends a kernel wait early; the loop then waits out the time
 * left, so a timed call never returns before its timeout. */
static int wait_until(pmq_queue *q, struct xfer *x, int64_t deadline) {
  if (deadline < 0)
    return attempt(q, x, NULL);
  for (;;) {
    int64_t left = deadline - pmq_now_ns();
    if (left <= 0)
      return -ETIMEDOUT;
    struct timespec abs = wall_deadline(left);
    int rc = attempt(q, x, &abs);
    if (rc != -ETIMEDOUT)
      return rc;
  }
}

/* Tries once without blocking, then (timeout != 0) waits. Returns 0,
 * -EAGAIN, -ETIMEDOUT, -EINTR or another -errno; counts blocked calls and
 * timeouts in the page, except as SAGE_WAIT_* flags say (transport.h). */
static int transfer(pmq_queue *q, struct xfer *x, int64_t timeout_ns) {
  static const struct timespec past = {0, 0};
  int rc = attempt(q, x, &past);
  if (rc != -ETIMEDOUT)
    return rc;
  int64_t flags = timeout_ns > 0 ? timeout_ns & SAGE_WAIT_FLAGS : 0;
  timeout_ns = SAGE_WAIT_NS(timeout_ns);
  if (timeout_ns == 0)
    return -EAGAIN;
  int64_t deadline = -1, now = pmq_now_ns();
  if (timeout_ns > 0)
    deadline = timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
  /* relaxed: counters are read for statistics only */
  if (!(flags & SAGE_WAIT_RESUMED))
    atomic_fetch_add_explicit(x->send ? &q->page->blocked_puts
                                      : &q->page->blocked_gets,
                              1, memory_order_relaxed);
  rc = wait_until(q, x, deadline);
  if (rc == -ETIMEDOUT && !(flags & SAGE_WAIT_SLICE))
    atomic_fetch_add_explicit(&q->page->timeouts, 1, memory_order_relaxed);
  return rc;
}

static int io_error(pmq_queue *q, const char *op, int rc) {
  switch (rc) {
  case -EAGAIN:
  case -ETIMEDOUT:
  case -EINTR:
    return rc; /* ordinary outcomes: the host words them */
  default:
    return sage_plugin_fail(rc, "posixmq: %s on queue '%s': %s", op, q->name,
                            strerror(-rc));
  }
}

int pmq_put(pmq_queue *q, const void *data, size_t len, int64_t timeout_ns) {
  if (len > q->msgsize)
    return sage_plugin_fail(
        -EMSGSIZE,
        "posixmq: a %zu-byte message can never fit queue '%s', "
        "whose messages are at most %zu bytes (its mq_msgsize)",
        len, q->name, q->msgsize);
  /* seq_cst: the task is counted before any consumer can receive it. */
  atomic_fetch_add(&q->page->tasks_started, 1);
  struct xfer x = {.send = 1, .src = data, .len = len, .prio = PMQ_PRIO_NORMAL};
  int rc = transfer(q, &x, timeout_ns);
  if (rc != 0) {
    atomic_fetch_sub(&q->page->tasks_started, 1);
    pmq_task_wake(q);
    return io_error(q, "put", rc);
  }
  atomic_fetch_add_explicit(&q->page->total_put, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&q->page->bytes_put, len, memory_order_relaxed);
  return 0;
}

static void count_got(pmq_queue *q, size_t len) {
  atomic_fetch_add_explicit(&q->page->total_got, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&q->page->bytes_got, len, memory_order_relaxed);
}

static int too_small(pmq_queue *q, size_t need, size_t cap, size_t *len) {
  *len = need;
  return sage_plugin_fail(
      -EMSGSIZE,
      "posixmq: the next message of queue '%s' is %zu bytes, "
      "larger than the %zu-byte buffer; it stays first for this "
      "handle",
      q->name, need, cap);
}

/* Delivers the oldest held message, if any: returns 1 and sets *rc. */
static int take_held(pmq_queue *q, void *buf, size_t cap, size_t *len,
                     int *rc) {
  pthread_mutex_lock(&q->held_lock);
  struct pmq_held *h = q->held_head;
  if (h == NULL || h->len > cap) {
    pthread_mutex_unlock(&q->held_lock);
    if (h != NULL)
      *rc = too_small(q, h->len, cap, len);
    return h != NULL;
  }
  q->held_head = h->next;
  if (q->held_head == NULL)
    q->held_tail = NULL;
  q->held_count--;
  pthread_mutex_unlock(&q->held_lock);
  memcpy(buf, h->data, h->len);
  *len = h->len;
  count_got(q, h->len);
  free(h);
  *rc = 0;
  return 1;
}

static void hold(pmq_queue *q, struct pmq_held *h) {
  h->next = NULL;
  pthread_mutex_lock(&q->held_lock);
  if (q->held_tail != NULL)
    q->held_tail->next = h;
  else
    q->held_head = h;
  q->held_tail = h;
  q->held_count++;
  pthread_mutex_unlock(&q->held_lock);
}

/* A caller buffer smaller than mq_msgsize cannot be given to the kernel:
 * receive into a scratch block, and keep the message if it does not fit. */
static int get_small(pmq_queue *q, void *buf, size_t cap, size_t *len,
                     int64_t timeout_ns) {
  struct pmq_held *h = malloc(sizeof *h + q->msgsize);
  if (h == NULL)
    return sage_plugin_fail(-ENOMEM, "posixmq: out of memory");
  struct xfer x = {.send = 0, .dst = h->data, .cap = q->msgsize};
  int rc = transfer(q, &x, timeout_ns);
  if (rc != 0) {
    free(h);
    return io_error(q, "get", rc);
  }
  h->len = x.got;
  if (x.got > cap) {
    hold(q, h);
    return too_small(q, x.got, cap, len);
  }
  memcpy(buf, h->data, x.got);
  free(h);
  *len = x.got;
  count_got(q, x.got);
  return 0;
}

int pmq_get(pmq_queue *q, void *buf, size_t cap, size_t *len,
            int64_t timeout_ns) {
  int rc;
  if (take_held(q, buf, cap, len, &rc))
    return rc;
  if (cap < q->msgsize)
    return get_small(q, buf, cap, len, timeout_ns);
  struct xfer x = {.send = 0, .dst = buf, .cap = cap};
  rc = transfer(q, &x, timeout_ns);
  if (rc != 0)
    return io_error(q, "get", rc);
  *len = x.got;
  count_got(q, x.got);
  return 0;
}

void pmq_return_held(pmq_queue *q) {
  struct pmq_held *h = q->held_head;
  q->held_head = q->held_tail = NULL;
  q->held_count = 0;
  while (h != NULL) {
    struct pmq_held *next = h->next;
    struct xfer x = {
        .send = 1, .src = h->data, .len = h->len, .prio = PMQ_PRIO_RETURNED};
    int rc = transfer(q, &x, RETURN_TIMEOUT_NS);
    if (rc != 0) {
      /* A lost message can never be task_done()'d: count it as finished
       * so join() does not wait for it forever. */
      atomic_fetch_add_explicit(&q->page->abandoned, 1, memory_order_relaxed);
      atomic_fetch_add(&q->page->tasks_done, 1);
      pmq_task_wake(q);
      sage_plugin_log(
          SAGE_LOG_WARN, "posixmq",
          "queue '%s': a %zu-byte message held by a closing handle could "
          "not be returned (%s); it is lost",
          q->name, h->len, strerror(-rc));
    }
    free(h);
    h = next;
  }
}
