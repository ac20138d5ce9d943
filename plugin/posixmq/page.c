/* The shared counter page beside each queue. The kernel keeps a queue's
 * messages and current count but no totals, so the totals every process
 * should see (puts, gets, bytes, timeouts, task accounting) live in one
 * small shared-memory object per queue. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "posixmq.h"

_Static_assert(sizeof(struct pmq_page) <= PMQ_PAGE_SIZE, "page too large");

static uint64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* True if `file` is "<prefix><digits>" with digits != keep. */
static int is_other_page(const char *file, const char *prefix, uint64_t keep) {
  size_t n = strlen(prefix);
  if (strncmp(file, prefix, n) != 0 || file[n] < '0' || file[n] > '9')
    return 0;
  char *end;
  unsigned long long ino = strtoull(file + n, &end, 10);
  return *end == '\0' && ino != keep;
}

void pmq_page_unlink_stale(const char *name, uint32_t uid, uint64_t keep_ino) {
  char prefix[PMQ_PATH_MAX];
  int n = snprintf(prefix, sizeof prefix, PMQ_PREFIX "%u-%s" PMQ_PAGE_TAG, uid,
                   name);
  if (n < 0 || (size_t)n >= sizeof prefix)
    return;
  DIR *d = opendir(PMQ_SHM_DIR);
  if (d == NULL)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (is_other_page(e->d_name, prefix, keep_ino)) {
      char path[PMQ_PATH_MAX + 2];
      snprintf(path, sizeof path, "/%s", e->d_name);
      shm_unlink(path);
    }
  closedir(d);
}

/* Opens or exclusively creates the page object; *created tells which. */
static int open_object(pmq_queue *q, unsigned mode, int *created) {
  *created = 1;
  int fd = shm_open(q->page_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                    (mode_t)mode);
  if (fd < 0 && errno == EEXIST) {
    *created = 0;
    fd = shm_open(q->page_name, O_RDWR | O_CLOEXEC, 0);
  }
  if (fd < 0)
    return sage_plugin_fail(
        errno == EPERM ? -EACCES : -errno,
        "posixmq: queue '%s': cannot open its stats page %s%s: %s", q->name,
        PMQ_SHM_DIR, q->page_name, strerror(errno));
  if (*created)
    fchmod(fd, (mode_t)mode); /* the umask must not narrow the mode */
  return fd;
}

/* Sizes the object (zero-filled: a valid page) and maps it. Racing openers
 * size it the same, and posix_fallocate makes a full /dev/shm fail here
 * rather than with SIGBUS on first touch. */
static int map_page(pmq_queue *q, int fd) {
  int err = posix_fallocate(fd, 0, PMQ_PAGE_SIZE);
  if (err != 0)
    return sage_plugin_fail(
        -err, "posixmq: queue '%s': cannot size its stats page: %s", q->name,
        strerror(err));
  void *p =
      mmap(NULL, PMQ_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return sage_plugin_fail(
        -errno, "posixmq: queue '%s': cannot map its stats page: %s", q->name,
        strerror(errno));
  q->page = p;
  return 0;
}

/* Stamps a new page; accepts one already stamped by a peer. */
static int claim(pmq_queue *q) {
  struct pmq_page *p = q->page;
  uint64_t expected = 0;
  /* seq_cst CAS: exactly one opener stamps a zero page. */
  if (!atomic_compare_exchange_strong(&p->magic, &expected, PMQ_PAGE_MAGIC) &&
      expected != PMQ_PAGE_MAGIC)
    return sage_plugin_fail(
        -EBADMSG, "posixmq: queue '%s': %s%s is not a posixmq stats page",
        q->name, PMQ_SHM_DIR, q->page_name);
  expected = 0;
  atomic_compare_exchange_strong(&p->created_ns, &expected, wall_ns());
  expected = 0;
  atomic_compare_exchange_strong(&p->creator_pid, &expected,
                                 (uint64_t)getpid());
  return 0;
}

int pmq_page_open(pmq_queue *q, unsigned mode, int fresh) {
  if (pmq_page_name(q->name, q->uid, q->ino, q->page_name,
                    sizeof q->page_name) != 0)
    return sage_plugin_fail(-EINVAL, "posixmq: queue name '%s' is too long",
                            q->name);
  if (fresh)
    pmq_page_unlink_stale(q->name, q->uid, q->ino);
  int created;
  int fd = open_object(q, mode, &created);
  if (fd < 0)
    return fd;
  int rc = map_page(q, fd);
  close(fd);
  if (rc == 0 && (rc = claim(q)) != 0)
    pmq_page_close(q);
  return rc;
}

void pmq_page_close(pmq_queue *q) {
  if (q->page != NULL)
    munmap(q->page, PMQ_PAGE_SIZE);
  q->page = NULL;
}
