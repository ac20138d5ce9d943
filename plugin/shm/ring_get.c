/* The consumer side: claim -> read -> release.
 *
 * A consumer claims the next published ticket(s) with one CAS on `read`,
 * after recording the claimed range in its lane. It copies the payload, then
 * releases: if its record is the oldest (head), it moves head itself with
 * one CAS; otherwise it marks the slot DONE and whoever owns the oldest
 * record moves head over it later. Head is what producers measure free
 * space against, so out-of-order completion never frees bytes early. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "shm.h"
#include "steps.h"

/* Claimable: a message, or a record without one (SKIP, DEAD). */
static int published(uint64_t ctl, uint32_t ticket) {
  uint32_t st = shm_ctl_state(ctl);
  return shm_ctl_ticket(ctl) == ticket &&
         (st == SLOT_READY || st == SLOT_SKIP || st == SLOT_DEAD);
}

static void clear_get_intent(struct shm_lane *lane) {
  atomic_store_explicit(
      &lane->get_to,
      atomic_load_explicit(&lane->get_from, memory_order_relaxed),
      memory_order_release);
}

struct ticket_watch {
  shm_queue *q;
  uint32_t r;
};

static int ticket_ready(void *arg) {
  struct ticket_watch *w = arg;
  struct shm_header *h = w->q->hdr;
  return published(atomic_load_explicit(&shm_slot_of(w->q, w->r)->ctl,
                                        memory_order_acquire),
                   w->r) ||
         atomic_load_explicit(&h->read, memory_order_relaxed) != w->r;
}

/* Resolves ticket r if this handle has seen it stuck long enough and its
 * owner died (or stalled past stall_timeout). Returns 1 if resolved. */
static int resolve_stuck(shm_queue *q, uint32_t r, int64_t now) {
  if (!shm_watch_due(&q->data_watch, r, now))
    return 0;
  int take_over =
      q->geo.stall_timeout_ns > 0 &&
      shm_watch_waited(&q->data_watch, r, now) >= q->geo.stall_timeout_ns;
  return shm_resolve_ticket(q, r, take_over);
}

/* Waits for ticket r to be published (or claimed by another consumer). The
 * lane is given up while asleep: see shm_lane_sleep. */
static int wait_for_ticket(shm_queue *q, int *lane, uint32_t r,
                           int64_t deadline, struct shm_call_wait *cw) {
  struct shm_header *h = q->hdr;
  struct shm_slot *s = shm_slot_of(q, r);
  struct ticket_watch w = {q, r};
  int64_t started = shm_now_ns();
  if (cw->since == 0)
    cw->since = started;
  if (shm_spin(started, shm_spin_budget(q, WAIT_DATA), deadline, ticket_ready,
               &w))
    return 0;
  int in_flight =
      shm_ticket(atomic_load_explicit(&h->tail, memory_order_acquire)) != r;
  /* Even on an empty queue, wake now and then: a producer that reserves
   * and then dies or stalls wakes nobody, and this sleeper must find out. */
  int64_t stall = SHM_STALL_MAX_NS;
  if (in_flight) {
    int64_t now = shm_now_ns();
    if (resolve_stuck(q, r, now))
      return 0;
    stall = shm_stall_ns(shm_watch_waited(&q->data_watch, r, now));
  }
  shm_sleeper_enter(q, WAIT_DATA); /* seq_cst: pairs with publish */
  uint32_t ev = atomic_load(&h->data_event);
  int rc = 0;
  if (!published(atomic_load(&s->ctl), r) && atomic_load(&h->read) == r) {
    rc = shm_lane_sleep(q, lane, &h->data_event, ev, deadline, stall);
    shm_spin_learn(q, WAIT_DATA, cw, rc, ticket_ready(&w));
  }
  shm_sleeper_leave(q, WAIT_DATA);
  return rc;
}

/* A claimed run of records [ticket, ticket + count). */
struct claim {
  uint32_t ticket, count;
};

/* How many published records from r fit in cap bytes (SKIPs are free).
 * Sets *first_len to the first READY record's size. */
