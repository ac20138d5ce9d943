/* Shared-memory layout of one shm queue segment. Everything here lives in
 * memory shared by mutually trusting processes of one user; attachers still
 * validate it (segment.c) and bounds-check every value they use.
 *
 *   [header][slot table][attachment table][ring bytes]
 *
 * Positions: `tail` and `head` pack a 32-bit ticket (message sequence) with a
 * 32-bit unit position (8-byte units, modulo 2^32). Differences are taken in
 * modular 32-bit arithmetic, which is exact while fewer than 2^31 tickets or
 * units are outstanding (capacity is capped far below that).
 *
 * Small payloads (up to slot_size - SHM_SLOT_BODY bytes: 8, 40 or 104) live
 * in their slot and take no ring units, so one such message is one slot
 * line for its producer and consumer (struct shm_slot).
 */
#ifndef SAGE_SHM_LAYOUT_H
#define SAGE_SHM_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_MAGIC 0x314d534551474153ull /* "SAGEQSM1" little-endian */
#define SHM_LAYOUT_VERSION 3u
#define SHM_LINE                                                               \
  128               /* pad hot words to two cache lines (adjacent prefetch)    \
                     */
#define SHM_UNIT 8u /* records are 8-byte aligned */

#define SHM_MIN_CAPACITY 4096ull
#define SHM_MAX_CAPACITY (4ull << 30) /* 4 GiB: 2^29 units */
#define SHM_DEFAULT_CAPACITY (1ull << 20)
#define SHM_MIN_SLOTS 64u
#define SHM_MAX_SLOTS (1u << 24)
#define SHM_MIN_SLOT_SIZE 32u /* bytes per slot: a power of two in range */
#define SHM_MAX_SLOT_SIZE 128u
#define SHM_LANES 8u /* concurrent ops per attachment */
#define SHM_DEFAULT_ATTACH 64u
#define SHM_MAX_ATTACH 4096u
#define SHM_MAX_STALL_TIMEOUT_NS (3600ull * 1000000000ull) /* one hour */

/* Slot states (low 32 bits of slot ctl; the ticket is the high 32). */
enum shm_slot_state {
  SLOT_EMPTY = 0, /* unused: an unpublished ticket's slot still holds an
                     older lap's ctl (slots start as the lap before the
                     first) */
  SLOT_READY = 1, /* published message */
  SLOT_SKIP = 2,  /* published, no message (cancelled by its producer) */
  SLOT_DONE = 3,  /* taken and released out of order; head not past it yet */
  SLOT_LOST = 4,  /* taken by a consumer that died; given up */
  SLOT_DEAD = 5,  /* its producer died unfinished: no message, and none of
                     the slot's other fields are valid (recover.c) */
};

/* One message's metadata. Written by its producer before publishing ctl;
 * never written by anyone else (recovery only changes ctl). A slot is
 * slot_size bytes (header): this struct, then more body bytes. */
struct shm_slot {
  _Atomic uint64_t ctl;   /* (ticket << 32) | shm_slot_state */
  _Atomic uint32_t from;  /* unit position where the reservation began */
  _Atomic uint32_t end;   /* unit position just past the record */
  _Atomic uint32_t len;   /* payload bytes */
  _Atomic uint32_t owner; /* attachment index of the producer (diagnostic) */
  /* A record in the ring (end != from): the unit offset of its payload. A
   * small record (end == from, len > 0): its payload, which runs on to the
   * end of the slot (slot_size - SHM_SLOT_BODY bytes). Only the consumer
   * that claimed the record reads this. */
  union {
    _Atomic uint32_t start;
    unsigned char body[8];
  };
};
#define SHM_SLOT_BODY offsetof(struct shm_slot, body)

/* What one thread of an attached process is doing, so survivors can tell a
 * slow owner from a dead one. An empty range means idle. Counters are
 * written only by the lane's current holder and summed by stats. `puts`
 * reaches put_base + (tickets in the put intent) once every record of the
 * reservation is written, before any is published: a dead owner's records
 * are then complete, and survivors publish them (recover.c). */
struct shm_lane {
  _Atomic uint64_t put_from; /* tail value this lane reserved from */
  _Atomic uint64_t put_to;   /* tail value after its reservation */
  _Atomic uint64_t get_from; /* first ticket claimed (low 32 bits) */
  _Atomic uint64_t get_to;   /* one past the last ticket claimed */
  _Atomic uint64_t puts, put_bytes, gets, get_bytes;
  _Atomic uint64_t blocked_puts, blocked_gets;
  _Atomic uint64_t put_base; /* puts when the put intent was set */
  /* The first ticket of the last put / get intent whose CAS succeeded:
   * tells an owner from a party that set an intent and lost its CAS. */
  _Atomic uint32_t put_won, get_won;
  uint64_t pad[4];
};

enum shm_wait { WAIT_NONE = 0, WAIT_DATA = 1, WAIT_SPACE = 2 };

enum shm_attach_state { ATTACH_FREE = 0, ATTACH_ACTIVE = 1 };

