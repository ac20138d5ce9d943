/* Segments: race-free creation, opening and mapping (validate.c checks
 * what is mapped), and unlinking an open queue. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

static uint64_t next_pow2(uint64_t x) {
  uint64_t p = 1;
  while (p < x)
    p <<= 1;
  return p;
}

static uint64_t random_id(void) {
  uint64_t id;
  if (getrandom(&id, sizeof id, GRND_NONBLOCK) != sizeof id)
    id = (uint64_t)time(NULL) * 6364136223846793005ull ^ (uint64_t)getpid();
  return id;
}

static uint64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int shm_segment_name(const char *name, uint32_t uid, char *out, size_t cap) {
  int n = snprintf(out, cap, "/" SHM_NAME_PREFIX "%u-%s", uid, name);
  return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

/* Positions start at (first_ticket, first_unit); every slot holds the lap
 * before the first ticket that will use it, so no ticket looks published
 * (or resolvable) before it is. The DEAD/LOST tallies count from there. */
static void init_positions(struct shm_header *h, const struct shm_geometry *g,
                           uint32_t ticket, uint32_t unit) {
  struct shm_slot *slots = (struct shm_slot *)((char *)h + g->slots_off);
  const uint32_t n = g->slot_count;
  for (uint32_t i = 0; i < n; i++)
    atomic_store_explicit(
        &shm_slot_at(slots, (ticket + i) & (n - 1), g->slot_shift)->ctl,
        shm_ctl(ticket + i - n, SLOT_DONE), memory_order_relaxed);
  atomic_store_explicit(&h->tail, shm_pos(ticket, unit), memory_order_relaxed);
  atomic_store_explicit(&h->head, shm_pos(ticket, unit), memory_order_relaxed);
  atomic_store_explicit(&h->read, ticket, memory_order_relaxed);
  atomic_store_explicit(&h->dead_tally, ticket, memory_order_relaxed);
  atomic_store_explicit(&h->lost_tally, ticket, memory_order_relaxed);
}

static void init_header(struct shm_header *h, const struct shm_geometry *g,
                        const struct shm_options *o) {
  h->layout_version = SHM_LAYOUT_VERSION;
  h->header_size = sizeof *h;
  h->total_size = g->total_size;
  h->capacity = g->capacity;
  h->slot_count = g->slot_count;
  h->slot_size = 1u << g->slot_shift;
  h->max_items = (uint32_t)o->max_items;
  h->attach_max = g->attach_max;
  h->lanes_per_attach = SHM_LANES;
  h->attach_size = sizeof(struct shm_attach);
  h->slots_off = g->slots_off;
  h->attach_off = g->attach_off;
  h->ring_off = g->ring_off;
  h->segment_id = random_id();
  h->creator_uid = (uint32_t)geteuid();
  h->creator_pid = getpid();
  h->created_ns = realtime_ns();
  h->mode = (uint32_t)o->mode;
  h->stall_timeout_ns = o->stall_timeout_ns;
  atomic_store_explicit(&h->auto_cleanup, (uint32_t)o->auto_cleanup,
                        memory_order_relaxed);
  init_positions(h, g, (uint32_t)o->first_ticket, (uint32_t)o->first_unit);
  /* Fresh tmpfs pages are zero: attachments start free. The magic goes
   * last; link() then publishes the whole segment. */
  atomic_thread_fence(memory_order_release);
  h->magic = SHM_MAGIC;
}

static int plan_geometry(const struct shm_options *o, struct shm_geometry *g) {
  uint64_t capacity = next_pow2(
      o->capacity < SHM_MIN_CAPACITY ? SHM_MIN_CAPACITY : o->capacity);
  uint64_t slots = o->slots;
  if (slots == 0 && o->max_items != 0)
    slots = o->max_items;
  else if (slots == 0) /* one per 64 bytes, as far as the table allows */
    slots = capacity / 64 < SHM_MAX_SLOTS ? capacity / 64 : SHM_MAX_SLOTS;
  slots = next_pow2(slots < SHM_MIN_SLOTS ? SHM_MIN_SLOTS : slots);
  if (capacity > SHM_MAX_CAPACITY || slots > SHM_MAX_SLOTS)
    return sage_plugin_fail(
        -EINVAL,
        "capacity %llu or slot count %llu too large "
        "(max %llu bytes, %u slots)",
        (unsigned long long)capacity, (unsigned long long)slots,
        (unsigned long long)SHM_MAX_CAPACITY, SHM_MAX_SLOTS);
  if (o->max_items > slots)
    return sage_plugin_fail(-EINVAL, "max_items %llu exceeds slots %llu",
                            (unsigned long long)o->max_items,
                            (unsigned long long)slots);
  if (o->slot_size != next_pow2(o->slot_size))
    return sage_plugin_fail(-EINVAL,
                            "slot_size %llu is not 32, 64 or 128 bytes",
                            (unsigned long long)o->slot_size);
  shm_layout_size(capacity, (uint32_t)slots, (uint32_t)o->slot_size,
                  (uint32_t)o->attach_max, g);
  g->max_items = (uint32_t)o->max_items;
  g->item_bound = g->max_items ? g->max_items : g->slot_count;
  g->stall_timeout_ns = (int64_t)o->stall_timeout_ns;
  return 0;
}

