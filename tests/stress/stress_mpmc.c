/* MPMC stress: P producers x C consumers (processes or threads) move N
 * self-checking messages of random sizes through one shm queue. Every
 * message must arrive exactly once, in per-producer order per consumer, with
 * a valid checksum; stats must reconcile.
 *
 * usage: stress_mpmc [-p P] [-c C] [-n N] [-s MAXSIZE] [-k capacity]
 *                    [-t threads|processes|mixed] [-w] [-z SLOT] [-f]
 * Defaults come from $SAGE_STRESS_MESSAGES etc. so sanitizer builds can
 * scale down; the make-check runs use >= 1,000,000 messages. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sage/queue.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "msg.h"

#define MAX_PRODUCERS 64
#define MAX_SIZE 8192
#define SECOND 1000000000ll

struct shared {
  _Atomic uint64_t received, errors;
  _Atomic uint8_t seen[]; /* producer * per_producer + seq */
};

struct config {
  int producers, consumers, threads, mixed, near_wrap;
  int forms; /* -f: also reserve/commit, put_batch, peek/release, get_batch */
  uint32_t per_producer, max_size;
  uint64_t capacity;
  unsigned slot_size; /* shm option: payloads up to slot_size - 24 inline */
  char name[64];
  struct shared *sh;
};

