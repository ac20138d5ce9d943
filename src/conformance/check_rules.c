/* Conformance checks of the rules in sage/transport.h that cut across ops:
 * error details, capacity and max_message, how struct sage_stats is filled
 * and counted, and the SAGE_WAIT_* flags. */
#include "config.h"

#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Creating a queue with capacity=value: -EINVAL naming "capacity". */
static enum conf_result bad_capacity(struct conf_ctx *c, const char *value) {
  char name[128];
  sage_queue *q;
  conf_unique_name(name, sizeof name, "detail-cap");
  const char *opts[] = {"create", "always", "capacity", value, NULL};
  int rc = conf_open(c, name, opts, &q);
  CHECK(c, rc == -EINVAL, "capacity=%s: %s, want -EINVAL", value,
        rc == 0 ? "accepted" : sage_strerror(rc));
  CHECK(c, conf_detail_has("capacity"),
        "capacity=%s: detail should name 'capacity': '%s'", value,
        sage_last_error());
  return CONF_PASS;
}

/* get into a buffer too small: -EMSGSIZE naming the size and queue. */
static enum conf_result small_buffer(struct conf_ctx *c) {
  sage_queue *q;
  char name[128], msg[100] = {0}, small[4];
  size_t len = 0;
  OPEN(c, "detail-get", 8192, 0, &q, name);
  CHECK(c, sage_queue_put(q, msg, sizeof msg, 0) == 0, "put");
  int rc = sage_queue_get(q, small, sizeof small, &len, 0);
  CHECK(c, rc == -EMSGSIZE, "get into a small buffer: %s", sage_strerror(rc));
  CHECK(c, conf_detail_has("100") && conf_detail_has(name),
        "get of 100 bytes into 4: detail should name the size and queue: '%s'",
        sage_last_error());
  conf_destroy(c, q);
  return CONF_PASS;
}

/* A failing call (other than -EAGAIN/-ETIMEDOUT) leaves a detail naming
 * the queue and the size, option or value at fault. */
CONF_CHECK(conf_check_error_detail) {
  sage_queue *q;
  char name[128], num[32];
  OPEN(c, "detail", 8192, 0, &q, name);
  size_t max = conf_stats(q).max_message;
  char *big = calloc(1, max + 1);
  int rc = big ? sage_queue_put(q, big, max + 1, 0) : -ENOMEM;
  free(big);
  CHECK(c, rc == -EMSGSIZE, "oversize put: %s", sage_strerror(rc));
  snprintf(num, sizeof num, "%zu", max + 1);
  CHECK(c, conf_detail_has(num) && conf_detail_has(name),
        "oversize put of %s bytes: detail should name the size and queue "
        "'%s': '%s'",
        num, name, sage_last_error());
  conf_destroy(c, q);
  conf_unique_name(name, sizeof name, "detail-opt");
  const char *unknown[] = {"create", "always", "no_such_option", "1", NULL};
  rc = conf_open(c, name, unknown, &q);
  CHECK(c, rc == -EINVAL && conf_detail_has("no_such_option"),
        "unknown option: rc %d, detail should name it: '%s'", rc,
        sage_last_error());
  enum conf_result r = bad_capacity(c, "lots");
  if (r == CONF_PASS)
    r = bad_capacity(c, "99999999999999999999");
  if (r == CONF_PASS)
    r = small_buffer(c);
  return r;
}

/* max_message <= capacity, and a message of exactly max_message fits an
 * empty queue (at a small, a large and the default capacity). */
static enum conf_result max_message_fits(struct conf_ctx *c, size_t capacity) {
  sage_queue *q;
  char name[128];
  OPEN(c, "maxmsg", capacity, 0, &q, name);
  struct sage_stats st = conf_stats(q);
  CHECK(c, st.max_message > 0 && st.max_message <= st.capacity,
        "capacity %zu: max_message %llu, capacity %llu", capacity,
        (unsigned long long)st.max_message, (unsigned long long)st.capacity);
  size_t max = st.max_message;
  unsigned char *in = malloc(max), *out = malloc(max);
  CHECK(c, in && out, "out of memory");
  memset(in, 0x5a, max);
  int rc = sage_queue_put(q, in, max, 0);
  size_t len = 0;
  int got = rc == 0 ? sage_queue_get(q, out, max, &len, 0) : rc;
  int same = got == 0 && len == max && memcmp(in, out, max) == 0;
  free(in), free(out);
  CHECK(c, rc == 0, "capacity %zu: put of max_message (%zu) on empty: %s",
        capacity, max, sage_strerror(rc));
  CHECK(c, same, "capacity %zu: max_message message came back wrong (%d)",
        capacity, got);
  conf_destroy(c, q);
  return CONF_PASS;
}

