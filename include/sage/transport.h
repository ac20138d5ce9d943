/* SAGE Queue transport plugin ABI.
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
 * The full reference is sage-transport(7); the shortest correct transport
 * is the plugin template, installed in <docdir>/plugin-template (the guide
 * is <docdir>/PLUGINS.md).
 *
 * Errors: every op returns 0 (or a count where stated) on success and a
 * negative errno on failure, one of:
 *   -EAGAIN     would block (timeout 0)       -ETIMEDOUT  the wait expired
 *   -EMSGSIZE   can never fit / buffer small  -EINVAL     bad argument,
 *               option or token
 *   -ENOENT     no such queue                 -EEXIST     create=always and
 *                                                         it exists
 *   -EACCES, -EPERM  permission, or a write on an observe handle
 *   -EBUSY      unlink with unless_attached/only_if_stale refused
 *   -ENOTSUP    the queue cannot do this      -ENOMEM     allocation failed
 *   -ENOSPC     no room for the queue itself  -EBADMSG    corrupt or foreign
 *   -EINTR      a signal handler ran during a wait (see Waits)
 *   -ECANCELED  put, put_batch or commit of a record that recovery took
 *               over while its owner stalled (shm's stall_timeout_ms)
 *   -EMFILE, -ENFILE, -EUSERS  descriptor or attachment limits
 * Codes below -1000 belong to the host registry (sage/queue.h). Before
 * returning an error other than -EAGAIN, -ETIMEDOUT or -EINTR (ordinary
 * outcomes the host words itself), call host->set_detail()
 * with one line that names what is wrong: the queue, and the size, option
 * or value at fault ("option 'capacity': 100 is outside 4096..1G"). The
 * host writes a generic line when a plugin sets none.
 *
 * Waits: timeouts are relative nanoseconds on CLOCK_MONOTONIC: < 0 waits
 * forever, 0 never blocks (-EAGAIN), > 0 waits at most that long
 * (-ETIMEDOUT). Waits sleep (futex, mq_timedsend, ...), never busy-poll;
 * the sleep must be interruptible: a signal handler that runs during it
 * ends the op with -EINTR and nothing done (a batch: *done or *count says
 * what was done before it), and the caller retries with the time left.
 * (So no pthread condition variables: pthread_cond_wait restarts after a
 * handler.) Plugins that declare SAGE_CAP_WAIT_FLAGS
 * also honour the SAGE_WAIT_* flags in timeout_ns below; the host strips
 * them for the others.
 *
 * Threads and fork: every op on one handle may be called from many threads
 * at once, except close/destroy, which the caller makes the handle's last
 * op. After fork() a child may use an inherited handle only if the plugin
 * says so in its docs (shm does; elsewhere -ENOTSUP is the answer); a
 * child must be able to open queues by name even when the parent had
 * threads inside the plugin (guard the plugin's own locks with
 * pthread_atfork: glibc drops a library's handlers when it is unloaded, so
 * registering them at load is safe), and nothing a child does with an
 * inherited handle may harm the parent's. Without SAGE_CAP_CROSS_PROCESS
 * a child shares no queue with its parent; what it finds under a name is
 * the plugin's to document.
 *
 * Building: a plugin includes this header only and does not link
 * libsagequeue (`pkg-config --cflags sage-queue`, no --libs); it is
 * installed as <plugindir>/sage-<name>.so (`pkg-config --variable=plugindir
 * sage-queue`) or found through SAGE_PLUGIN_PATH.
 *
 * Lifetime: the host loads a plugin once and keeps it loaded for the rest
 * of the process once it has opened a queue with it; a plugin loaded only
 * to read its descriptor (sage-queue plugins) may be unloaded again, and
 * its entry may get a NULL or a real host then.
 */
#ifndef SAGE_TRANSPORT_H
#define SAGE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SAGE_TRANSPORT_ABI_MAJOR 1
#define SAGE_TRANSPORT_ABI_MINOR 0
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

