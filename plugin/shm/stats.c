/* Shared statistics: positions from the header, totals summed over every
 * lane (each written by one holder only, so no counter is contended) and
 * attachment (timeouts), and a liveness census of the attachments. */
#include "config.h"

#include "shm.h"

static void sum_lanes(shm_queue *q, struct sage_stats *st) {
  for (uint32_t i = 0; i < q->geo.attach_max; i++)
    for (unsigned l = 0; l < SHM_LANES; l++) {
      struct shm_lane *lane = &q->attach[i].lanes[l];
      st->total_put += atomic_load_explicit(&lane->puts, memory_order_relaxed);
      st->bytes_put +=
          atomic_load_explicit(&lane->put_bytes, memory_order_relaxed);
      st->total_got += atomic_load_explicit(&lane->gets, memory_order_relaxed);
      st->bytes_got +=
          atomic_load_explicit(&lane->get_bytes, memory_order_relaxed);
      st->blocked_puts +=
          atomic_load_explicit(&lane->blocked_puts, memory_order_relaxed);
      st->blocked_gets +=
          atomic_load_explicit(&lane->blocked_gets, memory_order_relaxed);
    }
}

static void sum_attachments(shm_queue *q, struct sage_stats *st) {
  for (uint32_t i = 0; i < q->geo.attach_max; i++)
    st->timeouts +=
        atomic_load_explicit(&q->attach[i].timeouts, memory_order_relaxed);
}

int shm_stats(shm_queue *q, struct sage_stats *st) {
  struct shm_header *h = q->hdr;
  st->capacity = q->geo.capacity;
  st->max_message = q->geo.capacity / 2;
  st->max_items = q->geo.max_items;
  uint32_t read = atomic_load(&h->read); /* read never passes tail */
  uint64_t head = atomic_load(&h->head), tail = atomic_load(&h->tail);
  st->bytes_used =
      (uint64_t)(uint32_t)(shm_unit(tail) - shm_unit(head)) * SHM_UNIT;
  st->items = (uint32_t)(shm_ticket(tail) - read);
  sum_lanes(q, st);
  sum_attachments(q, st);
  st->high_water = atomic_load_explicit(&h->high_water, memory_order_relaxed);
  if (st->high_water < st->bytes_used)
    st->high_water = st->bytes_used;
  st->abandoned = shm_tally_count(atomic_load(&h->dead_tally)) +
                  shm_tally_count(atomic_load(&h->lost_tally));
  uint32_t live, dead;
  int32_t none[1];
  shm_attach_census(q, &live, &dead, none, 0);
  st->attached = live;
  st->stale_attached = dead;
  st->waiting_readers = atomic_load(&h->data_waiters);
  st->waiting_writers = atomic_load(&h->space_waiters);
  st->owner_uid = h->creator_uid;
  st->creator_pid = (uint64_t)h->creator_pid;
  st->created_ns = h->created_ns;
  st->unfinished = shm_unfinished(q);
  return 0;
}
