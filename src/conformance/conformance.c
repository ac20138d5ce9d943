/* Transport conformance checks, over the flat API only. */
#include "config.h"

#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <sage/queue.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum conf_result check_fifo(struct conf_ctx *c) {
  sage_queue *q;
  char name[128];
  OPEN(c, "fifo", CAPACITY, 0, &q, name);
  enum { N = 500 };
  /* As many as the queue holds at once (its item bound, if any), in
   * blocks, so transports with small bounds are checked too. */
  uint32_t block = (uint32_t)conf_stats(q).max_items;
  if (block == 0 || block > N)
    block = N;
  for (uint32_t first = 0; first < N; first += block) {
    uint32_t end = first + block < N ? first + block : N;
    for (uint32_t i = first; i < end; i++) {
      int rc = sage_queue_put(q, &i, sizeof i, 1000 * MS);
      CHECK(c, rc == 0, "put %u: %s", i, sage_strerror(rc));
    }
    for (uint32_t i = first; i < end; i++) {
      uint32_t v = 0;
      size_t len = 0;
      int rc = sage_queue_get(q, &v, sizeof v, &len, 1000 * MS);
      CHECK(c, rc == 0 && len == sizeof v && v == i,
            "get %u: rc %d len %zu value %u", i, rc, len, v);
    }
  }
  conf_destroy(c, q);
  return CONF_PASS;
}

static void fill_pattern(unsigned char *buf, size_t len, size_t seed) {
  for (size_t i = 0; i < len; i++)
    buf[i] = (unsigned char)(i * 131 + seed * 7 + 1);
}

static enum conf_result check_all_sizes(struct conf_ctx *c) {
  sage_queue *q;
  char name[128];
  OPEN(c, "sizes", 8192, 0, &q, name);
  struct sage_stats st = conf_stats(q);
  size_t max = st.max_message;
  CHECK(c, max > 0 && max <= 1 << 24, "max_message %zu", max);
  unsigned char *in = malloc(max + 1), *out = malloc(max + 1);
  for (size_t len = 0; len <= max; len++) {
    fill_pattern(in, len, len);
    int rc = sage_queue_put(q, in, len, 1000 * MS);
    if (rc != 0) {
      free(in), free(out);
      return conf_fail(c, "put of %zu bytes (max %zu): %s", len, max,
                       sage_strerror(rc));
    }
    size_t got = 0;
    rc = sage_queue_get(q, out, max, &got, 1000 * MS);
    if (rc != 0 || got != len || memcmp(in, out, len) != 0) {
      free(in), free(out);
      return conf_fail(c, "get of %zu bytes: rc %d, got %zu bytes", len, rc,
                       got);
    }
  }
  free(in);
  free(out);
  conf_destroy(c, q);
  return CONF_PASS;
}

static enum conf_result check_emsgsize(struct conf_ctx *c) {
  sage_queue *q;
  char name[128];
  OPEN(c, "emsgsize", 8192, 0, &q, name);
  size_t max = conf_stats(q).max_message;
  char *big = calloc(1, max + 1);
  int64_t t0 = conf_now_ns();
  int rc = sage_queue_put(q, big, max + 1, -1); /* must not block */
  int64_t took = conf_now_ns() - t0;
  free(big);
  CHECK(c, rc == -EMSGSIZE, "oversize put returned %d", rc);
  CHECK(c, took < 500 * MS, "oversize put took %lld ms",
        (long long)(took / MS));
  CHECK(c, strstr(sage_last_error(), "byte") != NULL,
        "detail should report the size: '%s'", sage_last_error());
  CHECK(c, conf_stats(q).items == 0, "queue changed by a refused put");
  char msg[100] = "0123456789", small[4];
  CHECK(c, sage_queue_put(q, msg, sizeof msg, 0) == 0, "put");
  size_t len = 0;
  rc = sage_queue_get(q, small, sizeof small, &len, 0);
  CHECK(c, rc == -EMSGSIZE && len == sizeof msg, "small buffer: rc %d len %zu",
        rc, len);
  rc = sage_queue_get(q, msg, sizeof msg, &len, 0);
  CHECK(c, rc == 0 && len == sizeof msg, "message lost after -EMSGSIZE");
  conf_destroy(c, q);
  return CONF_PASS;
}

