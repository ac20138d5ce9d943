/* The registry: transports loaded lazily by name, resident once loaded. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define MAX_PLUGINS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sage__plugin *plugins[MAX_PLUGINS];
static size_t plugin_count;

/* Caller holds lock. */
static struct sage__plugin *find_loaded(const char *name) {
  for (size_t i = 0; i < plugin_count; i++)
    if (strcmp(plugins[i]->name, name) == 0)
      return plugins[i];
  return NULL;
}

/* Caller holds lock. Loads `path` as transport `stem` and keeps it. */
static int load_locked(const char *path, const char *stem,
                       const struct sage__plugin **out) {
  if (plugin_count == MAX_PLUGINS)
    return sage__fail(-ENOSPC, "cannot load %s: %d transports already loaded",
                      path, MAX_PLUGINS);
  struct sage__plugin *p = calloc(1, sizeof *p);
  if (p == NULL)
    return sage__fail(-ENOMEM, "cannot load %s: out of memory", path);
  int rc = sage__plugin_open(path, stem, p);
  if (rc != 0) {
    free(p);
    return rc;
  }
  plugins[plugin_count++] = p;
  *out = p;
  return 0;
}

struct find_ctx {
  const char *name;
  char path[4096];
};

static int find_in_dir(const char *dir, void *arg) {
  struct find_ctx *ctx = arg;
  struct stat st;
  snprintf(ctx->path, sizeof ctx->path, "%s/sage-%s.so", dir, ctx->name);
  /* lstat: a dangling symlink is still "found" and then fails clearly. */
  return lstat(ctx->path, &st) == 0 ? 1 : 0;
}

int sage__registry_get(const char *name, const struct sage__plugin **out) {
  if (!sage__transport_name_ok(name))
    return sage__fail(SAGE_EBADNAME,
                      "invalid transport name '%.80s': use 1-%d characters "
                      "of a-z, 0-9 and _",
                      name != NULL ? name : "(null)", SAGE_NAME_MAX);
  pthread_mutex_lock(&lock);
  const struct sage__plugin *p = find_loaded(name);
  int rc = 0;
  if (p == NULL) {
    struct find_ctx ctx = {.name = name};
    if (sage__search_dirs(find_in_dir, &ctx) == 1)
      rc = load_locked(ctx.path, name, &p);
    else
      rc = sage__fail(SAGE_ENOPLUGIN,
                      "transport '%s' not found: no sage-%s.so in %s", name,
                      name, sage_plugin_dir());
  }
  pthread_mutex_unlock(&lock);
  if (rc == 0)
    *out = p;
  return rc;
}

SAGE_API int sage_transport_load(const char *name) {
  const struct sage__plugin *p;
  return sage__registry_get(name, &p);
}

/* The transport name of plugin file `path`, into stem (SAGE_NAME_MAX+1). */
static int path_stem(const char *path, char *stem) {
  if (path == NULL)
    return sage__fail(-EINVAL, "plugin path is NULL");
  if (sage__plugin_stem(path, stem, SAGE_NAME_MAX + 1) != 0)
    return sage__fail(SAGE_EBADNAME,
                      "plugin file %s must be named sage-<name>.so with <name> "
                      "of a-z, 0-9 and _",
                      path);
  return 0;
}

/* Caller holds lock. 0 if `p` was loaded from `path`, else -EEXIST. */
static int same_path(const struct sage__plugin *p, const char *path) {
  if (strcmp(p->path, path) == 0)
    return 0;
  return sage__fail(-EEXIST, "transport '%s' is already loaded from %s",
                    p->name, p->path);
}

int sage__registry_load_path(const char *path,
                             const struct sage__plugin **out) {
  char stem[SAGE_NAME_MAX + 1];
  int rc = path_stem(path, stem);
  if (rc != 0)
    return rc;
  pthread_mutex_lock(&lock);
  const struct sage__plugin *p = find_loaded(stem);
  rc = p == NULL ? load_locked(path, stem, &p) : same_path(p, path);
  pthread_mutex_unlock(&lock);
  if (rc == 0)
    *out = p;
  return rc;
}

/* Caller holds lock. Opens `path` just for fn, then unloads it. */
static int peek_unloaded(const char *path, const char *stem,
                         void (*fn)(const struct sage__plugin *, void *),
                         void *ctx) {
  struct sage__plugin tmp;
  int rc = sage__plugin_open(path, stem, &tmp);
  if (rc != 0)
    return rc;
  fn(&tmp, ctx);
  sage__plugin_close(&tmp);
  return 0;
}

int sage__registry_peek(const char *path,
                        void (*fn)(const struct sage__plugin *p, void *ctx),
                        void *ctx) {
  char stem[SAGE_NAME_MAX + 1];
  int rc = path_stem(path, stem);
  if (rc != 0)
    return rc;
  pthread_mutex_lock(&lock);
  const struct sage__plugin *p = find_loaded(stem);
  if (p == NULL)
    rc = peek_unloaded(path, stem, fn, ctx);
  else if ((rc = same_path(p, path)) == 0)
    fn(p, ctx);
  pthread_mutex_unlock(&lock);
  return rc;
}

SAGE_API int sage_transport_load_path(const char *path, char *name_out,
                                      size_t cap) {
  const struct sage__plugin *p;
  int rc = sage__registry_load_path(path, &p);
  if (rc == 0 && name_out != NULL && cap > 0)
    snprintf(name_out, cap, "%s", p->name);
  return rc;
}

SAGE_API int64_t sage_transport_capabilities(const char *name) {
  const struct sage__plugin *p;
  int rc = sage__registry_get(name, &p);
  return rc != 0 ? rc : (int64_t)p->desc->capabilities;
}

SAGE_API const char *sage_transport_choose(const char *requested) {
  if (requested != NULL && *requested != '\0')
    return requested;
  const char *env = secure_getenv(SAGE_ENV_TRANSPORT);
  if (env != NULL && *env != '\0')
    return env;
  return SAGE_DEFAULT_TRANSPORT;
}

SAGE_API const char *sage_version(void) {
  return PACKAGE_VERSION;
}

SAGE_API uint32_t sage_abi_version(void) {
  return SAGE_TRANSPORT_ABI_VERSION;
}
