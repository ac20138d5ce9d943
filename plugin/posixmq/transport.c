/* The posixmq transport's entry point: descriptor, ops table, open-time
 * options, handle lifetime and fork handling. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "options.h"
#include "posixmq.h"

#define PMQ_VERSION "0.1.0"
#define PMQ_MAX_OPTION (1ull << 40) /* parse bound; the kernel's are lower */
#define OPEN_RETRIES 4 /* auto-create races: the queue vanished/appeared */

/* ---- options ---- */

static const char *const create_modes[] = {"auto", "always", "never", NULL};

#define OPT(key, type, field, lo, hi)                                          \
  { key, type, offsetof(struct pmq_options, field), lo, hi, NULL }

static const struct sage_opt_spec open_specs[] = {
    OPT("capacity", SAGE_OPT_SIZE, capacity, 1, PMQ_MAX_OPTION),
    OPT("max_items", SAGE_OPT_SIZE, max_items, 0, PMQ_MAX_OPTION),
    OPT("msgsize", SAGE_OPT_SIZE, msgsize, 1, PMQ_MAX_OPTION),
    OPT("mode", SAGE_OPT_MODE, mode, 0, 0),
    {"create", SAGE_OPT_ENUM, offsetof(struct pmq_options, create), 0, 0,
     create_modes},
    OPT("uid", SAGE_OPT_SIZE, uid, 0, UINT32_MAX),
    OPT("auto_cleanup", SAGE_OPT_BOOL, auto_cleanup, 0, 0),
};
#define N_OPEN_SPECS (sizeof open_specs / sizeof open_specs[0])

static int parse_options(const char *const *options, struct pmq_options *o) {
  *o = (struct pmq_options){.mode = 0600, .uid = PMQ_UID_SELF};
  char why[512];
  if (sage_opts_parse(options, open_specs, N_OPEN_SPECS, o, why, sizeof why))
    return sage_plugin_fail(-EINVAL, "posixmq: %s", why);
  /* Accepted so hosts may always pass it; only "false" can be kept. */
  if (o->auto_cleanup)
    return sage_plugin_fail(
        -ENOTSUP, "posixmq: auto_cleanup is not supported: POSIX message "
                  "queues do not count their open handles; destroy() the "
                  "queue instead");
  return 0;
}

static int parse_admin(const char *const *options,
                       struct sage_admin_options *a) {
  char why[512];
  if (sage_admin_parse(options, a, why, sizeof why))
    return sage_plugin_fail(-EINVAL, "posixmq: %s", why);
  return 0;
}

/* ---- fork: a child keeps the inherited descriptor and mapping, which
 * stay valid; only process-private state needs care. ---- */

static void before_fork(struct sage_handle_link *link) {
  pthread_mutex_lock(&SAGE_CONTAINER_OF(link, pmq_queue, link)->held_lock);
}

static void after_fork_parent(struct sage_handle_link *link) {
  pthread_mutex_unlock(&SAGE_CONTAINER_OF(link, pmq_queue, link)->held_lock);
}

/* Held messages are the parent's: the child drops its copies, or both
 * processes would deliver them. */
static void after_fork_child(struct sage_handle_link *link) {
  pmq_queue *q = SAGE_CONTAINER_OF(link, pmq_queue, link);
  for (struct pmq_held *h = q->held_head, *next; h != NULL; h = next) {
    next = h->next;
    free(h);
  }
  q->held_head = q->held_tail = NULL;
  q->held_count = 0;
  pthread_mutex_unlock(&q->held_lock);
}

static const struct sage_fork_hooks fork_hooks = {
    before_fork, after_fork_parent, after_fork_child};

/* ---- open ---- */