static enum conf_result check_eagain(struct conf_ctx *c) {
  sage_queue *q;
  char name[128], buf[64];
  OPEN(c, "eagain", 4096, 0, &q, name);
  size_t len;
  CHECK(c, sage_queue_get(q, buf, sizeof buf, &len, 0) == -EAGAIN,
        "get on empty");
  int rc, n = 0;
  while ((rc = sage_queue_put(q, buf, sizeof buf, 0)) == 0 && n < 100000)
    n++;
  CHECK(c, rc == -EAGAIN && n > 0, "put on full: rc %d after %d", rc, n);
  for (int i = 0; i < n; i++)
    CHECK(c, sage_queue_get(q, buf, sizeof buf, &len, 0) == 0, "drain %d", i);
  CHECK(c, sage_queue_get(q, buf, sizeof buf, &len, 0) == -EAGAIN,
        "get after drain");
  conf_destroy(c, q);
  return CONF_PASS;
}

/* A timed-out call returns after >= timeout and not far after. */
static enum conf_result check_timeouts(struct conf_ctx *c) {
  sage_queue *q;
  char name[128], buf[64];
  OPEN(c, "timeouts", 4096, 0, &q, name);
  const int64_t timeout = 150 * MS, slack = 250 * MS;
  size_t len;
  int64_t t0 = conf_now_ns();
  int rc = sage_queue_get(q, buf, sizeof buf, &len, timeout);
  int64_t took = conf_now_ns() - t0;
  CHECK(c, rc == -ETIMEDOUT, "get on empty returned %d", rc);
  CHECK(c, took >= timeout && took < timeout + slack,
        "get timed out after %lld ms, want %lld", (long long)(took / MS),
        (long long)(timeout / MS));
  while (sage_queue_put(q, buf, sizeof buf, 0) == 0)
    ;
  t0 = conf_now_ns();
  rc = sage_queue_put(q, buf, sizeof buf, timeout);
  took = conf_now_ns() - t0;
  CHECK(c, rc == -ETIMEDOUT, "put on full returned %d", rc);
  CHECK(c, took >= timeout && took < timeout + slack,
        "put timed out after %lld ms", (long long)(took / MS));
  conf_destroy(c, q);
  return CONF_PASS;
}

static enum conf_result check_stats(struct conf_ctx *c) {
  sage_queue *q;
  char name[128], buf[256] = {0};
  OPEN(c, "stats", CAPACITY, 0, &q, name);
  struct sage_stats st = conf_stats(q);
  CHECK(c, st.capacity >= CAPACITY / 2, "capacity %llu",
        (unsigned long long)st.capacity);
  for (int i = 0; i < 10; i++)
    CHECK(c, sage_queue_put(q, buf, (size_t)(10 + i), 0) == 0, "put");
  size_t len;
  for (int i = 0; i < 4; i++)
    CHECK(c, sage_queue_get(q, buf, sizeof buf, &len, 0) == 0, "get");
  st = conf_stats(q);
  CHECK(c, st.total_put == 10 && st.total_got == 4 && st.items == 6,
        "put %llu got %llu items %llu", (unsigned long long)st.total_put,
        (unsigned long long)st.total_got, (unsigned long long)st.items);
  CHECK(c, st.bytes_put == 145 && st.bytes_got == 46, "bytes put %llu got %llu",
        (unsigned long long)st.bytes_put, (unsigned long long)st.bytes_got);
  CHECK(c, st.bytes_used >= 145 - 46 && st.bytes_used <= st.capacity,
        "bytes_used %llu", (unsigned long long)st.bytes_used);
  CHECK(c, st.total_put == st.total_got + st.items + st.abandoned,
        "totals do not reconcile");
  conf_destroy(c, q);
  return CONF_PASS;
}

