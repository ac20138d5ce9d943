/* sage-queue-bench: the C benchmark of a SAGE Queue transport against the
 * physical references of the machine it runs on, measured interleaved in
 * one run (see docs/BENCHMARKS.md and --help). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sage/queue.h>

#include "bench.h"

static const char usage[] =
    "usage: sage-queue-bench [options]\n"
    "\n"
    "Measures a SAGE Queue transport (default shm) against physical\n"
    "references measured in the same run, interleaved, producer and\n"
    "consumer pinned to two CPUs: a minimal SPSC ring, a cache-line\n"
    "ping-pong (placement probe, before and after), a raw futex wake-up and\n"
    "memcpy. Prints the ratios and how they compare with the targets.\n"
    "\n"
    "  --quick            short run (seconds; used by make check)\n"
    "  --reps N           repetitions per point (default 5; --quick: 2)\n"
    "  --json FILE        write every raw figure and the machine to FILE\n"
    "  --markdown FILE    write the result tables to FILE\n"
    "  --transport NAME   transport to measure (default: $SAGE_TRANSPORT or "
    "shm)\n"
    "  --cpus P,C         producer and consumer CPUs (default 0,1; 'none':\n"
    "                     do not pin)\n"
    "  --capacity BYTES   ring capacity of the queue and the reference\n"
    "                     (default 4194304)\n"
    "  --batch N          messages per batched call (default 64)\n"
    "  --sizes LIST       message sizes, e.g. 64,4K,1M (default\n"
    "                     8,64,1K,4K,64K,1M)\n"
    "  --latency-size N   ping-pong message bytes, 1-64 (default 64)\n"
    "  --open-option K=V  pass an open option to every queue (repeatable),\n"
    "                     e.g. --open-option spin_ns=50000\n"
    "  --callgrind        only count instructions per message (valgrind)\n"
    "  --no-callgrind     skip the instruction counts of a full run\n"
    "  --help             this text\n"
    "\n"
    "The plugin is found through SAGE_PLUGIN_PATH, then the installed plugin\n"
    "directory. Exit status: 0 when every case ran (targets missed or not),\n"
    "1 when a case failed, 2 on a usage error.\n"
    "\n"
    "Example: sage-queue-bench --json bench.json --markdown bench.md\n";

static const size_t default_sizes[] = {8, 64, 1024, 4096, 65536, 1 << 20};

static void defaults(struct bench_cfg *c) {
  *c = (struct bench_cfg){
      .transport = sage_transport_choose(NULL),
      .reps = 5,
      .callgrind = 1,
      .cpu = {0, 1},
      .capacity = 4u << 20,
      .batch = 64,
      .lat_size = BENCH_LAT_SIZE,
      .point_s = 0.25,
      .lat_samples = 50000,
      .probe_samples = 100000,
      .wake_samples = 1000,
      .wake_gap_ns = 200000,
      .timeout_s = 120,
  };
  c->nsizes = (int)(sizeof default_sizes / sizeof default_sizes[0]);
  memcpy(c->sizes, default_sizes, sizeof default_sizes);
}

static void make_quick(struct bench_cfg *c) {
  c->quick = 1;
  c->reps = 2;
  c->callgrind = 0;
  c->point_s = 0.01;
  c->lat_samples = 2000;
  c->probe_samples = 2000;
  c->wake_samples = 20;
  c->wake_gap_ns = 100000;
  c->timeout_s = 60;
}

static int parse_uint(const char *s, unsigned long long lo,
                      unsigned long long hi, unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

/* "64,4K,1M": sizes from 8 B (room for the sequence stamp) to 64 MiB. */
static int parse_sizes(const char *s, struct bench_cfg *c) {
  int n = 0;
  while (*s != '\0' && n < BENCH_MAX_SIZES) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : 0;
    end += shift != 0;
    if (errno != 0 || end == s || (*end != ',' && *end != '\0'))
      return -1;
    v <<= shift;
    if (v < 8 || v > (64ull << 20))
      return -1;
    c->sizes[n++] = (size_t)v;
    s = *end == ',' ? end + 1 : end;
  }
  if (*s != '\0' || n == 0)
    return -1;
  c->nsizes = n;
  return 0;
}

