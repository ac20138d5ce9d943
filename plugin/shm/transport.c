/* The shm transport's entry point: descriptor, ops table, open-time options,
 * handle lifetime and fork handling. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "options.h"
#include "shm.h"
#include "steps.h"

#define SHM_VERSION "0.1.0"
#define DEFAULT_SPIN_NS 5000
#define DEFAULT_SPIN_MAX_NS 100000 /* adaptive spin ceiling (wait.c) */
/* Spinning longer than a sleep slice (recover.c: 10 ms up) only delays the
 * stall checks; 100 ms is far past any wake-up cost. */
#define SHM_MAX_SPIN_NS 100000000

/* ---- options ---- */

static const char *const create_modes[] = {"auto", "always", "never", NULL};

#define OPT(key, type, field, lo, hi)                                          \
  { key, type, offsetof(struct shm_options, field), lo, hi, NULL }

static const struct sage_opt_spec open_specs[] = {
    OPT("capacity", SAGE_OPT_SIZE, capacity, SHM_MIN_CAPACITY,
        SHM_MAX_CAPACITY),
    OPT("max_items", SAGE_OPT_SIZE, max_items, 0, SHM_MAX_SLOTS),
    OPT("mode", SAGE_OPT_MODE, mode, 0, 0),
    {"create", SAGE_OPT_ENUM, offsetof(struct shm_options, create), 0, 0,
     create_modes},
    OPT("auto_cleanup", SAGE_OPT_BOOL, auto_cleanup, 0, 0),
    OPT("attach_max", SAGE_OPT_SIZE, attach_max, 1, SHM_MAX_ATTACH),
    OPT("slots", SAGE_OPT_SIZE, slots, 0, SHM_MAX_SLOTS),
    OPT("slot_size", SAGE_OPT_SIZE, slot_size, SHM_MIN_SLOT_SIZE,
        SHM_MAX_SLOT_SIZE),
    OPT("spin_ns", SAGE_OPT_SIZE, spin_ns, 0, 1000000000),
    OPT("spin_max_ns", SAGE_OPT_SIZE, spin_max_ns, 0, SHM_MAX_SPIN_NS),
    OPT("attach", SAGE_OPT_BOOL, attach, 0, 0),
    OPT("allow_foreign", SAGE_OPT_BOOL, allow_foreign, 0, 0),
    OPT("uid", SAGE_OPT_SIZE, uid, 0, UINT32_MAX),
    OPT("stall_timeout_ms", SAGE_OPT_SIZE, stall_timeout_ns, 0,
        SHM_MAX_STALL_TIMEOUT_NS / 1000000),
    OPT("first_ticket", SAGE_OPT_SIZE, first_ticket, 0, UINT32_MAX),
    OPT("first_unit", SAGE_OPT_SIZE, first_unit, 0, UINT32_MAX),
};
#define N_OPEN_SPECS (sizeof open_specs / sizeof open_specs[0])

static int parse_options(const char *const *options, struct shm_options *o) {
  *o = (struct shm_options){
      .capacity = SHM_DEFAULT_CAPACITY,
      .mode = 0600,
      .attach_max = SHM_DEFAULT_ATTACH,
      .slot_size = SHM_MIN_SLOT_SIZE,
      .spin_ns = DEFAULT_SPIN_NS,
      .spin_max_ns = DEFAULT_SPIN_MAX_NS,
      .attach = 1,
      .uid = SHM_UID_SELF,
  };
  char why[512];
  if (sage_opts_parse(options, open_specs, N_OPEN_SPECS, o, why, sizeof why))
    return sage_plugin_fail(-EINVAL, "shm: %s", why);
  o->stall_timeout_ns *= 1000000; /* given in milliseconds */
  return 0;
}

/* ---- fork: children re-attach on first use ---- */

/* A fresh open file description of q's segment: through /proc, else by
 * name if that still names the same file. -1 if neither works. */
static int fresh_description(shm_queue *q) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", q->fd);
  int fd = SHM_TEST_NO_PROC() ? -1 : open(path, O_RDWR | O_CLOEXEC);
  if (fd >= 0)
    return fd;
  struct stat mine, named;
  fd = shm_open(q->shm_name, O_RDWR | O_CLOEXEC, 0);
  if (fd >= 0 && (fstat(fd, &named) != 0 || fstat(q->fd, &mine) != 0 ||
                  named.st_ino != mine.st_ino || named.st_dev != mine.st_dev)) {
    close(fd); /* the name now belongs to another queue */
    fd = -1;
  }
  return fd;
}

/* The inherited descriptor and mapping share the parent's open file
 * description, and with it the parent's liveness lock and attachment: a
 * child using them would take over the parent's entry, and keep a dead
 * parent looking alive. Swap both for a fresh description of the same
 * file (the shared memory itself is unchanged); failing that, drop them,
 * and the handle reports that it cannot be used here. */