static enum conf_result check_batch(struct conf_ctx *c) {
  sage_queue *q;
  char name[128];
  OPEN(c, "batch", CAPACITY, 0, &q, name);
  enum { N = 40 };
  char data[N][32];
  const void *ptrs[N];
  size_t lens[N], done = 0;
  for (int i = 0; i < N; i++) {
    lens[i] = (size_t)snprintf(data[i], sizeof data[i], "message-%d", i);
    ptrs[i] = data[i];
  }
  int rc = sage_queue_put_batch(q, ptrs, lens, N, &done, 1000 * MS);
  CHECK(c, rc == 0 && done == N, "put_batch: rc %d done %zu", rc, done);
  char buf[4096];
  size_t out[N], count = 0, seen = 0;
  while (seen < N) {
    rc = sage_queue_get_batch(q, buf, 100, out, N, &count, 1000 * MS);
    CHECK(c, rc == 0 && count > 0, "get_batch: rc %d count %zu", rc, count);
    size_t off = 0;
    for (size_t i = 0; i < count; i++, seen++) {
      CHECK(c,
            out[i] == lens[seen] && memcmp(buf + off, data[seen], out[i]) == 0,
            "batch message %zu differs", seen);
      off += out[i];
    }
    CHECK(c, off <= 100, "get_batch overflowed its buffer");
  }
  CHECK(c, sage_queue_put(q, buf, 50, 0) == 0, "put");
  rc = sage_queue_get_batch(q, buf, 10, out, 4, &count, 0);
  CHECK(c, rc == -EMSGSIZE && out[0] == 50, "small batch buffer: rc %d", rc);
  conf_destroy(c, q);
  return CONF_PASS;
}

static enum conf_result check_zero_copy(struct conf_ctx *c) {
  sage_queue *q;
  char name[128];
  OPEN(c, "zerocopy", CAPACITY, 0, &q, name);
  void *w;
  uint64_t token;
  CHECK(c, sage_queue_reserve(q, 5, &w, &token, 0) == 0, "reserve");
  memcpy(w, "first", 5);
  CHECK(c, sage_queue_commit(q, token) == 0, "commit");
  CHECK(c, sage_queue_reserve(q, 6, &w, &token, 0) == 0, "reserve 2");
  CHECK(c, sage_queue_cancel(q, token) == 0, "cancel");
  CHECK(c, sage_queue_put(q, "third", 5, 0) == 0, "put");
  const void *r;
  size_t len;
  CHECK(c, sage_queue_peek(q, &r, &len, &token, 0) == 0, "peek");
  CHECK(c, len == 5 && memcmp(r, "first", 5) == 0, "peeked wrong message");
  CHECK(c, sage_queue_release(q, token) == 0, "release");
  CHECK(c, sage_queue_release(q, token) == -EINVAL, "double release accepted");
  char buf[16];
  CHECK(c,
        sage_queue_get(q, buf, sizeof buf, &len, 0) == 0 && len == 5 &&
            memcmp(buf, "third", 5) == 0,
        "cancelled reservation was delivered");
  CHECK(c, sage_queue_get(q, buf, sizeof buf, &len, 0) == -EAGAIN, "extra");
  conf_destroy(c, q);
  return CONF_PASS;
}

static enum conf_result check_persistence(struct conf_ctx *c) {
  sage_queue *q;
  char name[128], buf[32];
  OPEN(c, "persist", CAPACITY, 0, &q, name);
  CHECK(c, sage_queue_put(q, "kept", 4, 0) == 0, "put");
  CHECK(c, conf_close(c, q) == 0, "close");
  int rc = conf_reopen(c, name, &q);
  CHECK(c, rc == 0, "reopen: %s", sage_strerror(rc));
  size_t len;
  CHECK(c,
        sage_queue_get(q, buf, sizeof buf, &len, 0) == 0 && len == 4 &&
            memcmp(buf, "kept", 4) == 0,
        "message lost across close/reopen");
  CHECK(c, conf_destroy(c, q) == 0, "destroy");
  rc = conf_reopen(c, name, &q);
  CHECK(c, rc == -ENOENT, "open of a destroyed queue with create=never: %d",
        rc);
  return CONF_PASS;
}

struct waker {
  sage_queue *q;
  int64_t delay_ns, put_at;
};

static void *delayed_put(void *arg) {
  struct waker *w = arg;
  struct timespec ts = {0, (long)w->delay_ns};
  nanosleep(&ts, NULL);
  w->put_at = conf_now_ns();
  sage_queue_put(w->q, "wake", 4, 1000 * MS);
  return NULL;
}

