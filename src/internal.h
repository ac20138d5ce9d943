/* Internal declarations shared by libsagequeue's source files. Names with
 * the sage__ prefix are hidden (not exported). */
#ifndef SAGE_INTERNAL_H
#define SAGE_INTERNAL_H

#include <sage/queue.h>
#include <sage/transport.h>
#include <stdarg.h>
#include <stddef.h>

#define SAGE_NAME_MAX 64 /* transport names: [a-z0-9_]{1,64} */

/* ---- errors.c ---- */

#define SAGE__DETAIL_MAX 1024 /* bytes of detail text, NUL included */

/* The calling thread's detail is that of its last failing call: only a
 * failure sets it; a success leaves it alone. */

/* Sets the calling thread's detail text; returns `code` for tail calls. */
int sage__fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sage__set_detail(const char *text);
/* Plugins' set_detail (struct sage_host) goes to a staging slot: call
 * sage__plugin_call_begin() before calling into a plugin, and
 * sage__detail_commit() if that call failed. The commit returns 1 if the
 * plugin staged a detail (now the thread's detail), else 0. A call that
 * succeeds drops what it staged. */
void sage__stage_detail(const char *text);
void sage__plugin_call_begin(void);
/* Bracket sage_queue_put for sage_last_put_result(); end returns rc. */
void sage__put_begin(void);
int sage__put_end(int rc);

/* Whether q has not been used by sage_queue_put/get since this process
 * forked (its transport may then have to wait to re-attach). */
int sage__queue_forked(const sage_queue *q);
/* SAGE_EBADPLUGIN (reason in why) when caps declares a capability whose
 * ops (SAGE_CAPABILITIES) the table lacks. */
int sage__capabilities_check(uint64_t caps,
                             const struct sage_transport_ops *ops, char *why,
                             size_t cap);
int sage__detail_commit(void);
/* Records a failure whose text is formatted only if sage_last_error() is
 * called; returns `code`. `op` must be a string literal; `serial` names the
 * handle (unique, never reused), so a repeated failure of the same op on
 * the same handle (a polling loop) skips copying the names again. */
int sage__fail_lazy(int code, const char *op, uint64_t serial,
                    const char *queue, const char *transport);

/* ---- host.c ---- */

const struct sage_host *sage__host(void);

/* ---- loader.c ---- */

/* A loaded, validated plugin. Registered ones live until process exit. */
struct sage__plugin {
  char name[SAGE_NAME_MAX + 1];
  char *path;
  void *dl;
  const struct sage_transport_descriptor *desc;
  const struct sage_transport_ops *ops;
};

/* Checks a descriptor against every load gate (ABI major/minor, sizes,
 * name == stem, mandatory ops). Returns 0 or SAGE_EBADABI/SAGE_EBADPLUGIN
 * with a reason in `why`. Touches nothing but `desc` and its ops. */
int sage__descriptor_check(const struct sage_transport_descriptor *desc,
                           const char *stem, char *why, size_t why_cap);

/* dlopen()s `path`, calls its entry, checks the descriptor against `stem`.
 * On success fills *out (path copied). On failure sets the detail text and
 * returns a registry code; nothing stays loaded. */
int sage__plugin_open(const char *path, const char *stem,
                      struct sage__plugin *out);

/* Unloads a plugin opened with sage__plugin_open (not a registered one). */
void sage__plugin_close(struct sage__plugin *p);

/* Stem of a plugin file name: "dir/sage-foo.so" -> "foo". Returns 0 or
 * SAGE_EBADNAME when the file name does not have that shape. */
int sage__plugin_stem(const char *path, char *stem, size_t cap);

/* ---- search_path.c ---- */

/* True if name matches [a-z0-9_]{1,SAGE_NAME_MAX}. */
int sage__transport_name_ok(const char *name);

/* Calls fn(dir, ctx) for each search dir in order; stops when fn returns
 * non-zero and returns that value. Empty entries are skipped. */
int sage__search_dirs(int (*fn)(const char *dir, void *ctx), void *ctx);

/* ---- registry.c ---- */

/* Finds (loading if needed) transport `name`. */
int sage__registry_get(const char *name, const struct sage__plugin **out);

/* Loads the plugin file at `path` (or finds it if already loaded from that
 * path); -EEXIST if its name is loaded from another path. */
int sage__registry_load_path(const char *path, const struct sage__plugin **out);

/* Calls fn(plugin, ctx) for the plugin file at `path` without registering
 * it: the registered plugin if loaded from `path`, else the file opened for
 * the call and unloaded after it. Returns 0 or the load error (-EEXIST if
 * its name is loaded from another path). fn runs under the registry lock. */
int sage__registry_peek(const char *path,
                        void (*fn)(const struct sage__plugin *p, void *ctx),
                        void *ctx);

/* True if the optional op at byte offset `off` of the plugin's ops table is
 * covered by its size and non-NULL. */
#define SAGE__HAS_OP(plugin, op)                                               \
  ((plugin)->ops->size >=                                                      \
       offsetof(struct sage_transport_ops, op) + sizeof((plugin)->ops->op) &&  \
   (plugin)->ops->op != NULL)

#endif /* SAGE_INTERNAL_H */
