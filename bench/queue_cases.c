/* The queue under test, through the flat API (include/sage/queue.h):
 * 1P/1C throughput (single and batched), ping-pong latency (spinning or
 * blocking) and wake-up latency of a sleeping consumer.
 *
 * The parent creates a fresh queue for each run; both roles open it by name
 * before the start barrier, so attaching and mapping stay out of the timed
 * part. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <sage/queue.h>

#include "bench.h"

struct queue_job {
  const struct bench_cfg *cfg;
  uint64_t capacity;
  char name[2][64]; /* [1] only for the ping-pong's return queue */
  struct bench_tput *t;
  struct bench_lat_run *l;
  enum bench_wait how;
  size_t warm;
};

const char **bench_open_options(const struct bench_cfg *cfg,
                                const char *const *fixed, const char **out,
                                size_t cap) {
  size_t n = 0;
  for (; fixed[n] != NULL && n + 1 < cap; n++)
    out[n] = fixed[n];
  for (int i = 0; i < 2 * cfg->nopen_opts && n + 1 < cap; i++)
    out[n++] = cfg->open_opts[i];
  out[n] = NULL;
  return out;
}

static int queue_error(int rc, const char *what, const char *name) {
  return bench_fail(rc, "%s '%s': %s (%s)", what, name, sage_strerror(rc),
                    sage_last_error());
}

static int open_existing(const struct queue_job *j, int which, sage_queue **q) {
  const char *const fixed[] = {"create", "never", NULL};
  const char *opts[4 + 2 * BENCH_MAX_OPEN_OPTS];
  bench_open_options(j->cfg, fixed, opts, sizeof opts / sizeof opts[0]);
  int rc = sage_queue_open(j->cfg->transport, j->name[which], opts, q);
  return rc == 0 ? 0 : queue_error(rc, "open", j->name[which]);
}

/* Creates the queues of a job in the parent; closes them on failure. */
static int create_queues(struct queue_job *j, int count, sage_queue **q,
                         char *why, size_t cap) {
  static unsigned serial;
  char capacity[32];
  snprintf(capacity, sizeof capacity, "%llu", (unsigned long long)j->capacity);
  const char *const fixed[] = {"capacity", capacity, "create", "always", NULL};
  const char *opts[6 + 2 * BENCH_MAX_OPEN_OPTS];
  bench_open_options(j->cfg, fixed, opts, sizeof opts / sizeof opts[0]);
  for (int i = 0; i < count; i++) {
    snprintf(j->name[i], sizeof j->name[i], "sqbench-%ld-%u", (long)getpid(),
             serial++);
    int rc = sage_queue_open(j->cfg->transport, j->name[i], opts, &q[i]);
    if (rc != 0) {
      snprintf(why, cap, "create queue '%s': %s (%s)", j->name[i],
               sage_strerror(rc), sage_last_error());
      while (i-- > 0)
        sage_queue_destroy(q[i]);
      return -1;
    }
  }
  return 0;
}

static int run_job(struct queue_job *j, int nqueues, bench_role_fn producer,
                   bench_role_fn consumer, struct bench_pair_ctl *ctl,
                   char *why, size_t cap) {
  sage_queue *q[2];
  if (create_queues(j, nqueues, q, why, cap) != 0)
    return -1;
  int rc = bench_pair_run(j->cfg, producer, consumer, j, ctl, why, cap);
  for (int i = 0; i < nqueues; i++)
    sage_queue_destroy(q[i]);
  return rc;
}

/* ---- throughput ---- */

static int put_range(sage_queue *q, const struct bench_tput *t,
                     unsigned char *bufs, const void **datas, size_t *lens,
                     uint64_t from, uint64_t to) {
  for (uint64_t i = from; i < to;) {
    size_t k = to - i < t->batch ? (size_t)(to - i) : t->batch, done = 0;
    for (size_t m = 0; m < k; m++)
      bench_stamp(bufs + m * t->size, i + m);
    int rc = t->batch == 1 ? sage_queue_put(q, bufs, t->size, -1)
                           : sage_queue_put_batch(q, datas, lens, k, &done, -1);
    if (rc != 0)
      return queue_error(rc, t->batch == 1 ? "put" : "put_batch",
                         sage_queue_name(q));
    i += k;
  }
  return 0;
}

