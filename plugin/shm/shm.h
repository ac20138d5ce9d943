/* Internal declarations of the shm transport. */
#ifndef SAGE_SHM_H
#define SAGE_SHM_H

#include <sage/transport.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "handles.h"
#include "host.h"
#include "layout.h"

#define SHM_NAME_PREFIX "sageq-" /* /dev/shm/sageq-<uid>-<name> */
#define SHM_DIR "/dev/shm"
#define SHM_PATH_MAX 256

/* Validated geometry copied out of a header; never re-read from shm. */
struct shm_geometry {
  uint64_t capacity, total_size, slots_off, attach_off, ring_off;
  uint32_t cap_units, slot_count, item_bound, attach_max, max_items;
  uint32_t slot_shift;      /* log2 of the slot size */
  uint32_t inline_max;      /* payloads up to this size live in their slot */
  int64_t stall_timeout_ns; /* 0: live owners are never taken over */
};

/* One in-flight zero-copy operation held by a lane between calls. */
struct shm_pending {
  int kind; /* 0 none, 1 reservation (put), 2 claim (get) */
  uint32_t ticket, end, len;
};

/* How long this handle has seen the queue stuck at one position (a ticket
 * not published, or head not moving): recovery runs when that is long
 * enough, across calls, so pollers and short timeouts recover too. */
struct shm_watch {
  _Atomic uint64_t key;
  _Atomic int64_t since, next; /* first seen; next recovery check */
};

struct shm_lane_local {
  _Atomic uint32_t busy; /* held by one thread of this process */
  struct shm_pending pending;
  uint64_t cached_head;      /* last head this lane saw (never ahead) */
  uint32_t head_refresh_due; /* reservations until a forced refresh */
};

struct sage_transport_queue {
  struct shm_header *hdr; /* mapping base */
  struct shm_slot *slots;
  struct shm_attach *attach;
  unsigned char *ring;
  struct shm_geometry geo;
  size_t map_size;
  int fd;
  int index;          /* my attachment index, -1 when observing only */
  int observe;        /* mapped read-only, not attached */
  _Atomic int forked; /* set in a fork child: re-attach before use */
  uint64_t segment_id;
  int64_t spin_ns, spin_max_ns; /* adaptive spin bounds (wait.c) */
  _Atomic int64_t spin_data_ns, spin_space_ns; /* current spin budgets */
  struct shm_watch data_watch, space_watch;
  _Atomic uint32_t empty_polls; /* non-blocking gets that found nothing */
  char name[SHM_PATH_MAX];      /* queue name as the user gave it */
  char shm_name[SHM_PATH_MAX];  /* "/sageq-<uid>-<name>" */
  struct shm_lane_local local[SHM_LANES];
  _Atomic uint32_t lane_event; /* process-private futex for lane waits */
  _Atomic uint32_t lane_waiters;
  struct sage_handle_link link; /* in the plugin's open-handle list */
};
typedef struct sage_transport_queue shm_queue;

/* Open-time options (transport.c parses them). */
struct shm_options {
  uint64_t capacity, max_items, mode, create, auto_cleanup, attach_max;
  uint64_t slots, slot_size, spin_ns, spin_max_ns, attach, allow_foreign;
  uint64_t stall_timeout_ns;
  uint64_t first_ticket, first_unit; /* create: starting positions */
  uint64_t uid; /* owner whose namespace to open; default: geteuid() */
  int admin;    /* internal: observe read-write (to unlink by name) */
};

/* Conditions for removing a queue by name, checked under the lifecycle
 * lock so no process can attach in between. */
enum shm_unlink_when {
  UNLINK_ALWAYS = 0,
  UNLINK_UNLESS_ATTACHED = 1, /* -EBUSY if a live process is attached */
  UNLINK_ONLY_IF_STALE = 2,   /* -EBUSY unless every attachment is dead */
};
#define SHM_UID_SELF UINT64_MAX
enum { CREATE_AUTO = 0, CREATE_ALWAYS = 1, CREATE_NEVER = 2 };

/* The files below call only files listed above them (transport.c, the
 * ops table, calls them all). */

/* Helpers shared by the ring files. */
static inline struct shm_slot *shm_slot_at(struct shm_slot *slots,
                                           uint32_t index, uint32_t shift) {
  return (struct shm_slot *)((char *)slots + ((size_t)index << shift));
}
static inline struct shm_slot *shm_slot_of(shm_queue *q, uint32_t ticket) {
  return shm_slot_at(q->slots, ticket & (q->geo.slot_count - 1),
                     q->geo.slot_shift);
}
static inline uint32_t shm_units(size_t len) {
  return (uint32_t)((len + SHM_UNIT - 1) / SHM_UNIT);
}
/* Ring units a put of len bytes takes: none for a small payload, which
 * goes in its slot (layout.h). */