/* Capabilities a descriptor declares: XX(NAME, bit, "name", ops it needs).
 * The host refuses a plugin that declares a capability without its ops
 * (SAGE_EBADPLUGIN, naming the op), and hosts and tools rely on a declared
 * capability: CROSS_PROCESS is what lets a queue be opened by name from
 * another process (Python refuses to send a reference to a queue without
 * it), OBSERVE is what lets the tools read stats without attaching. */
#define SAGE_CAPABILITIES(XX)                                                  \
  XX(MPMC, 0, "mpmc", "")                   /* many producers and consumers */ \
  XX(BLOCKING, 1, "blocking", "")           /* put/get honour timeouts */      \
  XX(CROSS_PROCESS, 2, "cross_process", "") /* one queue, many processes */    \
  XX(CROSS_HOST, 3, "cross_host", "")       /* reachable from other hosts */   \
  XX(ZERO_COPY, 4, "zero_copy",                                                \
     "reserve commit cancel peek release")     /* in-place put and get */      \
  XX(BATCH, 5, "batch", "put_batch get_batch") /* many messages a call */      \
  XX(PERSISTENT, 6, "persistent", "") /* close, reopen: messages kept */       \
  XX(CRASH_SAFE, 7, "crash_safe", "") /* survives a peer dying mid-op */       \
  XX(ITEM_BOUND, 8, "item_bound", "") /* honours max_items */                  \
  XX(LIST, 9, "list", "list")         /* list() enumerates queues */           \
  XX(OBSERVE, 10, "observe", "") /* open with attach=0 (SAGE_OPTION_ATTACH) */ \
  XX(WAIT_FLAGS, 11, "wait_flags", "") /* honours SAGE_WAIT_* */

#define SAGE_XX_CAP_FLAG(name, bit, text, ops) SAGE_CAP_##name = 1u << (bit),
enum { SAGE_CAPABILITIES(SAGE_XX_CAP_FLAG) };
#undef SAGE_XX_CAP_FLAG

/* Standard open options: keys and values every transport understands
 * (values are strings; the host always passes complete key, value pairs).
 * A bad value is -EINVAL; a standard option the transport cannot honour
 * is -ENOTSUP; either way with a detail naming it. Unknown keys are
 * -EINVAL, except keys starting with "x-" (ignored), so hosts can pass
 * hints. Sizes take K/M/G (and KiB/MiB/GiB) suffixes, powers of 1024. */
#define SAGE_OPTION_CREATE "create" /* one of: */
#define SAGE_CREATE_AUTO "auto"     /* open, or create if missing (default) */
#define SAGE_CREATE_NEVER "never"   /* open only: -ENOENT if missing */
#define SAGE_CREATE_ALWAYS "always" /* create only: -EEXIST if present */
/* Bytes of storage for a new queue (ignored when opening an existing one),
 * the transport's per-record overhead included: stats report it as
 * `capacity`, and `max_message` (<= capacity) as the largest payload one
 * message may have. */
#define SAGE_OPTION_CAPACITY "capacity"
/* Most messages queued at once, 0 for no bound but the capacity; needs
 * SAGE_CAP_ITEM_BOUND. */
#define SAGE_OPTION_MAX_ITEMS "max_items"
/* Octal permission bits of a new queue ("0600" by default). */
#define SAGE_OPTION_MODE "mode"
/* Whose queue `name` is: a uid (default: the caller's). Tools pass it to
 * reach another user's queue; -EACCES where the transport refuses. */
#define SAGE_OPTION_UID "uid"
/* "1": the queue's name goes when its last attached handle closes (one
 * whose process died leaves a stale attachment: the next last close, or a
 * stale-queue collection, removes it). It belongs to the queue: once any
 * opener set it, it stays set (observe handles neither set it nor count). */
#define SAGE_OPTION_AUTO_CLEANUP "auto_cleanup"
/* "0": observe mode (needs SAGE_CAP_OBSERVE): the handle does not count as
 * an attachment and never creates (a missing queue is -ENOENT); only
 * stats, depth, attachments, close and destroy work on it (others:
 * -EPERM). The tools use it to look without being seen. */