CONF_CHECK(conf_check_max_message) {
  static const size_t caps[] = {4096, CAPACITY, 0};
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    enum conf_result r = max_message_fits(c, caps[i]);
    if (r != CONF_PASS)
      return r;
  }
  /* capacity is ignored when opening an existing queue. */
  sage_queue *q, *q2;
  char name[128];
  OPEN(c, "maxmsg-reopen", 16384, 0, &q, name);
  struct sage_stats st = conf_stats(q);
  const char *opts[] = {"create", "never", "capacity", "4096", NULL};
  int rc = conf_open(c, name, opts, &q2);
  CHECK(c, rc == 0, "reopen with another capacity: %s", sage_strerror(rc));
  struct sage_stats st2 = conf_stats(q2);
  CHECK(c, st2.capacity == st.capacity && st2.max_message == st.max_message,
        "reopen with capacity=4096 changed capacity %llu -> %llu",
        (unsigned long long)st.capacity, (unsigned long long)st2.capacity);
  conf_close(c, q2);
  conf_destroy(c, q);
  return CONF_PASS;
}

static int64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The fields of an idle queue agree with each other and with what this
 * process did (fields a transport does not know are 0). */
CONF_CHECK(conf_check_stats_fields) {
  int64_t before = realtime_ns();
  sage_queue *q;
  char name[128], buf[64] = {0};
  OPEN(c, "fields", CAPACITY, 0, &q, name);
  for (size_t i = 1; i <= 5; i++)
    CHECK(c, sage_queue_put(q, buf, i, 0) == 0, "put");
  size_t len;
  CHECK(c, sage_queue_get(q, buf, sizeof buf, &len, 0) == 0, "get");
  struct sage_stats st = {.size = sizeof st, .reserved = 0};
  CHECK(c, sage_queue_stats(q, &st) == 0, "stats");
  unsigned long long now = (unsigned long long)realtime_ns();
  CHECK(c, st.size == sizeof st && st.reserved == 0, "size %u reserved %u",
        st.size, st.reserved);
  CHECK(c, st.max_message <= st.capacity && st.bytes_used <= st.capacity,
        "max_message %llu bytes_used %llu capacity %llu",
        (unsigned long long)st.max_message, (unsigned long long)st.bytes_used,
        (unsigned long long)st.capacity);
  CHECK(c, st.high_water == 0 || st.high_water >= st.bytes_used,
        "high_water %llu < bytes_used %llu", (unsigned long long)st.high_water,
        (unsigned long long)st.bytes_used);
  CHECK(c, st.items == 4 && st.total_put == 5 && st.total_got == 1,
        "items %llu put %llu got %llu", (unsigned long long)st.items,
        (unsigned long long)st.total_put, (unsigned long long)st.total_got);
  CHECK(c, st.waiting_readers == 0 && st.waiting_writers == 0,
        "idle queue has %llu readers, %llu writers waiting",
        (unsigned long long)st.waiting_readers,
        (unsigned long long)st.waiting_writers);
  CHECK(c,
        st.abandoned == 0 && st.stale_attached == 0 && st.timeouts == 0 &&
            st.blocked_gets == 0 && st.blocked_puts == 0,
        "counts of things that never happened are not 0");
  CHECK(c, st.attached <= 1, "attached %llu with one handle",
        (unsigned long long)st.attached);
  CHECK(c, st.owner_uid == 0 || st.owner_uid == (uint64_t)getuid(),
        "owner_uid %llu, we are %u", (unsigned long long)st.owner_uid,
        (unsigned)getuid());
  CHECK(c, st.creator_pid == 0 || st.creator_pid == (uint64_t)getpid(),
        "creator_pid %llu, we are %d", (unsigned long long)st.creator_pid,
        (int)getpid());
  CHECK(c,
        st.created_ns == 0 ||
            (st.created_ns + 1000 * MS >= (unsigned long long)before &&
             st.created_ns <= now + 1000 * MS),
        "created_ns %llu is not now (%llu)", (unsigned long long)st.created_ns,
        now);
  CHECK(c, st.unfinished == 0 || st.unfinished == 5,
        "unfinished %llu after 5 puts and no task_done",
        (unsigned long long)st.unfinished);
  conf_destroy(c, q);
  return CONF_PASS;
}

