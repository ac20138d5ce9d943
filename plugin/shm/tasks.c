/* queue.Queue task accounting shared by every attached process, and the
 * cheap depth query behind qsize(). */
#include "config.h"

#include <errno.h>

#include "shm.h"
#include "steps.h"

static uint64_t total_puts(shm_queue *q) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < q->geo.attach_max; i++)
    for (unsigned l = 0; l < SHM_LANES; l++)
      total += atomic_load_explicit(&q->attach[i].lanes[l].puts,
                                    memory_order_relaxed);
  return total;
}

/* Messages put and neither finished nor lost with a dead consumer. */
uint64_t shm_unfinished(shm_queue *q) {
  uint64_t done = atomic_load(&q->hdr->tasks_done);
  uint64_t lost = shm_tally_count(atomic_load(&q->hdr->lost_tally));
  uint64_t put = total_puts(q);
  return put > done + lost ? put - done - lost : 0;
}

int shm_task_done(shm_queue *q, uint64_t count) {
  int rc = shm_ready(q);
  if (rc != 0)
    return rc;
  struct shm_header *h = q->hdr;
  uint64_t done = atomic_load(&h->tasks_done);
  do {
    uint64_t limit =
        total_puts(q) - shm_tally_count(atomic_load(&h->lost_tally));
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

int shm_depth(shm_queue *q, uint64_t *items, uint64_t *bytes) {
  struct shm_header *h = q->hdr;
  uint32_t read = atomic_load(&h->read);
  uint64_t head = atomic_load(&h->head), tail = atomic_load(&h->tail);
  *items = (uint32_t)(shm_ticket(tail) - read);
  *bytes = (uint64_t)(uint32_t)(shm_unit(tail) - shm_unit(head)) * SHM_UNIT;
  return 0;
}
