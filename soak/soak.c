/* Soak: many producer and consumer processes (each with a few threads) move
 * self-checking messages through one shm queue for SOAK_SECONDS, while a
 * supervisor SIGKILLs a random participant every few milliseconds and
 * respawns it, and now and then SIGSTOPs one for a while instead, then
 * SIGCONTs it. Participants also leave cleanly now and then.
 *
 * Every message carries a dense global id. A producer sets the id's
 * "confirmed" bit once its put returned 0; a consumer sets the "seen" bit
 * when it has the message in hand and checked it. Before each get a consumer
 * thread publishes how many messages that call may take (its in-flight
 * bound); the supervisor adds that bound to the loss allowance when it kills
 * the process. At the end:
 *
 *   missing    = confirmed and never seen
 *   allowance  = sum of in-flight bounds of killed consumers
 *   loss beyond the killed processes' in-flight messages
 *              = max(0, missing - allowance)          must be 0
 *   duplicates, corrupt messages                       must be 0
 *
 * Environment: SOAK_SECONDS (600), SOAK_PRODUCERS (3), SOAK_CONSUMERS (3),
 * SOAK_THREADS (2 per process), SOAK_KILL_MS (mean ms between kills, 20),
 * SOAK_STOP_EVERY (every Nth event is a stop instead of a kill, 4; 0: no
 * stops), SOAK_STOP_MAX_MS (longest stop, 50), SOAK_STALL_MS (the queue's
 * stall_timeout_ms, 0: off; a put given up then returns -ECANCELED and is
 * simply not confirmed), SOAK_CAPACITY (262144), SOAK_TRANSPORT (shm).
 * Exit status: 0 pass, 1 fail, 2 setup error. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sage/queue.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 32
#define MAX_THREADS 4
#define ID_BITS 32 /* at most 2^32 message ids: 512 MiB per bitmap */
#define ID_BLOCK 256u
#define MAX_BODY 65536u
#define BATCH_PUT 8
#define BATCH_GET 16
#define GET_BUF (BATCH_GET * (MAX_BODY + 64))
#define MS 1000000ll
#define LAT_BUCKETS 512
#define SLOW_NS (50 * MS) /* past the first stall checks (10 ms each) */

struct msg_head {
  uint64_t id, stamp_ns;
  uint32_t len, sum;
};

struct shared {
  _Atomic uint64_t next_id;
  _Atomic int stop_producers, stop_consumers;
  _Atomic uint64_t duplicates, corrupt, other_errors, received;
  _Atomic uint64_t puts_by_mode[3], gets_by_mode[3], cancels, clean_exits;
  _Atomic uint64_t given_up; /* puts refused after a stall (-ECANCELED) */
  _Atomic uint64_t max_latency_ns, max_call_ns, slow_gets;
  _Atomic uint64_t latency[LAT_BUCKETS];
  /* messages each consumer thread may hold right now */
  _Atomic uint32_t inflight[MAX_WORKERS][MAX_THREADS];
  char first_error[256];
  _Atomic int first_error_set;
};

struct config {
  int seconds, producers, consumers, threads, kill_ms;
  int stop_every, stop_max_ms, stall_ms;
  const char *capacity, *transport;
};

static struct shared *sh;
static _Atomic uint64_t *confirmed, *seen; /* bitmaps over ids */
static struct config cfg;
static char qname[64];

/* ---- helpers ---- */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static int env_int(const char *name, int fallback) {
  const char *v = getenv(name);
  return v != NULL && *v != '\0' ? atoi(v) : fallback;
}

/* Keeps the first error's text for the report. */
static void note_error(const char *what, uint64_t value) {
  if (atomic_exchange(&sh->first_error_set, 1) == 0)
    snprintf(sh->first_error, sizeof sh->first_error, "%s %llu", what,
             (unsigned long long)value);
}

static void atomic_max(_Atomic uint64_t *w, uint64_t v) {
  uint64_t cur = atomic_load_explicit(w, memory_order_relaxed);
  while (v > cur && !atomic_compare_exchange_weak(w, &cur, v))
    ;
}

static int bit_set(_Atomic uint64_t *map, uint64_t id) {
  uint64_t bit = 1ull << (id % 64);
  return (atomic_fetch_or_explicit(&map[id / 64], bit, memory_order_relaxed) &
          bit) != 0;
}