/* "key=value": split in place (argv strings are ours to modify). */
static int parse_open_option(char *s, struct bench_cfg *c) {
  char *eq = strchr(s, '=');
  if (eq == NULL || eq == s || c->nopen_opts == BENCH_MAX_OPEN_OPTS)
    return -1;
  *eq = '\0';
  c->open_opts[2 * c->nopen_opts] = s;
  c->open_opts[2 * c->nopen_opts + 1] = eq + 1;
  c->nopen_opts++;
  return 0;
}

static int parse_cpus(const char *s, int cpu[2]) {
  if (strcmp(s, "none") == 0) {
    cpu[0] = cpu[1] = -1;
    return 0;
  }
  int n = 0;
  return sscanf(s, "%d,%d%n", &cpu[0], &cpu[1], &n) == 2 && s[n] == '\0' &&
                 cpu[0] >= 0 && cpu[1] >= 0
             ? 0
             : -1;
}

static char *join_args(int argc, char **argv) {
  static char line[1024];
  size_t used = 0;
  for (int i = 0; i < argc && used < sizeof line; i++)
    used += (size_t)snprintf(line + used, sizeof line - used, "%s%s",
                             i ? " " : "", argv[i]);
  return line;
}

static int bad_usage(const char *what, const char *arg) {
  fprintf(stderr, "sage-queue-bench: %s '%s'\n(see sage-queue-bench --help)\n",
          what, arg);
  return 2;
}

static int is_value_option(const char *a) {
  static const char *const names[] = {
      "--reps",        "--json",         "--markdown",  "--transport",
      "--cpus",        "--capacity",     "--batch",     "--sizes",
      "--open-option", "--latency-size", "--cg-worker", NULL};
  for (int i = 0; names[i] != NULL; i++)
    if (strcmp(a, names[i]) == 0)
      return 1;
  return 0;
}

/* Options with a value; returns 0, or 2 on a usage error. */
static int value_option(struct bench_cfg *c, const char *opt, char *v,
                        const char **cg_worker) {
  unsigned long long n;
  if (strcmp(opt, "--reps") == 0 && parse_uint(v, 1, BENCH_MAX_REPS, &n) == 0)
    c->reps = (int)n;
  else if (strcmp(opt, "--json") == 0)
    c->json_path = v;
  else if (strcmp(opt, "--markdown") == 0)
    c->md_path = v;
  else if (strcmp(opt, "--transport") == 0)
    c->transport = v;
  else if (strcmp(opt, "--cpus") == 0 && parse_cpus(v, c->cpu) == 0)
    ;
  else if (strcmp(opt, "--capacity") == 0 &&
           parse_uint(v, 4096, 1ull << 32, &n) == 0 && (n & (n - 1)) == 0)
    c->capacity = n;
  else if (strcmp(opt, "--batch") == 0 && parse_uint(v, 1, 64, &n) == 0)
    c->batch = (unsigned)n;
  else if (strcmp(opt, "--latency-size") == 0 &&
           parse_uint(v, 1, BENCH_LAT_SIZE, &n) == 0)
    c->lat_size = (size_t)n;
  else if (strcmp(opt, "--sizes") == 0 && parse_sizes(v, c) == 0)
    ;
  else if (strcmp(opt, "--open-option") == 0 && parse_open_option(v, c) == 0)
    ;
  else if (strcmp(opt, "--cg-worker") == 0)
    *cg_worker = v;
  else
    return bad_usage("bad value for", opt);
  return 0;
}

