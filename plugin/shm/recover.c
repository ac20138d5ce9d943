/* Recovering from owners that died (or, with stall_timeout, stalled)
 * mid-operation. docs/ARCHITECTURE.md ("Recovery") and model/ring.pml
 * give the argument; in short:
 *
 * - A reserved ticket t left unpublished is resolved by one CAS on its
 *   slot's ctl, from the older-lap value read first to (t, READY) if its
 *   dead owner had counted the reservation (every record written: publish
 *   it on the owner's behalf) or (t, DEAD) if not. Recovery writes nothing
 *   else, so a survivor that loses the CAS, or decided on stale intents
 *   (an owner that published meanwhile changed ctl), changes nothing.
 * - A claimed head record whose consumer died becomes LOST (a message) or
 *   DONE (a SKIP), by one CAS; head then moves past it.
 * - Owners are told apart through lane intents, set before the CAS that
 *   took the ticket and read with acquire after seeing that CAS. A lane's
 *   values are read again after its process is seen dead: they are final
 *   then. */
#include "config.h"

#include "shm.h"
#include "steps.h"

#define STALL_MIN_NS 10000000ll /* first check after 10 ms stuck */
#define STALL_MAX_NS SHM_STALL_MAX_NS

int64_t shm_stall_ns(int64_t waited) {
  int64_t next = waited / 2;
  return next < STALL_MIN_NS   ? STALL_MIN_NS
         : next > STALL_MAX_NS ? STALL_MAX_NS
                               : next;
}

int shm_watch_due(struct shm_watch *w, uint64_t key, int64_t now) {
  if (atomic_load_explicit(&w->key, memory_order_relaxed) != key ||
      atomic_load_explicit(&w->since, memory_order_relaxed) == 0) {
    atomic_store_explicit(&w->key, key, memory_order_relaxed);
    atomic_store_explicit(&w->since, now, memory_order_relaxed);
    atomic_store_explicit(&w->next, now + STALL_MIN_NS, memory_order_relaxed);
    return 0;
  }
  if (now < atomic_load_explicit(&w->next, memory_order_relaxed))
    return 0;
  int64_t waited = now - atomic_load_explicit(&w->since, memory_order_relaxed);
  atomic_store_explicit(&w->next, now + shm_stall_ns(waited),
                        memory_order_relaxed);
  return 1;
}

int64_t shm_watch_waited(struct shm_watch *w, uint64_t key, int64_t now) {
  if (atomic_load_explicit(&w->key, memory_order_relaxed) != key)
    return 0;
  int64_t since = atomic_load_explicit(&w->since, memory_order_relaxed);
  return since == 0 ? 0 : now - since;
}

/* A lane whose reservation reached "counted": all its records written. */
static int counted(struct shm_lane *lane, uint32_t count) {
  uint64_t puts = atomic_load_explicit(&lane->puts, memory_order_acquire);
  return puts ==
         atomic_load_explicit(&lane->put_base, memory_order_relaxed) + count;
}

/* Whether a ticket of the reservation before t was given up: then t is
 * given up too, so what a taken-over put delivers is always a prefix. */
static int earlier_given_up(shm_queue *q, struct shm_lane *lane, uint32_t t) {
  uint32_t from = shm_ticket(atomic_load(&lane->put_from));
  for (uint32_t u = from; u != t; u++)
    if (atomic_load(&shm_slot_of(q, u)->ctl) == shm_ctl(u, SLOT_DEAD))
      return 1;
  return 0;
}

enum owner { OWNER_NONE, OWNER_COUNTED, OWNER_LIVE };

/* Who holds ticket t's reservation: a live lane (unless the caller takes
 * over stalled owners), a dead lane that counted it, or nobody that
 * finished writing it. */