#define SAGE_OPTION_ATTACH "attach"

/* Options of list() and unlink() (also "x-" keys ignored, others -EINVAL;
 * a transport may refuse those it cannot honour with -ENOTSUP). */
#define SAGE_LIST_ALL "all" /* list: "1": every user's queues */
/* unlink: "1": -EBUSY if any live process is attached (checked under the
 * transport's own lock, so one attaching meanwhile is safe). */
#define SAGE_UNLINK_UNLESS_ATTACHED "unless_attached"
/* unlink: "1": -EBUSY unless the queue has attachments and every one's
 * process is dead (an idle queue, with none, is not stale). */
#define SAGE_UNLINK_ONLY_IF_STALE "only_if_stale"
/* unlink: "1": remove without validating (a corrupt queue). */
#define SAGE_UNLINK_FORCE "force"
/* unlink: SAGE_OPTION_UID also applies. */

/* Flags a host may add to timeout_ns of put, get, put_batch, get_batch,
 * reserve, peek (SAGE_CAP_WAIT_FLAGS), only ever on a positive timeout,
 * when it waits in slices (Python does, so
 * that Ctrl-C is seen): SLICE: expiring this wait is not a timeout (do not
 * count it in `timeouts`); RESUMED: this call continues a wait an earlier
 * call counted (do not count it in blocked_puts/gets again). A wait counts
 * at most one blocked call and one timeout, however it is sliced. Strip
 * them with SAGE_WAIT_NS(). (join never sees them: the host strips them.) */
#define SAGE_WAIT_SLICE ((int64_t)1 << 61)
#define SAGE_WAIT_RESUMED ((int64_t)1 << 60)
#define SAGE_WAIT_FLAGS (SAGE_WAIT_SLICE | SAGE_WAIT_RESUMED)
#define SAGE_WAIT_NS(t) ((t) < 0 ? (t) : ((t) & ~SAGE_WAIT_FLAGS))

/* Log levels for sage_host.log. */
enum sage_log_level {
  SAGE_LOG_ERROR = 0,
  SAGE_LOG_WARN = 1,
  SAGE_LOG_INFO = 2,
  SAGE_LOG_DEBUG = 3
};

/* What the host gives the entry function. Read fields only if `size`
 * covers them. The pointer and its functions stay valid until the plugin
 * is unloaded (after its last handle closes): keep it in a static. */
struct sage_host {
  uint32_t abi_version; /* host's SAGE_TRANSPORT_ABI_VERSION */
  uint32_t size;        /* sizeof(struct sage_host) in the host */
  /* Logs one line through the host. Thread-safe. */
  void (*log)(int level, const char *transport, const char *message);
  /* Sets the calling thread's error detail (see sage_last_error()).
   * Plugins call it before returning an error. Thread-safe. */
  void (*set_detail)(const char *message);
};

/* Shared statistics, counted for the queue as a whole (every handle, every
 * process). The host zeroes the struct and sets `size` before it calls
 * stats(); since the host refuses plugins of a newer ABI minor, `size` is
 * never smaller than the plugin's own sizeof(struct sage_stats), so a
 * plugin may write its fields directly. It fills the fields it knows,
 * leaves the others zero and never writes `size`. Append-only.
 * Counting rules: a put or get counts in blocked_* when it had to sleep,
 * once per call however often it woke (and not again when RESUMED, see
 * SAGE_WAIT_*); it counts in `timeouts` when it returns -ETIMEDOUT (not
 * for a SLICE, nor for -EAGAIN with timeout 0). A call that slept and
 * ended with -EINTR did block; its RESUMED retry is not counted again. A
 * batch call counts one blocked call and at most one timeout; the totals
 * (total_put, bytes_put, ...) count each message. At every quiet moment
 * total_put == total_got + items + abandoned (messages given up because their
 * owner died). */
