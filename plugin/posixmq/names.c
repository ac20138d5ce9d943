/* Queue naming, listing through the mqueue filesystem, and removal by name
 * without opening. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posixmq.h"

uint32_t pmq_uid(uint64_t opt_uid) {
  return opt_uid == PMQ_UID_SELF ? (uint32_t)geteuid() : (uint32_t)opt_uid;
}

int pmq_mq_name(const char *name, uint32_t uid, char *out, size_t cap) {
  int n = snprintf(out, cap, "/" PMQ_PREFIX "%u-%s", uid, name);
  return (n < 0 || (size_t)n >= cap) ? -EINVAL : 0;
}

int pmq_page_name(const char *name, uint32_t uid, uint64_t ino, char *out,
                  size_t cap) {
  int n = snprintf(out, cap, "/" PMQ_PREFIX "%u-%s" PMQ_PAGE_TAG "%llu", uid,
                   name, (unsigned long long)ino);
  return (n < 0 || (size_t)n >= cap) ? -EINVAL : 0;
}

/* Where the mqueue filesystem is mounted (usually /dev/mqueue), or -ENOENT.
 * POSIX queues work without it; only listing needs it. */
static int mqueue_mount(char *dir, size_t cap) {
  FILE *f = setmntent("/proc/self/mounts", "re");
  if (f == NULL)
    return -ENOENT;
  struct mntent ent;
  char buf[4096];
  int rc = -ENOENT;
  while (getmntent_r(f, &ent, buf, sizeof buf) != NULL)
    if (strcmp(ent.mnt_type, "mqueue") == 0 &&
        (size_t)snprintf(dir, cap, "%s", ent.mnt_dir) < cap) {
      rc = 0;
      break;
    }
  endmntent(f);
  return rc;
}

/* Splits "sagemq-<uid>-<name>" into its owner and queue name. */
static int parse_entry(const char *file, uint32_t *uid, const char **name) {
  size_t pre = strlen(PMQ_PREFIX);
  if (strncmp(file, PMQ_PREFIX, pre) != 0 || file[pre] < '0' || file[pre] > '9')
    return 0;
  char *end;
  unsigned long v = strtoul(file + pre, &end, 10);
  if (*end != '-' || end[1] == '\0' || v > UINT32_MAX)
    return 0;
  *uid = (uint32_t)v;
  *name = end + 1;
  return 1;
}

int pmq_list(int all_users, sage_list_cb cb, void *ctx) {
  char dir[PMQ_PATH_MAX];
  if (mqueue_mount(dir, sizeof dir) != 0)
    return sage_plugin_fail(-ENOTSUP,
                            "posixmq: listing needs the mqueue filesystem, "
                            "which is not mounted (mount -t mqueue none "
                            "/dev/mqueue)");
  DIR *d = opendir(dir);
  if (d == NULL)
    return sage_plugin_fail(-errno, "posixmq: cannot read %s: %s", dir,
                            strerror(errno));
  uint32_t me = (uint32_t)geteuid();
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    uint32_t uid;
    const char *name;
    if (parse_entry(e->d_name, &uid, &name) && (all_users || uid == me))
      rc = cb(name, uid, ctx);
  }
  closedir(d);
  return rc;
}

/* The inode of queue `mq_name`, or 0 if it cannot be opened. */
static uint64_t queue_inode(const char *mq_name) {
  mqd_t mqd = mq_open(mq_name, O_RDONLY);
  if (mqd == (mqd_t)-1)
    return 0;
  struct stat st;
  uint64_t ino = fstat((int)mqd, &st) == 0 ? (uint64_t)st.st_ino : 0;
  mq_close(mqd);
  return ino;
}

int pmq_unlink_name(const char *name, uint32_t uid) {
  char mq_name[PMQ_PATH_MAX];
  if (pmq_mq_name(name, uid, mq_name, sizeof mq_name) != 0)
    return sage_plugin_fail(-EINVAL, "posixmq: queue name '%s' is too long",
                            name);
  uint64_t ino = queue_inode(mq_name);
  if (mq_unlink(mq_name) != 0) {
    int err = errno;
    if (err == ENOENT)
      return sage_plugin_fail(-ENOENT, "posixmq: queue '%s' does not exist",
                              name);
    return sage_plugin_fail(err == EPERM ? -EACCES : -err,
                            "posixmq: cannot remove queue '%s': %s", name,
                            strerror(err));
  }
  char page[PMQ_PATH_MAX];
  if (ino != 0 && pmq_page_name(name, uid, ino, page, sizeof page) == 0)
    shm_unlink(page);
  return 0;
}