static inline uint32_t shm_record_units(const struct shm_geometry *geo,
                                        size_t len) {
  return len <= geo->inline_max ? 0 : shm_units(len);
}
/* Adds to a counter that only the current lane holder writes: a plain
 * read-modify-write suffices. */
static inline void shm_lane_add(_Atomic uint64_t *counter, uint64_t n) {
  atomic_store_explicit(counter,
                        atomic_load_explicit(counter, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

/* ---- wait.c: futexes, deadlines, spinning ---- */
int64_t shm_now_ns(void);
int64_t shm_deadline(int64_t timeout_ns); /* -1: forever, 0: now */
/* Spins until done(arg), spin_ns after `started` or the deadline (-1:
 * none) passes; pause first, then yield so an oversubscribed peer can
 * run. Returns 1 if done. */
int shm_spin(int64_t started, int64_t spin_ns, int64_t deadline_ns,
             int (*done)(void *arg), void *arg);
struct shm_call_wait; /* lanes.c section below */
/* Adaptive spinning: how long a wait on side w spins before it sleeps;
 * and what a sleep of call cw that returned rc teaches the budget, `met`
 * saying whether what it waited for has happened. Only a call that sleeps
 * and then finds its condition met has waited a known, short time: one
 * whose sleep slice ran out, that timed out, or that resumes a longer
 * wait begun in an earlier call (a slice of it) counts as a long wait. An
 * interrupted sleep teaches nothing. */
int64_t shm_spin_budget(shm_queue *q, enum shm_wait w);
void shm_spin_learn(shm_queue *q, enum shm_wait w,
                    const struct shm_call_wait *cw, int rc, int met);
/* The rule itself (pure): the next budget after a wait that slept. */
int64_t shm_spin_next(int64_t budget, int64_t base, int64_t max,
                      int64_t waited_ns);
/* Sleeps while *word == expected, at most until deadline (and at most
 * cap_ns if > 0). Returns 0, -ETIMEDOUT (deadline passed) or -EINTR. */
int shm_futex_wait(_Atomic uint32_t *word, uint32_t expected, int shared,
                   int64_t deadline_ns, int64_t cap_ns);
void shm_futex_wake(_Atomic uint32_t *word, int shared, int count);
void shm_cpu_relax(void);

/* ---- validate.c: header checks, layout, section views ---- */
/* Checks a header against the mapped size; fills *geo. Pure: the fuzzer
 * calls it on arbitrary bytes. */
int shm_header_validate(const struct shm_header *h, uint64_t mapped_size,
                        struct shm_geometry *geo, char *why, size_t cap);
uint64_t shm_layout_size(uint64_t capacity, uint32_t slots, uint32_t slot_size,
                         uint32_t attach, struct shm_geometry *geo);
/* Points q's section views into the mapping at `base`, per the validated
 * q->geo (also what the segment fuzzer uses to build a queue). */
void shm_segment_views(shm_queue *q, void *base);

/* ---- liveness.c: OFD locks, lifecycle lock, census ---- */
int shm_ofd_lock(int fd, short type, int64_t at, int wait);
int shm_lifecycle_lock(shm_queue *q);
void shm_lifecycle_unlock(shm_queue *q);
/* 1 if attachment i's process is alive (or is this handle), else 0. */
int shm_attach_alive(shm_queue *q, uint32_t i);
/* Counts live and dead ACTIVE attachments; writes up to cap live pids. */
void shm_attach_census(shm_queue *q, uint32_t *live, uint32_t *dead,
                       int32_t *pids, size_t cap);
enum shm_side { SHM_PUT_SIDE, SHM_GET_SIDE };
/* Whether a lane's intent on `side` covers ticket t (read with acquire);
 * *count gets the intent's ticket count. */
int shm_intent_covers(struct shm_lane *lane, enum shm_side side, uint32_t t,
                      uint32_t *count);
/* Whether a lane marked its intent won (its CAS took the tickets). */
int shm_intent_won(struct shm_lane *lane, enum shm_side side);
/* 1 if ticket t's taker on `side` is alive: the lane whose covering intent
 * is marked won, else (its taker died before marking) any live lane whose
 * intent covers t, since that one may be it. A live party that merely set
 * an intent and lost its CAS therefore never blocks recovery once the
 * taker's mark is there. */
int shm_live_intent(shm_queue *q, enum shm_side side, uint32_t t);

/* ---- lanes.c: per-thread lanes of this handle, sleepers ---- */
int shm_lane_acquire(shm_queue *q, int64_t deadline_ns);
static inline struct shm_lane_local *shm_lane_local(shm_queue *q, int lane) {
  return &q->local[lane];
}
void shm_lane_release(shm_queue *q, int lane);
/* The same in two halves, for a caller that needs a seq_cst fence after the
 * release anyway: release the lane, fence, then wake its waiters. */
void shm_lane_release_unfenced(shm_queue *q, int lane);
void shm_lane_wake_waiters(shm_queue *q);
struct shm_lane *shm_lane_shared(shm_queue *q, int lane);
/* Counts the caller as a sleeper on data (get) or space (put): the shared
 * waiter count that wakers check, and this attachment's share of it, raised
 * in that order and lowered in the reverse, so what a dead process leaves
 * in its attachment is always a raise nobody will lower (attach.c). */
void shm_sleeper_enter(shm_queue *q, enum shm_wait w);
void shm_sleeper_leave(shm_queue *q, enum shm_wait w);
/* Sleeps on a shared futex word (shm_futex_wait) without holding the
 * lane, so threads asleep in get or put never keep this handle's other
 * threads from the lanes they need to put or get. On return *lane is held
 * again (maybe another one), or is -1 and the result is an error. */
int shm_lane_sleep(shm_queue *q, int *lane, _Atomic uint32_t *word,
                   uint32_t expected, int64_t deadline_ns, int64_t cap_ns);
/* How a call waits, from its timeout_ns (SAGE_WAIT_* in transport.h):
 * NONBLOCK for 0; RESUMED: not counted as blocked again; SLICE: expiring
 * is not a timeout. Callers then wait SAGE_WAIT_NS(timeout_ns). */
enum { SHM_NONBLOCK = 1, SHM_RESUMED = 2, SHM_SLICE = 4 };
static inline int shm_wait_mode(int64_t timeout_ns) {
  if (SAGE_WAIT_NS(timeout_ns) == 0)
    return SHM_NONBLOCK;
  if (timeout_ns < 0)
    return 0;
  return (timeout_ns & SAGE_WAIT_RESUMED ? SHM_RESUMED : 0) |
         (timeout_ns & SAGE_WAIT_SLICE ? SHM_SLICE : 0);
}
/* One call's waiting, across every wait it makes (a get that meets a
 * cancelled record and waits again, a batch put that reserves in pieces):
 * it counts as one blocked call, and the adaptive spin learns how long it
 * waited from its first wait. */
struct shm_call_wait {
  int mode;      /* the call's shm_wait_mode */
  int blocked;   /* counted in blocked_gets / blocked_puts already */
  int64_t since; /* when its first wait began; 0 before that */
};
/* Whether this wait is the call's first (count it as blocked, unless the
 * call resumes a longer wait that counted it). */
static inline int shm_call_blocks(struct shm_call_wait *cw) {
  return !cw->blocked++ && !(cw->mode & SHM_RESUMED);
}
/* Ends an operation: counts a timeout (unless `mode` is a SLICE) and
 * releases the lane if held. */
int shm_lane_finish(shm_queue *q, int lane, int rc, int mode);

/* ---- ring.c: head, release, wake-ups, positions ---- */
/* Counts tickets [t, j) passed by head in a (count, marker) tally; reads
 * the tail after the tally word, so a marker counted meanwhile is never
 * beyond it. */
void shm_tally(_Atomic uint64_t *tally, uint32_t t, uint32_t j,
               _Atomic uint64_t *tail_word);
static inline uint64_t shm_tally_count(uint64_t tally) {
  return tally >> 32;
}
/* Moves head past released records (DONE, LOST, claimed DEAD). */
void shm_advance_head(shm_queue *q);
/* Releases tickets [t, t_end) whose last record ends at `end` (unknown if
 * any_dead: one of them is DEAD). */
void shm_release_range(shm_queue *q, uint32_t t, uint32_t t_end, uint32_t end,
                       int any_dead);
/* Wake-ups after publishing (readers: all of them; the caller fenced, or
 * not) and after freeing space (writers). */
void shm_wake_readers_fenced(shm_queue *q);
void shm_wake_readers(shm_queue *q);
void shm_wake_writers(shm_queue *q);
void shm_wake_all(_Atomic uint32_t *event);
/* Items between read and tail, bytes between head and tail. */
int shm_depth(shm_queue *q, uint64_t *items, uint64_t *bytes);

/* ---- recover.c: stalls caused by dead (or stalled) owners ---- */
/* How long a waiter stuck for `waited` ns sleeps before it checks whether
 * the owner of the record it waits on died: 10 ms, growing to this. */
#define SHM_STALL_MAX_NS 200000000ll
int64_t shm_stall_ns(int64_t waited);
/* 1 if the queue has looked stuck at `key` long enough for this handle to
 * check for a dead owner now (it then schedules the next check). */
int shm_watch_due(struct shm_watch *w, uint64_t key, int64_t now);
/* How long `key` has been watched (0 if another key is). */
int64_t shm_watch_waited(struct shm_watch *w, uint64_t key, int64_t now);
/* Resolves reserved ticket t if its owner died (or, with take_over_live,
 * whoever owns it): READY if the owner finished writing it, else DEAD.
 * Returns 1 if this call resolved it. */
int shm_resolve_ticket(shm_queue *q, uint32_t t, int take_over_live);
int shm_recover_producer(shm_queue *q, uint32_t t);
/* Resolves the head record if its consumer died holding it, or its
 * producer died. Returns 1 if anything changed. */
int shm_recover_head(shm_queue *q);

/* ---- attach.c: the attachment table, readiness ---- */
/* Takes a free or dead entry. -ESTALE if the queue's name was removed
 * (unless allow_unlinked), -EUSERS if every entry is held. */
int shm_attach_register(shm_queue *q, int allow_unlinked);
void shm_attach_release(shm_queue *q);
/* 0 if q may move messages: re-attaches first in a fork child; -EPERM for
 * an observe-only handle. */
int shm_ready(shm_queue *q);

/* ---- segment.c: create, open, map, unlink ---- */
/* The segment name of queue `name` of user `uid`: "/sageq-<uid>-<name>". */
int shm_segment_name(const char *name, uint32_t uid, char *out, size_t cap);
int shm_segment_open(shm_queue *q, const char *name,
                     const struct shm_options *opts);
void shm_segment_unmap(shm_queue *q);
int shm_segment_unlink(shm_queue *q, enum shm_unlink_when when);
/* Fails with a message naming what could not be done to queue `name`. */
int shm_open_fail(const char *what, const char *name, int err);

/* ---- names.c: removal by name, listing ---- */
int shm_segment_unlink_name(const char *name, const struct shm_options *o,
                            int force, enum shm_unlink_when when);
int shm_segment_list(int all_users, sage_list_cb cb, void *ctx);

/* ---- stats.c: every counter and the stats op ---- */
void shm_note_high_water(shm_queue *q, uint32_t end_unit, uint64_t H);
uint64_t shm_total_puts(shm_queue *q);
/* Messages put and neither finished nor lost with a dead consumer. */
uint64_t shm_unfinished(shm_queue *q);
int shm_stats(shm_queue *q, struct sage_stats *st);

/* ---- ring_put.c, ring_get.c: the two sides ---- */
struct shm_reservation {
  uint32_t ticket, count; /* tickets [ticket, ticket+count) */
  uint64_t from, to;      /* tail before/after */
};
int shm_put(shm_queue *q, const void *data, size_t len, int64_t timeout_ns);
int shm_put_batch(shm_queue *q, const struct sage_msg *msgs, size_t count,
                  size_t *done, int64_t timeout_ns);
int shm_reserve(shm_queue *q, size_t len, void **ptr, uint64_t *token,
                int64_t timeout_ns);
int shm_commit(shm_queue *q, uint64_t token);
int shm_cancel(shm_queue *q, uint64_t token);
int shm_get(shm_queue *q, void *buf, size_t cap, size_t *len,
            int64_t timeout_ns);
int shm_get_batch(shm_queue *q, void *buf, size_t cap, size_t *lens, size_t max,
                  size_t *count, int64_t timeout_ns);
int shm_peek(shm_queue *q, const void **ptr, size_t *len, uint64_t *token,
             int64_t timeout_ns);
int shm_release(shm_queue *q, uint64_t token);

/* ---- tasks.c: task_done and join ---- */
int shm_task_done(shm_queue *q, uint64_t count);
int shm_join(shm_queue *q, int64_t timeout_ns);

#endif /* SAGE_SHM_H */
