/* The producer side: reserve -> write -> publish.
 *
 * A producer reserves tickets and ring bytes with one CAS on `tail`, after
 * recording the range it is trying for in its lane (its intent). It then
 * fills the slots and payloads and publishes each slot's ctl. Survivors that
 * find a reserved ticket unpublished for long use the intents to tell a slow
 * producer from a dead one (recover.c). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "shm.h"
#include "steps.h"

/* Where a record of `need` units reserved at unit u goes, in a ring of
 * cap_units: a record never wraps, so one that would is padded to the
 * ring's start. (The caller passes cap_units from a local: its stores to
 * shared memory could alias q->geo.) */
struct placement {
  uint32_t from, start, end; /* unit positions; start is a ring offset */
};

static inline struct placement place(uint32_t cap_units, uint32_t u,
                                     uint32_t need) {
  uint32_t mask = cap_units - 1, off = u & mask;
  uint32_t pad = off + need > cap_units ? cap_units - off : 0;
  return (struct placement){u, (u + pad) & mask, u + pad + need};
}

/* How many of the next `count` records (sizes in lens) fit in front of head
 * H if the tail is at T, and where the tail would end. */
static uint32_t fitting(const shm_queue *q, uint64_t T, uint64_t H,
                        const struct sage_msg *msgs, size_t count,
                        uint32_t *end_unit) {
  const uint32_t cap_units = q->geo.cap_units, head = shm_unit(H);
  uint32_t items = shm_ticket(T) - shm_ticket(H), u = shm_unit(T), k = 0;
  size_t room = items < q->geo.item_bound ? q->geo.item_bound - items : 0;
  if (count > room)
    count = room;
  while (k < count) {
    uint32_t end =
        place(cap_units, u, shm_record_units(&q->geo, msgs[k].len)).end;
    if (end - head > cap_units)
      break;
    u = end;
    k++;
  }
  *end_unit = u;
  return k;
}

static void clear_put_intent(struct shm_lane *lane) {
  /* release: a survivor that sees the intent gone also sees our publish */
  atomic_store_explicit(
      &lane->put_to,
      atomic_load_explicit(&lane->put_from, memory_order_relaxed),
      memory_order_release);
}

struct head_watch {
  _Atomic uint64_t *head;
  uint64_t seen;
};

static int head_moved(void *arg) {
  struct head_watch *w = arg;
  return atomic_load_explicit(w->head, memory_order_acquire) != w->seen;
}

/* Frees the head record if its owner died and this handle has seen head
 * stuck at H long enough. Returns 1 if anything changed. */
static int free_stuck_head(shm_queue *q, uint64_t H, int64_t now) {
  return shm_watch_due(&q->space_watch, H, now) && shm_recover_head(q);
}

/* Sleeps until head moves (or the deadline), freeing the head record when
 * its owner died. */
static int wait_for_space(shm_queue *q, int *lane, uint64_t H, int64_t deadline,
                          struct shm_call_wait *cw) {
  struct shm_header *h = q->hdr;
  struct head_watch w = {&h->head, H};
  int64_t started = shm_now_ns();
  if (cw->since == 0)
    cw->since = started;
  if (shm_spin(started, shm_spin_budget(q, WAIT_SPACE), deadline, head_moved,
               &w))
    return 0;
  int64_t now = shm_now_ns();
  if (free_stuck_head(q, H, now))
    return 0;
  int64_t stall = shm_stall_ns(shm_watch_waited(&q->space_watch, H, now));
  shm_sleeper_enter(q, WAIT_SPACE); /* seq_cst: pairs with release */
  uint32_t ev = atomic_load(&h->space_event);
  int rc = 0;
  if (atomic_load(&h->head) == H) {
    rc = shm_lane_sleep(q, lane, &h->space_event, ev, deadline, stall);
    shm_spin_learn(q, WAIT_SPACE, cw, rc, head_moved(&w));
  }
  shm_sleeper_leave(q, WAIT_SPACE);
  return rc;
}

#define HEAD_REFRESH 64 /* reservations between forced head reloads */

