/* The ring's shared steps, used by both sides and by recovery: moving head
 * past released records (and counting the DEAD and LOST ones it passes),
 * releasing a claimed range, the wake-ups, and the position snapshot. */
#include "config.h"

#include "shm.h"
#include "steps.h"

void shm_tally(_Atomic uint64_t *tally, uint32_t t, uint32_t j,
               _Atomic uint64_t *tail_word) {
  uint64_t v = atomic_load(tally);
  for (;;) {
    uint32_t tail = shm_ticket(atomic_load(tail_word)); /* after v */
    /* A marker in [t, tail] means [t, marker) is counted already (by a
     * party that passed them while we stalled); one beyond the tail is
     * from 2^32 tickets ago. */
    uint32_t marker = (uint32_t)v, from = t;
    if ((uint32_t)(marker - t) <= (uint32_t)(tail - t))
      from = marker;
    if ((int32_t)(j - from) <= 0)
      return;
    uint64_t next = ((v >> 32) + (j - from)) << 32 | j;
    if (atomic_compare_exchange_weak(tally, &v, next))
      return;
  }
}

/* Where head goes past a DEAD record t (claimed: read > t): to the first
 * record j after the claimed DEAD run whose start is known, from the tail
 * or from j's published slot. 0 while j is still being written. */
static int past_dead(shm_queue *q, uint32_t t, uint64_t *next) {
  struct shm_header *h = q->hdr;
  uint32_t read = atomic_load(&h->read), j = t;
  while ((int32_t)(read - j) > 0 &&
         atomic_load(&shm_slot_of(q, j)->ctl) == shm_ctl(j, SLOT_DEAD)) {
    /* Taken over from a live owner (stall_timeout): it may still write
     * into the record's bytes and slot until it clears its intent. */
    if (q->geo.stall_timeout_ns > 0 && shm_live_intent(q, SHM_PUT_SIDE, j))
      return 0;
    j++;
  }
  if (j == t)
    return 0; /* not claimed yet: head never passes an unclaimed ticket */
  uint64_t T = atomic_load(&h->tail);
  uint32_t from;
  if (shm_ticket(T) == j) {
    from = shm_unit(T);
  } else {
    struct shm_slot *s = shm_slot_of(q, j);
    uint64_t ctl = atomic_load(&s->ctl);
    if (shm_ctl_ticket(ctl) != j || shm_ctl_state(ctl) == SLOT_DEAD)
      return 0; /* j in flight or unclaimed: its start is not known yet */
    from = atomic_load_explicit(&s->from, memory_order_relaxed);
  }
  SHM_STEP("head:dead_run");
  shm_tally(&h->dead_tally, t, j, &h->tail);
  *next = shm_pos(j, from);
  return 1;
}

/* Where head goes from H, or 0 if the record there is not released. */
static int next_head(shm_queue *q, uint64_t H, uint64_t *next) {
  uint32_t t = shm_ticket(H);
  struct shm_slot *s = shm_slot_of(q, t);
  uint64_t ctl = atomic_load(&s->ctl); /* seq_cst: pairs with the DONE mark */
  if (ctl == shm_ctl(t, SLOT_DEAD))
    return past_dead(q, t, next);
  if (ctl == shm_ctl(t, SLOT_LOST)) {
    SHM_STEP("head:lost");
    shm_tally(&q->hdr->lost_tally, t, t + 1, &q->hdr->tail);
  } else if (ctl != shm_ctl(t, SLOT_DONE)) {
    return 0;
  }
  *next = shm_pos(t + 1, atomic_load_explicit(&s->end, memory_order_relaxed));
  return 1;
}

void shm_advance_head(shm_queue *q) {
  struct shm_header *h = q->hdr;
  for (;;) {
    uint64_t H = atomic_load(&h->head), next;
    if (!next_head(q, H, &next))
      return;
    atomic_compare_exchange_strong(&h->head, &H, next);
  }
}

void shm_wake_writers(shm_queue *q) {
  struct shm_header *h = q->hdr;
  if (atomic_load(&h->space_waiters) == 0)
    return;
  atomic_fetch_add(&h->space_event, 1);
  shm_futex_wake(&h->space_event, 1, 0);
}

void shm_release_range(shm_queue *q, uint32_t t, uint32_t t_end, uint32_t end,
                       int any_dead) {
  struct shm_header *h = q->hdr;
  uint64_t H = atomic_load(&h->head);
  /* Only the holder of the head record can move head past it, so when we
   * hold it this CAS succeeds; seq_cst pairs with others' DONE marks. A
   * DEAD record has no end, and head counts those it passes: slow path. */
  if (!any_dead && shm_ticket(H) == t &&
      atomic_compare_exchange_strong(&h->head, &H, shm_pos(t_end, end))) {
    /* Nobody has claimed past us, so no later record can be DONE yet: a
     * consumer that claims one now will find head at its own record. */
    if (atomic_load(&h->read) != t_end)
      shm_advance_head(q);
  } else {
    for (uint32_t i = t; i != t_end; i++) {
      struct shm_slot *s = shm_slot_of(q, i);
      if (atomic_load_explicit(&s->ctl, memory_order_relaxed) !=
          shm_ctl(i, SLOT_DEAD))
        atomic_store(&s->ctl, shm_ctl(i, SLOT_DONE));
    }
    shm_advance_head(q);
  }
  shm_wake_writers(q);
}

/* Wakes readers asleep on data_event: all of them, so a woken reader that
 * then takes nothing (too small a buffer, a signal, killed) cannot leave
 * another asleep beside a message. The caller has issued a seq_cst fence
 * since its publishes: a reader bumps data_waiters before re-checking ctl,
 * so one of us sees the other. */
void shm_wake_readers_fenced(shm_queue *q) {
  struct shm_header *h = q->hdr;
  if (atomic_load_explicit(&h->data_waiters, memory_order_relaxed) == 0)
    return;
  atomic_fetch_add(&h->data_event, 1);
  shm_futex_wake(&h->data_event, 1, 0);
}

void shm_wake_readers(shm_queue *q) {
  atomic_thread_fence(memory_order_seq_cst);
  shm_wake_readers_fenced(q);
}

void shm_wake_all(_Atomic uint32_t *event) {
  atomic_fetch_add(event, 1);
  shm_futex_wake(event, 1, 0);
}

/* A snapshot of the positions: items between read and tail, bytes
 * between head and tail. */
int shm_depth(shm_queue *q, uint64_t *items, uint64_t *bytes) {
  struct shm_header *h = q->hdr;
  uint32_t read = atomic_load(&h->read);
  uint64_t head = atomic_load(&h->head), tail = atomic_load(&h->tail);
  *items = (uint32_t)(shm_ticket(tail) - read);
  *bytes = (uint64_t)(uint32_t)(shm_unit(tail) - shm_unit(head)) * SHM_UNIT;
  return 0;
}