/* One attachment (open handle). Its owner holds an OFD lock on byte
 * SHM_LOCK_BASE + index of the segment file for as long as it is attached;
 * the kernel drops that lock when the process dies. */
struct shm_attach {
  _Atomic uint32_t state;
  _Atomic int32_t pid;
  _Atomic uint64_t since_ns; /* attach time, CLOCK_REALTIME */
  /* Threads of this process asleep in get (data) and put (space). A
   * sleeper holds no lane, so the shared waiter counts it raised are
   * tracked here and taken back if the process dies (attach.c). */
  _Atomic uint32_t sleeping_data, sleeping_space;
  _Atomic uint64_t timeouts; /* calls that timed out, any thread */
  uint64_t pad[12];
  struct shm_lane lanes[SHM_LANES];
};

#define SHM_LOCK_BASE (1ll << 40)              /* attachment i: base + i */
#define SHM_LOCK_LIFECYCLE (SHM_LOCK_BASE - 1) /* attach/detach/unlink */

#define SHM_PAD(name, used) uint8_t name[SHM_LINE - (used)]

struct shm_header {
  /* Identity and geometry: written once before the segment is published. */
  uint64_t magic;
  uint32_t layout_version;
  uint32_t header_size;
  uint64_t total_size;
  uint64_t capacity; /* ring bytes, power of two */
  uint32_t slot_count;
  uint32_t slot_size;
  uint32_t max_items; /* 0: only slot_count bounds the items */
  uint32_t attach_max;
  uint32_t lanes_per_attach;
  uint32_t attach_size;
  uint64_t slots_off, attach_off, ring_off;
  uint64_t segment_id; /* random per incarnation */
  uint32_t creator_uid;
  int32_t creator_pid;
  uint64_t created_ns;
  uint32_t mode;
  uint32_t reserved0;
  /* > 0: a record left unpublished this long by a live owner is taken
   * over (stall_timeout option); its owner's publish then fails. */
  uint64_t stall_timeout_ns;
  SHM_PAD(pad0, 120);

  _Atomic uint32_t unlinked;     /* name removed (destroy/auto-cleanup) */
  _Atomic uint32_t auto_cleanup; /* unlink when the last attachment closes */
  SHM_PAD(pad1, 8);

  _Atomic uint64_t tail; /* producers: next reservation (ticket, unit) */
  SHM_PAD(pad2, 8);
  _Atomic uint32_t read; /* consumers: next ticket to claim */
  SHM_PAD(pad3, 4);
  _Atomic uint64_t head; /* oldest unreleased (ticket, unit) */
  SHM_PAD(pad4, 8);

  _Atomic uint32_t data_event; /* futex: bumped when data is published */
  _Atomic uint32_t data_waiters;
  SHM_PAD(pad5, 8);
  _Atomic uint32_t space_event; /* futex: bumped when space is released */
  _Atomic uint32_t space_waiters;
  SHM_PAD(pad6, 8);

  /* Records head moved past as DEAD / LOST: (count << 32) | the ticket
   * after the last one counted. Head passes records in ticket order and
   * counts each before its CAS, so a count is one CAS and never repeated,
   * whoever dies where (recover.c). */
  _Atomic uint64_t dead_tally;
  _Atomic uint64_t lost_tally;
  _Atomic uint64_t high_water; /* most bytes ever held */
  _Atomic uint64_t reclaimed;  /* dead attachments reclaimed */
  SHM_PAD(pad7, 32);

  _Atomic uint64_t tasks_done; /* task_done() total */
  _Atomic uint32_t join_event; /* futex: bumped by task_done */
  _Atomic uint32_t join_waiters;
  SHM_PAD(pad8, 16);
};

static inline uint64_t shm_pos(uint32_t ticket, uint32_t unit) {
  return (uint64_t)ticket << 32 | unit;
}
static inline uint32_t shm_ticket(uint64_t pos) {
  return (uint32_t)(pos >> 32);
}
static inline uint32_t shm_unit(uint64_t pos) {
  return (uint32_t)pos;
}
static inline uint64_t shm_ctl(uint32_t ticket, enum shm_slot_state state) {
  return (uint64_t)ticket << 32 | (uint32_t)state;
}
static inline uint32_t shm_ctl_ticket(uint64_t ctl) {
  return (uint32_t)(ctl >> 32);
}
static inline uint32_t shm_ctl_state(uint64_t ctl) {
  return (uint32_t)ctl;
}
/* True if ctl belongs to a lap before ticket t's: t is not published. */
static inline int shm_ctl_older(uint64_t ctl, uint32_t t) {
  return (int32_t)(shm_ctl_ticket(ctl) - t) < 0;
}

/* True if ticket t lies in [from, to) (modular). */
static inline int shm_ticket_in(uint32_t t, uint32_t from, uint32_t to) {
  return (uint32_t)(t - from) < (uint32_t)(to - from);
}

#endif /* SAGE_SHM_LAYOUT_H */
