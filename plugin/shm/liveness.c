/* Liveness: each attachment's owner holds an OFD lock on the entry's byte
 * of the segment file for as long as it is attached, and the kernel drops
 * it when the process dies (its last reference to the open file
 * description goes), whatever it was doing. Also the lifecycle lock that
 * orders attach, detach and unlink, the census of attachments, and which
 * live lanes' intents cover a ticket. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "shm.h"

int shm_ofd_lock(int fd, short type, off_t at, int wait) {
  struct flock fl = {
      .l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1};
  int rc;
  do
    rc = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
  while (rc != 0 && wait && errno == EINTR);
  return rc == 0 ? 0 : -errno;
}

/* 1 if another open file description holds a lock on byte `at`. */
static int ofd_held(int fd, off_t at) {
  struct flock fl = {.l_type = F_WRLCK,
                     .l_whence = SEEK_SET,
                     .l_start = at,
                     .l_len = 1,
                     .l_pid = 0};
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
    return 1; /* cannot tell: assume alive, never reclaim wrongly */
  return fl.l_type != F_UNLCK;
}

int shm_lifecycle_lock(shm_queue *q) {
  int rc = shm_ofd_lock(q->fd, F_WRLCK, SHM_LOCK_LIFECYCLE, 1);
  return rc == 0 ? 0
                 : sage_plugin_fail(rc, "cannot lock queue '%s': %s", q->name,
                                    strerror(-rc));
}

void shm_lifecycle_unlock(shm_queue *q) {
  shm_ofd_lock(q->fd, F_UNLCK, SHM_LOCK_LIFECYCLE, 0);
}

int shm_attach_alive(shm_queue *q, uint32_t i) {
  if ((int)i == q->index)
    return 1;
  return ofd_held(q->fd, SHM_LOCK_BASE + i);
}

void shm_attach_census(shm_queue *q, uint32_t *live, uint32_t *dead,
                       int32_t *pids, size_t cap) {
  *live = *dead = 0;
  for (uint32_t i = 0; i < q->geo.attach_max; i++) {
    struct shm_attach *a = &q->attach[i];
    if (atomic_load_explicit(&a->state, memory_order_acquire) != ATTACH_ACTIVE)
      continue;
    if (shm_attach_alive(q, i)) {
      if (*live < cap)
        pids[*live] = atomic_load(&a->pid);
      (*live)++;
    } else {
      (*dead)++;
    }
  }
}

/* Whether a lane's intent on `side` covers ticket t; *count gets the
 * intent's ticket count. */
int shm_intent_covers(struct shm_lane *lane, enum shm_side side, uint32_t t,
                      uint32_t *count) {
  uint64_t to =
      atomic_load_explicit(side == SHM_PUT_SIDE ? &lane->put_to : &lane->get_to,
                           memory_order_acquire);
  uint64_t from = atomic_load_explicit(side == SHM_PUT_SIDE ? &lane->put_from
                                                            : &lane->get_from,
                                       memory_order_acquire);
  uint32_t ft = side == SHM_PUT_SIDE ? shm_ticket(from) : (uint32_t)from;
  uint32_t tt = side == SHM_PUT_SIDE ? shm_ticket(to) : (uint32_t)to;
  *count = tt - ft;
  return shm_ticket_in(t, ft, tt);
}

int shm_intent_won(struct shm_lane *lane, enum shm_side side) {
  uint32_t won = atomic_load_explicit(side == SHM_PUT_SIDE ? &lane->put_won
                                                           : &lane->get_won,
                                      memory_order_acquire);
  uint64_t from = atomic_load_explicit(side == SHM_PUT_SIDE ? &lane->put_from
                                                            : &lane->get_from,
                                       memory_order_acquire);
  return won == (side == SHM_PUT_SIDE ? shm_ticket(from) : (uint32_t)from);
}

int shm_live_intent(shm_queue *q, enum shm_side side, uint32_t t) {
  int live_unknown = 0;
  for (uint32_t i = 0; i < q->geo.attach_max; i++)
    for (unsigned l = 0; l < SHM_LANES; l++) {
      struct shm_lane *lane = &q->attach[i].lanes[l];
      uint32_t count;
      if (!shm_intent_covers(lane, side, t, &count))
        continue;
      if (shm_intent_won(lane, side)) /* the one that took t */
        return shm_attach_alive(q, i);
      live_unknown |= shm_attach_alive(q, i);
    }
  return live_unknown; /* only parties that may have lost their CAS */
}
