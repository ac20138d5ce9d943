/* The plugin search path: $SAGE_PLUGIN_PATH entries, then the plugin dir
 * beside this library (when it exists and is not the installed one), then
 * the installed plugin dir. */
#include "config.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifndef SAGE_PLUGIN_DIR
#error "SAGE_PLUGIN_DIR must be defined by the build"
#endif

#define PATH_LIST_MAX 8192

int sage__transport_name_ok(const char *name) {
  if (name == NULL || *name == '\0')
    return 0;
  size_t n = 0;
  for (const char *c = name; *c != '\0'; c++, n++) {
    int ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
    if (!ok || n >= SAGE_NAME_MAX)
      return 0;
  }
  return 1;
}

/* The plugin dir laid out beside this library as an install lays it out
 * (<libdir>/sage-queue/plugins next to <libdir>/libsagequeue.so), so that a
 * relocated copy (the bundle inside the Python wheel) finds its own plugins.
 * Written as a resolved path, or "" when the library's path is unknown or
 * relative, the dir does not exist, or it is the installed plugin dir. */
static void beside_library(char *buf, size_t cap) {
  static const char anchor; /* any object of this library, for dladdr */
  Dl_info info;
  char dir[PATH_MAX], real[PATH_MAX], installed[PATH_MAX];
  buf[0] = '\0';
  if (dladdr(&anchor, &info) == 0 || info.dli_fname == NULL ||
      info.dli_fname[0] != '/')
    return;
  const char *slash = strrchr(info.dli_fname, '/');
  int n = snprintf(dir, sizeof dir, "%.*s/" PACKAGE "/plugins",
                   (int)(slash - info.dli_fname), info.dli_fname);
  if (n < 0 || (size_t)n >= sizeof dir || realpath(dir, real) == NULL)
    return;
  if (realpath(SAGE_PLUGIN_DIR, installed) != NULL &&
      strcmp(real, installed) == 0)
    return;
  snprintf(buf, cap, "%s", real);
}

/* Copies the effective path list into buf ("" entries kept; callers skip). */
static void path_list(char *buf, size_t cap) {
  const char *env = secure_getenv(SAGE_ENV_PLUGIN_PATH);
  char beside[PATH_MAX];
  beside_library(beside, sizeof beside);
  snprintf(buf, cap, "%s%s%s%s%s", env != NULL ? env : "",
           env != NULL && *env != '\0' ? ":" : "", beside,
           beside[0] != '\0' ? ":" : "", SAGE_PLUGIN_DIR);
}

int sage__search_dirs(int (*fn)(const char *dir, void *ctx), void *ctx) {
  char buf[PATH_LIST_MAX];
  path_list(buf, sizeof buf);
  char *save = NULL;
  for (char *dir = strtok_r(buf, ":", &save); dir != NULL;
       dir = strtok_r(NULL, ":", &save)) {
    int rc = fn(dir, ctx);
    if (rc != 0)
      return rc;
  }
  return 0;
}

SAGE_API const char *sage_plugin_dir(void) {
  static _Thread_local char buf[PATH_LIST_MAX];
  path_list(buf, sizeof buf);
  return buf;
}
