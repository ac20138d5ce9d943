/* The attachment table. Each open handle owns one entry and holds an OFD
 * lock on the entry's byte of the segment file for as long as it is
 * attached. The kernel releases that lock when the process dies (its last
 * descriptor closes), whatever the process was doing: that is our liveness
 * token. OFD locks belong to the open file description, so they survive
 * thread exit; fork children drop inherited descriptors (transport.c). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

static uint64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A dead owner's counted reservation is complete, and its intent is the
 * only record of that: publish what it left unpublished before the intent
 * is cleared (recover.c decides the same way, so racing it is harmless). */
static void publish_for_dead(shm_queue *q, struct shm_lane *lane) {
  uint32_t from = shm_ticket(atomic_load(&lane->put_from));
  uint32_t to = shm_ticket(atomic_load(&lane->put_to));
  if (to - from == 0 || to - from > q->geo.slot_count ||
      atomic_load(&lane->puts) != atomic_load(&lane->put_base) + (to - from))
    return;
  for (uint32_t t = from; t != to; t++)
    shm_resolve_ticket(q, t, 1);
}

/* Takes over entry i (free, or left by a dead process). Its lanes' intents
 * are cleared; their counters are kept so totals stay exact. */
static void claim_entry(shm_queue *q, uint32_t i) {
  struct shm_attach *a = &q->attach[i];
  if (atomic_load(&a->state) == ATTACH_ACTIVE)
    atomic_fetch_add(&q->hdr->reclaimed, 1);
  for (unsigned l = 0; l < SHM_LANES; l++) {
    struct shm_lane *lane = &a->lanes[l];
    publish_for_dead(q, lane);
    atomic_store(&lane->put_to, atomic_load(&lane->put_from));
    atomic_store(&lane->get_to, atomic_load(&lane->get_from));
    /* Won marks no future intent can match by chance: every later intent
     * starts at or past today's tail (read). */
    atomic_store(&lane->put_won, shm_ticket(atomic_load(&q->hdr->tail)) - 1);
    atomic_store(&lane->get_won, atomic_load(&q->hdr->read) - 1);
  }
  atomic_store(&a->pid, (int32_t)getpid());
  atomic_store(&a->since_ns, realtime_ns());
  atomic_store_explicit(&a->state, ATTACH_ACTIVE, memory_order_release);
  q->index = (int)i;
}

static int find_free_entry(shm_queue *q) {
  for (uint32_t i = 0; i < q->geo.attach_max; i++) {
    int rc = shm_ofd_lock(q->fd, F_WRLCK, SHM_LOCK_BASE + i, 0);
    if (rc == 0) {
      claim_entry(q, i);
      return 0;
    }
    if (rc != -EAGAIN && rc != -EACCES)
      return sage_plugin_fail(rc, "cannot lock an attachment of queue '%s': %s",
                              q->name, strerror(-rc));
  }
  return sage_plugin_fail(
      -EUSERS,
      "queue '%s' has all %u attachment slots in use by live "
      "processes (create it with a larger attach_max)",
      q->name, q->geo.attach_max);
}

/* A process killed while sleeping in put or get leaves its waiter count
 * raised, which would make every later publish or release pay for a futex
 * wake and stats report waiters that are gone. Takes those counts back for
 * every dead attachment. A kill landing inside the count update itself
 * leaves no mark; such residue goes when the queue is next idle: with no
 * live attachment nobody can be waiting, so every count is zero. Runs under
 * the lifecycle lock, so no new owner can take a dead entry (and start
 * sleeping under it) or attach at all meanwhile. */
/* Takes a dead attachment's share out of a shared waiter count; a share
 * larger than the count (a corrupt segment) never wraps it. */
static void take_back(_Atomic uint32_t *count, _Atomic uint32_t *share) {
  uint32_t n = atomic_exchange(share, 0), have = atomic_load(count);
  atomic_fetch_sub(count, n < have ? n : have);
}

static void reap_dead_waiters(shm_queue *q) {
  struct shm_header *h = q->hdr;
  uint32_t live = 0;
  for (uint32_t i = 0; i < q->geo.attach_max; i++) {
    struct shm_attach *a = &q->attach[i];
    if (atomic_load(&a->state) != ATTACH_ACTIVE)
      continue;
    if (shm_attach_alive(q, i)) {
      live++;
      continue;
    }
    take_back(&h->data_waiters, &a->sleeping_data);
    take_back(&h->space_waiters, &a->sleeping_space);
  }
  if (live == 0) {
    atomic_store(&h->data_waiters, 0);
    atomic_store(&h->space_waiters, 0);
    atomic_store(&h->join_waiters, 0);
  }
}

int shm_attach_register(shm_queue *q, int allow_unlinked) {
  int rc = shm_lifecycle_lock(q);
  if (rc != 0)
    return rc;
  reap_dead_waiters(q);
  if (!allow_unlinked && atomic_load(&q->hdr->unlinked))
    rc = -ESTALE;
  else
    rc = find_free_entry(q);
  shm_lifecycle_unlock(q);
  return rc;
}

void shm_attach_release(shm_queue *q) {
  if (q->index < 0)
    return;
  struct shm_attach *a = &q->attach[q->index];
  atomic_store(&a->pid, 0);
  atomic_store_explicit(&a->state, ATTACH_FREE, memory_order_release);
  shm_ofd_lock(q->fd, F_UNLCK, SHM_LOCK_BASE + q->index, 0);
  q->index = -1;
}

static int reattach(shm_queue *q) {
  if (q->fd < 0)
    return sage_plugin_fail(-EBADF,
                            "queue '%s': cannot be used in this fork child "
                            "(no /proc, and its name no longer opens it): "
                            "open it again by name",
                            q->name);
  for (unsigned l = 0; l < SHM_LANES; l++) {
    atomic_store(&q->local[l].busy, 0); /* held by parent threads at fork */
    q->local[l].pending.kind = 0;
  }
  /* A queue destroyed before the fork keeps working here too, as it does
   * in the parent, until this handle closes. */
  int rc = shm_attach_register(q, 1);
  if (rc != 0)
    return rc;
  atomic_store(&q->forked, 0);
  return 0;
}

int shm_ready(shm_queue *q) {
  if (q->observe)
    return sage_plugin_fail(
        -EPERM, "queue '%s' was opened to observe only (attach=0)", q->name);
  if (!atomic_load_explicit(&q->forked, memory_order_relaxed))
    return 0;
  sage_handles_lock();
  int rc = atomic_load(&q->forked) ? reattach(q) : 0;
  sage_handles_unlock();
  return rc;
}
