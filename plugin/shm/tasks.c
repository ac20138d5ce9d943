/* queue.Queue task accounting shared by every attached process, and the
 * cheap depth query behind qsize(). */
#include "config.h"

#include <errno.h>

#include "shm.h"
#include "steps.h"

int shm_task_done(shm_queue *q, uint64_t count) {
  int rc = shm_ready(q);
  if (rc != 0)
    return rc;
  struct shm_header *h = q->hdr;
  uint64_t done = atomic_load(&h->tasks_done);
  do {
    uint64_t limit =
        shm_total_puts(q) - shm_tally_count(atomic_load(&h->lost_tally));
    if (done + count > limit)
      return sage_plugin_fail(-EINVAL,
                              "task_done() called too many times on queue '%s' "
                              "(%llu finished of %llu put)",
                              q->name, (unsigned long long)done,
                              (unsigned long long)limit);
    SHM_STEP("task_done:checked");
  } while (!atomic_compare_exchange_weak(&h->tasks_done, &done, done + count));
  if (atomic_load(&h->join_waiters) > 0) {
    atomic_fetch_add(&h->join_event, 1);
    shm_futex_wake(&h->join_event, 1, 0);
  }
  return 0;
}

int shm_join(shm_queue *q, int64_t timeout_ns) {
  int rc = shm_ready(q);
  if (rc != 0)
    return rc;
  struct shm_header *h = q->hdr;
  int64_t deadline = shm_deadline(timeout_ns), since = shm_now_ns();
  for (;;) {
    atomic_fetch_add(&h->join_waiters, 1); /* seq_cst: pairs with task_done */
    uint32_t ev = atomic_load(&h->join_event);
    if (shm_unfinished(q) == 0) {
      atomic_fetch_sub(&h->join_waiters, 1);
      return 0;
    }
    if (timeout_ns == 0) {
      atomic_fetch_sub(&h->join_waiters, 1);
      return -EAGAIN;
    }
    /* A consumer that died holding a message never calls task_done: check
     * for that now and then (its message then counts as lost). */
    int64_t stall = shm_stall_ns(shm_now_ns() - since);
    rc = shm_futex_wait(&h->join_event, ev, 1, deadline, stall);
    atomic_fetch_sub(&h->join_waiters, 1);
    if (rc != 0)
      return rc;
    shm_recover_head(q);
  }
}