/* Log-linear latency buckets: 8 per power of two of nanoseconds. */
static unsigned lat_bucket(uint64_t ns) {
  if (ns < 8)
    return (unsigned)ns;
  unsigned p = 63u - (unsigned)__builtin_clzll(ns);
  unsigned b = (p - 2) * 8 + (unsigned)((ns >> (p - 3)) & 7);
  return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

static uint64_t lat_bucket_top(unsigned b) {
  if (b < 8)
    return b;
  unsigned p = b / 8 + 2;
  return ((8ull + b % 8 + 1) << (p - 3)) - 1;
}

/* ---- messages: a header and a body derived from the id ---- */

static uint64_t body_word(uint64_t id, size_t i) {
  return (id + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)i * 0xD6E8FEB86659FD93ull;
}

static uint32_t head_sum(const struct msg_head *h) {
  uint64_t x = h->id * 0xff51afd7ed558ccdull ^ h->stamp_ns ^ (uint64_t)h->len;
  return (uint32_t)(x ^ x >> 32) | 1u;
}

static size_t msg_build(unsigned char *buf, uint64_t id, uint32_t len) {
  struct msg_head h = {id, (uint64_t)now_ns(), len, 0};
  h.sum = head_sum(&h);
  memcpy(buf, &h, sizeof h);
  unsigned char *body = buf + sizeof h;
  for (size_t i = 0; i < len; i += 8) {
    uint64_t w = body_word(id, i);
    memcpy(body + i, &w, len - i < 8 ? len - i : 8);
  }
  return sizeof h + len;
}

static int msg_check(const unsigned char *buf, size_t n, struct msg_head *h) {
  if (n < sizeof *h)
    return 0;
  memcpy(h, buf, sizeof *h);
  if (h->sum != head_sum(h) || sizeof *h + h->len != n ||
      h->id >= (1ull << ID_BITS))
    return 0;
  const unsigned char *body = buf + sizeof *h;
  for (size_t i = 0; i < h->len; i += 8) {
    uint64_t w = body_word(h->id, i);
    if (memcmp(body + i, &w, h->len - i < 8 ? h->len - i : 8) != 0)
      return 0;
  }
  return 1;
}

static uint32_t pick_len(uint64_t *s) {
  uint64_t r = rng_next(s);
  unsigned kind = (unsigned)(r % 100);
  if (kind < 80)
    return (uint32_t)(r >> 8) % 257;
  if (kind < 99)
    return 256 + (uint32_t)(r >> 8) % 3841;
  return (uint32_t)(r >> 8) % MAX_BODY;
}

/* ---- participants ---- */

static sage_queue *attach_queue(void) {
  const char *opts[] = {"create", "never", NULL};
  sage_queue *q;
  int rc = sage_queue_open(cfg.transport, qname, opts, &q);
  if (rc != 0) {
    note_error("attach failed with error", (uint64_t)-rc);
    atomic_fetch_add(&sh->other_errors, 1);
    _exit(3);
  }
  return q;
}

struct thread_arg {
  sage_queue *q;
  int worker, thread;
  uint64_t seed, ops_left;
};

/* Ids come in blocks so producers rarely touch the shared counter. */
struct id_source {
  uint64_t next, end;
};

static int take_id(struct id_source *src, uint64_t *id) {
  if (src->next == src->end) {
    src->next = atomic_fetch_add(&sh->next_id, ID_BLOCK);
    src->end = src->next + ID_BLOCK;
    if (src->end > (1ull << ID_BITS))
      return 0;
  }
  *id = src->next++;
  return 1;
}

static void confirm(uint64_t id) {
  bit_set(confirmed, id);
}

/* Retries a blocking call in slices so producers notice the stop flag. */
#define UNTIL_STOP(rc, call)                                                   \
  do                                                                           \
    (rc) = (call);                                                             \
  while ((rc) == -ETIMEDOUT && !atomic_load(&sh->stop_producers))

static int put_one(struct thread_arg *a, unsigned char *buf, uint64_t id,
                   uint32_t len) {
  size_t n = msg_build(buf, id, len);
  int rc;
  UNTIL_STOP(rc, sage_queue_put(a->q, buf, n, 200 * MS));
  if (rc == 0) {
    confirm(id);
    atomic_fetch_add_explicit(&sh->puts_by_mode[0], 1, memory_order_relaxed);
  }
  return rc;
}

static int put_some(struct thread_arg *a, struct id_source *src,
                    unsigned char *buf) {
  unsigned count = 2 + (unsigned)(rng_next(&a->seed) % (BATCH_PUT - 1));
  const void *datas[BATCH_PUT];
  size_t lens[BATCH_PUT], off = 0, done = 0;
  uint64_t ids[BATCH_PUT];
  for (unsigned i = 0; i < count; i++) {
    if (!take_id(src, &ids[i]))
      return -ERANGE;
    datas[i] = buf + off;
    lens[i] = msg_build(buf + off, ids[i], pick_len(&a->seed) % 4096);
    off += lens[i];
  }
  /* A timed-out batch call may have put a prefix: count it, then retry
   * only the rest. */
  size_t total = 0;
  int rc = 0;
  while (total < count) {
    rc = sage_queue_put_batch(a->q, datas + total, lens + total, count - total,
                              &done, 200 * MS);
    for (size_t i = 0; i < done; i++)
      confirm(ids[total + i]);
    total += done;
    if (rc != 0 && (rc != -ETIMEDOUT || atomic_load(&sh->stop_producers)))
      break;
  }
  atomic_fetch_add_explicit(&sh->puts_by_mode[1], total, memory_order_relaxed);
  return rc;
}

static int put_zero_copy(struct thread_arg *a, uint64_t id, uint32_t len) {
  void *ptr;
  uint64_t token;
  size_t n = sizeof(struct msg_head) + len;
  int rc;
  UNTIL_STOP(rc, sage_queue_reserve(a->q, n, &ptr, &token, 200 * MS));
  if (rc != 0)
    return rc;
  if (rng_next(&a->seed) % 50 == 0) {
    atomic_fetch_add(&sh->cancels, 1);
    return sage_queue_cancel(a->q, token); /* never confirmed */
  }
  msg_build(ptr, id, len); /* stamped just before it becomes visible */
  rc = sage_queue_commit(a->q, token);
  if (rc == 0) {
    confirm(id);
    atomic_fetch_add_explicit(&sh->puts_by_mode[2], 1, memory_order_relaxed);
  }
  return rc;
}

static void *producer_thread(void *p) {
  struct thread_arg *a = p;
  static _Thread_local unsigned char buf[BATCH_PUT * (4096 + 64) + MAX_BODY];
  struct id_source src = {0, 0};
  while (!atomic_load(&sh->stop_producers) && a->ops_left-- > 0) {
    unsigned mode = (unsigned)(rng_next(&a->seed) % 10);
    uint64_t id;
    int rc;
    if (mode < 2)
      rc = put_some(a, &src, buf);
    else if (!take_id(&src, &id))
      rc = -ERANGE;
    else if (mode < 8)
      rc = put_one(a, buf, id, pick_len(&a->seed));
    else
      rc = put_zero_copy(a, id, pick_len(&a->seed));
    if (rc == -ERANGE)
      break; /* id space used up */
    if (rc == -ECANCELED && cfg.stall_ms > 0) {
      atomic_fetch_add(&sh->given_up, 1);
      continue;
    }
    if (rc != 0 && rc != -ETIMEDOUT) {
      note_error("producer: error", (uint64_t)-rc);
      atomic_fetch_add(&sh->other_errors, 1);
    }
  }
  return NULL;
}

static void record(const unsigned char *m, size_t n, int64_t call_ns) {
  struct msg_head h;
  if (!msg_check(m, n, &h)) {
    uint64_t first = 0;
    memcpy(&first, m, n < 8 ? n : 8);
    note_error("corrupt message, first word", first);
    atomic_fetch_add(&sh->corrupt, 1);
    return;
  }
  if (bit_set(seen, h.id)) {
    note_error("duplicate message id", h.id);
    atomic_fetch_add(&sh->duplicates, 1);
  }
  int64_t t = now_ns(),
          since = (int64_t)h.stamp_ns > call_ns ? (int64_t)h.stamp_ns : call_ns;
  uint64_t lat = t > since ? (uint64_t)(t - since) : 0;
  atomic_fetch_add_explicit(&sh->latency[lat_bucket(lat)], 1,
                            memory_order_relaxed);
  atomic_max(&sh->max_latency_ns, lat);
  if (lat > SLOW_NS)
    atomic_fetch_add(&sh->slow_gets, 1);
  atomic_fetch_add_explicit(&sh->received, 1, memory_order_relaxed);
}

static int get_once(struct thread_arg *a, unsigned char *buf, unsigned mode) {
  _Atomic uint32_t *inflight = &sh->inflight[a->worker][a->thread];
  int64_t t0 = now_ns();
  size_t lens[BATCH_GET], count = 0, n;
  int rc;
  if (mode == 0) {
    atomic_store(inflight, 1);
    rc = sage_queue_get(a->q, buf, GET_BUF, &n, 100 * MS);
    if (rc == 0)
      record(buf, n, t0);
  } else if (mode == 1) {
    atomic_store(inflight, BATCH_GET);
    rc = sage_queue_get_batch(a->q, buf, GET_BUF, lens, BATCH_GET, &count,
                              100 * MS);
    for (size_t i = 0, off = 0; rc == 0 && i < count; off += lens[i++])
      record(buf + off, lens[i], t0);
    atomic_fetch_add_explicit(&sh->gets_by_mode[1], count,
                              memory_order_relaxed);
  } else {
    const void *ptr;
    uint64_t token;
    atomic_store(inflight, 1);
    rc = sage_queue_peek(a->q, &ptr, &n, &token, 100 * MS);
    if (rc == 0) {
      record(ptr, n, t0);
      rc = sage_queue_release(a->q, token);
    }
  }
  if (rc == 0 && mode != 1)
    atomic_fetch_add_explicit(&sh->gets_by_mode[mode], 1, memory_order_relaxed);
  if (rc == 0)
    atomic_max(&sh->max_call_ns, (uint64_t)(now_ns() - t0));
  atomic_store(inflight, 0); /* recorded: nothing held any more */
  return rc;
}

static void *consumer_thread(void *p) {
  struct thread_arg *a = p;
  unsigned char *buf = malloc(GET_BUF);
  while (buf != NULL && !atomic_load(&sh->stop_consumers) &&
         a->ops_left-- > 0) {
    int rc = get_once(a, buf, (unsigned)(rng_next(&a->seed) % 10) / 4);
    if (rc != 0 && rc != -ETIMEDOUT && rc != -EINTR) {
      note_error("consumer: error", (uint64_t)-rc);
      atomic_fetch_add(&sh->other_errors, 1);
    }
  }
  free(buf);
  return NULL;
}

/* A participant: `threads` threads sharing one handle. Leaves cleanly after
 * a random number of operations (clean churn), unless killed first. */
static void participant(int worker, int producer, uint64_t seed) {
  sage_queue *q = attach_queue();
  pthread_t tids[MAX_THREADS];
  struct thread_arg args[MAX_THREADS];
  uint64_t ops = 20000 + rng_next(&seed) % 200000;
  for (int t = 0; t < cfg.threads; t++) {
    args[t] =
        (struct thread_arg){q, worker, t, seed + (uint64_t)t * 7919 + 1, ops};
    pthread_create(&tids[t], NULL, producer ? producer_thread : consumer_thread,
                   &args[t]);
  }
  for (int t = 0; t < cfg.threads; t++)
    pthread_join(tids[t], NULL);
  sage_queue_close(q);
  atomic_fetch_add(&sh->clean_exits, 1);
  _exit(0);
}

/* ---- supervisor ---- */

struct worker {
  pid_t pid;
  int producer;
};

static struct worker workers[MAX_WORKERS];
static int n_workers;
static uint64_t spawn_seed = 88172645463325252ull;

static void spawn(int i) {
  uint64_t seed = rng_next(&spawn_seed);
  for (int t = 0; t < MAX_THREADS; t++)
    atomic_store(&sh->inflight[i][t], 0);
  pid_t pid = fork();
  if (pid == 0)
    participant(i, workers[i].producer, seed);
  workers[i].pid = pid;
}

static uint64_t held_by(int i) {
  uint64_t held = 0;
  for (int t = 0; t < MAX_THREADS; t++)
    held += atomic_load(&sh->inflight[i][t]);
  return held;
}

struct totals {
  uint64_t kills, producer_kills, consumer_kills, allowance, respawns, stops;
};

/* Respawns participants that left on their own. */
static void reap_clean_exits(struct totals *t, int respawn) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
    for (int i = 0; i < n_workers; i++)
      if (workers[i].pid == pid) {
        workers[i].pid = 0;
        if (respawn) {
          t->respawns++;
          spawn(i);
        }
      }
}