/* Whether this lane's cached head may be used. A stale head only
 * understates free space (head never moves back), so using it is safe;
 * reloading only when space looks short, or every HEAD_REFRESH
 * reservations, keeps producers off the consumers' cache line. A cache
 * older than the slot table is reloaded so modulo-2^32 comparisons hold. */
static int cache_usable(const shm_queue *q, const struct shm_lane_local *local,
                        uint64_t T) {
  return local->head_refresh_due > 0 &&
         shm_ticket(T) - shm_ticket(local->cached_head) <= q->geo.slot_count;
}

static uint64_t reload_head(shm_queue *q, struct shm_lane_local *local) {
  uint64_t H = atomic_load_explicit(&q->hdr->head, memory_order_acquire);
  local->cached_head = H;
  local->head_refresh_due = HEAD_REFRESH;
  return H;
}

/* Reserves the longest prefix of msgs (at least one) that fits, waiting for
 * space as needed. Waiting may change *lane (see shm_lane_sleep). */
static int reserve(shm_queue *q, int *lane, const struct sage_msg *msgs,
                   size_t count, int64_t deadline, struct shm_call_wait *cw,
                   struct shm_reservation *res) {
  struct shm_header *h = q->hdr;
  struct shm_lane *shared = shm_lane_shared(q, *lane);
  struct shm_lane_local *local = shm_lane_local(q, *lane);
  uint64_t T = atomic_load_explicit(&h->tail, memory_order_relaxed);
  for (;;) {
    uint32_t end_unit;
    int fresh = !cache_usable(q, local, T);
    uint64_t H = fresh ? reload_head(q, local) : local->cached_head;
    uint32_t k = fitting(q, T, H, msgs, count, &end_unit);
    if (k == 0 && !fresh) {
      H = reload_head(q, local);
      fresh = 1;
      k = fitting(q, T, H, msgs, count, &end_unit);
    }
    if (k == 0) {
      int nonblocking = cw->mode & SHM_NONBLOCK;
      if (nonblocking && !free_stuck_head(q, H, shm_now_ns()))
        return -EAGAIN;
      if (!nonblocking && shm_call_blocks(cw))
        shm_lane_add(&shared->blocked_puts, 1);
      int rc = nonblocking ? 0 : wait_for_space(q, lane, H, deadline, cw);
      if (rc != 0)
        return rc;
      shared = shm_lane_shared(q, *lane);
      local = shm_lane_local(q, *lane);
      T = atomic_load_explicit(&h->tail, memory_order_relaxed);
      local->head_refresh_due = 0;
      continue;
    }
    uint64_t next = shm_pos(shm_ticket(T) + k, end_unit);
    atomic_store_explicit(
        &shared->put_base,
        atomic_load_explicit(&shared->puts, memory_order_relaxed),
        memory_order_relaxed);
    atomic_store_explicit(&shared->put_from, T, memory_order_relaxed);
    atomic_store_explicit(&shared->put_to, next, memory_order_relaxed);
    SHM_STEP("put:intent");
    /* release: our intent is visible to anyone who sees this tail */
    if (atomic_compare_exchange_weak_explicit(
            &h->tail, &T, next, memory_order_release, memory_order_relaxed)) {
      atomic_store_explicit(&shared->put_won, shm_ticket(T),
                            memory_order_release);
      SHM_STEP("put:reserved");
      if (fresh)
        shm_note_high_water(q, end_unit, H);
      local->head_refresh_due--;
      *res = (struct shm_reservation){shm_ticket(T), k, T, next};
      return 0;
    }
    clear_put_intent(shared); /* never sleep with a stale intent */
  }
}

/* Where a placed record's payload goes: the ring, or the slot's body for
 * a small record, which takes no ring units (layout.h). */
static inline unsigned char *
record_bytes(unsigned char *ring, struct shm_slot *s, struct placement p) {
  return p.end == p.from ? s->body : ring + (size_t)p.start * SHM_UNIT;
}

/* Writes a record's slot metadata (its ctl is published later). A small
 * record's body holds its payload where a ring record keeps `start`. */