static uint32_t claimable(shm_queue *q, uint32_t r, size_t cap, size_t max,
                          size_t *first_len) {
  struct shm_slot *const slots = q->slots;
  const uint32_t slot_mask = q->geo.slot_count - 1, shift = q->geo.slot_shift;
  size_t used = 0;
  uint32_t k = 0;
  *first_len = 0;
  while (k < max) {
    struct shm_slot *s = shm_slot_at(slots, (r + k) & slot_mask, shift);
    uint64_t ctl = atomic_load_explicit(&s->ctl, memory_order_acquire);
    if (!published(ctl, r + k))
      break;
    if (shm_ctl_state(ctl) == SLOT_READY) {
      size_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
      if (used == 0 && *first_len == 0)
        *first_len = len;
      if (used + len > cap)
        break;
      used += len;
    }
    k++;
  }
  return k;
}

/* Claims up to `max` ready records fitting in `cap`, waiting as needed.
 * -EMSGSIZE (with *first_len) if the first one does not fit. Waiting may
 * change *lane (see shm_lane_sleep). */
static int claim(shm_queue *q, int *lane_index, size_t cap, size_t max,
                 int64_t deadline, struct shm_call_wait *cw, struct claim *c,
                 size_t *first_len) {
  struct shm_header *h = q->hdr;
  for (;;) {
    struct shm_lane *lane = shm_lane_shared(q, *lane_index);
    uint32_t r = atomic_load_explicit(&h->read, memory_order_acquire);
    uint32_t k = claimable(q, r, cap, max, first_len);
    if (k > 0) {
      atomic_store_explicit(&lane->get_from, r, memory_order_relaxed);
      atomic_store_explicit(&lane->get_to, r + k, memory_order_relaxed);
      /* acq_rel: publishes our intent; acquires the slots we now own */
      SHM_STEP("get:intent");
      if (atomic_compare_exchange_weak_explicit(&h->read, &r, r + k,
                                                memory_order_acq_rel,
                                                memory_order_relaxed)) {
        atomic_store_explicit(&lane->get_won, r, memory_order_release);
        *c = (struct claim){r, k};
        SHM_STEP("get:claimed");
        return 0;
      }
      clear_get_intent(lane); /* never sleep with a stale intent */
      continue;
    }
    if (*first_len > cap)
      return -EMSGSIZE;
    if (cw->mode & SHM_NONBLOCK)
      return -EAGAIN;
    if (shm_call_blocks(cw))
      shm_lane_add(&lane->blocked_gets, 1);
    int rc = wait_for_ticket(q, lane_index, r, deadline, cw);
    if (rc != 0)
      return rc;
  }
}

/* Where a claimed record's payload is, bounds-checked: a corrupt slot must
 * not make us read outside the ring or the slot. NULL if it would. A small
 * record (end == from) is in the slot's body (layout.h). */
static inline const unsigned char *
record_payload(const struct shm_geometry *geo, const unsigned char *ring,
               struct shm_slot *s, size_t len) {
  if (len > geo->capacity / 2)
    return NULL;
  if (atomic_load_explicit(&s->end, memory_order_relaxed) ==
      atomic_load_explicit(&s->from, memory_order_relaxed))
    return len <= geo->inline_max ? s->body : NULL;
  uint64_t start = atomic_load_explicit(&s->start, memory_order_relaxed);
  if (start >= geo->cap_units || start * SHM_UNIT + len > geo->capacity)
    return NULL;
  return ring + start * SHM_UNIT;
}

/* Bounds-checks a claimed slot. Returns the payload or NULL. */
static const void *payload(shm_queue *q, uint32_t ticket, size_t *len) {
  struct shm_slot *s = shm_slot_of(q, ticket);
  *len = atomic_load_explicit(&s->len, memory_order_relaxed);
  return record_payload(&q->geo, q->ring, s, *len);
}

static int is_ready(shm_queue *q, uint32_t ticket) {
  return shm_ctl_state(atomic_load_explicit(
             &shm_slot_of(q, ticket)->ctl, memory_order_relaxed)) == SLOT_READY;
}

static uint32_t end_of(shm_queue *q, uint32_t ticket) {
  return atomic_load_explicit(&shm_slot_of(q, ticket)->end,
                              memory_order_relaxed);
}

static int corrupt(shm_queue *q, uint32_t ticket) {
  return sage_plugin_fail(
      -EBADMSG,
      "queue '%s' is corrupt: record %u points outside the ring or its slot",
      q->name, ticket);
}

/* Copies the READY records of a claim into buf (cap bytes), back to back.
 * claimable() sized the claim, but the slots are shared memory: a record
 * whose bounds or length changed since is corrupt, and must not make us
 * read outside the ring or overrun buf. */