static int create_queue(pmq_queue *q, const struct pmq_options *o,
                        size_t maxmsg, size_t msgsize) {
  struct mq_attr a = {.mq_maxmsg = (long)maxmsg, .mq_msgsize = (long)msgsize};
  mqd_t m = mq_open(q->mq_name, O_RDWR | O_CREAT | O_EXCL, (mode_t)o->mode, &a);
  if (m == (mqd_t)-1)
    return -errno;
  fchmod((int)m, (mode_t)o->mode); /* the umask must not narrow the mode */
  q->mqd = m;
  return 0;
}

static int open_existing(pmq_queue *q) {
  mqd_t m = mq_open(q->mq_name, O_RDWR);
  if (m == (mqd_t)-1)
    return -errno;
  q->mqd = m;
  return 0;
}

/* Opens per the create option; *created tells whether this call made the
 * queue. Returns 0 or -errno from mq_open. */
static int open_or_create(pmq_queue *q, const struct pmq_options *o,
                          size_t maxmsg, size_t msgsize, int *created) {
  *created = 0;
  if (o->create == PMQ_CREATE_ALWAYS) {
    int rc = create_queue(q, o, maxmsg, msgsize);
    *created = rc == 0;
    return rc;
  }
  int rc = -ENOENT;
  for (int i = 0; i < OPEN_RETRIES; i++) {
    rc = open_existing(q);
    if (rc != -ENOENT || o->create == PMQ_CREATE_NEVER)
      return rc;
    rc = create_queue(q, o, maxmsg, msgsize);
    if (rc != -EEXIST) {
      *created = rc == 0;
      return rc;
    }
  }
  return rc;
}

/* Reads the queue's real geometry and identity; refuses a queue in our
 * name that another user created (it could read or forge our messages). */
static int inspect(pmq_queue *q, unsigned *mode) {
  struct mq_attr a;
  struct stat st;
  if (mq_getattr(q->mqd, &a) != 0 || fstat((int)q->mqd, &st) != 0)
    return sage_plugin_fail(-errno, "posixmq: queue '%s': %s", q->name,
                            strerror(errno));
  if (st.st_uid != q->uid)
    return sage_plugin_fail(
        -EACCES, "posixmq: queue '%s' (%s) is owned by uid %u, not %u", q->name,
        q->mq_name, (unsigned)st.st_uid, q->uid);
  q->maxmsg = (size_t)a.mq_maxmsg;
  q->msgsize = (size_t)a.mq_msgsize;
  q->ino = (uint64_t)st.st_ino;
  *mode = (unsigned)(st.st_mode & 0777);
  return 0;
}

static int open_handle(pmq_queue *q, const struct pmq_options *o) {
  struct pmq_limits l;
  pmq_limits_read(&l);
  size_t maxmsg, msgsize;
  char why[512];
  if (pmq_geometry(o, &l, &maxmsg, &msgsize, why, sizeof why) != 0)
    return sage_plugin_fail(-EINVAL, "posixmq: %s", why);
  int created;
  int rc = open_or_create(q, o, maxmsg, msgsize, &created);
  if (rc != 0)
    return pmq_open_error(q->name, -rc, &l);
  unsigned mode = 0;
  rc = inspect(q, &mode);
  if (rc == 0)
    rc = pmq_page_open(q, mode, created);
  if (rc != 0 && created)
    mq_unlink(q->mq_name);
  return rc;
}

static int pmq_open_op(const char *name, const char *const *options,
                       sage_transport_queue **out) {
  struct pmq_options o;
  int rc = parse_options(options, &o);
  if (rc != 0)
    return rc;
  pmq_queue *q = calloc(1, sizeof *q);
  if (q == NULL)
    return sage_plugin_fail(-ENOMEM, "posixmq: out of memory");
  q->mqd = (mqd_t)-1;
  q->uid = pmq_uid(o.uid);
  snprintf(q->name, sizeof q->name, "%s", name);
  if (pmq_mq_name(name, q->uid, q->mq_name, sizeof q->mq_name) != 0)
    rc =
        sage_plugin_fail(-EINVAL, "posixmq: queue name '%s' is too long", name);
  else
    rc = open_handle(q, &o);
  if (rc != 0) {
    if (q->mqd != (mqd_t)-1)
      mq_close(q->mqd);
    free(q);
    return rc;
  }
  pthread_mutex_init(&q->held_lock, NULL);
  sage_handles_track(&q->link, &fork_hooks);
  *out = q;
  return 0;
}