static int tput_producer(void *arg, struct bench_pair_ctl *ctl) {
  struct queue_job *j = arg;
  const struct bench_tput *t = j->t;
  sage_queue *q;
  int rc = open_existing(j, 0, &q);
  if (rc != 0)
    return rc;
  unsigned char *bufs = bench_buffer(t->batch * t->size);
  const void **ptrs = bench_buffer(t->batch * sizeof *ptrs);
  size_t *lens = bench_buffer(t->batch * sizeof *lens);
  for (unsigned m = 0; m < t->batch; m++) {
    ptrs[m] = bufs + m * t->size;
    lens[m] = t->size;
  }
  rc = put_range(q, t, bufs, ptrs, lens, 0, t->warm);
  bench_pair_barrier(ctl);
  ctl->t_start = bench_now_ns();
  if (rc == 0)
    rc = put_range(q, t, bufs, ptrs, lens, t->warm, t->warm + t->count);
  sage_queue_close(q);
  return rc;
}

static int check(const unsigned char *msg, size_t len, size_t size,
                 uint64_t seq) {
  if (len == size && bench_stamp_of(msg) == seq)
    return 0;
  return bench_fail(-EBADMSG, "message %llu: got %zu bytes with stamp %llu",
                    (unsigned long long)seq, len,
                    (unsigned long long)bench_stamp_of(msg));
}

static int get_range(sage_queue *q, const struct bench_tput *t,
                     unsigned char *buf, size_t *lens, uint64_t from,
                     uint64_t to) {
  for (uint64_t i = from; i < to;) {
    size_t max = to - i < t->batch ? (size_t)(to - i) : t->batch, n = 1;
    int rc = t->batch == 1 ? sage_queue_get(q, buf, t->size, lens, -1)
                           : sage_queue_get_batch(q, buf, max * t->size, lens,
                                                  max, &n, -1);
    if (rc != 0)
      return queue_error(rc, t->batch == 1 ? "get" : "get_batch",
                         sage_queue_name(q));
    for (size_t m = 0; m < n; m++, i++)
      if (check(buf + m * t->size, lens[m], t->size, i) != 0)
        return -EBADMSG;
  }
  return 0;
}

static int tput_consumer(void *arg, struct bench_pair_ctl *ctl) {
  struct queue_job *j = arg;
  const struct bench_tput *t = j->t;
  sage_queue *q;
  int rc = open_existing(j, 0, &q);
  if (rc != 0)
    return rc;
  unsigned char *buf = bench_buffer(t->batch * t->size);
  size_t *lens = bench_buffer(t->batch * sizeof *lens);
  rc = get_range(q, t, buf, lens, 0, t->warm);
  bench_pair_barrier(ctl);
  if (rc == 0)
    rc = get_range(q, t, buf, lens, t->warm, t->warm + t->count);
  ctl->t_end = bench_now_ns();
  sage_queue_close(q);
  return rc;
}

int bench_queue_tput(const struct bench_cfg *cfg, struct bench_tput *t,
                     char *why, size_t cap) {
  struct queue_job j = {.cfg = cfg, .capacity = cfg->capacity, .t = t};
  struct bench_pair_ctl ctl;
  int rc = run_job(&j, 1, tput_producer, tput_consumer, &ctl, why, cap);
  if (rc == 0)
    t->secs = (double)(ctl.t_end - ctl.t_start) / 1e9;
  return rc;
}

/* ---- latency: a ping-pong over two queues ---- */

/* Gets one message, spinning on the non-blocking form or blocking. */
static int get_one(sage_queue *q, enum bench_wait how, unsigned char *buf,
                   size_t *len) {
  if (how == BENCH_BLOCK)
    return sage_queue_get(q, buf, BENCH_LAT_SIZE, len, -1);
  unsigned spins = 0;
  int rc;
  while ((rc = sage_queue_get(q, buf, BENCH_LAT_SIZE, len, 0)) == -EAGAIN)
    bench_spin(&spins);
  return rc;
}

static int open_pair(const struct queue_job *j, int in, sage_queue **qin,
                     sage_queue **qout) {
  int rc = open_existing(j, in, qin);
  if (rc == 0 && (rc = open_existing(j, 1 - in, qout)) != 0)
    sage_queue_close(*qin);
  return rc;
}

