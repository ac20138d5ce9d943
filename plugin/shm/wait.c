/* Sleeping and waking on shared 32-bit words (Linux futexes), monotonic
 * deadlines, and spinning before a sleep (adaptive). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

int64_t shm_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t shm_deadline(int64_t timeout_ns) {
  if (timeout_ns <= 0)
    return timeout_ns < 0 ? -1 : 0; /* non-blocking calls never wait */
  int64_t now = shm_now_ns();
  return timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
}

void shm_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

#define PAUSE_ROUNDS 64 /* cpu_relax rounds before yielding */

int shm_spin(int64_t started, int64_t spin_ns, int64_t deadline_ns,
             int (*done)(void *arg), void *arg) {
  if (spin_ns <= 0)
    return done(arg);
  int64_t end = started + spin_ns;
  if (deadline_ns >= 0 && deadline_ns < end)
    end = deadline_ns;
  for (unsigned round = 0;; round++) {
    for (int i = 0; i < 16; i++) {
      if (done(arg))
        return 1;
      shm_cpu_relax();
    }
    if (shm_now_ns() >= end)
      return done(arg);
    if (round >= PAUSE_ROUNDS)
      sched_yield();
  }
}

/* A wait that slept and was woken within `max` would have cost less spun
 * through: a wake-up costs tens of microseconds (40-50 in a VM), and once
 * one side of a request/response pair sleeps, the other's replies come a
 * wake-up late and it sleeps too. So such a wait makes the next ones spin
 * 1.5 times as long as it took, up to `max`; a wait that slept longer
 * than `max`, timed out or was not woken (its sleep slice ran out) halves
 * the budget, down to `base`, so waiters of an idle queue soon sleep
 * almost at once again. A base of 0 means no spinning, adaptive or not. */
int64_t shm_spin_next(int64_t budget, int64_t base, int64_t max,
                      int64_t waited_ns) {
  if (max <= base || base == 0)
    return base; /* adaptation off */
  if (waited_ns <= max) {
    int64_t want = waited_ns + waited_ns / 2;
    if (want > max)
      want = max;
    return want > budget ? want : budget;
  }
  int64_t half = budget / 2;
  return half < base ? base : half;
}

static _Atomic int64_t *spin_word(shm_queue *q, enum shm_wait w) {
  return w == WAIT_DATA ? &q->spin_data_ns : &q->spin_space_ns;
}

int64_t shm_spin_budget(shm_queue *q, enum shm_wait w) {
  return atomic_load_explicit(spin_word(q, w), memory_order_relaxed);
}

/* Threads of one handle may race here; a lost update only delays the
 * adaptation by one wait. */
void shm_spin_learn(shm_queue *q, enum shm_wait w,
                    const struct shm_call_wait *cw, int rc, int met) {
  if (rc != 0 && rc != -ETIMEDOUT)
    return; /* interrupted: shows nothing */
  int64_t waited = INT64_MAX;
  if (rc == 0 && met && !(cw->mode & SHM_RESUMED))
    waited = shm_now_ns() - cw->since;
  _Atomic int64_t *word = spin_word(q, w);
  int64_t budget = atomic_load_explicit(word, memory_order_relaxed);
  atomic_store_explicit(
      word, shm_spin_next(budget, q->spin_ns, q->spin_max_ns, waited),
      memory_order_relaxed);
}

/* Raw syscall: not a cancellation point, and no glibc wrapper exists. */
static long futex(_Atomic uint32_t *word, int op, uint32_t val,
                  const struct timespec *timeout) {
  return syscall(SYS_futex, (uint32_t *)word, op, val, timeout, NULL, 0);
}

int shm_futex_wait(_Atomic uint32_t *word, uint32_t expected, int shared,
                   int64_t deadline_ns, int64_t cap_ns) {
  struct timespec ts, *tsp = NULL;
  int64_t wait_ns = -1;
  if (deadline_ns >= 0) {
    wait_ns = deadline_ns - shm_now_ns();
    if (wait_ns <= 0)
      return -ETIMEDOUT;
  }
  if (cap_ns > 0 && (wait_ns < 0 || cap_ns < wait_ns))
    wait_ns = cap_ns;
  if (wait_ns >= 0) {
    ts.tv_sec = wait_ns / 1000000000;
    ts.tv_nsec = wait_ns % 1000000000;
    tsp = &ts; /* FUTEX_WAIT timeouts are relative, on CLOCK_MONOTONIC */
  }
  int op = shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE;
  if (futex(word, op, expected, tsp) == 0 || errno == EAGAIN)
    return 0;
  if (errno == EINTR)
    return -EINTR;
  if (errno == ETIMEDOUT)
    return (deadline_ns >= 0 && shm_now_ns() >= deadline_ns) ? -ETIMEDOUT : 0;
  return 0; /* any other error: let the caller re-check its condition */
}

void shm_futex_wake(_Atomic uint32_t *word, int shared, int count) {
  futex(word, shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE,
        count > 0 ? (uint32_t)count : (uint32_t)INT_MAX, NULL);
}
