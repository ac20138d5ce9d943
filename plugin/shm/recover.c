/* Recovering from owners that died mid-operation.
 *
 * A record can be stuck in two ways: reserved but never published (its
 * producer died), or claimed but never released (its consumer died). The
 * owner of each in-flight ticket is visible through lane intents, written
 * before the CAS that took the ticket; a survivor that saw the CAS (it read
 * tail or read with acquire) therefore sees the intent. If no lane of a live
 * attachment covers the ticket, its owner is dead: the record becomes SKIP
 * (producer side) or LOST (consumer side), and `abandoned` counts it. */
#include "config.h"

#include "shm.h"

#define STALL_MIN_NS 10000000ll  /* first check after 10 ms stuck */
#define STALL_MAX_NS 200000000ll /* then at most every 200 ms */

int64_t shm_stall_ns(int64_t waited) {
  int64_t next = waited / 2;
  return next < STALL_MIN_NS   ? STALL_MIN_NS
         : next > STALL_MAX_NS ? STALL_MAX_NS
                               : next;
}

enum side { PUT_SIDE, GET_SIDE };

/* Finds a live lane whose intent on `side` covers ticket t. Writes the
 * intent's starting unit (put side) to *from_unit when the intent starts at
 * t. Returns 1 if found. */
static int live_intent(shm_queue *q, enum side side, uint32_t t,
                       uint32_t *from_unit) {
  for (uint32_t i = 0; i < q->geo.attach_max; i++) {
    struct shm_lane *lanes = q->attach[i].lanes;
    for (unsigned l = 0; l < SHM_LANES; l++) {
      _Atomic uint64_t *from_w =
          side == PUT_SIDE ? &lanes[l].put_from : &lanes[l].get_from;
      _Atomic uint64_t *to_w =
          side == PUT_SIDE ? &lanes[l].put_to : &lanes[l].get_to;
      uint64_t to = atomic_load_explicit(to_w, memory_order_acquire);
      uint64_t from = atomic_load_explicit(from_w, memory_order_acquire);
      uint32_t ft = side == PUT_SIDE ? shm_ticket(from) : (uint32_t)from;
      uint32_t tt = side == PUT_SIDE ? shm_ticket(to) : (uint32_t)to;
      if (!shm_ticket_in(t, ft, tt) || !shm_attach_alive(q, i))
        continue;
      if (from_unit != NULL && ft == t)
        *from_unit = shm_unit(from);
      return 1;
    }
  }
  return 0;
}

static int taken_state(uint64_t ctl, uint32_t t) {
  return shm_ctl_ticket(ctl) == t && shm_ctl_state(ctl) != SLOT_EMPTY;
}

/* Where the record after t begins: from the next published slot, the next
 * live reservation, or the tail. Dead tickets in between are skipped: they
 * end where the next known record begins. */
static uint32_t successor_from(shm_queue *q, uint32_t t, uint64_t T) {
  for (uint32_t i = t + 1; i != shm_ticket(T); i++) {
    struct shm_slot *s = shm_slot_of(q, i);
    uint64_t ctl = atomic_load_explicit(&s->ctl, memory_order_acquire);
    if (taken_state(ctl, i)) {
      uint32_t from = atomic_load_explicit(&s->from, memory_order_relaxed);
      if (atomic_load_explicit(&s->ctl, memory_order_acquire) == ctl)
        return from;
    }
    uint32_t from;
    if (live_intent(q, PUT_SIDE, i, &from))
      return from;
  }
  return shm_unit(T);
}

static void wake_all(_Atomic uint32_t *event) {
  atomic_fetch_add(event, 1);
  shm_futex_wake(event, 1, 0);
}

int shm_recover_producer(shm_queue *q, uint32_t t) {
  struct shm_header *h = q->hdr;
  uint64_t T = atomic_load_explicit(&h->tail, memory_order_acquire);
  if ((int32_t)(shm_ticket(T) - t) <= 0)
    return 0; /* not reserved yet */
  /* Producers never reserve more than the slot table ahead of head (t is
   * at or past head), so a wider gap means a corrupt tail: leave it, rather
   * than scan up to 2^31 tickets for a successor. */
  if (shm_ticket(T) - t > q->geo.slot_count)
    return 0;
  struct shm_slot *s = shm_slot_of(q, t);
  uint64_t ctl = atomic_load_explicit(&s->ctl, memory_order_acquire);
  if (taken_state(ctl, t) || live_intent(q, PUT_SIDE, t, NULL))
    return 0;
  if (atomic_load_explicit(&s->ctl, memory_order_acquire) != ctl)
    return 0; /* published meanwhile */
  uint32_t end = successor_from(q, t, T);
  atomic_store_explicit(&s->from, end, memory_order_relaxed);
  atomic_store_explicit(&s->end, end, memory_order_relaxed);
  atomic_store_explicit(&s->len, 0, memory_order_relaxed);
  /* release: publishes `end` with the SKIP; CAS: one survivor wins */
  if (!atomic_compare_exchange_strong(&s->ctl, &ctl, shm_ctl(t, SLOT_SKIP)))
    return 0;
  atomic_fetch_add(&h->abandoned, 1);
  wake_all(&h->data_event);
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
  if (shm_ctl_ticket(ctl) != t || shm_ctl_state(ctl) == SLOT_EMPTY)
    return shm_recover_producer(q, t);
  uint32_t st = shm_ctl_state(ctl);
  if (st == SLOT_DONE || st == SLOT_LOST) {
    shm_advance_head(q);
    return 1;
  }
  if ((int32_t)(atomic_load(&h->read) - t) <= 0)
    return 0; /* published, not yet claimed: waiting for consumers */
  if (live_intent(q, GET_SIDE, t, NULL))
    return 0;
  if (atomic_load(&h->head) != H)
    return 1; /* released meanwhile */
  if (!atomic_compare_exchange_strong(&s->ctl, &ctl, shm_ctl(t, SLOT_LOST)))
    return 1;
  atomic_fetch_add(&h->abandoned, 1);
  if (shm_ctl_state(ctl) == SLOT_READY) {
    atomic_fetch_add(&h->lost, 1); /* its task can never be done */
    wake_all(&h->join_event);
  }
  shm_advance_head(q);
  wake_all(&h->space_event);
  return 1;
}