static int size_segment(int fd, const char *name, uint64_t total) {
  int err = posix_fallocate(fd, 0, (off_t)total);
  if (err == 0)
    return 0;
  if (err == ENOSPC || err == EFBIG)
    return sage_plugin_fail(-ENOSPC,
                            "no room in " SHM_DIR
                            " for queue '%s' (%llu bytes): %s; "
                            "free space there or use a smaller capacity",
                            name, (unsigned long long)total, strerror(err));
  return sage_plugin_fail(-err, "cannot size queue '%s': %s", name,
                          strerror(err));
}

int shm_open_fail(const char *what, const char *name, int err) {
  if (err == ENOSPC) /* tmpfs: out of inodes (nr_inodes) as well as bytes */
    return sage_plugin_fail(
        -ENOSPC,
        "cannot %s queue '%s': no room in " SHM_DIR
        " (no space or no inodes left); free space there or "
        "remove unused queues (sage-queue gc)",
        what, name);
  if (err == EMFILE || err == ENFILE)
    return sage_plugin_fail(
        -err, "cannot %s queue '%s': out of file descriptors (%s)", what, name,
        strerror(err));
  return sage_plugin_fail(-err, "cannot %s queue '%s': %s", what, name,
                          strerror(err));
}

/* The file a new segment is built in, and the path to publish it from.
 * Preferably unnamed (O_TMPFILE, published through /proc/self/fd): a
 * creator killed before publishing then leaves nothing, since the file goes
 * with its last descriptor. Else a uniquely named temporary in `tmp`, which
 * such a creator leaves behind in /dev/shm. */
static int new_segment_file(const struct shm_options *o, char *tmp,
                            size_t tmp_cap, char *from, size_t from_cap) {
  static _Atomic uint32_t counter;
  tmp[0] = '\0';
  int fd = open(SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, (mode_t)o->mode);
  if (fd >= 0) {
    snprintf(from, from_cap, "/proc/self/fd/%d", fd);
    if (access(from, F_OK) == 0)
      return fd;
    close(fd); /* no /proc to name it through */
  } else if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    return -1; /* a real failure (no space, no descriptors...), in errno */
  }
  snprintf(tmp, tmp_cap, "/" SHM_NAME_PREFIX "%u-.tmp-%d-%u-%08x",
           (unsigned)geteuid(), getpid(), atomic_fetch_add(&counter, 1),
           (unsigned)random_id());
  snprintf(from, from_cap, SHM_DIR "%s", tmp);
  return shm_open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)o->mode);
}

/* Builds a new segment in a file nobody can open by the queue's name, then
 * publishes it with linkat(), which fails if the name exists: openers only
 * ever see fully initialised segments. Returns -EEXIST if another process
 * won. */
static int create_segment(shm_queue *q, const struct shm_options *o) {
  struct shm_geometry g;
  int rc = plan_geometry(o, &g);
  if (rc != 0)
    return rc;
  char tmp[SHM_PATH_MAX], from[SHM_PATH_MAX + 16], to[SHM_PATH_MAX + 16];
  int fd = new_segment_file(o, tmp, sizeof tmp, from, sizeof from);
  if (fd < 0)
    return shm_open_fail("create", q->name, errno);
  void *base = MAP_FAILED;
  if (fchmod(fd, (mode_t)o->mode) != 0)
    rc = shm_open_fail("set the mode of", q->name, errno);
  else
    rc = size_segment(fd, q->name, g.total_size);
  if (rc == 0) {
    base = mmap(NULL, g.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
      rc = shm_open_fail("map", q->name, errno);
  }
  if (rc == 0) {
    q->geo = g;
    init_header(base, &g, o);
    snprintf(to, sizeof to, SHM_DIR "%s", q->shm_name);
    if (linkat(AT_FDCWD, from, AT_FDCWD, to, AT_SYMLINK_FOLLOW) != 0)
      rc = errno == EEXIST ? -EEXIST : shm_open_fail("publish", q->name, errno);
  }
  if (tmp[0] != '\0')
    shm_unlink(tmp);
  if (rc != 0) {
    if (base != MAP_FAILED)
      munmap(base, g.total_size);
    close(fd);
    return rc;
  }
  shm_segment_views(q, base);
  q->map_size = g.total_size;
  q->fd = fd;
  q->segment_id = q->hdr->segment_id;
  return 0;
}

static int check_owner(const shm_queue *q, const struct stat *st,
                       const struct shm_options *o) {
  if (st->st_uid == geteuid() || o->allow_foreign || !o->attach)
    return 0;
  return sage_plugin_fail(
      -EACCES,
      "queue '%s' (%s%s) is owned by uid %u, not %u: its contents "
      "could be forged; pass allow_foreign=1 to trust it",
      q->name, SHM_DIR, q->shm_name, (unsigned)st->st_uid, (unsigned)geteuid());
}

static int map_existing(shm_queue *q, int fd, const struct stat *st,
                        int writable) {
  char why[256];
  uint64_t size = (uint64_t)st->st_size;
  if (size < sizeof(struct shm_header))
    return sage_plugin_fail(
        -EBADMSG,
        "queue '%s' is corrupt: segment is %llu bytes, smaller "
        "than a header (remove it with sage-queue rm --force)",
        q->name, (unsigned long long)size);
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void *base = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED)
    return shm_open_fail("map", q->name, errno);
  int rc = shm_header_validate(base, size, &q->geo, why, sizeof why);
  if (rc != 0) {
    munmap(base, size);
    return sage_plugin_fail(rc, "queue '%s' is corrupt or foreign: %s", q->name,
                            why);
  }
  shm_segment_views(q, base);
  q->map_size = size;
  q->segment_id = q->hdr->segment_id;
  return 0;
}

