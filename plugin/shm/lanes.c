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
    if (deadline_ns == 0)
      return -EAGAIN; /* a non-blocking call neither waits nor times out */
    /* More threads than lanes on this handle: sleep until one is freed. */
    atomic_fetch_add(&q->lane_waiters, 1);
    /* pairs with the fence or seq_cst store of a release: either it sees
     * our count and wakes us, or our retry below sees its lane free */
    atomic_thread_fence(memory_order_seq_cst);
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

int shm_lane_sleep(shm_queue *q, int *lane, _Atomic uint32_t *word,
                   uint32_t expected, int64_t deadline_ns, int64_t cap_ns) {
  shm_lane_release(q, *lane);
  *lane = -1;
  int rc = shm_futex_wait(word, expected, 1, deadline_ns, cap_ns);
  if (rc != 0)
    return rc;
  int again = shm_lane_acquire(q, deadline_ns);
  if (again < 0)
    return again;
  *lane = again;
  return 0;
}

int shm_lane_finish(shm_queue *q, int lane, int rc, int mode) {
  if (rc == -ETIMEDOUT && !(mode & SHM_SLICE))
    atomic_fetch_add_explicit(&q->attach[q->index].timeouts, 1,
                              memory_order_relaxed);
  if (lane >= 0)
    shm_lane_release(q, lane);
  return rc;
}

static _Atomic uint32_t *sleepers(shm_queue *q, enum shm_wait w) {
  struct shm_attach *a = &q->attach[q->index];
  return w == WAIT_DATA ? &a->sleeping_data : &a->sleeping_space;
}

static _Atomic uint32_t *waiters(shm_queue *q, enum shm_wait w) {
  return w == WAIT_DATA ? &q->hdr->data_waiters : &q->hdr->space_waiters;
}

void shm_sleeper_enter(shm_queue *q, enum shm_wait w) {
  atomic_fetch_add(waiters(q, w), 1); /* seq_cst: pairs with the wakers */
  atomic_fetch_add(sleepers(q, w), 1);
}

void shm_sleeper_leave(shm_queue *q, enum shm_wait w) {
  atomic_fetch_sub(sleepers(q, w), 1);
  atomic_fetch_sub(waiters(q, w), 1);
}

struct shm_lane *shm_lane_shared(shm_queue *q, int lane) {
  return &q->attach[q->index].lanes[lane];
}
