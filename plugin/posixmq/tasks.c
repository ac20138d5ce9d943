/* queue.Queue task accounting (task_done/join) shared by every process
 * through the counter page, with joiners sleeping on a futex in it. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "posixmq.h"

#define NS_PER_SEC 1000000000ll

uint64_t pmq_unfinished(pmq_queue *q) {
  uint64_t done = atomic_load(&q->page->tasks_done);
  uint64_t started = atomic_load(&q->page->tasks_started);
  return started > done ? started - done : 0;
}

/* Raw syscall: glibc has no futex wrapper. The page is shared between
 * processes, so no FUTEX_PRIVATE_FLAG. */
static long futex(_Atomic uint32_t *word, int op, uint32_t val,
                  const struct timespec *rel) {
  return syscall(SYS_futex, (uint32_t *)word, op, val, rel, NULL, 0);
}

void pmq_task_wake(pmq_queue *q) {
  /* seq_cst: the event bump is ordered after the counter change that
   * caused it and before the waiter check, so a joiner either sees the new
   * counters or finds the event changed and does not sleep. */
  atomic_fetch_add(&q->page->task_event, 1);
  if (atomic_load(&q->page->task_waiters) > 0)
    futex(&q->page->task_event, FUTEX_WAKE, INT_MAX, NULL);
}

int pmq_task_done(pmq_queue *q, uint64_t count) {
  uint64_t done = atomic_load(&q->page->tasks_done);
  do {
    uint64_t started = atomic_load(&q->page->tasks_started);
    uint64_t open = started > done ? started - done : 0;
    if (count > open)
      return sage_plugin_fail(
          -EINVAL,
          "posixmq: task_done(%llu) on queue '%s' with only %llu "
          "unfinished messages",
          (unsigned long long)count, q->name, (unsigned long long)open);
  } while (
      !atomic_compare_exchange_weak(&q->page->tasks_done, &done, done + count));
  if (count > 0)
    pmq_task_wake(q);
  return 0;
}

/* Sleeps while task_event == seen, at most until deadline (< 0: no limit).
 * FUTEX_WAIT timeouts are relative, on CLOCK_MONOTONIC. */
static int sleep_on_event(pmq_queue *q, uint32_t seen, int64_t deadline) {
  struct timespec rel, *relp = NULL;
  if (deadline >= 0) {
    int64_t left = deadline - pmq_now_ns();
    if (left <= 0)
      return -ETIMEDOUT;
    rel.tv_sec = (time_t)(left / NS_PER_SEC);
    rel.tv_nsec = (long)(left % NS_PER_SEC);
    relp = &rel;
  }
  atomic_fetch_add(&q->page->task_waiters, 1);
  long r = futex(&q->page->task_event, FUTEX_WAIT, seen, relp);
  int err = r == 0 ? 0 : errno;
  atomic_fetch_sub(&q->page->task_waiters, 1);
  return err == EINTR ? -EINTR : 0; /* the caller re-checks the rest */
}

int pmq_join(pmq_queue *q, int64_t timeout_ns) {
  int64_t deadline = -1;
  if (timeout_ns > 0) {
    int64_t now = pmq_now_ns();
    deadline = timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
  }
  for (;;) {
    uint32_t seen = atomic_load(&q->page->task_event);
    if (pmq_unfinished(q) == 0)
      return 0;
    if (timeout_ns == 0)
      return -EAGAIN;
    if (deadline >= 0 && pmq_now_ns() >= deadline)
      return -ETIMEDOUT;
    int rc = sleep_on_event(q, seen, deadline);
    if (rc != 0)
      return rc;
  }
}
