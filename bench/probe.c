/* The placement probe: one cache line bounced between the producer and
 * consumer CPUs. Its one-way time (round trip / 2) says where the host put
 * the two vCPUs (sibling threads, same L3, far apart), and is the floor for
 * any cross-core latency in the run. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

struct probe_job {
  _Alignas(BENCH_LINE) _Atomic uint64_t line;
  _Alignas(BENCH_LINE) struct bench_lat_run *l;
  size_t warm;
};

static void wait_for(_Atomic uint64_t *line, uint64_t want) {
  unsigned spins = 0;
  /* acquire: pairs with the peer's release store of want */
  while (atomic_load_explicit(line, memory_order_acquire) != want)
    bench_spin(&spins);
}

static int initiator(void *arg, struct bench_pair_ctl *ctl) {
  struct probe_job *j = arg;
  bench_pair_barrier(ctl);
  for (size_t i = 0; i < j->warm + j->l->n; i++) {
    int64_t t0 = bench_now_ns();
    atomic_store_explicit(&j->line, 2 * i + 1, memory_order_release);
    wait_for(&j->line, 2 * i + 2);
    int64_t t1 = bench_now_ns();
    if (i >= j->warm)
      j->l->samples[i - j->warm] = (t1 - t0) / 2;
  }
  return 0;
}

static int echo(void *arg, struct bench_pair_ctl *ctl) {
  struct probe_job *j = arg;
  bench_pair_barrier(ctl);
  for (size_t i = 0; i < j->warm + j->l->n; i++) {
    wait_for(&j->line, 2 * i + 1);
    atomic_store_explicit(&j->line, 2 * i + 2, memory_order_release);
  }
  return 0;
}

int bench_probe(const struct bench_cfg *cfg, struct bench_lat_run *l, char *why,
                size_t cap) {
  struct probe_job *j = bench_shared_alloc(sizeof *j);
  if (j == NULL) {
    snprintf(why, cap, "probe: mmap: %s", strerror(errno));
    return -1;
  }
  j->l = l;
  j->warm = bench_lat_warm(l->n);
  struct bench_pair_ctl ctl;
  int rc = bench_pair_run(cfg, initiator, echo, j, &ctl, why, cap);
  bench_shared_free(j, sizeof *j);
  return rc;
}