static int parse_args(int argc, char **argv, struct bench_cfg *c,
                      const char **cg_worker) {
  int reps = 0, cg_only = 0, no_cg = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      exit(0);
    } else if (strcmp(a, "--quick") == 0)
      make_quick(c);
    else if (strcmp(a, "--callgrind") == 0)
      cg_only = 1;
    else if (strcmp(a, "--no-callgrind") == 0)
      no_cg = 1;
    else if (!is_value_option(a))
      return bad_usage("unknown argument", a);
    else if (i + 1 == argc)
      return bad_usage("missing value for", a);
    else if (value_option(c, a, argv[++i], cg_worker) != 0)
      return 2;
    else if (strcmp(a, "--reps") == 0)
      reps = c->reps;
  }
  if (reps > 0)
    c->reps = reps; /* --reps wins over --quick in any order */
  for (int i = 0; i < c->nsizes; i++)
    if (c->sizes[i] > c->capacity / 2)
      return bad_usage("message size larger than half the capacity in",
                       "--sizes");
  c->callgrind = cg_only ? 2 : no_cg || c->quick ? 0 : 1;
  return 0;
}

/* ---- the run ---- */

static void die(const char *what, const char *why) {
  fprintf(stderr, "sage-queue-bench: %s failed: %s\n", what, why);
  exit(1);
}

typedef int (*tput_fn)(const struct bench_cfg *, struct bench_tput *, char *,
                       size_t);

/* One throughput run; msgs/s. */
static double tput_once(const struct bench_cfg *cfg, tput_fn fn,
                        const char *what, size_t size, unsigned batch,
                        uint64_t warm, uint64_t count) {
  struct bench_tput t = {size, batch, warm, count, 0};
  char why[512];
  if (fn(cfg, &t, why, sizeof why) != 0) {
    char label[128];
    snprintf(label, sizeof label, "%s %zu B x%u", what, size, batch);
    die(label, why);
  }
  return t.secs > 0 ? (double)count / t.secs : 0;
}

/* Messages for about cfg->point_s at `rate`. */
static uint64_t point_count(const struct bench_cfg *cfg, double rate) {
  double n = rate * cfg->point_s;
  return n < 16 ? 16 : n > 1e9 ? 1000000000 : (uint64_t)n;
}

/* Untimed messages first: one pass over the ring (at most half the run),
 * so page faults stay out of the timed part. */
static uint64_t warm_count(const struct bench_cfg *cfg, size_t size,
                           uint64_t count) {
  uint64_t pass = cfg->capacity / (size < 8 ? 16 : size + 8) + 1;
  return pass < count / 2 ? pass : count / 2 + 1;
}

static int queue_has_batch(const struct bench_cfg *cfg) {
  int64_t caps = sage_transport_capabilities(cfg->transport);
  return caps >= 0 && (caps & SAGE_CAP_BATCH);
}

static void plan_points(const struct bench_cfg *cfg, struct bench_results *r) {
  int batch_ok = queue_has_batch(cfg);
  for (int s = 0; s < cfg->nsizes; s++)
    for (int b = 0; b < 2; b++) {
      struct bench_point *p = &r->points[r->npoints++];
      size_t fit = (cfg->capacity / 2) / cfg->sizes[s];
      p->size = cfg->sizes[s];
      p->batch = b == 0 ? 1 : fit < cfg->batch ? (unsigned)fit : cfg->batch;
      if (b == 1 && !batch_ok)
        snprintf(p->skipped, sizeof p->skipped,
                 "transport '%s' has no batch ops", cfg->transport);
    }
}

/* A short warm run of every point sets its message counts. */
static void calibrate(const struct bench_cfg *cfg, struct bench_results *r) {
  fprintf(stderr, "warm-up and calibration\n");
  for (int i = 0; i < r->npoints; i++) {
    struct bench_point *p = &r->points[i];
    uint64_t n = (32u << 20) / p->size;
    n = n < 64 ? 64 : n > 200000 ? 200000 : n;
    uint64_t w = warm_count(cfg, p->size, n);
    double ref =
        tput_once(cfg, bench_ref_tput, "ref ring", p->size, p->batch, w, n);
    p->ref_count = point_count(cfg, ref);
    if (p->skipped[0] != '\0')
      continue;
    double q = tput_once(cfg, bench_queue_tput, cfg->transport, p->size,
                         p->batch, w, n);
    p->queue_count = point_count(cfg, q);
  }
}