static enum conf_result check_blocking_wakeup(struct conf_ctx *c) {
  sage_queue *q;
  char name[128], buf[16];
  OPEN(c, "wakeup", CAPACITY, 0, &q, name);
  struct waker w = {q, 50 * MS, 0};
  pthread_t t;
  pthread_create(&t, NULL, delayed_put, &w);
  size_t len;
  int rc = sage_queue_get(q, buf, sizeof buf, &len, 5000 * MS);
  int64_t woke = conf_now_ns();
  pthread_join(t, NULL);
  CHECK(c, rc == 0 && len == 4, "blocked get: rc %d", rc);
  CHECK(c, woke - w.put_at < 200 * MS, "woke %lld ms after the put",
        (long long)((woke - w.put_at) / MS));
  conf_destroy(c, q);
  return CONF_PASS;
}

#define SLEEPERS 16 /* threads blocked in get on one handle */

struct sleeper {
  sage_queue *q;
  int rc;
};

static void *sleeping_get(void *arg) {
  struct sleeper *s = arg;
  char buf[16];
  size_t len;
  s->rc = sage_queue_get(s->q, buf, sizeof buf, &len, 20000 * MS);
  return NULL;
}

/* Waits (at most 10 s) until n gets more than `before` counted have
 * blocked (blocked_gets, which every transport counts) and sleep: stats
 * show n waiting readers, or none where the transport does not count
 * sleepers (docs/PLUGINS.md). Returns whether they did. */
static int until_sleeping(sage_queue *q, uint64_t before, uint64_t n) {
  for (int64_t end = conf_now_ns() + 10000 * MS; conf_now_ns() < end;
       conf_sleep_ms(1)) {
    struct sage_stats st = conf_stats(q);
    if (st.blocked_gets - before >= n &&
        (st.waiting_readers == n || st.waiting_readers == 0))
      return 1;
  }
  return 0;
}

/* Many threads blocked in get must not keep another thread of the same
 * handle from the put that wakes them (a per-handle resource held while
 * asleep would). */
static enum conf_result check_many_sleepers(struct conf_ctx *c) {
  sage_queue *q;
  char name[128];
  OPEN(c, "sleepers", CAPACITY, 0, &q, name);
  struct sleeper s[SLEEPERS];
  pthread_t t[SLEEPERS];
  uint64_t before = conf_stats(q).blocked_gets;
  for (int i = 0; i < SLEEPERS; i++) {
    s[i] = (struct sleeper){q, 1};
    pthread_create(&t[i], NULL, sleeping_get, &s[i]);
  }
  int slept = until_sleeping(q, before, SLEEPERS);
  struct sage_stats asleep = conf_stats(q); /* reported if they did not */
  int put_rc = 0, puts = 0;
  while (puts < SLEEPERS && put_rc == 0)
    if ((put_rc = sage_queue_put(q, "wake", 4, 1000 * MS)) == 0)
      puts++;
  int failed = 0;
  for (int i = 0; i < SLEEPERS; i++) {
    pthread_join(t[i], NULL);
    failed += s[i].rc != 0;
  }
  CHECK(c, slept, "%d threads in get: %llu blocked, %llu waiting after 10 s",
        SLEEPERS, (unsigned long long)(asleep.blocked_gets - before),
        (unsigned long long)asleep.waiting_readers);
  CHECK(c, put_rc == 0, "put %d with %d threads blocked in get: rc %d",
        puts + 1, SLEEPERS, put_rc);
  CHECK(c, failed == 0, "%d of %d blocked gets failed", failed, SLEEPERS);
  conf_destroy(c, q);
  return CONF_PASS;
}

static enum conf_result check_item_bound(struct conf_ctx *c) {
  sage_queue *q;
  char name[128], buf[8] = {0};
  OPEN(c, "items", CAPACITY, 4, &q, name);
  for (int i = 0; i < 4; i++)
    CHECK(c, sage_queue_put(q, buf, 1, 0) == 0, "put %d", i);
  CHECK(c, sage_queue_put(q, buf, 1, 0) == -EAGAIN, "5th put with max_items=4");
  CHECK(c, conf_stats(q).max_items == 4, "max_items not reported");
  conf_destroy(c, q);
  return CONF_PASS;
}