/* ---- close, destroy ---- */

static int pmq_close_op(sage_transport_queue *q) {
  sage_handles_untrack(&q->link);
  pmq_return_held(q);
  pmq_page_close(q);
  mq_close(q->mqd);
  pthread_mutex_destroy(&q->held_lock);
  free(q);
  return 0;
}

/* Unlinks the queue and its page; handles still open (here or in other
 * processes) keep both until they close, as the kernel keeps unlinked
 * objects alive while they are open or mapped. */
static int pmq_destroy_op(sage_transport_queue *q) {
  int rc = 0;
  if (mq_unlink(q->mq_name) != 0 && errno != ENOENT)
    rc = sage_plugin_fail(-errno, "posixmq: cannot remove queue '%s': %s",
                          q->name, strerror(errno));
  shm_unlink(q->page_name);
  pmq_close_op(q);
  return rc;
}

/* ---- admin ---- */

static int pmq_list_op(const char *const *options, sage_list_cb cb, void *ctx) {
  struct sage_admin_options a;
  int rc = parse_admin(options, &a);
  return rc != 0 ? rc : pmq_list((int)a.all, cb, ctx);
}

static int pmq_unlink_op(const char *name, const char *const *options) {
  struct sage_admin_options a;
  int rc = parse_admin(options, &a);
  if (rc != 0)
    return rc;
  /* The kernel owns these queues: none is ever stale, and who has one
   * open is not known, so unless_attached cannot be checked. */
  if (a.only_if_stale)
    return sage_plugin_fail(-EBUSY, "posixmq queue '%s' is never stale", name);
  if (a.unless_attached)
    return sage_plugin_fail(-ENOTSUP,
                            "posixmq cannot tell whether queue '%s' is open "
                            "anywhere (unless_attached)",
                            name);
  return pmq_unlink_name(name, pmq_uid(a.uid));
}

static const struct sage_transport_ops ops = {
    .size = sizeof(struct sage_transport_ops),
    .open = pmq_open_op,
    .put = pmq_put,
    .get = pmq_get,
    .stats = pmq_stats,
    .close = pmq_close_op,
    .destroy = pmq_destroy_op,
    .list = pmq_list_op,
    .unlink = pmq_unlink_op,
    .depth = pmq_depth,
    .task_done = pmq_task_done,
    .join = pmq_join,
};

/* Capabilities it can keep: not ZERO_COPY or BATCH (no such ops), not
 * CROSS_HOST, and not CRASH_SAFE: the kernel makes each send and receive
 * atomic, but the shared counters and task accounting beside it can be
 * left one operation off by a process killed mid-call. LIST needs the
 * mqueue filesystem mounted (list returns -ENOTSUP otherwise). */
static const struct sage_transport_descriptor descriptor = {
    .abi_version = SAGE_TRANSPORT_ABI_VERSION,
    .size = sizeof(struct sage_transport_descriptor),
    .name = "posixmq",
    .version = PMQ_VERSION,
    .description = "POSIX message queues (mq_open): kernel-owned, blocking, "
                   "bounded by /proc/sys/fs/mqueue",
    .capabilities = SAGE_CAP_MPMC | SAGE_CAP_BLOCKING | SAGE_CAP_CROSS_PROCESS |
                    SAGE_CAP_PERSISTENT | SAGE_CAP_ITEM_BOUND | SAGE_CAP_LIST |
                    SAGE_CAP_WAIT_FLAGS,
    .ops = &ops,
};

SAGE_PLUGIN_EXPORT const struct sage_transport_descriptor *
SAGE_TRANSPORT_ENTRY(const struct sage_host *h) {
  sage_plugin_set_host(h);
  return &descriptor;
}