static void kill_one(struct totals *t) {
  int i = (int)(rng_next(&spawn_seed) % (uint64_t)n_workers);
  if (workers[i].pid <= 0)
    return;
  kill(workers[i].pid, SIGKILL);
  int status;
  waitpid(workers[i].pid, &status, 0);
  if (WIFSIGNALED(status)) {
    t->kills++;
    if (workers[i].producer) {
      t->producer_kills++;
    } else {
      t->consumer_kills++;
      t->allowance += held_by(i); /* what its gets may have taken */
    }
  }
  spawn(i);
}

/* Stops a random participant for up to stop_max_ms, then lets it go on:
 * a stalled, not a dead, owner. */
static void stop_one(struct totals *t) {
  int i = (int)(rng_next(&spawn_seed) % (uint64_t)n_workers);
  if (workers[i].pid <= 0 || kill(workers[i].pid, SIGSTOP) != 0)
    return;
  t->stops++;
  sleep_us(
      (long)(rng_next(&spawn_seed) % (uint64_t)(cfg.stop_max_ms * 1000 + 1)));
  kill(workers[i].pid, SIGCONT);
}

static struct sage_stats stats_of(sage_queue *q) {
  struct sage_stats st = {.size = sizeof st};
  sage_queue_stats(q, &st);
  return st;
}

