/* Lanes: the SHM_LANES concurrent-operation slots of one attachment. A
 * thread holds a lane for the duration of one put/get (or between reserve
 * and commit, peek and release); the lane's shared intent words tell
 * survivors what it was doing if the process dies. */
#include "config.h"

#include <errno.h>
#include <stdint.h>

#include "shm.h"

/* Threads start at different lanes so they rarely collide. Each thread
 * has its own stack, so a stack address tells threads apart without the
 * cost of thread-local storage in a dlopen()ed module. */
static unsigned lane_hint(void) {
  char probe;
  uintptr_t sp = (uintptr_t)&probe >> 16;
  return (unsigned)(sp ^ sp >> 7 ^ sp >> 13);
}

static int try_acquire(shm_queue *q) {
  unsigned start = lane_hint();
  for (unsigned k = 0; k < SHM_LANES; k++) {
    unsigned l = (start + k) % SHM_LANES;
    uint32_t expected = 0;
    /* acquire: orders our use of the lane after its previous holder's */
    if (atomic_compare_exchange_strong_explicit(&q->local[l].busy, &expected, 1,
                                                memory_order_acquire,
                                                memory_order_relaxed))
      return (int)l;
  }
  return -1;
}

int shm_lane_acquire(shm_queue *q, int64_t deadline_ns) {
  for (;;) {
    int lane = try_acquire(q);
    if (lane >= 0)
      return lane;
    /* More threads than lanes on this handle: sleep until one is freed. */
    atomic_fetch_add(&q->lane_waiters, 1);
    uint32_t ev = atomic_load(&q->lane_event);
    lane = try_acquire(q);
    int rc =
        lane >= 0 ? 0 : shm_futex_wait(&q->lane_event, ev, 0, deadline_ns, 0);
    atomic_fetch_sub(&q->lane_waiters, 1);
    if (lane >= 0)
      return lane;
    if (rc != 0)
      return rc;
  }
}

void shm_lane_release(shm_queue *q, int lane) {
  /* release: publishes everything done under the lane to its next holder;
   * seq_cst: orders the store before the waiter check */
  atomic_store_explicit(&q->local[lane].busy, 0, memory_order_seq_cst);
  shm_lane_wake_waiters(q);
}

void shm_lane_release_unfenced(shm_queue *q, int lane) {
  atomic_store_explicit(&q->local[lane].busy, 0, memory_order_release);
}

void shm_lane_wake_waiters(shm_queue *q) {
  if (atomic_load_explicit(&q->lane_waiters, memory_order_relaxed) > 0) {
    atomic_fetch_add(&q->lane_event, 1);
    shm_futex_wake(&q->lane_event, 0, 1);
  }
}

struct shm_lane *shm_lane_shared(shm_queue *q, int lane) {
  return &q->attach[q->index].lanes[lane];
}
