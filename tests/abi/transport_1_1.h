/* SAGE Queue transport plugin ABI -- SIMULATED 1.1 for tests/abi.
 *
 * tests/abi/transport_1_0.h (the frozen 1.0 header) plus one appended
 * optional op (purge) and ABI minor 1: what a real minor bump looks like.
 * Only the ABI tests build against it.
 *
 * Original header text follows.
 *
 *
 * This is the only header a transport author needs. A transport is a shared
 * object named `sage-<name>.so` that exports one function,
 * SAGE_TRANSPORT_ENTRY_SYMBOL, returning a constant descriptor.
 *
 * Versioning (see docs/PLUGINS.md):
 *  - SAGE_TRANSPORT_ABI_MAJOR changes only when something existing changes
 *    meaning or layout; the host refuses a plugin of another major.
 *  - SAGE_TRANSPORT_ABI_MINOR grows when optional ops or descriptor fields are
 *    appended; the host refuses a plugin whose minor is newer than its own and
 *    calls an optional op only when the plugin's ops `size` covers it.
 *
 * Errors: every op returns 0 (or a count where stated) on success and a
 * negative errno on failure: -EAGAIN (would block), -ETIMEDOUT, -EMSGSIZE
 * (can never fit / buffer too small), -EINVAL, -ENOENT (no such queue),
 * -EEXIST, -EACCES / -EPERM (permission), -ENOTSUP, -ENOSPC (no memory for
 * the segment), -EBADMSG (segment corrupt or foreign), -EINTR (a signal
 * handler ran), -EMFILE / -ENFILE / -EUSERS (descriptor or attachment
 * limits). Codes below -1000 are reserved for the host registry (see
 * sage/queue.h).
 *
 * Timeouts are relative nanoseconds on CLOCK_MONOTONIC: < 0 waits forever,
 * 0 never blocks (-EAGAIN), > 0 waits at most that long (-ETIMEDOUT).
 * A blocking op interrupted by a signal handler returns -EINTR; the caller
 * retries with the time left.
 */
#ifndef SAGE_TRANSPORT_H
#define SAGE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SAGE_TRANSPORT_ABI_MAJOR 1
#define SAGE_TRANSPORT_ABI_MINOR 1
#define SAGE_TRANSPORT_ABI_VERSION                                             \
  (((uint32_t)SAGE_TRANSPORT_ABI_MAJOR << 16) | SAGE_TRANSPORT_ABI_MINOR)
#define SAGE_ABI_MAJOR_OF(v) ((uint32_t)(v) >> 16)
#define SAGE_ABI_MINOR_OF(v) ((uint32_t)(v)&0xffffu)

/* The one symbol a plugin exports. */
#define SAGE_TRANSPORT_ENTRY sage_transport_entry
#define SAGE_TRANSPORT_ENTRY_SYMBOL "sage_transport_entry"

#if defined(__GNUC__)
#define SAGE_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define SAGE_PLUGIN_EXPORT
#endif

/* Capability flags a descriptor declares. */
#define SAGE_CAP_MPMC (1u << 0)          /* many producers, many consumers */
#define SAGE_CAP_BLOCKING (1u << 1)      /* put/get honour timeouts */
#define SAGE_CAP_CROSS_PROCESS (1u << 2) /* queue shared between processes */
#define SAGE_CAP_CROSS_HOST (1u << 3)    /* queue reachable from other hosts */
#define SAGE_CAP_ZERO_COPY (1u << 4)     /* reserve/commit and peek/release */
#define SAGE_CAP_BATCH (1u << 5)         /* put_batch/get_batch */
#define SAGE_CAP_PERSISTENT (1u << 6)    /* close then reopen keeps messages */
#define SAGE_CAP_CRASH_SAFE (1u << 7)    /* survives a peer dying mid-op */
#define SAGE_CAP_ITEM_BOUND (1u << 8)    /* honours the max_items option */
#define SAGE_CAP_LIST (1u << 9)          /* list() enumerates live queues */