static void progress(sage_queue *q, int64_t start, const struct totals *t) {
  struct sage_stats st = stats_of(q);
  fprintf(stderr,
          "soak: %4llds  received %llu  kills %llu  abandoned %llu  "
          "items %llu  attached %llu (+%llu stale)  max latency %.1f ms\n",
          (long long)((now_ns() - start) / 1000000000),
          (unsigned long long)atomic_load(&sh->received),
          (unsigned long long)t->kills, (unsigned long long)st.abandoned,
          (unsigned long long)st.items, (unsigned long long)st.attached,
          (unsigned long long)st.stale_attached,
          (double)atomic_load(&sh->max_latency_ns) / 1e6);
}

static void run_traffic(sage_queue *q, struct totals *t) {
  int64_t start = now_ns(), end = start + (int64_t)cfg.seconds * 1000000000;
  int64_t next_report = start + 10000 * MS;
  while (now_ns() < end) {
    sleep_us(
        (long)(rng_next(&spawn_seed) % (uint64_t)(2 * cfg.kill_ms * 1000 + 1)));
    reap_clean_exits(t, 1);
    if (cfg.stop_every > 0 &&
        rng_next(&spawn_seed) % (uint64_t)cfg.stop_every == 0)
      stop_one(t);
    else
      kill_one(t);
    if (now_ns() >= next_report) {
      progress(q, start, t);
      next_report += 10000 * MS;
    }
  }
}