static enum owner put_owner(shm_queue *q, uint32_t t, int take_over_live) {
  enum owner found = OWNER_NONE;
  int winner_seen = 0, live_unknown = 0;
  for (uint32_t i = 0; i < q->geo.attach_max; i++)
    for (unsigned l = 0; l < SHM_LANES; l++) {
      struct shm_lane *lane = &q->attach[i].lanes[l];
      uint32_t count;
      if (!shm_intent_covers(lane, SHM_PUT_SIDE, t, &count))
        continue;
      int alive = shm_attach_alive(q, i);
      if (!shm_intent_won(lane, SHM_PUT_SIDE)) {
        /* lost its CAS, or won and has not marked it yet (then it has
         * not counted either): an owner only if no winner is seen */
        live_unknown |= alive;
        continue;
      }
      winner_seen = 1;
      if (alive && !take_over_live)
        return OWNER_LIVE;
      /* dead: its lane is final now; read it again */
      if ((alive || shm_intent_covers(lane, SHM_PUT_SIDE, t, &count)) &&
          counted(lane, count) && !(alive && earlier_given_up(q, lane, t)))
        found = OWNER_COUNTED;
    }
  return !winner_seen && live_unknown && !take_over_live ? OWNER_LIVE : found;
}

int shm_resolve_ticket(shm_queue *q, uint32_t t, int take_over_live) {
  struct shm_header *h = q->hdr;
  uint64_t T = atomic_load_explicit(&h->tail, memory_order_acquire);
  uint32_t ahead = shm_ticket(T) - t;
  if (ahead == 0 || ahead > q->geo.slot_count)
    return 0; /* not reserved, or long resolved */
  struct shm_slot *s = shm_slot_of(q, t);
  uint64_t ctl = atomic_load_explicit(&s->ctl, memory_order_acquire);
  if (!shm_ctl_older(ctl, t))
    return 0; /* published (or resolved) already */
  enum owner owner = put_owner(q, t, take_over_live);
  if (owner == OWNER_LIVE)
    return 0;
  enum shm_slot_state to = owner == OWNER_COUNTED ? SLOT_READY : SLOT_DEAD;
  SHM_STEP("recover:decided");
  if (!atomic_compare_exchange_strong(&s->ctl, &ctl, shm_ctl(t, to)))
    return 0;
  SHM_STEP("recover:marked");
  shm_wake_all(&h->data_event);
  return 1;
}

int shm_recover_producer(shm_queue *q, uint32_t t) {
  return shm_resolve_ticket(q, t, 0);
}

/* Resolves a head record whose consumer died: READY becomes LOST, SKIP
 * becomes DONE. Returns 1 if anything changed. */
static int recover_claimed(shm_queue *q, uint64_t H, struct shm_slot *s,
                           uint64_t ctl) {
  struct shm_header *h = q->hdr;
  uint32_t t = shm_ticket(H);
  if ((int32_t)(atomic_load(&h->read) - t) <= 0)
    return 0; /* published, not yet claimed: waiting for consumers */
  if (shm_live_intent(q, SHM_GET_SIDE, t))
    return 0;
  if (atomic_load(&h->head) != H)
    return 1; /* released meanwhile */
  int lost = shm_ctl_state(ctl) == SLOT_READY;
  SHM_STEP("recover_head:decided");
  if (!atomic_compare_exchange_strong(&s->ctl, &ctl,
                                      shm_ctl(t, lost ? SLOT_LOST : SLOT_DONE)))
    return 1;
  SHM_STEP("recover_head:marked");
  shm_advance_head(q);
  if (lost)
    shm_wake_all(&h->join_event); /* its task can never be done */
  shm_wake_all(&h->space_event);
  return 1;
}

int shm_recover_head(shm_queue *q) {
  struct shm_header *h = q->hdr;
  uint64_t H = atomic_load(&h->head);
  uint32_t t = shm_ticket(H);
  if (shm_ticket(atomic_load(&h->tail)) == t)
    return 0; /* empty: nothing stuck */
  struct shm_slot *s = shm_slot_of(q, t);
  uint64_t ctl = atomic_load(&s->ctl);
  if (shm_ctl_older(ctl, t))
    return shm_recover_producer(q, t);
  if (shm_ctl_ticket(ctl) != t)
    return 1; /* head moved on */
  uint32_t st = shm_ctl_state(ctl);
  if (st == SLOT_DONE || st == SLOT_LOST || st == SLOT_DEAD) {
    shm_advance_head(q);
    return atomic_load(&h->head) != H;
  }
  return recover_claimed(q, H, s, ctl);
}