/* Log levels for sage_host.log. */
enum sage_log_level {
  SAGE_LOG_ERROR = 0,
  SAGE_LOG_WARN = 1,
  SAGE_LOG_INFO = 2,
  SAGE_LOG_DEBUG = 3
};

/* What the host gives the entry function. Read fields only if `size`
 * covers them. */
struct sage_host {
  uint32_t abi_version; /* host's SAGE_TRANSPORT_ABI_VERSION */
  uint32_t size;        /* sizeof(struct sage_host) in the host */
  /* Logs one line through the host. Thread-safe. */
  void (*log)(int level, const char *transport, const char *message);
  /* Sets the calling thread's error detail (see sage_last_error()).
   * Plugins call it before returning an error. Thread-safe. */
  void (*set_detail)(const char *message);
};

/* Shared statistics. The host sets `size`; a plugin fills the fields that
 * both it and the host know and leaves the rest zero. Append-only. */
struct sage_stats {
  uint32_t size;
  uint32_t reserved;
  uint64_t capacity;        /* ring size in bytes */
  uint64_t max_message;     /* largest message that can ever be put */
  uint64_t max_items;       /* item bound (0 = only the capacity bounds) */
  uint64_t bytes_used;      /* bytes held by queued or in-flight records */
  uint64_t items;           /* messages queued and not yet taken */
  uint64_t total_put;       /* messages put since creation */
  uint64_t total_got;       /* messages taken since creation */
  uint64_t bytes_put;       /* payload bytes put since creation */
  uint64_t bytes_got;       /* payload bytes taken since creation */
  uint64_t high_water;      /* largest bytes_used seen */
  uint64_t blocked_puts;    /* puts that had to wait for space */
  uint64_t blocked_gets;    /* gets that had to wait for data */
  uint64_t timeouts;        /* puts and gets that timed out */
  uint64_t abandoned;       /* records given up because their owner died */
  uint64_t attached;        /* live attachments (open handles) */
  uint64_t waiting_readers; /* gets sleeping right now */
  uint64_t waiting_writers; /* puts sleeping right now */
  uint64_t owner_uid;       /* uid that created the queue */
  uint64_t creator_pid;     /* process that created the queue */
  uint64_t created_ns;      /* creation time, ns since the Unix epoch */
  uint64_t stale_attached;  /* attachments whose process is dead */
  uint64_t unfinished;      /* put but not yet marked done (task_done) */
};

/* One message of a batch put. */
struct sage_msg {
  const void *data;
  size_t len;
};

/* Opaque per-open-handle state owned by the plugin. */
typedef struct sage_transport_queue sage_transport_queue;

/* Callback for list(): one live queue name. Return 0 to go on. */
typedef int (*sage_list_cb)(const char *name, uint32_t owner_uid, void *ctx);

/* Operations. Mandatory ops come first; optional ops are appended in ABI
 * minor order and may be NULL. `size` is sizeof(struct sage_transport_ops)
 * as the plugin was compiled. Unless stated, ops on one handle are safe to
 * call from many threads at once; blocking ops sleep, never busy-poll. */
struct sage_transport_ops {
  size_t size;

  /* --- mandatory (ABI 1.0) --- */

  /* Opens (creating if allowed) queue `name`. `options` is a NULL-terminated
   * array of key, value strings, NULL itself meaning none. Unknown keys are
   * -EINVAL unless they start with "x-". */
  int (*open)(const char *name, const char *const *options,
              sage_transport_queue **out);
  /* Copies one message in. -EMSGSIZE at once when it can never fit. */
  int (*put)(sage_transport_queue *q, const void *data, size_t len,
             int64_t timeout_ns);
  /* Takes one message into buf. When it does not fit, returns -EMSGSIZE
   * with *len set to its size and leaves it queued. */
  int (*get)(sage_transport_queue *q, void *buf, size_t cap, size_t *len,
             int64_t timeout_ns);
  /* Fills *st (see struct sage_stats). Never blocks. */
  int (*stats)(sage_transport_queue *q, struct sage_stats *st);
  /* Detaches and frees the handle; queued messages stay. */
  int (*close)(sage_transport_queue *q);
  /* Removes the queue's name, then closes the handle. Other attached
   * handles keep working until they close. */
  int (*destroy)(sage_transport_queue *q);