static void wait_workers(int producers) {
  for (int i = 0; i < n_workers; i++)
    if (workers[i].producer == producers && workers[i].pid > 0) {
      waitpid(workers[i].pid, NULL, 0);
      workers[i].pid = 0;
    }
}

/* Lets consumers take everything left, then stops them. */
static void drain(sage_queue *q, struct totals *t) {
  atomic_store(&sh->stop_producers, 1);
  wait_workers(1);
  reap_clean_exits(t, 0);
  uint64_t last = UINT64_MAX;
  for (int quiet = 0; quiet < 10;) {
    sleep_us(100000);
    for (int i = 0; i < n_workers; i++) /* keep consumers alive */
      if (!workers[i].producer && workers[i].pid == 0)
        spawn(i);
    reap_clean_exits(t, 0);
    uint64_t got = atomic_load(&sh->received);
    quiet = (got == last && stats_of(q).items == 0) ? quiet + 1 : 0;
    last = got;
  }
  atomic_store(&sh->stop_consumers, 1);
  wait_workers(0);
}

struct verdict {
  uint64_t ids, confirmed, seen, missing, unconfirmed_seen;
};

static struct verdict compare_bitmaps(void) {
  struct verdict v = {0};
  v.ids = atomic_load(&sh->next_id);
  if (v.ids > (1ull << ID_BITS))
    v.ids = 1ull << ID_BITS;
  for (uint64_t w = 0; w < (v.ids + 63) / 64; w++) {
    uint64_t c = atomic_load(&confirmed[w]), s = atomic_load(&seen[w]);
    v.confirmed += (uint64_t)__builtin_popcountll(c);
    v.seen += (uint64_t)__builtin_popcountll(s);
    v.missing += (uint64_t)__builtin_popcountll(c & ~s);
    v.unconfirmed_seen += (uint64_t)__builtin_popcountll(s & ~c);
  }
  return v;
}