static void reopen_in_child(shm_queue *q) {
  int fd = fresh_description(q);
  void *at = fd < 0 ? MAP_FAILED
                    : mmap(q->hdr, q->map_size, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_FIXED, fd, 0);
  if (at == MAP_FAILED) {
    if (fd >= 0)
      close(fd);
    fd = -1; /* keep the address range reserved, holding nothing */
    mmap(q->hdr, q->map_size, PROT_NONE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  }
  close(q->fd);
  q->fd = fd;
}

static void after_fork_child(struct sage_handle_link *link) {
  shm_queue *q = SAGE_CONTAINER_OF(link, shm_queue, link);
  if (q->observe || q->fd < 0)
    return;
  reopen_in_child(q);
  q->index = -1;
  atomic_store(&q->forked, 1);
}

static const struct sage_fork_hooks fork_hooks = {.child = after_fork_child};

/* ---- ops ---- */

static int shm_open_op(const char *name, const char *const *options,
                       sage_transport_queue **out) {
  struct shm_options o;
  int rc = parse_options(options, &o);
  if (rc != 0)
    return rc;
  shm_queue *q = calloc(1, sizeof *q);
  if (q == NULL)
    return sage_plugin_fail(-ENOMEM, "out of memory");
  q->fd = -1;
  q->index = -1;
  q->observe = !o.attach;
  q->spin_ns = (int64_t)o.spin_ns;
  q->spin_max_ns = (int64_t)o.spin_max_ns;
  atomic_init(&q->spin_data_ns, q->spin_ns);
  atomic_init(&q->spin_space_ns, q->spin_ns);
  rc = shm_segment_open(q, name, &o);
  if (rc != 0) {
    free(q);
    return rc;
  }
  if (o.auto_cleanup && !q->observe)
    atomic_store(&q->hdr->auto_cleanup, 1);
  sage_handles_track(&q->link, &fork_hooks);
  *out = q;
  return 0;
}

/* Detaches; unlinks the name too if auto-cleanup is on and we were last. */
static void detach(shm_queue *q) {
  if (q->index < 0 || shm_lifecycle_lock(q) != 0) {
    shm_attach_release(q);
    return;
  }
  shm_attach_release(q);
  uint32_t live, dead;
  int32_t none[1];
  shm_attach_census(q, &live, &dead, none, 0);
  if (live == 0 && atomic_load(&q->hdr->auto_cleanup) &&
      atomic_exchange(&q->hdr->unlinked, 1) == 0)
    shm_unlink(q->shm_name);
  shm_lifecycle_unlock(q);
}

static int shm_close_op(sage_transport_queue *q) {
  sage_handles_untrack(&q->link);
  if (!q->observe && !atomic_load(&q->forked))
    detach(q);
  shm_segment_unmap(q);
  free(q);
  return 0;
}

static int shm_destroy_op(sage_transport_queue *q) {
  int rc = 0;
  if (atomic_load(&q->forked) && q->fd < 0)
    rc = sage_plugin_fail(-EBADF, "queue '%s': cannot destroy after fork",
                          q->name);
  else
    rc = shm_segment_unlink(q, UNLINK_ALWAYS);
  shm_close_op(q);
  return rc;
}

static int shm_stats_op(sage_transport_queue *q, struct sage_stats *st) {
  return shm_stats(q, st);
}

static int parse_admin(const char *const *options,
                       struct sage_admin_options *a) {
  char why[512];
  if (sage_admin_parse(options, a, why, sizeof why))
    return sage_plugin_fail(-EINVAL, "shm: %s", why);
  return 0;
}

static int shm_list_op(const char *const *options, sage_list_cb cb, void *ctx) {
  struct sage_admin_options a;
  int rc = parse_admin(options, &a);
  return rc != 0 ? rc : shm_segment_list((int)a.all, cb, ctx);
}

static int shm_unlink_op(const char *name, const char *const *options) {
  struct sage_admin_options a;
  int rc = parse_admin(options, &a);
  if (rc != 0)
    return rc;
  struct shm_options o = {.uid = a.uid, .allow_foreign = 1};
  enum shm_unlink_when when = a.only_if_stale     ? UNLINK_ONLY_IF_STALE
                              : a.unless_attached ? UNLINK_UNLESS_ATTACHED
                                                  : UNLINK_ALWAYS;
  return shm_segment_unlink_name(name, &o, (int)a.force, when);
}

static int shm_attachments_op(sage_transport_queue *q, int32_t *pids,
                              size_t cap) {
  uint32_t live, dead;
  shm_attach_census(q, &live, &dead, pids, cap);
  return (int)live;
}

static const struct sage_transport_ops ops = {
    .size = sizeof(struct sage_transport_ops),
    .open = shm_open_op,
    .put = shm_put,
    .get = shm_get,
    .stats = shm_stats_op,
    .close = shm_close_op,
    .destroy = shm_destroy_op,
    .put_batch = shm_put_batch,
    .get_batch = shm_get_batch,
    .reserve = shm_reserve,
    .commit = shm_commit,
    .cancel = shm_cancel,
    .peek = shm_peek,
    .release = shm_release,
    .list = shm_list_op,
    .unlink = shm_unlink_op,
    .attachments = shm_attachments_op,
    .depth = shm_depth,
    .task_done = shm_task_done,
    .join = shm_join,
};

static const struct sage_transport_descriptor descriptor = {
    .abi_version = SAGE_TRANSPORT_ABI_VERSION,
    .size = sizeof(struct sage_transport_descriptor),
    .name = "shm",
    .version = SHM_VERSION,
    .description = "POSIX shared-memory MPMC ring: blocking, zero-copy, "
                   "survives processes dying mid-operation",
    .capabilities = SAGE_CAP_MPMC | SAGE_CAP_BLOCKING | SAGE_CAP_CROSS_PROCESS |
                    SAGE_CAP_ZERO_COPY | SAGE_CAP_BATCH | SAGE_CAP_PERSISTENT |
                    SAGE_CAP_CRASH_SAFE | SAGE_CAP_ITEM_BOUND | SAGE_CAP_LIST |
                    SAGE_CAP_OBSERVE | SAGE_CAP_WAIT_FLAGS,
    .ops = &ops,
};

SAGE_PLUGIN_EXPORT const struct sage_transport_descriptor *
SAGE_TRANSPORT_ENTRY(const struct sage_host *h) {
  sage_plugin_set_host(h);
  return &descriptor;
}