static int copy_out(shm_queue *q, const struct claim *c, void *buf, size_t cap,
                    size_t *lens, size_t *count, uint64_t *bytes,
                    int *any_dead) {
  struct shm_slot *const slots = q->slots;
  const unsigned char *const ring = q->ring;
  const struct shm_geometry geo = q->geo; /* our stores could alias q */
  const uint32_t slot_mask = geo.slot_count - 1;
  size_t off = 0, n = 0;
  int rc = 0;
  *any_dead = 0;
  for (uint32_t i = 0; i < c->count; i++) {
    struct shm_slot *s =
        shm_slot_at(slots, (c->ticket + i) & slot_mask, geo.slot_shift);
    uint32_t st =
        shm_ctl_state(atomic_load_explicit(&s->ctl, memory_order_relaxed));
    if (st != SLOT_READY) {
      *any_dead |= st == SLOT_DEAD;
      continue;
    }
    size_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
    const unsigned char *from = record_payload(&geo, ring, s, len);
    if (from == NULL) {
      rc = corrupt(q, c->ticket + i);
      break;
    }
    if (len > cap - off) {
      rc = sage_plugin_fail(-EBADMSG,
                            "queue '%s' is corrupt: record %u changed size "
                            "while it was read",
                            q->name, c->ticket + i);
      break;
    }
    if (len > 0)
      memcpy((char *)buf + off, from, len);
    lens[n++] = len;
    off += len;
  }
  *count = n;
  *bytes = off;
  return rc;
}

#define POLL_CHECK 1024 /* empty polls per check for a stuck ticket */

/* True if a non-blocking get finds nothing to claim, so it can return
 * -EAGAIN without taking a lane (a record published just after this check
 * is not seen, exactly as if the get had come first). A ticket in flight
 * that this handle has seen stuck long enough is resolved first. */
static int poll_empty(shm_queue *q) {
  struct shm_header *h = q->hdr;
  uint32_t r = atomic_load_explicit(&h->read, memory_order_acquire);
  if (published(
          atomic_load_explicit(&shm_slot_of(q, r)->ctl, memory_order_acquire),
          r))
    return 0;
  /* Only every POLL_CHECK-th empty poll looks at the tail (the producers'
   * line: reading it on every poll slows their next CAS) and the clock. */
  uint32_t polls = atomic_load_explicit(&q->empty_polls, memory_order_relaxed);
  atomic_store_explicit(&q->empty_polls, polls + 1, memory_order_relaxed);
  if (polls % POLL_CHECK != 0)
    return 1;
  if (shm_ticket(atomic_load_explicit(&h->tail, memory_order_acquire)) == r)
    return 1;
  return !resolve_stuck(q, r, shm_now_ns());
}

/* Whether any record of a claim is DEAD (release takes the slow path). */
static int claim_has_dead(shm_queue *q, const struct claim *c) {
  for (uint32_t i = 0; i < c->count; i++)
    if (atomic_load_explicit(&shm_slot_of(q, c->ticket + i)->ctl,
                             memory_order_relaxed) ==
        shm_ctl(c->ticket + i, SLOT_DEAD))
      return 1;
  return 0;
}

static int get_msgs(shm_queue *q, void *buf, size_t cap, size_t *lens,
                    size_t max, size_t *count, int64_t timeout_ns) {
  int rc = shm_ready(q);
  *count = 0;
  if (rc != 0)
    return rc;
  int mode = shm_wait_mode(timeout_ns);
  struct shm_call_wait cw = {mode, 0, 0};
  timeout_ns = SAGE_WAIT_NS(timeout_ns);
  if (timeout_ns == 0 && poll_empty(q))
    return -EAGAIN;
  int64_t deadline = shm_deadline(timeout_ns);
  int lane = shm_lane_acquire(q, deadline);
  if (lane < 0)
    return shm_lane_finish(q, -1, lane, mode);
  while (*count == 0 && rc == 0) { /* a run of only SKIPs yields nothing */
    struct claim c;
    size_t first_len;
    rc = claim(q, &lane, cap, max, deadline, &cw, &c, &first_len);
    if (rc == -EMSGSIZE) {
      lens[0] = first_len;
      sage_plugin_fail(rc,
                       "the next message in queue '%s' is %zu bytes, more "
                       "than the %zu-byte buffer (it stays queued)",
                       q->name, first_len, cap);
    }
    if (rc != 0)
      break;
    struct shm_lane *shared = shm_lane_shared(q, lane);
    uint64_t bytes;
    int any_dead;
    rc = copy_out(q, &c, buf, cap, lens, count, &bytes, &any_dead);
    if (rc != 0) /* stopped early: it may not have seen every record */
      any_dead = claim_has_dead(q, &c);
    SHM_STEP("get:copied");
    shm_release_range(q, c.ticket, c.ticket + c.count,
                      end_of(q, c.ticket + c.count - 1), any_dead);
    SHM_STEP("get:released");
    shm_lane_add(&shared->gets, *count);
    shm_lane_add(&shared->get_bytes, bytes);
    clear_get_intent(shared);
    SHM_STEP("get:counted");
  }
  return shm_lane_finish(q, lane, rc, mode);
}