static uint64_t latency_percentile(double pct) {
  uint64_t total = 0, acc = 0;
  for (unsigned b = 0; b < LAT_BUCKETS; b++)
    total += atomic_load(&sh->latency[b]);
  for (unsigned b = 0; b < LAT_BUCKETS; b++) {
    acc += atomic_load(&sh->latency[b]);
    if (total > 0 && (double)acc >= pct / 100.0 * (double)total)
      return lat_bucket_top(b);
  }
  return 0;
}

static int still_works(sage_queue *q) {
  char buf[16];
  size_t len;
  return sage_queue_put(q, "alive", 5, 1000 * MS) == 0 &&
         sage_queue_get(q, buf, sizeof buf, &len, 1000 * MS) == 0 && len == 5;
}

static void report(const struct totals *t, const struct verdict *v,
                   const struct sage_stats *st, int works, uint64_t beyond) {
  printf("soak: %d s, %d producers + %d consumers x %d threads, kill or "
         "stop every ~%d ms (1 in %d a stop of up to %d ms), stall_timeout "
         "%d ms, capacity %s\n",
         cfg.seconds, cfg.producers, cfg.consumers, cfg.threads, cfg.kill_ms,
         cfg.stop_every, cfg.stop_max_ms, cfg.stall_ms, cfg.capacity);
  printf("  messages moved        %llu (put %llu/%llu/%llu by put/batch/"
         "reserve, got %llu/%llu/%llu by get/batch/peek)\n",
         (unsigned long long)atomic_load(&sh->received),
         (unsigned long long)atomic_load(&sh->puts_by_mode[0]),
         (unsigned long long)atomic_load(&sh->puts_by_mode[1]),
         (unsigned long long)atomic_load(&sh->puts_by_mode[2]),
         (unsigned long long)atomic_load(&sh->gets_by_mode[0]),
         (unsigned long long)atomic_load(&sh->gets_by_mode[1]),
         (unsigned long long)atomic_load(&sh->gets_by_mode[2]));
  printf("  kills                 %llu (%llu producers, %llu consumers); "
         "stops %llu; clean exits %llu; cancels %llu; puts given up after "
         "a stall %llu\n",
         (unsigned long long)t->kills, (unsigned long long)t->producer_kills,
         (unsigned long long)t->consumer_kills, (unsigned long long)t->stops,
         (unsigned long long)atomic_load(&sh->clean_exits),
         (unsigned long long)atomic_load(&sh->cancels),
         (unsigned long long)atomic_load(&sh->given_up));
  printf("  abandoned records     %llu (stats; attachments reclaimed and "
         "stale now: %llu)\n",
         (unsigned long long)st->abandoned,
         (unsigned long long)st->stale_attached);
  printf("  confirmed puts        %llu; seen %llu; delivered but unconfirmed "
         "%llu\n",
         (unsigned long long)v->confirmed, (unsigned long long)v->seen,
         (unsigned long long)v->unconfirmed_seen);
  printf("  confirmed not seen    %llu; in-flight allowance of killed "
         "consumers %llu\n",
         (unsigned long long)v->missing, (unsigned long long)t->allowance);
  printf("  loss beyond in-flight %llu\n", (unsigned long long)beyond);
  printf("  duplicates %llu, corrupt %llu, other errors %llu%s%s\n",
         (unsigned long long)atomic_load(&sh->duplicates),
         (unsigned long long)atomic_load(&sh->corrupt),
         (unsigned long long)atomic_load(&sh->other_errors),
         sh->first_error_set ? "; first: " : "", sh->first_error);
  printf("  get latency           p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, "
         "max %.3f ms; %llu over %lld ms (longest successful get call "
         "%.3f ms)\n",
         (double)latency_percentile(50) / 1e6,
         (double)latency_percentile(99) / 1e6,
         (double)latency_percentile(99.9) / 1e6,
         (double)atomic_load(&sh->max_latency_ns) / 1e6,
         (unsigned long long)atomic_load(&sh->slow_gets), SLOW_NS / MS,
         (double)atomic_load(&sh->max_call_ns) / 1e6);
  printf("  queue afterwards      items %llu, waiting %llu/%llu, "
         "works %s\n",
         (unsigned long long)st->items, (unsigned long long)st->waiting_readers,
         (unsigned long long)st->waiting_writers, works ? "yes" : "NO");
}