static void error(struct config *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void error(struct config *cfg, const char *fmt, ...) {
  if (atomic_fetch_add(&cfg->sh->errors, 1) >= 10)
    return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "stress: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static sage_queue *attach(struct config *cfg) {
  const char *opts[] = {"create", "never", NULL};
  sage_queue *q;
  int rc = sage_queue_open("shm", cfg->name, opts, &q);
  if (rc != 0) {
    fprintf(stderr, "stress: open: %s\n", sage_last_error());
    exit(2);
  }
  return q;
}

/* Puts one message: with -f, by put, reserve/commit or put_batch in turn. */
static int put_one(const struct config *cfg, sage_queue *q,
                   const unsigned char *m, size_t n, uint32_t seq) {
  if (!cfg->forms || seq % 3 == 0)
    return sage_queue_put(q, m, n, 60 * SECOND);
  if (seq % 3 == 1) {
    void *to;
    uint64_t token;
    int rc = sage_queue_reserve(q, n, &to, &token, 60 * SECOND);
    if (rc != 0)
      return rc;
    memcpy(to, m, n);
    return sage_queue_commit(q, token);
  }
  const void *datas[1] = {m};
  size_t done;
  return sage_queue_put_batch(q, datas, &n, 1, &done, 60 * SECOND);
}

static void produce(struct config *cfg, sage_queue *q, uint32_t id) {
  unsigned char buf[sizeof(struct test_msg_header) + MAX_SIZE];
  uint64_t s = id * 7919u + 17;
  for (uint32_t seq = 0; seq < cfg->per_producer; seq++) {
    size_t n = test_msg_build(buf, id, seq, test_msg_rand(&s) % cfg->max_size);
    int rc = put_one(cfg, q, buf, n, seq);
    if (rc != 0) {
      error(cfg, "put failed: producer %u: %s", id, sage_strerror(rc));
      return;
    }
  }
}

/* Checks one received message: intact, in its producer's order, new. */
static void accept_message(struct config *cfg, uint32_t *last,
                           const unsigned char *m, size_t n) {
  struct test_msg_header h;
  if (!test_msg_check(m, n, &h) || h.producer >= (uint32_t)cfg->producers ||
      h.seq >= cfg->per_producer) {
    error(cfg, "bad message (%zu bytes)", n);
    return;
  }
  if (last[h.producer] != UINT32_MAX && h.seq <= last[h.producer])
    error(cfg, "order: producer %u seq %u after a later one", h.producer,
          h.seq);
  last[h.producer] = h.seq;
  uint64_t slot = (uint64_t)h.producer * cfg->per_producer + h.seq;
  if (atomic_exchange(&cfg->sh->seen[slot], 1))
    error(cfg, "duplicate: producer %u seq %u", h.producer, h.seq);
  atomic_fetch_add(&cfg->sh->received, 1);
}

#define GET_BATCH 8
#define TAKE_BUF (GET_BATCH * (sizeof(struct test_msg_header) + MAX_SIZE))

/* Takes messages once: with -f, by get, peek/release or get_batch in turn
 * (a peeked message is checked again just before its release). */
static int take(struct config *cfg, sage_queue *q, unsigned turn,
                uint32_t *last, unsigned char *buf) {
  size_t n, lens[GET_BATCH], count;
  struct test_msg_header h;
  int rc;
  if (!cfg->forms || turn % 3 == 0) {
    if ((rc = sage_queue_get(q, buf, TAKE_BUF, &n, SECOND / 10)) == 0)
      accept_message(cfg, last, buf, n);
  } else if (turn % 3 == 1) {
    const void *m;
    uint64_t token;
    if ((rc = sage_queue_peek(q, &m, &n, &token, SECOND / 10)) == 0) {
      accept_message(cfg, last, m, n);
      sched_yield();
      if (!test_msg_check(m, n, &h))
        error(cfg, "peeked message changed before its release");
      rc = sage_queue_release(q, token);
    }
  } else if ((rc = sage_queue_get_batch(q, buf, TAKE_BUF, lens, GET_BATCH,
                                        &count, SECOND / 10)) == 0) {
    for (size_t i = 0, off = 0; i < count; off += lens[i++])
      accept_message(cfg, last, buf + off, lens[i]);
  }
  return rc;
}

static void consume(struct config *cfg, sage_queue *q) {
  uint32_t last[MAX_PRODUCERS];
  memset(last, 0xff, sizeof last);
  uint64_t total = (uint64_t)cfg->producers * cfg->per_producer;
  unsigned char *buf = malloc(TAKE_BUF);
  if (buf == NULL) {
    error(cfg, "out of memory");
    return;
  }
  for (unsigned turn = 0; atomic_load(&cfg->sh->received) < total; turn++) {
    int rc = take(cfg, q, turn, last, buf);
    if (rc != 0 && rc != -ETIMEDOUT && rc != -EINTR)
      error(cfg, "get failed: %s", sage_strerror(rc));
  }
  free(buf);
}

struct role {
  struct config *cfg;
  sage_queue *q;
  int producer; /* -1: consumer */
};

static void *run_role(void *arg) {
  struct role *r = arg;
  if (r->producer >= 0)
    produce(r->cfg, r->q, (uint32_t)r->producer);
  else
    consume(r->cfg, r->q);
  return NULL;
}

/* All threads of this process share one handle, hence one mapping: the
 * ring's atomics then have one address, which ThreadSanitizer needs to see
 * the hand-offs (it cannot follow two mappings of the same memory). */
static void run_threads(struct config *cfg, int producers, int consumers) {
  sage_queue *q = attach(cfg);
  pthread_t t[2 * MAX_PRODUCERS];
  struct role roles[2 * MAX_PRODUCERS];
  int n = 0;
  for (int i = 0; i < producers; i++, n++)
    roles[n] = (struct role){cfg, q, i};
  for (int i = 0; i < consumers; i++, n++)
    roles[n] = (struct role){cfg, q, -1};
  for (int i = 0; i < n; i++)
    pthread_create(&t[i], NULL, run_role, &roles[i]);
  for (int i = 0; i < n; i++)
    pthread_join(t[i], NULL);
  sage_queue_close(q);
}

static pid_t spawn(struct config *cfg, int producer) {
  pid_t pid = fork();
  if (pid == 0) {
    sage_queue *q = attach(cfg);
    struct role r = {cfg, q, producer};
    run_role(&r);
    sage_queue_close(q);
    _exit(0);
  }
  return pid;
}

static int verify(struct config *cfg, sage_queue *q) {
  uint64_t total = (uint64_t)cfg->producers * cfg->per_producer, missing = 0;
  for (uint64_t i = 0; i < total; i++)
    missing += !atomic_load(&cfg->sh->seen[i]);
  struct sage_stats st = {.size = sizeof st};
  sage_queue_stats(q, &st);
  printf("stress: %d producers x %d consumers (%s), %llu messages, %llu "
         "bytes: missing %llu, errors %llu, stats put %llu got %llu items "
         "%llu\n",
         cfg->producers, cfg->consumers,
         cfg->mixed     ? "mixed"
         : cfg->threads ? "threads"
                        : "processes",
         (unsigned long long)total, (unsigned long long)st.bytes_put,
         (unsigned long long)missing,
         (unsigned long long)atomic_load(&cfg->sh->errors),
         (unsigned long long)st.total_put, (unsigned long long)st.total_got,
         (unsigned long long)st.items);
  return missing == 0 && atomic_load(&cfg->sh->errors) == 0 &&
         st.total_put == total && st.total_got == total && st.items == 0 &&
         st.abandoned == 0;
}

static uint64_t env_or(const char *name, uint64_t fallback) {
  const char *v = getenv(name);
  return v != NULL && *v != '\0' ? strtoull(v, NULL, 10) : fallback;
}

static void parse(int argc, char **argv, struct config *cfg, uint64_t *n) {
  int opt;
  while ((opt = getopt(argc, argv, "p:c:n:s:k:t:wz:f")) != -1) {
    switch (opt) {
    case 'p':
      cfg->producers = atoi(optarg);
      break;
    case 'c':
      cfg->consumers = atoi(optarg);
      break;
    case 'n':
      *n = strtoull(optarg, NULL, 10);
      break;
    case 's':
      cfg->max_size = (uint32_t)atoi(optarg);
      break;
    case 'k':
      cfg->capacity = strtoull(optarg, NULL, 10);
      break;
    case 'w':
      cfg->near_wrap = 1;
      break;
    case 'f':
      cfg->forms = 1;
      break;
    case 'z':
      cfg->slot_size = (unsigned)atoi(optarg);
      break;
    case 't':
      cfg->threads = strcmp(optarg, "threads") == 0;
      cfg->mixed = strcmp(optarg, "mixed") == 0;
      break;
    default:
      fprintf(stderr,
              "usage: stress_mpmc [-p P] [-c C] [-n N] [-s MAX] "
              "[-k CAP] [-t threads|processes|mixed] [-w] [-z SLOT] [-f]\n"
              "  -w: start the 32-bit ticket and unit positions "
              "just before they wrap\n"
              "  -z: slot size in bytes (32, 64, 128)\n"
              "  -f: every put and get form, in turn\n");
      exit(2);
    }
  }
}

int main(int argc, char **argv) {
  struct config cfg = {.producers = 4,
                       .consumers = 4,
                       .max_size = 256,
                       .capacity = 1 << 18,
                       .slot_size = 32};
  uint64_t n = env_or("SAGE_STRESS_MESSAGES", 1000000);
  parse(argc, argv, &cfg, &n);
  if (cfg.producers < 1 || cfg.producers > MAX_PRODUCERS || cfg.consumers < 1 ||
      cfg.consumers > MAX_PRODUCERS || cfg.max_size < 1 ||
      cfg.max_size > MAX_SIZE)
    return 2;
  cfg.per_producer =
      (uint32_t)((n + (uint64_t)cfg.producers - 1) / (uint64_t)cfg.producers);
  uint64_t total = (uint64_t)cfg.producers * cfg.per_producer;
  cfg.sh = mmap(NULL, sizeof *cfg.sh + total, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  snprintf(cfg.name, sizeof cfg.name, "stress-%d", (int)getpid());
  char cap[32];
  snprintf(cap, sizeof cap, "%llu", (unsigned long long)cfg.capacity);
  /* -w: both positions wrap within the first few thousand messages */
  const char *wrap = cfg.near_wrap ? "4294966296" : "0"; /* 2^32 - 1000 */
  char slot[16];
  snprintf(slot, sizeof slot, "%u", cfg.slot_size);
  const char *opts[] = {"create",       "always", "capacity",   cap,
                        "first_ticket", wrap,     "first_unit", wrap,
                        "slot_size",    slot,     NULL};
  sage_queue *q;
  if (sage_queue_open("shm", cfg.name, opts, &q) != 0) {
    fprintf(stderr, "stress: create: %s\n", sage_last_error());
    return 2;
  }
  alarm(600); /* a hang fails the test instead of wedging CI */
  if (cfg.threads) {
    run_threads(&cfg, cfg.producers, cfg.consumers);
  } else {
    pid_t pids[2 * MAX_PRODUCERS];
    int np = 0;
    for (int i = 0; i < cfg.producers; i++)
      pids[np++] = spawn(&cfg, i);
    if (cfg.mixed) /* producer processes, consumer threads here */
      run_threads(&cfg, 0, cfg.consumers);
    else
      for (int i = 0; i < cfg.consumers; i++)
        pids[np++] = spawn(&cfg, -1);
    for (int i = 0; i < np; i++)
      waitpid(pids[i], NULL, 0);
  }
  int ok = verify(&cfg, q);
  sage_queue_destroy(q);
  return ok ? 0 : 1;
}
