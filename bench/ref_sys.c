/* System references: a raw futex wake-up (the floor for waking a sleeping
 * consumer on this machine) and memcpy bandwidth (the floor for moving large
 * messages). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

/* ---- futex wake-up ---- */

struct wake_job {
  _Alignas(BENCH_LINE) _Atomic uint32_t word; /* messages sent */
  _Atomic int64_t stamp;                      /* send time of the last one */
  _Alignas(BENCH_LINE) struct bench_lat_run *l;
  const struct bench_cfg *cfg;
  size_t warm;
};

static long futex(_Atomic uint32_t *word, int op, uint32_t val) {
  return syscall(SYS_futex, (uint32_t *)word, op, val, NULL, NULL, 0);
}

static int waker(void *arg, struct bench_pair_ctl *ctl) {
  struct wake_job *j = arg;
  bench_pair_barrier(ctl);
  for (size_t i = 0; i < j->warm + j->l->n; i++) {
    bench_pause_ns(j->cfg->wake_gap_ns);
    atomic_store_explicit(&j->stamp, bench_now_ns(), memory_order_relaxed);
    /* release: the stamp is visible to whoever sees the new count */
    atomic_store_explicit(&j->word, (uint32_t)i + 1, memory_order_release);
    futex(&j->word, FUTEX_WAKE, 1);
  }
  return 0;
}

static int sleeper(void *arg, struct bench_pair_ctl *ctl) {
  struct wake_job *j = arg;
  bench_pair_barrier(ctl);
  for (size_t i = 0; i < j->warm + j->l->n; i++) {
    if (i == j->warm)
      bench_pair_mark();
    while (atomic_load_explicit(&j->word, memory_order_acquire) == (uint32_t)i)
      futex(&j->word, FUTEX_WAIT, (uint32_t)i);
    int64_t now = bench_now_ns();
    int64_t sent = atomic_load_explicit(&j->stamp, memory_order_relaxed);
    if (i >= j->warm)
      j->l->samples[i - j->warm] = now - sent;
  }
  return 0;
}

int bench_futex_wakeup(const struct bench_cfg *cfg, struct bench_lat_run *l,
                       char *why, size_t cap) {
  struct wake_job *j = bench_shared_alloc(sizeof *j);
  if (j == NULL) {
    snprintf(why, cap, "futex: mmap: %s", strerror(errno));
    return -1;
  }
  j->l = l;
  j->cfg = cfg;
  j->warm = 10;
  struct bench_pair_ctl ctl;
  int rc = bench_pair_run(cfg, waker, sleeper, j, &ctl, why, cap);
  memcpy(l->sleeps, ctl.sleeps, sizeof l->sleeps);
  bench_shared_free(j, sizeof *j);
  return rc;
}

/* ---- memcpy ---- */

static double copy_rate(unsigned char *dst, const unsigned char *src,
                        size_t size, double secs) {
  size_t per_check = size >= (64u << 20) ? 1 : (64u << 20) / size;
  uint64_t copies = 0;
  int64_t t0 = bench_now_ns(), t1;
  do {
    for (size_t i = 0; i < per_check; i++) {
      memcpy(dst, src, size);
      __asm__ __volatile__("" : : "r"(dst) : "memory"); /* keep every copy */
    }
    copies += per_check;
    t1 = bench_now_ns();
  } while ((double)(t1 - t0) < secs * 1e9);
  return (double)copies * (double)size / (double)(t1 - t0);
}

double bench_memcpy_gbps(const struct bench_cfg *cfg, size_t size,
                         double secs) {
  cpu_set_t saved;
  int restore = sched_getaffinity(0, sizeof saved, &saved) == 0;
  if (cfg->cpu[0] >= 0)
    bench_pin(cfg->cpu[0]);
  unsigned char *src = bench_buffer(size), *dst = bench_buffer(size);
  memset(src, 0x5a, size);
  copy_rate(dst, src, size, secs / 10); /* warm caches and clocks */
  double gbps = copy_rate(dst, src, size, secs);
  free(src);
  free(dst);
  if (restore)
    sched_setaffinity(0, sizeof saved, &saved);
  return gbps;
}