static void run_point(const struct bench_cfg *cfg, struct bench_point *p,
                      int queue_first) {
  double rate[2] = {0, 0}; /* ref, queue */
  for (int k = 0; k < 2; k++) {
    int queue = (k == 0) == queue_first;
    if (queue && p->skipped[0] != '\0')
      continue;
    uint64_t n = queue ? p->queue_count : p->ref_count;
    rate[queue] = tput_once(cfg, queue ? bench_queue_tput : bench_ref_tput,
                            queue ? cfg->transport : "ref ring", p->size,
                            p->batch, warm_count(cfg, p->size, n), n);
  }
  bench_series_add(&p->ref, rate[0]);
  if (p->skipped[0] != '\0')
    return;
  bench_series_add(&p->queue, rate[1]);
  bench_series_add(&p->ratio, rate[1] / rate[0]);
}

typedef int (*lat_fn)(const struct bench_cfg *, struct bench_lat_run *, char *,
                      size_t);

/* One latency run of n samples, pooled into out; returns its median. */
static double latency_once(const struct bench_cfg *cfg, lat_fn fn,
                           const char *what, size_t n,
                           struct bench_latency *out) {
  struct bench_lat_run l = {bench_shared_alloc(n * sizeof(int64_t)), n, {0, 0}};
  char why[512];
  if (l.samples == NULL)
    die(what, "out of shared memory");
  if (fn(cfg, &l, why, sizeof why) != 0)
    die(what, why);
  bench_samples_add(&out->all, l.samples, n);
  struct bench_dist d = bench_dist_of(l.samples, n);
  bench_series_add(&out->rep_median, d.median);
  bench_series_add(&out->rep_p99, d.p99);
  out->sleeps[0] += l.sleeps[0];
  out->sleeps[1] += l.sleeps[1];
  out->samples += n;
  bench_shared_free(l.samples, n * sizeof(int64_t));
  return d.median;
}

static int queue_spin(const struct bench_cfg *cfg, struct bench_lat_run *l,
                      char *why, size_t cap) {
  return bench_queue_latency(cfg, BENCH_SPIN, l, why, cap);
}

static int queue_block(const struct bench_cfg *cfg, struct bench_lat_run *l,
                       char *why, size_t cap) {
  return bench_queue_latency(cfg, BENCH_BLOCK, l, why, cap);
}

static const struct bench_point *find_point(const struct bench_results *r,
                                            size_t size, unsigned batch) {
  for (int i = 0; i < r->npoints; i++)
    if (r->points[i].size == size && r->points[i].batch == batch)
      return &r->points[i];
  return NULL;
}

static void run_latencies(const struct bench_cfg *cfg, struct bench_results *r,
                          double probe_median, int rep) {
  size_t n = cfg->lat_samples;
  latency_once(cfg, bench_ref_latency, "ref ring latency", n, &r->ref_lat);
  double spin =
      latency_once(cfg, queue_spin, "spinning latency", n, &r->spin_lat);
  latency_once(cfg, queue_block, "blocking latency", n, &r->block_lat);
  bench_series_add(&r->spin_vs_probe, spin / probe_median);
  n = cfg->wake_samples;
  lat_fn wake[2] = {bench_futex_wakeup, bench_queue_wakeup};
  struct bench_latency *dst[2] = {&r->futex_wake, &r->queue_wake};
  for (int k = 0; k < 2; k++) {
    int i = (k + rep) % 2; /* alternate which goes first */
    latency_once(cfg, wake[i], i ? "queue wake-up" : "futex wake-up", n,
                 dst[i]);
  }
}