struct delayed {
  sage_queue *q;
  int64_t timeout;
  int rc;
};

static void *blocked_put(void *arg) {
  struct delayed *d = arg;
  d->rc = sage_queue_put(d->q, "filler", 6, d->timeout);
  return NULL;
}

static void *blocked_get(void *arg) {
  struct delayed *d = arg;
  char buf[64];
  size_t len;
  d->rc = sage_queue_get(d->q, buf, sizeof buf, &len, d->timeout);
  return NULL;
}

/* Waits until a put (or get) sleeps in q: as stats' waiting_* say, or
 * 300 ms where the transport does not count them. */
static void until_asleep(sage_queue *q, int put) {
  for (int i = 0; i < 30; i++) {
    struct sage_stats st = conf_stats(q);
    if ((put ? st.waiting_writers : st.waiting_readers) > 0)
      return;
    conf_sleep_ms(10);
  }
}

/* Runs fn(q, timeout) in a thread, waits until it sleeps, then unblocks it
 * with a get (for a put) or a put (for a get); returns its rc. */
static int run_unblocked(sage_queue *q, int64_t timeout, void *(*fn)(void *)) {
  struct delayed d = {q, timeout, 1};
  pthread_t t;
  if (pthread_create(&t, NULL, fn, &d) != 0)
    return -EAGAIN;
  until_asleep(q, fn == blocked_put);
  char buf[64];
  size_t len;
  if (fn == blocked_put)
    sage_queue_get(q, buf, sizeof buf, &len, 1000 * MS);
  else
    sage_queue_put(q, "wake", 4, 1000 * MS);
  pthread_join(t, NULL);
  return d.rc;
}

struct counts {
  uint64_t bput, bget, tmo;
};

static struct counts counts_of(sage_queue *q) {
  struct sage_stats st = conf_stats(q);
  return (struct counts){st.blocked_puts, st.blocked_gets, st.timeouts};
}

/* Expects the counters to have grown by exactly (bput, bget, tmo). */
#define DELTA(c, q, was, bp, bg, to, what)                                     \
  do {                                                                         \
    struct counts now_ = counts_of(q);                                         \
    CHECK(c,                                                                   \
          now_.bput - was.bput == (bp) && now_.bget - was.bget == (bg) &&      \
              now_.tmo - was.tmo == (to),                                      \
          "%s: counted blocked_puts +%llu blocked_gets +%llu timeouts +%llu, " \
          "want +%d +%d +%d",                                                  \
          what, (unsigned long long)(now_.bput - was.bput),                    \
          (unsigned long long)(now_.bget - was.bget),                          \
          (unsigned long long)(now_.tmo - was.tmo), bp, bg, to);               \
    was = now_;                                                                \
  } while (0)

static int fill(sage_queue *q) {
  int n = 0;
  while (n < 100000 && sage_queue_put(q, "filler", 6, 0) == 0)
    n++;
  return n;
}

/* blocked_* count a call that slept, once; `timeouts` counts -ETIMEDOUT
 * but not -EAGAIN. */
CONF_CHECK(conf_check_stats_counting) {
  sage_queue *q;
  char name[128], buf[64];
  size_t len;
  OPEN(c, "counting", 4096, 0, &q, name);
  struct counts was = counts_of(q);
  CHECK(c, sage_queue_get(q, buf, sizeof buf, &len, 0) == -EAGAIN, "get");
  DELTA(c, q, was, 0, 0, 0, "get with timeout 0 on empty");
  CHECK(c, sage_queue_get(q, buf, sizeof buf, &len, 50 * MS) == -ETIMEDOUT,
        "get with timeout");
  DELTA(c, q, was, 0, 1, 1, "get that timed out");
  int rc = run_unblocked(q, 3000 * MS, blocked_get);
  CHECK(c, rc == 0, "blocked get: %s", sage_strerror(rc));
  DELTA(c, q, was, 0, 1, 0, "get that waited, then got");
  CHECK(c, fill(q) > 0, "fill");
  CHECK(c, sage_queue_put(q, "filler", 6, 0) == -EAGAIN, "put on full");
  DELTA(c, q, was, 0, 0, 0, "puts with timeout 0 (to full)");
  CHECK(c, sage_queue_put(q, "filler", 6, 50 * MS) == -ETIMEDOUT,
        "put on full");
  DELTA(c, q, was, 1, 0, 1, "put that timed out");
  rc = run_unblocked(q, 3000 * MS, blocked_put);
  CHECK(c, rc == 0, "blocked put: %s", sage_strerror(rc));
  DELTA(c, q, was, 1, 0, 0, "put that waited, then put");
  conf_destroy(c, q);
  return CONF_PASS;
}

