/* Name-level administration: removing a queue by name (under its
 * lifecycle lock, or forced) and listing the queues in /dev/shm. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm.h"

int shm_segment_unlink_name(const char *name, const struct shm_options *opts,
                            int force, enum shm_unlink_when when) {
  shm_queue q = {.fd = -1, .index = -1, .observe = 1};
  struct shm_options o = *opts;
  o.attach = 0;
  o.admin = 1;
  o.create = CREATE_NEVER;
  if (force) {
    char path[SHM_PATH_MAX];
    uint32_t uid =
        o.uid == SHM_UID_SELF ? (uint32_t)geteuid() : (uint32_t)o.uid;
    if (shm_segment_name(name, uid, path, sizeof path) != 0)
      return sage_plugin_fail(-ENAMETOOLONG, "queue name '%s' is too long",
                              name);
    if (shm_unlink(path) == 0)
      return 0;
    return errno == ENOENT
               ? sage_plugin_fail(-ENOENT, "no queue named '%s'", name)
               : shm_open_fail("remove", name, errno);
  }
  int rc = shm_segment_open(&q, name, &o);
  if (rc == 0) {
    rc = shm_segment_unlink(&q, when);
    shm_segment_unmap(&q);
  }
  return rc;
}

/* Splits "sageq-<uid>-<name>" (temporary files excluded). */
static int parse_entry(const char *file, uint32_t *uid, const char **name) {
  size_t pre = strlen(SHM_NAME_PREFIX);
  if (strncmp(file, SHM_NAME_PREFIX, pre) != 0)
    return 0;
  char *end;
  unsigned long v = strtoul(file + pre, &end, 10);
  if (end == file + pre || *end != '-' || end[1] == '.' || end[1] == '\0')
    return 0;
  *uid = (uint32_t)v;
  *name = end + 1;
  return 1;
}

int shm_segment_list(int all_users, sage_list_cb cb, void *ctx) {
  DIR *dir = opendir(SHM_DIR);
  if (dir == NULL)
    return sage_plugin_fail(-errno, "cannot read " SHM_DIR ": %s",
                            strerror(errno));
  struct dirent *e;
  int rc = 0;
  uint32_t me = (uint32_t)geteuid();
  while (rc == 0 && (e = readdir(dir)) != NULL) {
    uint32_t uid;
    const char *name;
    if (parse_entry(e->d_name, &uid, &name) && (all_users || uid == me))
      rc = cb(name, uid, ctx);
  }
  closedir(dir);
  return rc;
}