static enum conf_result check_options(struct conf_ctx *c) {
  sage_queue *q;
  char name[128];
  conf_unique_name(name, sizeof name, "opts");
  const char *bad[] = {"no_such_option", "1", NULL};
  int rc = sage_queue_open(c->transport, name, bad, &q);
  if (rc == 0)
    conf_track(c, q);
  CHECK(c, rc == -EINVAL, "unknown option accepted: %d", rc);
  CHECK(c, strstr(sage_last_error(), "no_such_option") != NULL,
        "detail should name the option: '%s'", sage_last_error());
  const char *custom[] = {"x-test-key", "1", "create", "always", NULL};
  rc = sage_queue_open(c->transport, name, custom, &q);
  CHECK(c, rc == 0, "x- option refused: %s", sage_strerror(rc));
  conf_track(c, q);
  conf_destroy(c, q);
  rc = conf_reopen(c, name, &q);
  CHECK(c, rc == -ENOENT, "create=never on a missing queue: %d", rc);
  return CONF_PASS;
}

static enum conf_result check_two_handles(struct conf_ctx *c) {
  sage_queue *a, *b;
  char name[128], buf[16];
  OPEN(c, "handles", CAPACITY, 0, &a, name);
  int rc = conf_reopen(c, name, &b);
  CHECK(c, rc == 0, "second open: %s", sage_strerror(rc));
  CHECK(c, sage_queue_put(a, "ab", 2, 0) == 0, "put via a");
  size_t len;
  CHECK(c, sage_queue_get(b, buf, sizeof buf, &len, 0) == 0 && len == 2,
        "get via b");
  CHECK(c, conf_destroy(c, a) == 0, "destroy via a");
  CHECK(c, sage_queue_put(b, "cd", 2, 0) == 0, "b keeps working after destroy");
  CHECK(c, sage_queue_get(b, buf, sizeof buf, &len, 0) == 0, "b get");
  conf_close(c, b);
  return CONF_PASS;
}

static enum conf_result check_tasks(struct conf_ctx *c) {
  sage_queue *q;
  char name[128], buf[8];
  OPEN(c, "tasks", CAPACITY, 0, &q, name);
  int rc = sage_queue_join(q, 0);
  if (rc == -ENOTSUP) {
    conf_destroy(c, q);
    snprintf(c->why, sizeof c->why, "transport has no task_done/join ops");
    return CONF_SKIP;
  }
  CHECK(c, rc == 0, "join on a new queue: %d", rc);
  for (int i = 0; i < 3; i++)
    CHECK(c, sage_queue_put(q, "t", 1, 0) == 0, "put");
  int64_t t0 = conf_now_ns();
  rc = sage_queue_join(q, 100 * MS);
  CHECK(c, rc == -ETIMEDOUT && conf_now_ns() - t0 >= 100 * MS,
        "join with 3 unfinished: %d", rc);
  size_t len;
  for (int i = 0; i < 3; i++)
    CHECK(c, sage_queue_get(q, buf, sizeof buf, &len, 0) == 0, "get");
  CHECK(c, sage_queue_task_done(q, 2) == 0, "task_done(2)");
  CHECK(c, sage_queue_join(q, 0) == -EAGAIN, "join with 1 unfinished");
  CHECK(c, sage_queue_task_done(q, 1) == 0, "task_done(1)");
  CHECK(c, sage_queue_join(q, 1000 * MS) == 0, "join when all done");
  CHECK(c, sage_queue_task_done(q, 1) == -EINVAL, "over-call accepted");
  conf_destroy(c, q);
  return CONF_PASS;
}