/* Expects `rc` to be -ETIMEDOUT after about `ms` (flags stripped). */
static enum conf_result timed(struct conf_ctx *c, int rc, int64_t t0, int ms,
                              const char *what) {
  int64_t took = conf_now_ns() - t0;
  CHECK(c, rc == -ETIMEDOUT, "%s: %s", what, sage_strerror(rc));
  CHECK(c, took >= ms * MS && took < ms * MS + 500 * MS,
        "%s: returned after %lld ms, want %d", what, (long long)(took / MS),
        ms);
  return CONF_PASS;
}

#define TIMED(c, call, ms, what)                                               \
  do {                                                                         \
    int64_t t0_ = conf_now_ns();                                               \
    int rc_ = (call);                                                          \
    enum conf_result r_ = timed(c, rc_, t0_, ms, what);                        \
    if (r_ != CONF_PASS)                                                       \
      return r_;                                                               \
  } while (0)

/* SLICE: an expiring wait is no timeout; RESUMED: a wait is not counted
 * blocked again. The flags never change how long a call waits. */
CONF_CHECK(conf_check_wait_flags) {
  sage_queue *q;
  char name[128], buf[64];
  size_t len;
  const int64_t slice = SAGE_WAIT_SLICE, resumed = SAGE_WAIT_RESUMED;
  OPEN(c, "waitflags", 4096, 0, &q, name);
  struct counts was = counts_of(q);
  TIMED(c, sage_queue_get(q, buf, sizeof buf, &len, slice | 50 * MS), 50,
        "get SLICE");
  DELTA(c, q, was, 0, 1, 0, "get SLICE that expired");
  TIMED(c, sage_queue_get(q, buf, sizeof buf, &len, slice | resumed | 50 * MS),
        50, "get SLICE|RESUMED");
  DELTA(c, q, was, 0, 0, 0, "get SLICE|RESUMED that expired");
  TIMED(c, sage_queue_get(q, buf, sizeof buf, &len, resumed | 50 * MS), 50,
        "get RESUMED");
  DELTA(c, q, was, 0, 0, 1, "get RESUMED that timed out");
  int rc = sage_queue_get(q, buf, sizeof buf, &len, slice | resumed);
  CHECK(c, rc == -EAGAIN, "get SLICE|RESUMED with 0 ns: %s", sage_strerror(rc));
  DELTA(c, q, was, 0, 0, 0, "get with 0 ns and flags");
  rc = run_unblocked(q, resumed | 3000 * MS, blocked_get);
  CHECK(c, rc == 0, "blocked get RESUMED: %s", sage_strerror(rc));
  DELTA(c, q, was, 0, 0, 0, "get RESUMED that waited, then got");
  CHECK(c, fill(q) > 0, "fill");
  was = counts_of(q);
  TIMED(c, sage_queue_put(q, "filler", 6, slice | 50 * MS), 50, "put SLICE");
  DELTA(c, q, was, 1, 0, 0, "put SLICE that expired");
  TIMED(c, sage_queue_put(q, "filler", 6, resumed | 50 * MS), 50,
        "put RESUMED");
  DELTA(c, q, was, 0, 0, 1, "put RESUMED that timed out");
  rc = run_unblocked(q, resumed | 3000 * MS, blocked_put);
  CHECK(c, rc == 0, "blocked put RESUMED: %s", sage_strerror(rc));
  DELTA(c, q, was, 0, 0, 0, "put RESUMED that waited, then put");
  conf_destroy(c, q);
  return CONF_PASS;
}
