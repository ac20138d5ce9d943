/* SAGE Queue host API: the transport registry and a flat, handle-based queue
 * API. This is what C hosts, the sage-queue command and the Python package
 * (through ctypes) call. It never exposes plugin structures.
 *
 * Return values: 0 (or a count where stated) on success, else a negative
 * errno (see sage/transport.h) or a registry code SAGE_E* (< -1000).
 * sage_strerror() names every code; sage_last_error() gives the calling
 * thread's detail text for its most recent failing call (any negative
 * return, -EAGAIN and -ETIMEDOUT included). A successful call leaves that
 * detail unchanged.
 *
 * Thread safety: every function may be called from any thread. One queue
 * handle may be used by many threads at once, except that close/destroy must
 * not race with other calls on the same handle.
 *
 * Timeouts: relative nanoseconds; < 0 forever, 0 never block, > 0 bounded.
 * Blocking calls return -EINTR when a signal handler ran; retry with the time
 * left.
 */
#ifndef SAGE_QUEUE_H
#define SAGE_QUEUE_H

#include <sage/transport.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SAGE_API __attribute__((visibility("default")))
#else
#define SAGE_API
#endif

/* Registry error codes (all below -1000), as an X-macro so names, codes and
 * messages cannot drift apart. */
#define SAGE_REGISTRY_ERRNO_MAP(XX)                                            \
  XX(NOPLUGIN, -1001, "no such transport plugin")                              \
  XX(BADABI, -1002, "plugin ABI version not supported by this host")           \
  XX(BADPLUGIN, -1003, "plugin file is not a valid transport")                 \
  XX(BADNAME, -1004, "invalid transport or queue name")

enum {
#define SAGE_XX(name, code, msg) SAGE_E##name = code,
  SAGE_REGISTRY_ERRNO_MAP(SAGE_XX)
#undef SAGE_XX
};

/* Name of the environment variables the registry reads. */
#define SAGE_ENV_PLUGIN_PATH "SAGE_PLUGIN_PATH"
#define SAGE_ENV_TRANSPORT "SAGE_TRANSPORT"
#define SAGE_DEFAULT_TRANSPORT "shm"

typedef struct sage_queue sage_queue;
typedef struct sage_plugin_list sage_plugin_list;

/* ---- errors ---- */

/* Static text for any code this API returns (negative errno or SAGE_E*).
 * Never NULL. */
SAGE_API const char *sage_strerror(int code);

/* Detail of the calling thread's most recent failing call ("" if none yet).
 * Only a failing call sets it; a successful one leaves it as it was, so read
 * it right after the call that failed. The text stays valid until this
 * thread's next failing call. */
SAGE_API const char *sage_last_error(void);

/* What the calling thread's most recent sage_queue_put returned (also
 * one made by sage_queue_try_put, put_r or put_back_r), or 1 while it has
 * begun and not returned (or failed its argument checks). Read before this
 * thread puts again, it tells whether that put went in (0) or not. No
 * other call changes it. Bindings in which an asynchronous exception can
 * replace a call's return value should rather pass a struct sage_send (see
 * below): reading that needs no call, which could be interrupted too. */
SAGE_API int sage_last_put_result(void);

/* Library version string, e.g. "0.1.0", and the host ABI version. */
SAGE_API const char *sage_version(void);
SAGE_API uint32_t sage_abi_version(void);

/* ---- transports ---- */

/* Resolves the transport to use: `requested` if non-NULL and non-empty,
 * else $SAGE_TRANSPORT, else "shm". Never NULL. */
SAGE_API const char *sage_transport_choose(const char *requested);

/* Loads transport `name` ([a-z0-9_]+) from $SAGE_PLUGIN_PATH, then the
 * plugin dir beside this library (a relocated bundle, e.g. a wheel), then the
 * installed plugin dir. Idempotent; plugins stay loaded. Returns 0,
 * SAGE_EBADNAME, SAGE_ENOPLUGIN, SAGE_EBADABI or SAGE_EBADPLUGIN. */
SAGE_API int sage_transport_load(const char *name);

/* Loads the plugin file at `path` explicitly (the only way to load by path).
 * The descriptor name must match the file stem. Writes the transport name
 * to name_out (cap bytes) if non-NULL. */
SAGE_API int sage_transport_load_path(const char *path, char *name_out,
                                      size_t cap);

/* Capabilities (SAGE_CAP_*) of a loaded-or-loadable transport, or a
 * negative code. */
SAGE_API int64_t sage_transport_capabilities(const char *name);