const struct conf_check sage_conformance_checks[] = {
    {"fifo", "messages come out in the order they went in", 0, check_fifo},
    {"all_sizes", "every size from 0 to max_message round-trips", 0,
     check_all_sizes},
    {"emsgsize", "oversize put fails at once; small buffer keeps the message",
     0, check_emsgsize},
    {"eagain", "non-blocking calls return -EAGAIN on empty/full", 0,
     check_eagain},
    {"timeouts", "timed calls return after >= timeout, not far after",
     SAGE_CAP_BLOCKING, check_timeouts},
    {"stats", "stats count puts, gets, bytes and items consistently", 0,
     check_stats},
    {"batch", "put_batch/get_batch round-trip and honour buffer size",
     SAGE_CAP_BATCH, check_batch},
    {"zero_copy", "reserve/commit/cancel and peek/release", SAGE_CAP_ZERO_COPY,
     check_zero_copy},
    {"persistence", "close then reopen keeps messages; destroy removes",
     SAGE_CAP_PERSISTENT, check_persistence},
    {"blocking_wakeup", "a blocked get wakes promptly on put",
     SAGE_CAP_BLOCKING, check_blocking_wakeup},
    {"many_sleepers", "16 threads blocked in get do not block a put",
     SAGE_CAP_BLOCKING, check_many_sleepers},
    {"item_bound", "max_items bounds the number of messages",
     SAGE_CAP_ITEM_BOUND, check_item_bound},
    {"options", "unknown options refused, x- options accepted, create=never", 0,
     check_options},
    {"two_handles", "two handles share a queue; destroy keeps attached ones", 0,
     check_two_handles},
    {"tasks", "task_done/join account for every message; over-calls fail", 0,
     check_tasks},
    {"create_options", "create=always/never/auto: -EEXIST, -ENOENT, create", 0,
     conf_check_create_options},
    {"refused_options",
     "bad options -EINVAL, unhonoured -EINVAL/-ENOTSUP, named", 0,
     conf_check_refused_options},
    {"error_detail", "errors name the queue and the size or option at fault", 0,
     conf_check_error_detail},
    {"max_message", "max_message <= capacity and fits an empty queue", 0,
     conf_check_max_message},
    {"stats_fields", "stats fields agree with each other and with this process",
     0, conf_check_stats_fields},
    {"stats_counting", "blocked_* count a wait once; timeouts only -ETIMEDOUT",
     SAGE_CAP_BLOCKING, conf_check_stats_counting},
    {"wait_flags", "SAGE_WAIT_SLICE/RESUMED are not counted as timeout/blocked",
     SAGE_CAP_WAIT_FLAGS, conf_check_wait_flags},
    {"list", "list shows a created queue; a nonzero callback stops it", 0,
     conf_check_list},
    {"unlink", "unlink removes by name; -ENOENT; unless_attached refuses", 0,
     conf_check_unlink},
    {"depth", "depth agrees with stats items and bytes_used", 0,
     conf_check_depth},
    {"attachments", "attachments list our pid; attached counts open handles", 0,
     conf_check_attachments},
    {"observe", "attach=0: stats work, not counted, put/get -EPERM",
     SAGE_CAP_OBSERVE, conf_check_observe},
    {"eintr", "a wait forever returns -EINTR when a signal handler runs",
     SAGE_CAP_BLOCKING, conf_check_eintr},
    {"fork", "a forked child reopens by name and puts; parent unharmed",
     SAGE_CAP_CROSS_PROCESS, conf_check_fork},
    {"cross_process", "two processes exchange messages both ways",
     SAGE_CAP_CROSS_PROCESS, conf_check_cross_process},
};
const size_t sage_conformance_count =
    sizeof sage_conformance_checks / sizeof sage_conformance_checks[0];

int sage_conformance_init(struct conf_ctx *ctx, const char *transport) {
  memset(ctx, 0, sizeof *ctx);
  ctx->transport = transport;
  int64_t caps = sage_transport_capabilities(transport);
  if (caps < 0)
    return (int)caps;
  ctx->caps = (uint64_t)caps;
  return 0;
}

static void missing_caps(struct conf_ctx *ctx, uint64_t missing) {
  size_t used =
      (size_t)snprintf(ctx->why, sizeof ctx->why, "transport lacks capability");
  for (unsigned bit = 0; bit < 64 && used < sizeof ctx->why; bit++)
    if (missing >> bit & 1)
      used += (size_t)snprintf(ctx->why + used, sizeof ctx->why - used, " %s",
                               sage_capability_name(bit));
}

enum conf_result sage_conformance_run(struct conf_ctx *ctx,
                                      const struct conf_check *check) {
  ctx->why[0] = '\0';
  uint64_t missing = check->needs & ~ctx->caps;
  if (missing) {
    missing_caps(ctx, missing);
    return CONF_SKIP;
  }
  conf_detail_mark(ctx->transport);
  enum conf_result res = check->run(ctx);
  for (int i = 0; i < CONF_MAX_HANDLES; i++)
    if (ctx->open[i] != NULL) {
      sage_queue_destroy(ctx->open[i]);
      ctx->open[i] = NULL;
    }
  return res;
}