int shm_get(shm_queue *q, void *buf, size_t cap, size_t *len,
            int64_t timeout_ns) {
  size_t count;
  return get_msgs(q, buf, cap, len, 1, &count, timeout_ns);
}

int shm_get_batch(shm_queue *q, void *buf, size_t cap, size_t *lens, size_t max,
                  size_t *count, int64_t timeout_ns) {
  if (max == 0)
    return 0;
  return get_msgs(q, buf, cap, lens, max, count, timeout_ns);
}

/* ---- zero copy: the lane stays held from peek to release ---- */

#define TOKEN(lane, ticket) ((uint64_t)(lane) << 32 | (ticket))

int shm_peek(shm_queue *q, const void **ptr, size_t *len, uint64_t *token,
             int64_t timeout_ns) {
  int rc = shm_ready(q);
  if (rc != 0)
    return rc;
  int mode = shm_wait_mode(timeout_ns);
  struct shm_call_wait cw = {mode, 0, 0};
  timeout_ns = SAGE_WAIT_NS(timeout_ns);
  if (timeout_ns == 0 && poll_empty(q))
    return -EAGAIN;
  int64_t deadline = shm_deadline(timeout_ns);
  int lane = shm_lane_acquire(q, deadline);
  if (lane < 0)
    return shm_lane_finish(q, -1, lane, mode);
  for (;;) {
    struct claim c;
    size_t first_len;
    rc = claim(q, &lane, q->geo.capacity, 1, deadline, &cw, &c, &first_len);
    if (rc != 0)
      break;
    struct shm_lane *shared = shm_lane_shared(q, lane);
    if (!is_ready(q, c.ticket)) { /* SKIP or DEAD: release it, go on */
      shm_release_range(q, c.ticket, c.ticket + 1, end_of(q, c.ticket),
                        claim_has_dead(q, &c));
      clear_get_intent(shared);
      continue;
    }
    *ptr = payload(q, c.ticket, len);
    if (*ptr == NULL) {
      shm_release_range(q, c.ticket, c.ticket + 1, end_of(q, c.ticket), 0);
      clear_get_intent(shared);
      rc = corrupt(q, c.ticket);
      break;
    }
    q->local[lane].pending =
        (struct shm_pending){2, c.ticket, end_of(q, c.ticket), (uint32_t)*len};
    *token = TOKEN(lane, c.ticket);
    SHM_STEP("peek:claimed");
    return 0;
  }
  return shm_lane_finish(q, lane, rc, mode);
}

int shm_release(shm_queue *q, uint64_t token) {
  uint32_t lane = (uint32_t)(token >> 32), ticket = (uint32_t)token;
  int rc = shm_ready(q); /* a fork child forgets its parent's peeks */
  if (rc != 0)
    return rc;
  if (lane >= SHM_LANES || q->local[lane].pending.kind != 2 ||
      q->local[lane].pending.ticket != ticket)
    return sage_plugin_fail(-EINVAL,
                            "queue '%s': no such peeked message (token %llx)",
                            q->name, (unsigned long long)token);
  struct shm_pending p = q->local[lane].pending;
  struct shm_lane *shared = shm_lane_shared(q, (int)lane);
  q->local[lane].pending.kind = 0;
  shm_release_range(q, ticket, ticket + 1, p.end, 0);
  SHM_STEP("release:released");
  shm_lane_add(&shared->gets, 1);
  shm_lane_add(&shared->get_bytes, p.len);
  clear_get_intent(shared);
  shm_lane_release(q, (int)lane);
  return 0;
}