static inline void fill_slot(struct shm_slot *s, struct placement p, size_t len,
                             uint32_t owner) {
  atomic_store_explicit(&s->from, p.from, memory_order_relaxed);
  atomic_store_explicit(&s->end, p.end, memory_order_relaxed);
  atomic_store_explicit(&s->len, (uint32_t)len, memory_order_relaxed);
  atomic_store_explicit(&s->owner, owner, memory_order_relaxed);
  if (p.end != p.from)
    atomic_store_explicit(&s->start, p.start, memory_order_relaxed);
}

/* Publishes ticket t as `st`. Returns 0 if a survivor gave it up (DEAD)
 * first: possible only with stall_timeout, where a live owner that stalls
 * may be taken over, so publishing is a CAS from the older lap. A survivor
 * that found our reservation counted published it for us: that counts. */
static int publish(shm_queue *q, uint32_t t, enum shm_slot_state st) {
  _Atomic uint64_t *ctl = &shm_slot_of(q, t)->ctl;
  if (q->geo.stall_timeout_ns == 0) {
    /* release: the body and metadata written before become visible */
    atomic_store_explicit(ctl, shm_ctl(t, st), memory_order_release);
    return 1;
  }
  uint64_t old = atomic_load_explicit(ctl, memory_order_relaxed);
  while (shm_ctl_older(old, t))
    if (atomic_compare_exchange_weak_explicit(ctl, &old, shm_ctl(t, st),
                                              memory_order_release,
                                              memory_order_relaxed))
      return 1;
  /* Head never passes a DEAD record our intent covers (ring.c), so a later
   * lap means it was published for us and taken. */
  return old != shm_ctl(t, SLOT_DEAD);
}

static int given_up(shm_queue *q, uint32_t lost, uint32_t count) {
  return sage_plugin_fail(
      -ECANCELED,
      "queue '%s': this put stalled longer than the queue's stall_timeout "
      "(%lld ms) and %u of its %u messages were given up by the other "
      "processes; they were not delivered",
      q->name, (long long)(q->geo.stall_timeout_ns / 1000000), lost, count);
}

/* Counts a reservation's records as put once every one is written, before
 * any is published: a survivor finding the owner dead after this point
 * publishes the records for it (recover.c), so the count is always right. */
static void count_puts(struct shm_lane *lane, uint32_t count, uint64_t bytes) {
  shm_lane_add(&lane->put_bytes, bytes);
  /* release: a survivor that sees the count sees the records */
  atomic_store_explicit(
      &lane->puts,
      atomic_load_explicit(&lane->put_base, memory_order_relaxed) + count,
      memory_order_release);
}

static int too_big(shm_queue *q, size_t len) {
  uint64_t max = q->geo.capacity / 2;
  return sage_plugin_fail(
      -EMSGSIZE,
      "message of %zu bytes can never fit in queue '%s': the "
      "largest is %llu bytes (half its %llu-byte capacity)",
      len, q->name, (unsigned long long)max,
      (unsigned long long)q->geo.capacity);
}

/* Ends a put-side operation: counts a timeout, releases the lane if held
 * and wakes readers for `published` records not yet announced (which only
 * a successful operation, holding its lane, has). One fence serves the
 * lane release and the readers' wake-up check (one locked instruction per
 * put instead of two). */
static int end_put(shm_queue *q, int lane, int rc, uint32_t published,
                   int mode) {
  if (published == 0)
    return shm_lane_finish(q, lane, rc, mode);
  shm_lane_release_unfenced(q, lane);
  atomic_thread_fence(memory_order_seq_cst);
  shm_wake_readers_fenced(q);
  shm_lane_wake_waiters(q);
  return rc;
}

/* Writes every record of a reservation: payloads and slot metadata in one
 * pass (one placement per record). Returns the payload bytes. Geometry is
 * copied to locals: the stores below could alias it. */
