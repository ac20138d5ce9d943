/* sage-queue-bench: declarations shared by the benchmark's files.
 *
 * Every case runs as two forked processes, the producer pinned to cfg.cpu[0]
 * and the consumer to cfg.cpu[1] (pair.c). Figures are ratios against
 * physical references measured in the same run: a minimal SPSC ring
 * (ref_ring.c), a cache-line ping-pong (probe.c), a raw futex wake-up and a
 * memcpy (ref_sys.c). */
#ifndef SAGE_BENCH_H
#define SAGE_BENCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define BENCH_LINE 128     /* keep hot shared words on their own lines */
#define BENCH_MAX_REPS 100 /* --reps upper bound */
#define BENCH_MAX_SIZES 8
#define BENCH_MAX_OPEN_OPTS 8 /* --open-option key=value, each */
#define BENCH_LAT_SIZE 64     /* largest (and default) latency message size */
/* Ring size of the latency cases: small, so the warm-up round trips pass
 * over all of it and no page fault lands in a timed sample. */
#define BENCH_LAT_CAPACITY (64u << 10)

/* Untimed round trips before n timed ones: a tenth, and one lap of the
 * latency ring. */
static inline size_t bench_lat_warm(size_t n) {
  return n / 10 + BENCH_LAT_CAPACITY / 8 + 100; /* a lap of 8 B messages */
}

enum bench_role { BENCH_PRODUCER = 0, BENCH_CONSUMER = 1 };

/* What to run; filled from the command line (sage_queue_bench.c). */
struct bench_cfg {
  const char *transport;
  const char *json_path, *md_path;
  const char *command; /* the command line, for the record */
  int quick, reps;
  int callgrind; /* 0 skip, 1 after the timings, 2 only the counts */
  int cpu[2];    /* producer, consumer; -1 leaves a role unpinned */
  uint64_t capacity;
  unsigned batch;
  size_t sizes[BENCH_MAX_SIZES];
  int nsizes;
  double point_s;       /* target seconds per throughput point */
  size_t lat_samples;   /* round trips per rep */
  size_t lat_size;      /* ping-pong message bytes (--latency-size) */
  size_t probe_samples; /* placement probe round trips */
  size_t wake_samples;  /* wake-ups per rep */
  int64_t wake_gap_ns;  /* producer pause before each wake-up */
  unsigned timeout_s;   /* watchdog for each forked role */
  /* --open-option: extra key, value pairs for every queue open */
  const char *open_opts[2 * BENCH_MAX_OPEN_OPTS];
  int nopen_opts;
};

/* Fills out (cap entries) with the pairs in `fixed` (NULL-terminated),
 * then cfg's --open-option pairs, then NULL. Returns out. */
const char **bench_open_options(const struct bench_cfg *cfg,
                                const char *const *fixed, const char **out,
                                size_t cap);

/* ---- time and spinning ---- */

static inline int64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void bench_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* One step of a busy wait: pause, and yield the CPU now and then so a run
 * on fewer CPUs than roles still moves. */
void bench_spin(unsigned *spins);

/* Messages carry their sequence number (or a timestamp) in the first 8
 * bytes, so consumers check order and loss. */
static inline void bench_stamp(void *msg, uint64_t v) {
  memcpy(msg, &v, sizeof v);
}
static inline uint64_t bench_stamp_of(const void *msg) {
  uint64_t v;
  memcpy(&v, msg, sizeof v);
  return v;
}

/* ---- pair.c: shared memory, pinning, the two forked roles ---- */

void *bench_shared_alloc(size_t size); /* zeroed MAP_SHARED; NULL on error */
void bench_shared_free(void *p, size_t size);
void *bench_buffer(size_t size); /* private, aligned, touched; exits on OOM */
int bench_pin(int cpu);          /* 0 or -errno */
void bench_pause_ns(int64_t ns);
long bench_voluntary_switches(void); /* sleeps so far (getrusage) */

/* State of one measurement, shared by its two roles and the parent. */
struct bench_pair_ctl {
  _Alignas(BENCH_LINE) _Atomic int arrived;
  _Alignas(BENCH_LINE) int64_t t_start; /* producer, after the barrier */
  int64_t t_end;                        /* consumer, after the last message */
  uint64_t sleeps[2]; /* each role's sleeps in its timed part */
  int pin_rc[2];
  int rc[2];
  char err[2][200];
};

typedef int (*bench_role_fn)(void *arg, struct bench_pair_ctl *ctl);

/* Runs producer and consumer in two forked, pinned processes and waits for
 * both. Returns 0, or -1 with the failure in why. Copies the final control
 * block to *out. */
int bench_pair_run(const struct bench_cfg *cfg, bench_role_fn producer,
                   bench_role_fn consumer, void *arg,
                   struct bench_pair_ctl *out, char *why, size_t cap);
/* Both roles call this once when set up; it returns when both have. The
 * role's sleeps (voluntary context switches) count from here, or from a
 * later bench_pair_mark() when the role warms up after the barrier. */