static void run_rep(const struct bench_cfg *cfg, struct bench_results *r,
                    int rep) {
  fprintf(stderr, "rep %d/%d\n", rep + 1, cfg->reps);
  double probe = latency_once(cfg, bench_probe, "placement probe",
                              cfg->probe_samples / 5, &r->probe_rep);
  double secs = cfg->quick ? 0.005 : 0.05;
  double mib = bench_memcpy_gbps(cfg, 1 << 20, secs);
  bench_series_add(&r->memcpy_1m, mib);
  bench_series_add(&r->memcpy_4k, bench_memcpy_gbps(cfg, 4096, secs));
  for (int i = 0; i < r->npoints; i++)
    run_point(cfg, &r->points[i], (rep + i) % 2);
  const struct bench_point *big = find_point(r, 1 << 20, 1);
  if (big != NULL && big->queue.n > 0)
    bench_series_add(&r->mib_vs_memcpy,
                     big->queue.v[big->queue.n - 1] * (1 << 20) / (mib * 1e9));
  run_latencies(cfg, r, probe, rep);
}

static void run_all(const struct bench_cfg *cfg, struct bench_results *r,
                    const char *self) {
  plan_points(cfg, r);
  calibrate(cfg, r);
  fprintf(stderr, "placement probe (before)\n");
  latency_once(cfg, bench_probe, "placement probe", cfg->probe_samples,
               &r->probe_before);
  for (int rep = 0; rep < cfg->reps; rep++)
    run_rep(cfg, r, rep);
  fprintf(stderr, "placement probe (after)\n");
  latency_once(cfg, bench_probe, "placement probe", cfg->probe_samples,
               &r->probe_after);
  if (cfg->callgrind)
    bench_callgrind(cfg, self, &r->cg);
}

static void free_results(struct bench_results *r) {
  struct bench_latency *all[] = {
      &r->probe_before, &r->probe_after, &r->probe_rep,  &r->ref_lat,
      &r->spin_lat,     &r->block_lat,   &r->futex_wake, &r->queue_wake};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    bench_samples_free(&all[i]->all);
}

static int write_reports(const struct bench_cfg *cfg,
                         const struct bench_results *r) {
  bench_report_console(cfg, r);
  int rc = 0;
  if (cfg->json_path != NULL && bench_report_json(cfg, r, cfg->json_path) != 0)
    rc = 1;
  if (cfg->md_path != NULL && bench_report_markdown(cfg, r, cfg->md_path) != 0)
    rc = 1;
  return rc;
}

static int check_transport(const struct bench_cfg *cfg) {
  int rc = sage_transport_load(cfg->transport);
  if (rc == 0)
    return 0;
  fprintf(stderr,
          "sage-queue-bench: cannot load transport '%s': %s (%s)\n"
          "  set SAGE_PLUGIN_PATH to the plugin directory (%s)\n",
          cfg->transport, sage_strerror(rc), sage_last_error(),
          sage_plugin_dir());
  return 1;
}

int main(int argc, char **argv) {
  static struct bench_cfg cfg;
  static struct bench_results r;
  const char *cg_worker = NULL;
  defaults(&cfg);
  cfg.command = join_args(argc, argv);
  int rc = parse_args(argc, argv, &cfg, &cg_worker);
  if (rc != 0)
    return rc;
  if (check_transport(&cfg) != 0)
    return 1;
  if (cg_worker != NULL)
    return bench_cg_worker(&cfg, cg_worker);
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = '\0';
  bench_machine_describe(&cfg, &r.machine);
  if (cfg.callgrind == 2)
    bench_callgrind(&cfg, self, &r.cg);
  else
    run_all(&cfg, &r, self);
  snprintf(r.pin_note, sizeof r.pin_note, "%s", bench_pin_note());
  rc = write_reports(&cfg, &r);
  free_results(&r);
  return rc;
}