static uint64_t write_records(shm_queue *q, const struct shm_reservation *r,
                              const struct sage_msg *msgs) {
  const struct shm_geometry geo = q->geo;
  const uint32_t slot_mask = geo.slot_count - 1, owner = (uint32_t)q->index;
  unsigned char *const ring = q->ring;
  struct shm_slot *const slots = q->slots;
  uint32_t u = shm_unit(r->from);
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < r->count; i++) {
    struct placement p =
        place(geo.cap_units, u, shm_record_units(&geo, msgs[i].len));
    struct shm_slot *s =
        shm_slot_at(slots, (r->ticket + i) & slot_mask, geo.slot_shift);
    if (msgs[i].len > 0)
      memcpy(record_bytes(ring, s, p), msgs[i].data, msgs[i].len);
    fill_slot(s, p, msgs[i].len, owner);
    u = p.end;
    bytes += msgs[i].len;
  }
  return bytes;
}

/* Publishes a written reservation's records in a tight loop, so a reader
 * polling a slot sees its line change about once. */
static void publish_records(shm_queue *q, const struct shm_reservation *r) {
  struct shm_slot *const slots = q->slots;
  const uint32_t slot_mask = q->geo.slot_count - 1, shift = q->geo.slot_shift;
  for (uint32_t i = 0; i < r->count; i++)
    /* release: the body and metadata written before become visible */
    atomic_store_explicit(
        &shm_slot_at(slots, (r->ticket + i) & slot_mask, shift)->ctl,
        shm_ctl(r->ticket + i, SLOT_READY), memory_order_release);
}

/* Un-counts what survivors gave up: the lane counts `kept` of its
 * reservation, and `bytes` fewer bytes. */
static void uncount_puts(struct shm_lane *lane, uint32_t kept, uint64_t bytes) {
  atomic_store_explicit(
      &lane->put_bytes,
      atomic_load_explicit(&lane->put_bytes, memory_order_relaxed) - bytes,
      memory_order_relaxed);
  atomic_store_explicit(
      &lane->puts,
      atomic_load_explicit(&lane->put_base, memory_order_relaxed) + kept,
      memory_order_release);
}

/* The same where survivors may have given records up (stall_timeout):
 * after the first given up, gives up the rest too (survivors do the same,
 * recover.c), so what is delivered is a prefix: *lead records. Returns 0
 * or -ECANCELED. */
static int publish_checked(shm_queue *q, const struct shm_reservation *r,
                           const struct sage_msg *msgs, struct shm_lane *lane,
                           uint32_t *lead) {
  *lead = r->count;
  uint64_t lost_bytes = 0;
  for (uint32_t i = 0; i < r->count; i++) {
    if (*lead == r->count && publish(q, r->ticket + i, SLOT_READY))
      continue;
    if (*lead == r->count)
      *lead = i;
    else
      publish(q, r->ticket + i, SLOT_DEAD);
    lost_bytes += msgs[i].len;
  }
  if (*lead == r->count)
    return 0;
  uncount_puts(lane, *lead, lost_bytes);
  return given_up(q, r->count - *lead, r->count);
}

static int put_msgs(shm_queue *q, const struct sage_msg *msgs, size_t count,
                    size_t *done, int64_t timeout_ns) {
  int rc = shm_ready(q);
  if (rc != 0)
    return rc;
  for (size_t i = 0; i < count; i++)
    if (msgs[i].len > q->geo.capacity / 2)
      return too_big(q, msgs[i].len);
  int mode = shm_wait_mode(timeout_ns);
  struct shm_call_wait cw = {mode, 0, 0};
  int64_t deadline = shm_deadline(SAGE_WAIT_NS(timeout_ns));
  int lane = shm_lane_acquire(q, deadline);
  if (lane < 0)
    return shm_lane_finish(q, -1, lane, mode);
  uint32_t unannounced = 0;
  while (*done < count && rc == 0) {
    if (unannounced > 0) { /* before we may wait for space they free */
      shm_wake_readers(q);
      unannounced = 0;
    }
    struct shm_reservation r;
    rc = reserve(q, &lane, msgs + *done, count - *done, deadline, &cw, &r);
    if (rc != 0)
      break;
    struct shm_lane *shared = shm_lane_shared(q, lane);
    uint64_t bytes = write_records(q, &r, msgs + *done);
    SHM_STEP("put:written");
    count_puts(shared, r.count, bytes);
    SHM_STEP("put:counted");
    uint32_t lead = r.count;
    if (q->geo.stall_timeout_ns == 0)
      publish_records(q, &r);
    else
      rc = publish_checked(q, &r, msgs + *done, shared, &lead);
    SHM_STEP("put:published");
    clear_put_intent(shared);
    SHM_STEP("put:cleared");
    if (rc != 0) /* head may pass our given-up records now */
      shm_advance_head(q);
    *done += lead;
    unannounced = r.count;
  }
  return end_put(q, lane, rc, unannounced, mode);
}