/* Name of capability bit `bit` (0..63), or NULL if unnamed. */
SAGE_API const char *sage_capability_name(unsigned bit);

/* The colon-separated search path in effect (SAGE_PLUGIN_PATH entries, then
 * the plugin dir beside this library if it is another, then the installed
 * plugin dir). */
SAGE_API const char *sage_plugin_dir(void);

/* Scans the search path and lists every sage-*.so found, valid or not, in
 * search order (a name shadowed by an earlier dir is listed once, first).
 * Each file is loaded only to read its descriptor: one not already loaded
 * (by sage_transport_load*, or for a queue) is unloaded again. A refused
 * file's reason is in sage_plugins_error(), not sage_last_error().
 * Free with sage_plugins_free. */
SAGE_API int sage_plugins_scan(sage_plugin_list **out);
SAGE_API size_t sage_plugins_count(const sage_plugin_list *list);
/* Field accessors; i < count. Strings are owned by the list. */
SAGE_API const char *sage_plugins_name(const sage_plugin_list *list, size_t i);
SAGE_API const char *sage_plugins_path(const sage_plugin_list *list, size_t i);
SAGE_API const char *sage_plugins_version(const sage_plugin_list *list,
                                          size_t i);
SAGE_API const char *sage_plugins_description(const sage_plugin_list *list,
                                              size_t i);
SAGE_API uint32_t sage_plugins_abi(const sage_plugin_list *list, size_t i);
SAGE_API uint64_t sage_plugins_capabilities(const sage_plugin_list *list,
                                            size_t i);
/* 0 if the plugin is usable, else the code it was refused with; error()
 * gives the reason. */
SAGE_API int sage_plugins_status(const sage_plugin_list *list, size_t i);
SAGE_API const char *sage_plugins_error(const sage_plugin_list *list, size_t i);
SAGE_API void sage_plugins_free(sage_plugin_list *list);

/* ---- queues ---- */

/* Opens queue `name` on `transport` (NULL: see sage_transport_choose) with
 * NULL-terminated key/value `options` (may be NULL). */
SAGE_API int sage_queue_open(const char *transport, const char *name,
                             const char *const *options, sage_queue **out);

/* Opens the queue a URI names: "<transport>://<name>[?key=value&...]", e.g.
 * "shm://jobs?maxsize=8MiB&max_items=1000" (docs/CONFIG.md). Keys are the
 * transport's options, plus maxsize (= capacity); sizes take K/M/G and
 * KiB/MiB/GiB; auto_cleanup takes true/false. extra_options (may be NULL)
 * replace the URI's keys of the same name. A bad URI is -EINVAL with a
 * detail naming the part that is wrong. */
SAGE_API int sage_queue_open_uri(const char *uri,
                                 const char *const *extra_options,
                                 sage_queue **out);

/* Copies one message in; waits up to timeout_ns for room. -EMSGSIZE at once
 * if it can never fit; -EAGAIN / -ETIMEDOUT when full. */
SAGE_API int sage_queue_put(sage_queue *q, const void *data, size_t len,
                            int64_t timeout_ns);

/* Takes one message into buf (cap bytes), its size in *len. If it does not
 * fit: -EMSGSIZE, *len = its size, message left queued. -EAGAIN /
 * -ETIMEDOUT when empty. */
SAGE_API int sage_queue_get(sage_queue *q, void *buf, size_t cap, size_t *len,
                            int64_t timeout_ns);

/* The same two calls for foreign-function bindings (ctypes), which pay for
 * every argument they convert and for releasing their interpreter lock.
 * Neither waits (timeout 0: -EAGAIN when full or empty), so a binding may
 * call them holding its lock and fall back to the calls above when they
 * return -EAGAIN, or -EINPROGRESS: the handle's first call since this
 * process forked, which may wait, is left to sage_queue_put/get. */

/* A put request for bindings in which an asynchronous exception can
 * replace a call's return value (Python's KeyboardInterrupt lands right
 * after a ctypes call returns): the calls taking one also write their
 * return value into `result` before they return, where the binding reads
 * it without making a call, and so knows whether the message went in.
 * Owned by the caller: one per operation, or per thread. */
struct sage_send {
  sage_queue *queue;
  int result; /* the last call's return value: 0 means the message is in */
};

/* sage_queue_put(s->queue, data, len, 0), len a plain int (what a binding
 * passes for an integer); -EINVAL if len < 0 or s is NULL. */
SAGE_API int sage_queue_try_put(struct sage_send *s, const void *data, int len);