static void *map_shared(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    perror("soak: mmap");
    exit(2);
  }
  return p;
}

static void read_config(void) {
  cfg.seconds = env_int("SOAK_SECONDS", 600);
  cfg.producers = env_int("SOAK_PRODUCERS", 3);
  cfg.consumers = env_int("SOAK_CONSUMERS", 3);
  cfg.threads = env_int("SOAK_THREADS", 2);
  cfg.kill_ms = env_int("SOAK_KILL_MS", 20);
  cfg.stop_every = env_int("SOAK_STOP_EVERY", 4);
  cfg.stop_max_ms = env_int("SOAK_STOP_MAX_MS", 50);
  cfg.stall_ms = env_int("SOAK_STALL_MS", 0);
  cfg.capacity = getenv("SOAK_CAPACITY") ? getenv("SOAK_CAPACITY") : "262144";
  cfg.transport = getenv("SOAK_TRANSPORT") ? getenv("SOAK_TRANSPORT") : "shm";
  if (cfg.producers < 1 || cfg.consumers < 1 ||
      cfg.producers + cfg.consumers > MAX_WORKERS || cfg.threads < 1 ||
      cfg.threads > MAX_THREADS || cfg.seconds < 1 || cfg.kill_ms < 1 ||
      cfg.stop_every < 0 || cfg.stop_max_ms < 0 || cfg.stall_ms < 0) {
    fprintf(stderr, "soak: bad SOAK_* settings\n");
    exit(2);
  }
}

int main(void) {
  read_config();
  sh = map_shared(sizeof *sh);
  confirmed = map_shared((1ull << ID_BITS) / 8);
  seen = map_shared((1ull << ID_BITS) / 8);
  snprintf(qname, sizeof qname, "soak-%d", (int)getpid());
  char stall[16];
  snprintf(stall, sizeof stall, "%d", cfg.stall_ms);
  const char *opts[] = {"create",           "always", "capacity", cfg.capacity,
                        "stall_timeout_ms", stall,    NULL};
  sage_queue *q;
  if (sage_queue_open(cfg.transport, qname, opts, &q) != 0) {
    fprintf(stderr, "soak: create: %s\n", sage_last_error());
    return 2;
  }
  n_workers = cfg.producers + cfg.consumers;
  for (int i = 0; i < n_workers; i++) {
    workers[i].producer = i < cfg.producers;
    spawn(i);
  }
  struct totals t = {0};
  run_traffic(q, &t);
  drain(q, &t);
  struct sage_stats st = stats_of(q);
  struct verdict v = compare_bitmaps();
  int works = still_works(q);
  uint64_t beyond = v.missing > t.allowance ? v.missing - t.allowance : 0;
  report(&t, &v, &st, works, beyond);
  sage_queue_destroy(q);
  int ok = beyond == 0 && atomic_load(&sh->duplicates) == 0 &&
           atomic_load(&sh->corrupt) == 0 &&
           atomic_load(&sh->other_errors) == 0 && st.items == 0 && works;
  printf("soak: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
