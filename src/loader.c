/* Opening one plugin file and checking its descriptor against the load gates
 * of docs/DESIGN.md section 2 (docs/PLUGINS.md, "Load gates"). */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define PLUGIN_PREFIX "sage-"
#define PLUGIN_SUFFIX ".so"

/* Mandatory ops, by offset, for the NULL check and the size floor. */
static const struct {
  const char *name;
  size_t offset;
} mandatory_ops[] = {
    {"open", offsetof(struct sage_transport_ops, open)},
    {"put", offsetof(struct sage_transport_ops, put)},
    {"get", offsetof(struct sage_transport_ops, get)},
    {"stats", offsetof(struct sage_transport_ops, stats)},
    {"close", offsetof(struct sage_transport_ops, close)},
    {"destroy", offsetof(struct sage_transport_ops, destroy)},
};

#define OPS_MIN_SIZE                                                           \
  (offsetof(struct sage_transport_ops, destroy) + sizeof(void (*)(void)))
#define DESC_MIN_SIZE                                                          \
  (offsetof(struct sage_transport_descriptor, ops) +                           \
   sizeof(const struct sage_transport_ops *))

int sage__plugin_stem(const char *path, char *stem, size_t cap) {
  const char *base = strrchr(path, '/');
  base = base != NULL ? base + 1 : path;
  size_t len = strlen(base);
  size_t pre = strlen(PLUGIN_PREFIX), suf = strlen(PLUGIN_SUFFIX);
  if (len <= pre + suf || strncmp(base, PLUGIN_PREFIX, pre) != 0 ||
      strcmp(base + len - suf, PLUGIN_SUFFIX) != 0)
    return SAGE_EBADNAME;
  size_t n = len - pre - suf;
  if (n >= cap)
    return SAGE_EBADNAME;
  memcpy(stem, base + pre, n);
  stem[n] = '\0';
  return sage__transport_name_ok(stem) ? 0 : SAGE_EBADNAME;
}

static int check_version(uint32_t abi, char *why, size_t cap) {
  uint32_t major = SAGE_ABI_MAJOR_OF(abi), minor = SAGE_ABI_MINOR_OF(abi);
  if (major != SAGE_TRANSPORT_ABI_MAJOR) {
    snprintf(why, cap, "built for ABI %u.%u; this host supports %u.x", major,
             minor, SAGE_TRANSPORT_ABI_MAJOR);
    return SAGE_EBADABI;
  }
  if (minor > SAGE_TRANSPORT_ABI_MINOR) {
    snprintf(why, cap,
             "built for ABI %u.%u, newer than this host's %u.%u; "
             "upgrade libsagequeue",
             major, minor, SAGE_TRANSPORT_ABI_MAJOR, SAGE_TRANSPORT_ABI_MINOR);
    return SAGE_EBADABI;
  }
  return 0;
}

static int check_ops(const struct sage_transport_ops *ops, char *why,
                     size_t cap) {
  if (ops == NULL) {
    snprintf(why, cap, "descriptor has no ops table");
    return SAGE_EBADPLUGIN;
  }
  if (ops->size < OPS_MIN_SIZE) {
    snprintf(why, cap, "ops table size %zu is below the mandatory %zu bytes",
             ops->size, (size_t)OPS_MIN_SIZE);
    return SAGE_EBADPLUGIN;
  }
  for (size_t i = 0; i < sizeof mandatory_ops / sizeof mandatory_ops[0]; i++) {
    void (*fn)(void);
    memcpy(&fn, (const char *)ops + mandatory_ops[i].offset, sizeof fn);
    if (fn == NULL) {
      snprintf(why, cap, "mandatory op '%s' is NULL", mandatory_ops[i].name);
      return SAGE_EBADPLUGIN;
    }
  }
  return 0;
}

int sage__descriptor_check(const struct sage_transport_descriptor *desc,
                           const char *stem, char *why, size_t cap) {
  if (desc == NULL) {
    snprintf(why, cap, "entry function returned NULL");
    return SAGE_EBADPLUGIN;
  }
  int rc = check_version(desc->abi_version, why, cap);
  if (rc != 0)
    return rc;
  if (desc->size < DESC_MIN_SIZE) {
    snprintf(why, cap, "descriptor size %u is below the ABI 1.0 size %zu",
             desc->size, (size_t)DESC_MIN_SIZE);
    return SAGE_EBADPLUGIN;
  }
  if (desc->name == NULL || strcmp(desc->name, stem) != 0) {
    snprintf(why, cap, "descriptor name '%.64s' does not match file stem '%s'",
             desc->name != NULL ? desc->name : "(null)", stem);
    return SAGE_EBADPLUGIN;
  }
  rc = check_ops(desc->ops, why, cap);
  return rc != 0 ? rc
                 : sage__capabilities_check(desc->capabilities, desc->ops, why,
                                            cap);
}

/* Gives EACCES/EISDIR/ENOENT their own clear codes before dlopen. */
static int check_file(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return sage__fail(errno == ENOENT ? SAGE_ENOPLUGIN : -errno,
                      "plugin %s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return sage__fail(SAGE_EBADPLUGIN, "plugin %s: not a regular file", path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return sage__fail(-errno, "plugin %s: cannot read: %s", path,
                      strerror(errno));
  close(fd);
  return 0;
}

int sage__plugin_open(const char *path, const char *stem,
                      struct sage__plugin *out) {
  int rc = check_file(path);
  if (rc != 0)
    return rc;
  dlerror();
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (dl == NULL) {
    const char *err = dlerror();
    return sage__fail(SAGE_EBADPLUGIN,
                      "plugin %s: not a loadable shared object: %s", path,
                      err != NULL ? err : "unknown dlopen error");
  }
  sage_transport_entry_fn entry;
  void *sym = dlsym(dl, SAGE_TRANSPORT_ENTRY_SYMBOL);
  memcpy(&entry, &sym, sizeof entry);
  if (entry == NULL) {
    dlclose(dl);
    return sage__fail(SAGE_EBADPLUGIN, "plugin %s: no entry symbol '%s'", path,
                      SAGE_TRANSPORT_ENTRY_SYMBOL);
  }
  const struct sage_transport_descriptor *desc = entry(sage__host());
  char why[512];
  rc = sage__descriptor_check(desc, stem, why, sizeof why);
  if (rc != 0) {
    dlclose(dl);
    return sage__fail(rc, "plugin %s refused: %s", path, why);
  }
  snprintf(out->name, sizeof out->name, "%s", stem);
  out->path = strdup(path);
  if (out->path == NULL) {
    dlclose(dl);
    return sage__fail(-ENOMEM, "plugin %s: out of memory", path);
  }
  out->dl = dl;
  out->desc = desc;
  out->ops = desc->ops;
  return 0;
}

void sage__plugin_close(struct sage__plugin *p) {
  dlclose(p->dl);
  free(p->path);
  p->dl = NULL;
  p->path = NULL;
}