static int open_existing(shm_queue *q, const struct shm_options *o) {
  /* Observers map read-only: looking at a queue can never change it. */
  int writable = o->attach || o->admin;
  int fd = shm_open(q->shm_name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == ENOENT)
      return sage_plugin_fail(-ENOENT, "no queue named '%s' (no %s%s)", q->name,
                              SHM_DIR, q->shm_name);
    return shm_open_fail("open", q->name, errno);
  }
  struct stat st;
  int rc = fstat(fd, &st) == 0 ? 0 : shm_open_fail("stat", q->name, errno);
  if (rc == 0)
    rc = check_owner(q, &st, o);
  if (rc == 0)
    rc = map_existing(q, fd, &st, writable);
  if (rc != 0) {
    close(fd);
    return rc;
  }
  q->fd = fd;
  return 0;
}

static int open_or_create(shm_queue *q, const struct shm_options *o) {
  if (o->create == CREATE_ALWAYS || !o->attach)
    return o->attach ? create_segment(q, o) : open_existing(q, o);
  int rc = open_existing(q, o);
  if (rc != -ENOENT || o->create == CREATE_NEVER)
    return rc;
  rc = create_segment(q, o);
  return rc == -EEXIST ? open_existing(q, o) : rc;
}

void shm_segment_unmap(shm_queue *q) {
  if (q->hdr != NULL)
    munmap(q->hdr, q->map_size);
  if (q->fd >= 0)
    close(q->fd);
  q->hdr = NULL;
  q->fd = -1;
}

int shm_segment_open(shm_queue *q, const char *name,
                     const struct shm_options *o) {
  snprintf(q->name, sizeof q->name, "%s", name);
  uint32_t uid =
      o->uid == SHM_UID_SELF ? (uint32_t)geteuid() : (uint32_t)o->uid;
  if (shm_segment_name(name, uid, q->shm_name, sizeof q->shm_name) != 0)
    return sage_plugin_fail(-ENAMETOOLONG, "queue name '%s' is too long", name);
  for (int attempt = 0; attempt < 8; attempt++) {
    int rc = open_or_create(q, o);
    if (rc != 0)
      return rc;
    if (!o->attach)
      return 0;
    rc = shm_attach_register(q, 0);
    if (rc != -ESTALE)
      return rc;
    shm_segment_unmap(q); /* it was destroyed while we opened it: retry */
    if (o->create == CREATE_NEVER)
      return sage_plugin_fail(-ENOENT, "queue '%s' was destroyed", name);
  }
  return sage_plugin_fail(
      -EAGAIN, "queue '%s' keeps being destroyed and recreated", name);
}

/* Caller holds the lifecycle lock. */
static int unlink_allowed(shm_queue *q, enum shm_unlink_when when) {
  if (when == UNLINK_ALWAYS)
    return 0;
  uint32_t live, dead;
  int32_t pids[8];
  shm_attach_census(q, &live, &dead, pids, 8);
  if (when == UNLINK_UNLESS_ATTACHED && live > 0)
    return sage_plugin_fail(
        -EBUSY, "queue '%s' is in use by %u process%s (pid %d%s)", q->name,
        live, live == 1 ? "" : "es", (int)pids[0], live > 1 ? ", ..." : "");
  if (when == UNLINK_ONLY_IF_STALE && (live > 0 || dead == 0))
    return sage_plugin_fail(-EBUSY,
                            "queue '%s' is not stale (%u live, %u dead "
                            "attachments)",
                            q->name, live, dead);
  return 0;
}

int shm_segment_unlink(shm_queue *q, enum shm_unlink_when when) {
  int rc = shm_lifecycle_lock(q);
  if (rc != 0)
    return rc;
  rc = unlink_allowed(q, when);
  if (rc == 0 && atomic_exchange(&q->hdr->unlinked, 1) == 0 &&
      shm_unlink(q->shm_name) != 0 && errno != ENOENT)
    rc = sage_plugin_fail(-errno, "cannot remove queue '%s': %s", q->name,
                          strerror(errno));
  shm_lifecycle_unlock(q);
  return rc;
}