static int lat_initiator(void *arg, struct bench_pair_ctl *ctl) {
  struct queue_job *j = arg;
  sage_queue *in, *out;
  int rc = open_pair(j, 1, &in, &out);
  if (rc != 0)
    return rc;
  unsigned char msg[BENCH_LAT_SIZE] = {0};
  size_t len;
  bench_pair_barrier(ctl);
  for (size_t i = 0; i < j->warm + j->l->n && rc == 0; i++) {
    if (i == j->warm)
      bench_pair_mark();
    int64_t t0 = bench_now_ns();
    rc = sage_queue_put(out, msg, j->cfg->lat_size, -1);
    if (rc == 0)
      rc = get_one(in, j->how, msg, &len);
    int64_t t1 = bench_now_ns();
    if (i >= j->warm)
      j->l->samples[i - j->warm] = (t1 - t0) / 2;
  }
  if (rc != 0)
    queue_error(rc, "ping-pong", j->name[0]);
  sage_queue_close(in);
  sage_queue_close(out);
  return rc;
}

static int lat_echo(void *arg, struct bench_pair_ctl *ctl) {
  struct queue_job *j = arg;
  sage_queue *in, *out;
  int rc = open_pair(j, 0, &in, &out);
  if (rc != 0)
    return rc;
  unsigned char msg[BENCH_LAT_SIZE];
  size_t len;
  bench_pair_barrier(ctl);
  for (size_t i = 0; i < j->warm + j->l->n && rc == 0; i++) {
    if (i == j->warm)
      bench_pair_mark();
    rc = get_one(in, j->how, msg, &len);
    if (rc == 0)
      rc = sage_queue_put(out, msg, len, -1);
  }
  if (rc != 0)
    queue_error(rc, "ping-pong echo", j->name[0]);
  sage_queue_close(in);
  sage_queue_close(out);
  return rc;
}

int bench_queue_latency(const struct bench_cfg *cfg, enum bench_wait how,
                        struct bench_lat_run *l, char *why, size_t cap) {
  struct queue_job j = {.cfg = cfg,
                        .capacity = BENCH_LAT_CAPACITY,
                        .l = l,
                        .how = how,
                        .warm = bench_lat_warm(l->n)};
  struct bench_pair_ctl ctl;
  int rc = run_job(&j, 2, lat_initiator, lat_echo, &ctl, why, cap);
  memcpy(l->sleeps, ctl.sleeps, sizeof l->sleeps);
  return rc;
}

/* ---- wake-up: the consumer is asleep in get when each message comes ---- */

static int wake_producer(void *arg, struct bench_pair_ctl *ctl) {
  struct queue_job *j = arg;
  sage_queue *q;
  int rc = open_existing(j, 0, &q);
  if (rc != 0)
    return rc;
  unsigned char msg[BENCH_LAT_SIZE] = {0};
  bench_pair_barrier(ctl);
  for (size_t i = 0; i < j->warm + j->l->n && rc == 0; i++) {
    bench_pause_ns(
        j->cfg->wake_gap_ns); /* long past the consumer's spin phase */
    bench_stamp(msg, (uint64_t)bench_now_ns());
    rc = sage_queue_put(q, msg, sizeof msg, -1);
  }
  if (rc != 0)
    queue_error(rc, "put", j->name[0]);
  sage_queue_close(q);
  return rc;
}

static int wake_consumer(void *arg, struct bench_pair_ctl *ctl) {
  struct queue_job *j = arg;
  sage_queue *q;
  int rc = open_existing(j, 0, &q);
  if (rc != 0)
    return rc;
  unsigned char msg[BENCH_LAT_SIZE];
  size_t len;
  bench_pair_barrier(ctl);
  for (size_t i = 0; i < j->warm + j->l->n && rc == 0; i++) {
    if (i == j->warm)
      bench_pair_mark();
    rc = sage_queue_get(q, msg, sizeof msg, &len, -1);
    int64_t now = bench_now_ns();
    if (i >= j->warm)
      j->l->samples[i - j->warm] = now - (int64_t)bench_stamp_of(msg);
  }
  if (rc != 0)
    queue_error(rc, "get", j->name[0]);
  sage_queue_close(q);
  return rc;
}

int bench_queue_wakeup(const struct bench_cfg *cfg, struct bench_lat_run *l,
                       char *why, size_t cap) {
  struct queue_job j = {
      .cfg = cfg, .capacity = BENCH_LAT_CAPACITY, .l = l, .warm = 10};
  struct bench_pair_ctl ctl;
  int rc = run_job(&j, 1, wake_producer, wake_consumer, &ctl, why, cap);
  memcpy(l->sleeps, ctl.sleeps, sizeof l->sleeps);
  return rc;
}
