/* MPMC scaling: aggregate throughput of P producer and C consumer
 * processes, each pinned to its own CPU, for several shapes, over one or
 * more transports measured interleaved in the same run. Meant for machines
 * with more cores than the 2-vCPU development VMs (docs/BENCHMARKS.md).
 *
 * usage: sage-queue-scaling [--transports shm,posixmq] [--shapes 1x1,2x2,...]
 *                           [--size BYTES] [--seconds S] [--reps N]
 *                           [--cpu-stride N]  (role i on CPU i*N)
 *                           [--get-batch N]   (consumers take up to N per
 *                                              call: get_batch, as prefetch)
 * Prints one Markdown row per transport and shape: median [min-max] of the
 * repetitions, in messages/s. */
#include "config.h"

#include <errno.h>
#include <sage/queue.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROLES 64
#define MAX_REPS 32
#define SECOND 1000000000ll

struct shared {
  _Atomic int go, stop;
  _Atomic uint64_t got;
};

static int cpu_stride = 1;   /* role i runs on CPU i * stride */
static size_t get_batch = 1; /* messages a consumer takes per call */

struct run {
  const char *transport;
  int producers, consumers;
  size_t size;
  double seconds;
  char name[64];
};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * SECOND + ts.tv_nsec;
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % CPU_SETSIZE, &set);
  sched_setaffinity(0, sizeof set, &set); /* best effort */
}

static sage_queue *attach(const struct run *r) {
  const char *opts[] = {"create", "never", NULL};
  sage_queue *q;
  if (sage_queue_open(r->transport, r->name, opts, &q) != 0) {
    fprintf(stderr, "scaling: open %s: %s\n", r->name, sage_last_error());
    _exit(2);
  }
  return q;
}

static void wait_go(struct shared *sh) {
  while (!atomic_load(&sh->go))
    sched_yield();
}

static void producer(const struct run *r, struct shared *sh) {
  sage_queue *q = attach(r);
  char *buf = calloc(1, r->size);
  wait_go(sh);
  while (!atomic_load_explicit(&sh->stop, memory_order_relaxed))
    sage_queue_put(q, buf, r->size, SECOND / 10);
  sage_queue_close(q);
  _exit(0);
}

static uint64_t take_one(sage_queue *q, char *buf, size_t size) {
  size_t len;
  return sage_queue_get(q, buf, size, &len, SECOND / 10) == 0;
}

static uint64_t take_batch(sage_queue *q, size_t size) {
  static char *buf;
  static size_t *lens;
  if (buf == NULL) {
    buf = malloc(size * get_batch);
    lens = malloc(sizeof *lens * get_batch);
  }
  size_t count = 0;
  sage_queue_get_batch(q, buf, size * get_batch, lens, get_batch, &count,
                       SECOND / 10);
  return count;
}

static void consumer(const struct run *r, struct shared *sh) {
  sage_queue *q = attach(r);
  char *buf = malloc(r->size);
  uint64_t got = 0;
  wait_go(sh);
  while (!atomic_load_explicit(&sh->stop, memory_order_relaxed))
    got += get_batch > 1 ? take_batch(q, r->size) : take_one(q, buf, r->size);
  atomic_fetch_add(&sh->got, got);
  sage_queue_close(q);
  _exit(0);
}

/* One timed repetition; returns messages/s taken by all consumers. */
static double measure(struct run *r, struct shared *sh) {
  snprintf(r->name, sizeof r->name, "scaling-%d", (int)getpid());
  const char *opts[] = {"create", "always", NULL};
  sage_queue *q;
  if (sage_queue_open(r->transport, r->name, opts, &q) != 0) {
    fprintf(stderr, "scaling: create on %s: %s\n", r->transport,
            sage_last_error());
    return -1;
  }
  memset(sh, 0, sizeof *sh);
  pid_t pids[MAX_ROLES];
  int n = r->producers + r->consumers;
  for (int i = 0; i < n; i++) {
    pids[i] = fork();
    if (pids[i] == 0) {
      pin(i * cpu_stride);
      i < r->producers ? producer(r, sh) : consumer(r, sh);
    }
  }
  struct timespec warm = {0, 200000000};
  atomic_store(&sh->go, 1);
  nanosleep(&warm, NULL);
  int64_t t0 = now_ns();
  struct timespec span = {
      (time_t)r->seconds,
      (long)((r->seconds - (double)(time_t)r->seconds) * 1e9)};
  nanosleep(&span, NULL);
  atomic_store(&sh->stop, 1);
  int64_t t1 = now_ns();
  for (int i = 0; i < n; i++)
    waitpid(pids[i], NULL, 0);
  sage_queue_destroy(q);
  /* counts include the 200 ms warm-up: time it in as well */
  return (double)atomic_load(&sh->got) /
         ((double)(t1 - t0) / 1e9 + warm.tv_nsec / 1e9);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void print_row(const struct run *r, double *v, int reps) {
  qsort(v, (size_t)reps, sizeof *v, cmp_double);
  char batch[48] = "";
  if (get_batch > 1)
    snprintf(batch, sizeof batch, ", get_batch %zu", get_batch);
  printf("| %s | %dP/%dC%s | %zu B | %.2fM [%.2fM-%.2fM] |\n", r->transport,
         r->producers, r->consumers, batch, r->size, v[reps / 2] / 1e6,
         v[0] / 1e6, v[reps - 1] / 1e6);
  fflush(stdout);
}

int main(int argc, char **argv) {
  const char *transports = "shm", *shapes = "1x1,2x2,4x1,4x4,8x8";
  size_t size = 64;
  double seconds = 1.0;
  int reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--transports") == 0)
      transports = argv[i + 1];
    else if (strcmp(argv[i], "--shapes") == 0)
      shapes = argv[i + 1];
    else if (strcmp(argv[i], "--size") == 0)
      size = strtoul(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--seconds") == 0)
      seconds = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--reps") == 0)
      reps = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--cpu-stride") == 0)
      cpu_stride = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--get-batch") == 0)
      get_batch = strtoul(argv[i + 1], NULL, 10);
  }
  if (reps < 1 || reps > MAX_REPS || size < 1 || get_batch < 1)
    return 2;
  struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  printf("%ld CPUs online; %d repetitions of %.1f s, interleaved across "
         "transports\n\n| transport | shape | message | msgs/s median "
         "[min-max] |\n|---|---|---|---|\n",
         sysconf(_SC_NPROCESSORS_ONLN), reps, seconds);
  char shape_list[256];
  snprintf(shape_list, sizeof shape_list, "%s", shapes);
  for (char *save, *s = strtok_r(shape_list, ",", &save); s != NULL;
       s = strtok_r(NULL, ",", &save)) {
    int p, c;
    if (sscanf(s, "%dx%d", &p, &c) != 2 || p < 1 || c < 1 || p + c > MAX_ROLES)
      return 2;
    char tlist[256];
    snprintf(tlist, sizeof tlist, "%s", transports);
    const char *names[8];
    int nt = 0;
    for (char *tsave, *t = strtok_r(tlist, ",", &tsave); t && nt < 8;
         t = strtok_r(NULL, ",", &tsave))
      names[nt++] = t;
    double v[8][MAX_REPS];
    for (int rep = 0; rep < reps; rep++)
      for (int k = 0; k < nt; k++) {
        struct run r = {names[k], p, c, size, seconds, ""};
        v[k][rep] = measure(&r, sh);
      }
    for (int k = 0; k < nt; k++) {
      struct run r = {names[k], p, c, size, seconds, ""};
      print_row(&r, v[k], reps);
    }
  }
  return 0;
}
