/* The plugin search path: $SAGE_PLUGIN_PATH entries, then the installed
 * plugin dir. */
#include "config.h"

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

/* Copies the effective path list into buf ("" entries kept; callers skip). */
static void path_list(char *buf, size_t cap) {
  const char *env = secure_getenv(SAGE_ENV_PLUGIN_PATH);
  if (env != NULL && *env != '\0')
    snprintf(buf, cap, "%s:%s", env, SAGE_PLUGIN_DIR);
  else
    snprintf(buf, cap, "%s", SAGE_PLUGIN_DIR);
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