struct sage_stats {
  uint32_t size;
  uint32_t reserved;
  uint64_t capacity;        /* ring size in bytes */
  uint64_t max_message;     /* largest message that can ever be put */
  uint64_t max_items;       /* item bound (0 = only the capacity bounds) */
  uint64_t bytes_used;      /* ring bytes held by queued or in-flight
                               records (shm: 0 for small payloads) */
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
   * array of key, value strings, NULL itself meaning none: the standard
   * ones are SAGE_OPTION_*; unknown keys are -EINVAL unless they start
   * with "x-". The host has checked `name` ([A-Za-z0-9][A-Za-z0-9_.-]*, at
   * most 128). On success *out is the plugin's handle. */
  int (*open)(const char *name, const char *const *options,
              sage_transport_queue **out);
  /* Copies one message in. -EMSGSIZE at once when len > max_message;
   * messages of 0 bytes are valid. */
  int (*put)(sage_transport_queue *q, const void *data, size_t len,
             int64_t timeout_ns);
  /* Takes one message into buf. When it does not fit, returns -EMSGSIZE
   * with *len set to its size and leaves it queued. */
  int (*get)(sage_transport_queue *q, void *buf, size_t cap, size_t *len,
             int64_t timeout_ns);
  /* Fills *st (see struct sage_stats). Never blocks. */
  int (*stats)(sage_transport_queue *q, struct sage_stats *st);
  /* Detaches and frees the handle; queued messages stay (unless the queue
   * was opened with auto_cleanup and this was its last handle). The handle
   * is gone even when it returns an error. */
  int (*close)(sage_transport_queue *q);
  /* Removes the queue's name, then closes the handle. Other attached
   * handles keep working until they close. Hosts call it also from a
   * thread while other threads of the process still use other handles. */
  int (*destroy)(sage_transport_queue *q);

  /* --- optional (ABI 1.0) --- */

  /* Puts msgs in order, waiting as needed; *done counts those put even on
   * error. One wake-up for the batch. A message that can never fit makes
   * it fail with -EMSGSIZE at once, nothing put. */
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
  /* Lists live queues: cb once per queue (options: SAGE_LIST_ALL,
   * SAGE_OPTION_UID). When cb returns nonzero, list stops and returns
   * that value; else it returns 0 or -errno. */
  int (*list)(const char *const *options, sage_list_cb cb, void *ctx);
  /* Removes a queue by name without attaching (options: SAGE_UNLINK_*,
   * SAGE_OPTION_UID). -ENOENT if there is none; -EBUSY when a flag
   * refuses; -ENOTSUP for a flag it cannot check. */
  int (*unlink)(const char *name, const char *const *options);
  /* Writes up to cap attached process ids, one per attachment (a process
   * with two handles appears twice); returns the count of live ones (which
   * may exceed cap). */
  int (*attachments)(sage_transport_queue *q, int32_t *pids, size_t cap);
  /* Cheap current depth: messages queued and bytes held. Never blocks. */
  int (*depth)(sage_transport_queue *q, uint64_t *items, uint64_t *bytes);
  /* queue.Queue task accounting shared by every process: task_done marks
   * `count` taken messages finished (-EINVAL if that exceeds the messages
   * put and not yet finished, counted over the whole queue); join waits
   * until every message put is finished (messages lost with a dead
   * consumer count as finished), -ETIMEDOUT as the other waits. */
  int (*task_done)(sage_transport_queue *q, uint64_t count);
  int (*join)(sage_transport_queue *q, int64_t timeout_ns);
};

/* Whether `ops` (as the plugin compiled it) has optional op `field`: the
 * table is long enough to hold it and it is not NULL. */
#define SAGE_TRANSPORT_HAS_OP(ops, field)                                      \
  ((ops)->size >=                                                              \
       offsetof(struct sage_transport_ops, field) + sizeof((ops)->field) &&    \
   (ops)->field != NULL)

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