/* sage_queue_put(s->queue, data, len, timeout_ns), result in s->result. */
SAGE_API int sage_queue_put_r(struct sage_send *s, const void *data, size_t len,
                              int64_t timeout_ns);

/* Puts back, at the tail, a message this process took and did not hand
 * over (timeout 0), result in s->result: sage_queue_put, then, if it went
 * in, sage_queue_task_done(1) -- the message keeps the one task its first
 * put counted, and no binding can be interrupted between the two. */
SAGE_API int sage_queue_put_back_r(struct sage_send *s, const void *data,
                                   size_t len);

/* A receive request, filled once by the caller and reused. */
struct sage_recv {
  sage_queue *queue;
  void *buf;
  size_t cap; /* at most INT_MAX */
  size_t len; /* written as sage_queue_get writes *len */
};

/* sage_queue_get(r->queue, r->buf, r->cap, &r->len, 0); returns the
 * message's size (r->len) when it took one, else the negative errno. */
SAGE_API int sage_queue_try_get(struct sage_recv *r);

/* Batch forms (see struct sage_transport_ops); -ENOTSUP if the transport
 * lacks them. put_batch takes parallel arrays of pointers and sizes. */
SAGE_API int sage_queue_put_batch(sage_queue *q, const void *const *datas,
                                  const size_t *lens, size_t count,
                                  size_t *done, int64_t timeout_ns);
SAGE_API int sage_queue_get_batch(sage_queue *q, void *buf, size_t cap,
                                  size_t *lens, size_t max, size_t *count,
                                  int64_t timeout_ns);

/* Zero-copy forms; -ENOTSUP if the transport lacks them. */
SAGE_API int sage_queue_reserve(sage_queue *q, size_t len, void **ptr,
                                uint64_t *token, int64_t timeout_ns);
SAGE_API int sage_queue_commit(sage_queue *q, uint64_t token);
SAGE_API int sage_queue_cancel(sage_queue *q, uint64_t token);
/* sage_queue_commit(s->queue, token), result in s->result (struct
 * sage_send): 0 means the reserved message is in. */
SAGE_API int sage_queue_commit_r(struct sage_send *s, uint64_t token);
SAGE_API int sage_queue_peek(sage_queue *q, const void **ptr, size_t *len,
                             uint64_t *token, int64_t timeout_ns);
SAGE_API int sage_queue_release(sage_queue *q, uint64_t token);

/* Fills *st; set st->size = sizeof *st first. Never blocks. */
SAGE_API int sage_queue_stats(sage_queue *q, struct sage_stats *st);

/* Stats by name, for bindings that should not mirror struct sage_stats:
 * count of fields, name of field i, and up to n values in that order.
 * Returns the number of values written. */
SAGE_API size_t sage_stats_count(void);
SAGE_API const char *sage_stats_name(size_t i);
SAGE_API int sage_queue_stats_values(sage_queue *q, uint64_t *values, size_t n);

/* Live attached pids (up to cap written); returns the live count. */
SAGE_API int sage_queue_attachments(sage_queue *q, int32_t *pids, size_t cap);

/* Current depth (messages queued, bytes held); cheaper than stats. */
SAGE_API int sage_queue_depth(sage_queue *q, uint64_t *items, uint64_t *bytes);

/* Task accounting (queue.Queue's task_done/join) shared across processes;
 * -ENOTSUP if the transport lacks it. task_done: -EINVAL when called more
 * times than messages were put. join: waits up to timeout_ns. */
SAGE_API int sage_queue_task_done(sage_queue *q, uint64_t count);
SAGE_API int sage_queue_join(sage_queue *q, int64_t timeout_ns);

/* The transport and queue name of an open handle. */
SAGE_API const char *sage_queue_transport_name(const sage_queue *q);
SAGE_API const char *sage_queue_name(const sage_queue *q);

/* Closes the handle (the queue and its messages stay). Always frees q. */
SAGE_API int sage_queue_close(sage_queue *q);

/* Removes the queue's name and closes q. Attached handles elsewhere keep
 * working until they close. Always frees q. */
SAGE_API int sage_queue_destroy(sage_queue *q);

/* Removes queue `name` without opening it (-ENOTSUP if unsupported). */
SAGE_API int sage_queue_unlink(const char *transport, const char *name,
                               const char *const *options);

/* Calls cb for each live queue of `transport` (-ENOTSUP if unsupported). */
SAGE_API int sage_queue_list(const char *transport, const char *const *options,
                             sage_list_cb cb, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* SAGE_QUEUE_H */