void bench_pair_barrier(struct bench_pair_ctl *ctl);
void bench_pair_mark(void);
/* Records a role's failure (in a forked role) and returns rc. */
int bench_fail(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The first pinning failure seen, or "" when every role was pinned. */
const char *bench_pin_note(void);

/* ---- stats.c ---- */

/* One figure per repetition. */
struct bench_series {
  int n;
  double v[BENCH_MAX_REPS];
};
struct bench_summary {
  double min, median, max;
};
void bench_series_add(struct bench_series *s, double x);
struct bench_summary bench_summarize(const struct bench_series *s);

/* Latency samples in ns, pooled over repetitions. */
struct bench_samples {
  int64_t *v;
  size_t n, cap;
};
struct bench_dist {
  double median, p99, p999;
  size_t n;
};
void bench_samples_add(struct bench_samples *s, const int64_t *v, size_t n);
void bench_samples_free(struct bench_samples *s);
/* Sorts a copy of v[0..n) and returns its percentiles. */
struct bench_dist bench_dist_of(const int64_t *v, size_t n);

/* ---- the cases ---- */

/* One throughput run: `warm` untimed messages, then `count` timed ones. */
struct bench_tput {
  size_t size;
  unsigned batch; /* messages per call; 1 = single put/get */
  uint64_t warm, count;
  double secs; /* out: producer start to consumer end */
};

/* A latency case: one-way ns per sample (round trip / 2, or put -> get
 * return for wake-ups), and how often the roles slept meanwhile. */
struct bench_lat_run {
  int64_t *samples; /* n entries, in memory the roles share */
  size_t n;
  uint64_t sleeps[2];
};

int bench_ref_tput(const struct bench_cfg *cfg, struct bench_tput *t, char *why,
                   size_t cap);
int bench_ref_latency(const struct bench_cfg *cfg, struct bench_lat_run *l,
                      char *why, size_t cap);

enum bench_wait { BENCH_SPIN, BENCH_BLOCK };
int bench_queue_tput(const struct bench_cfg *cfg, struct bench_tput *t,
                     char *why, size_t cap);
int bench_queue_latency(const struct bench_cfg *cfg, enum bench_wait how,
                        struct bench_lat_run *l, char *why, size_t cap);
int bench_queue_wakeup(const struct bench_cfg *cfg, struct bench_lat_run *l,
                       char *why, size_t cap);

int bench_probe(const struct bench_cfg *cfg, struct bench_lat_run *l, char *why,
                size_t cap);
int bench_futex_wakeup(const struct bench_cfg *cfg, struct bench_lat_run *l,
                       char *why, size_t cap);
/* memcpy of `size` bytes, hot in cache, on the producer CPU: GB/s. */
double bench_memcpy_gbps(const struct bench_cfg *cfg, size_t size, double secs);

/* ---- callgrind.c ---- */

enum bench_cg_op {
  CG_QUEUE_PUT,
  CG_QUEUE_GET,
  CG_QUEUE_PUT_BATCH,
  CG_QUEUE_GET_BATCH,
  CG_QUEUE_POLL_EMPTY, /* get with timeout 0 on an empty queue: -EAGAIN */
  CG_REF_PUT,
  CG_REF_GET,
  CG_OPS
};
struct bench_cg {
  int ran;                /* 1 when counts were taken */
  char note[256];         /* why not, or how */
  double per_msg[CG_OPS]; /* instructions per message */
};
extern const char *const bench_cg_op_names[CG_OPS];
void bench_callgrind(const struct bench_cfg *cfg, const char *self,
                     struct bench_cg *out);
/* The valgrind-side worker: `sage-queue-bench --cg-worker OP`. */
int bench_cg_worker(const struct bench_cfg *cfg, const char *op);
/* The one function callgrind counts (--toggle-collect): calls loop(arg). */
void bench_cg_measured(void (*loop)(void *), void *arg);
/* Single-process put or get loop over the reference ring (ref_ring.c). */
int bench_ref_cg(enum bench_cg_op op, size_t size, unsigned n,
                 uint64_t capacity);

/* ---- machine.c ---- */

struct bench_machine {
  char cpu_model[128];
  long cpus;
  char kernel[256];
  char clocksource[32];
  char date_utc[32];
  char lib_version[32];
  char transport_version[32];
  char transport_path[512];
  double timer_ns; /* cost of one clock read, ns (median) */
};
void bench_machine_describe(const struct bench_cfg *cfg,
                            struct bench_machine *m);

/* ---- results and report.c ---- */

struct bench_point {
  size_t size;
  unsigned batch;
  uint64_t ref_count, queue_count;
  struct bench_series ref, queue, ratio; /* msgs/s per rep; queue / ref */
  char skipped[128]; /* why the queue side did not run ("" if it did) */
};

struct bench_latency {
  struct bench_samples all;
  struct bench_series rep_median, rep_p99; /* per repetition */
  uint64_t sleeps[2], samples; /* sleeps of each role, timed samples */
};

struct bench_results {
  struct bench_machine machine;
  struct bench_latency probe_before, probe_after, probe_rep;
  struct bench_series memcpy_1m, memcpy_4k; /* GB/s */
  struct bench_point points[2 * BENCH_MAX_SIZES];
  int npoints;
  struct bench_latency ref_lat, spin_lat, block_lat;
  struct bench_series spin_vs_probe; /* per rep: spin median / probe median */
  struct bench_series mib_vs_memcpy; /* per rep: 1 MiB MB/s / memcpy */
  struct bench_latency futex_wake, queue_wake;
  struct bench_cg cg;
  char pin_note[256];
};

void bench_report_console(const struct bench_cfg *cfg,
                          const struct bench_results *r);
int bench_report_markdown(const struct bench_cfg *cfg,
                          const struct bench_results *r, const char *path);
int bench_report_json(const struct bench_cfg *cfg,
                      const struct bench_results *r, const char *path);

/* The target ratios, computed from results (report.c). */
struct bench_target {
  const char *name, *op; /* op: ">=" or "<=" */
  double goal;
  struct bench_summary value;
  int have, met;
};
#define BENCH_TARGETS 4
void bench_targets(const struct bench_results *r,
                   struct bench_target out[BENCH_TARGETS]);

#endif /* SAGE_BENCH_H */
