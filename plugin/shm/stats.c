/* Shared statistics: positions from the header, totals summed over every
 * lane (each written by one holder only, so no counter is contended) and
 * attachment (timeouts), and a liveness census of the attachments. */
#include "config.h"

#include "shm.h"

uint64_t shm_total_puts(shm_queue *q) {
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
  uint64_t put = shm_total_puts(q);
  return put > done + lost ? put - done - lost : 0;
}

void shm_note_high_water(shm_queue *q, uint32_t end_unit, uint64_t H) {
  uint64_t used = (uint64_t)(end_unit - shm_unit(H)) * SHM_UNIT;
  uint64_t seen =
      atomic_load_explicit(&q->hdr->high_water, memory_order_relaxed);
  while (used > seen && !atomic_compare_exchange_weak_explicit(
                            &q->hdr->high_water, &seen, used,
                            memory_order_relaxed, memory_order_relaxed))
    ;
}

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
  shm_depth(q, &st->items, &st->bytes_used);
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
