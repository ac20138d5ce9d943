/* Listing every plugin file on the search path, for tools. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct entry {
  char *name, *path, *version, *description, *error;
  uint32_t abi;
  uint64_t caps;
  int status;
};

struct sage_plugin_list {
  struct entry *items;
  size_t count, cap;
};

static int seen(const struct sage_plugin_list *l, const char *name) {
  for (size_t i = 0; i < l->count; i++)
    if (strcmp(l->items[i].name, name) == 0)
      return 1;
  return 0;
}

static char *dup_or_empty(const char *s) {
  return strdup(s != NULL ? s : "");
}

/* Copies what the list shows: the plugin may be unloaded right after. */
static void copy_descriptor(const struct sage__plugin *p, void *arg) {
  struct entry *e = arg;
  e->version = dup_or_empty(p->desc->version);
  e->description = dup_or_empty(p->desc->description);
  e->abi = p->desc->abi_version;
  e->caps = p->desc->capabilities;
  e->error = strdup("");
}

static void fill_entry(struct entry *e, const char *path, const char *name) {
  e->name = strdup(name);
  e->path = strdup(path);
  e->status = sage__registry_peek(path, copy_descriptor, e);
  if (e->status != 0) {
    e->version = strdup("");
    e->description = strdup("");
    e->error = strdup(sage_last_error());
  }
}

static int add_path(struct sage_plugin_list *l, const char *path,
                    const char *name) {
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    struct entry *items = realloc(l->items, cap * sizeof *items);
    if (items == NULL)
      return -ENOMEM;
    l->items = items;
    l->cap = cap;
  }
  struct entry *e = &l->items[l->count++];
  memset(e, 0, sizeof *e);
  fill_entry(e, path, name);
  return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int plugin_file(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  return n > 8 && strncmp(d->d_name, "sage-", 5) == 0 &&
         strcmp(d->d_name + n - 3, ".so") == 0;
}

/* Name shown for a file: its stem, or the raw file name if it has none. */
static void display_name(const char *file, char *out, size_t cap) {
  if (sage__plugin_stem(file, out, cap) != 0)
    snprintf(out, cap, "%s", file);
}

static int scan_dir(const char *dir, void *arg) {
  struct sage_plugin_list *l = arg;
  struct dirent **names;
  int n = scandir(dir, &names, plugin_file, by_name);
  if (n < 0)
    return 0; /* a missing or unreadable dir is skipped, like $PATH */
  int rc = 0;
  for (int i = 0; i < n; i++) {
    char path[4096], name[256];
    display_name(names[i]->d_name, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
    if (rc == 0 && !seen(l, name))
      rc = add_path(l, path, name);
    free(names[i]);
  }
  free(names);
  return rc;
}

SAGE_API int sage_plugins_scan(sage_plugin_list **out) {
  if (out == NULL)
    return sage__fail(-EINVAL, "sage_plugins_scan: out is NULL");
  struct sage_plugin_list *l = calloc(1, sizeof *l);
  if (l == NULL)
    return sage__fail(-ENOMEM, "out of memory");
  char saved[SAGE__DETAIL_MAX]; /* refusals are per entry, not failures */
  snprintf(saved, sizeof saved, "%s", sage_last_error());
  int rc = sage__search_dirs(scan_dir, l);
  if (rc != 0) {
    sage_plugins_free(l);
    return sage__fail(rc, "out of memory while listing plugins");
  }
  sage__set_detail(saved);
  *out = l;
  return 0;
}

SAGE_API size_t sage_plugins_count(const sage_plugin_list *l) {
  return l != NULL ? l->count : 0;
}

#define FIELD(l, i) (&(l)->items[(i)])
#define VALID(l, i) ((l) != NULL && (i) < (l)->count)

SAGE_API const char *sage_plugins_name(const sage_plugin_list *l, size_t i) {
  return VALID(l, i) ? FIELD(l, i)->name : NULL;
}
SAGE_API const char *sage_plugins_path(const sage_plugin_list *l, size_t i) {
  return VALID(l, i) ? FIELD(l, i)->path : NULL;
}
SAGE_API const char *sage_plugins_version(const sage_plugin_list *l, size_t i) {
  return VALID(l, i) ? FIELD(l, i)->version : NULL;
}
SAGE_API const char *sage_plugins_description(const sage_plugin_list *l,
                                              size_t i) {
  return VALID(l, i) ? FIELD(l, i)->description : NULL;
}
SAGE_API uint32_t sage_plugins_abi(const sage_plugin_list *l, size_t i) {
  return VALID(l, i) ? FIELD(l, i)->abi : 0;
}
SAGE_API uint64_t sage_plugins_capabilities(const sage_plugin_list *l,
                                            size_t i) {
  return VALID(l, i) ? FIELD(l, i)->caps : 0;
}
SAGE_API int sage_plugins_status(const sage_plugin_list *l, size_t i) {
  return VALID(l, i) ? FIELD(l, i)->status : -EINVAL;
}
SAGE_API const char *sage_plugins_error(const sage_plugin_list *l, size_t i) {
  return VALID(l, i) ? FIELD(l, i)->error : NULL;
}

SAGE_API void sage_plugins_free(sage_plugin_list *l) {
  if (l == NULL)
    return;
  for (size_t i = 0; i < l->count; i++) {
    struct entry *e = &l->items[i];
    free(e->name);
    free(e->path);
    free(e->version);
    free(e->description);
    free(e->error);
  }
  free(l->items);
  free(l);
}