  /* --- optional (ABI 1.0) --- */

  /* Puts msgs in order, waiting as needed; *done counts those put even on
   * error. One wake-up for the batch. */
  int (*put_batch)(sage_transport_queue *q, const struct sage_msg *msgs,
                   size_t count, size_t *done, int64_t timeout_ns);
  /* Waits for at least one message, then takes as many as are ready (up to
   * max) that fit in buf, packed back to back; lens[i] gets each size and
   * *count the number taken. -EMSGSIZE (lens[0] = size) if the first does
   * not fit. */
  int (*get_batch)(sage_transport_queue *q, void *buf, size_t cap, size_t *lens,
                   size_t max, size_t *count, int64_t timeout_ns);
  /* Reserves len bytes in place: *ptr is writable until commit/cancel.
   * *token identifies the reservation. */
  int (*reserve)(sage_transport_queue *q, size_t len, void **ptr,
                 uint64_t *token, int64_t timeout_ns);
  /* Publishes (commit) or drops (cancel) a reservation. */
  int (*commit)(sage_transport_queue *q, uint64_t token);
  int (*cancel)(sage_transport_queue *q, uint64_t token);
  /* Takes the next message in place: *ptr is readable until release. */
  int (*peek)(sage_transport_queue *q, const void **ptr, size_t *len,
              uint64_t *token, int64_t timeout_ns);
  int (*release)(sage_transport_queue *q, uint64_t token);
  /* Lists live queues (options may hold "all"="1" for every user). */
  int (*list)(const char *const *options, sage_list_cb cb, void *ctx);
  /* Removes a queue by name without attaching. */
  int (*unlink)(const char *name, const char *const *options);
  /* Writes up to cap attached process ids; returns the count of live ones
   * (which may exceed cap). */
  int (*attachments)(sage_transport_queue *q, int32_t *pids, size_t cap);
  /* Cheap current depth: messages queued and bytes held. Never blocks. */
  int (*depth)(sage_transport_queue *q, uint64_t *items, uint64_t *bytes);
  /* queue.Queue task accounting shared by every process: task_done marks
   * `count` taken messages finished (-EINVAL if that exceeds the messages
   * put); join waits until every message put is finished (messages lost
   * with a dead consumer count as finished). */
  int (*task_done)(sage_transport_queue *q, uint64_t count);
  int (*join)(sage_transport_queue *q, int64_t timeout_ns);

  /* --- optional (ABI 1.1: SIMULATED by tests/abi, not a real op) --- */

  /* Drops every queued message; *removed gets how many. */
  int (*purge)(sage_transport_queue *q, uint64_t *removed);
};

/* The constant descriptor returned by the entry function. */
struct sage_transport_descriptor {
  uint32_t abi_version; /* SAGE_TRANSPORT_ABI_VERSION the plugin built with */
  uint32_t size;        /* sizeof(struct sage_transport_descriptor) */
  const char *name;     /* must equal <name> in sage-<name>.so */
  const char *version;  /* plugin's own version string */
  const char *description;
  uint64_t capabilities; /* SAGE_CAP_* */
  const struct sage_transport_ops *ops;
};

/* Signature of the entry function. `host` may be NULL for tools that only
 * read the descriptor. Must not fail: return the same pointer each call. */
typedef const struct sage_transport_descriptor *(*sage_transport_entry_fn)(
    const struct sage_host *host);

/* The entry every plugin defines (declared here so its type is checked). */
SAGE_PLUGIN_EXPORT const struct sage_transport_descriptor *
SAGE_TRANSPORT_ENTRY(const struct sage_host *host);

#ifdef __cplusplus
}
#endif

#endif /* SAGE_TRANSPORT_H */