int shm_put(shm_queue *q, const void *data, size_t len, int64_t timeout_ns) {
  struct sage_msg msg = {data, len};
  size_t done = 0;
  return put_msgs(q, &msg, 1, &done, timeout_ns);
}

int shm_put_batch(shm_queue *q, const struct sage_msg *msgs, size_t count,
                  size_t *done, int64_t timeout_ns) {
  *done = 0;
  return put_msgs(q, msgs, count, done, timeout_ns);
}

/* ---- zero copy: the lane stays held from reserve to commit/cancel ---- */

#define TOKEN(lane, ticket) ((uint64_t)(lane) << 32 | (ticket))

int shm_reserve(shm_queue *q, size_t len, void **ptr, uint64_t *token,
                int64_t timeout_ns) {
  int rc = shm_ready(q);
  if (rc != 0)
    return rc;
  if (len > q->geo.capacity / 2)
    return too_big(q, len);
  int mode = shm_wait_mode(timeout_ns);
  struct shm_call_wait cw = {mode, 0, 0};
  int64_t deadline = shm_deadline(SAGE_WAIT_NS(timeout_ns));
  int lane = shm_lane_acquire(q, deadline);
  if (lane < 0)
    return shm_lane_finish(q, -1, lane, mode);
  struct sage_msg msg = {NULL, len};
  struct shm_reservation r;
  rc = reserve(q, &lane, &msg, 1, deadline, &cw, &r);
  if (rc != 0)
    return end_put(q, lane, rc, 0, mode);
  struct placement p =
      place(q->geo.cap_units, shm_unit(r.from), shm_record_units(&q->geo, len));
  struct shm_slot *s = shm_slot_of(q, r.ticket);
  fill_slot(s, p, len, (uint32_t)q->index);
  *ptr = record_bytes(q->ring, s, p);
  SHM_STEP("reserve:reserved");
  q->local[lane].pending =
      (struct shm_pending){1, r.ticket, p.end, (uint32_t)len};
  *token = TOKEN(lane, r.ticket);
  return 0;
}

static int finish_reservation(shm_queue *q, uint64_t token,
                              enum shm_slot_state st) {
  uint32_t lane = (uint32_t)(token >> 32), ticket = (uint32_t)token;
  int rc = shm_ready(q); /* a fork child forgets its parent's reservations */
  if (rc != 0)
    return rc;
  if (lane >= SHM_LANES || q->local[lane].pending.kind != 1 ||
      q->local[lane].pending.ticket != ticket)
    return sage_plugin_fail(-EINVAL,
                            "queue '%s': no such reservation (token %llx)",
                            q->name, (unsigned long long)token);
  struct shm_lane *shared = shm_lane_shared(q, (int)lane);
  uint32_t len = q->local[lane].pending.len;
  q->local[lane].pending.kind = 0;
  if (st == SLOT_READY) {
    count_puts(shared, 1, len);
    SHM_STEP("commit:counted");
  }
  if (!publish(q, ticket, st) && st == SLOT_READY) {
    uncount_puts(shared, 0, len);
    rc = given_up(q, 1, 1);
  }
  SHM_STEP(st == SLOT_READY ? "commit:published" : "cancel:published");
  clear_put_intent(shared);
  if (rc != 0)
    shm_advance_head(q);
  return end_put(q, (int)lane, rc, 1, 0); /* a SKIP wakes its waiter too */
}

int shm_commit(shm_queue *q, uint64_t token) {
  return finish_reservation(q, token, SLOT_READY);
}

int shm_cancel(shm_queue *q, uint64_t token) {
  return finish_reservation(q, token, SLOT_SKIP);
}
