/* Resource exhaustion: a full /dev/shm, too many queues, too many
 * attachments, no file descriptors left, processes killed while asleep in
 * put/get, and signals interrupting blocked calls. Each must give a clear
 * error (or keep working), never a crash, SIGBUS or a wedged queue.
 *
 * The /dev/shm tests mount a small private tmpfs over /dev/shm in a new
 * mount namespace (Criterion runs each test in its own process, so the
 * mount never leaks); they skip where that is not permitted. */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sage/queue.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../test_util.h"

#define MS 1000000ll
#define SECOND (1000 * MS)

static char qname[64];

static const char *fresh_name(const char *tag) {
  static unsigned counter;
  snprintf(qname, sizeof qname, "exh-%s-%d-%u", tag, (int)getpid(), counter++);
  return qname;
}

static void remove_queue(void) {
  if (qname[0] != '\0')
    sage_queue_unlink("shm", qname, NULL);
}

TestSuite(exhaustion, .fini = remove_queue, .timeout = 60);

static int open_named(const char *name, const char *const *opts,
                      sage_queue **q) {
  return sage_queue_open("shm", name, opts, q);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * SECOND + ts.tv_nsec;
}

static void assert_detail(const char *needle) {
  cr_assert(strstr(sage_last_error(), needle) != NULL, "'%s' lacks '%s'",
            sage_last_error(), needle);
}

/* ---- a private, small /dev/shm ---- */

static void private_dev_shm(const char *mount_options) {
  if (geteuid() != 0)
    cr_skip_test("needs root to mount a private tmpfs over /dev/shm");
  if (unshare(CLONE_NEWNS) != 0)
    cr_skip_test("unshare(CLONE_NEWNS) not permitted: %s", strerror(errno));
  cr_assert_eq(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL), 0, "%s",
               strerror(errno));
  if (mount("sage-test", "/dev/shm", "tmpfs", 0, mount_options) != 0)
    cr_skip_test("cannot mount tmpfs on /dev/shm: %s", strerror(errno));
}

static int shm_entries(void) {
  DIR *d = opendir("/dev/shm");
  cr_assert_not_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* Writes a file until the file system is full; returns bytes written. */
static size_t fill_dev_shm(void) {
  int fd = open("/dev/shm/filler", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  cr_assert(fd >= 0);
  static char block[4096];
  size_t total = 0;
  ssize_t n;
  while ((n = write(fd, block, sizeof block)) > 0)
    total += (size_t)n;
  cr_assert_eq(errno, ENOSPC);
  close(fd);
  return total;
}

Test(exhaustion, full_dev_shm_gives_enospc_at_create) {
  private_dev_shm("size=256k,mode=1777");
  const char *opts[] = {"capacity", "1M", NULL};
  sage_queue *q = NULL;
  int rc = open_named(fresh_name("full"), opts, &q);
  cr_assert_eq(rc, -ENOSPC, "open gave %d (%s)", rc, sage_last_error());
  cr_assert_null(q);
  assert_detail("no room in /dev/shm");
  assert_detail(qname);
  cr_assert_eq(shm_entries(), 0, "a failed create must leave nothing behind");
}

Test(exhaustion, largest_capacity_on_small_dev_shm_gives_enospc) {
  private_dev_shm("size=1m,mode=1777");
  const char *opts[] = {"capacity", "4G", NULL};
  sage_queue *q = NULL;
  int64_t start = now_ns();
  cr_assert_eq(open_named(fresh_name("huge"), opts, &q), -ENOSPC, "%s",
               sage_last_error());
  cr_assert_lt(now_ns() - start, 5 * SECOND, "ENOSPC must come at once");
  assert_detail("no room in /dev/shm");
  cr_assert_eq(shm_entries(), 0);
}

/* The queue's pages are allocated at create (posix_fallocate), so filling
 * /dev/shm afterwards cannot make its ring fault: lap the ring many times
 * with every other byte of the file system taken. */
Test(exhaustion, existing_queue_keeps_working_when_dev_shm_fills) {
  private_dev_shm("size=512k,mode=1777");
  const char *opts[] = {"capacity", "64K", "attach_max", "4", NULL};
  sage_queue *q;
  cr_assert_eq(open_named(fresh_name("keeps"), opts, &q), 0, "%s",
               sage_last_error());
  cr_assert_gt(fill_dev_shm(), 0);
  static char msg[8000], out[8000];
  for (int i = 0; i < 200; i++) { /* 200 * 8000 bytes: ~24 laps of 64K */
    memset(msg, 'a' + i % 26, sizeof msg);
    size_t len;
    cr_assert_eq(sage_queue_put(q, msg, sizeof msg, 0), 0, "%s",
                 sage_last_error());
    cr_assert_eq(sage_queue_get(q, out, sizeof out, &len, 0), 0);
    cr_assert(len == sizeof msg && memcmp(out, msg, len) == 0);
  }
  sage_queue *other = NULL;
  cr_assert_eq(open_named("exh-another", opts, &other), -ENOSPC);
  sage_queue_destroy(q);
}

/* Control for the test above: the same full file system does SIGBUS a
 * writer whose pages were not allocated up front, so the test would see
 * one if the transport skipped posix_fallocate. */
Test(exhaustion, sparse_mapping_would_sigbus_control) {
  private_dev_shm("size=256k,mode=1777");
  int fd = open("/dev/shm/sparse", O_RDWR | O_CREAT, 0600);
  cr_assert(fd >= 0);
  cr_assert_eq(ftruncate(fd, 128 * 1024), 0);
  char *p = mmap(NULL, 128 * 1024, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  cr_assert(p != MAP_FAILED);
  fill_dev_shm();
  pid_t pid = fork();
  if (pid == 0) {
    memset(p, 1, 128 * 1024);
    _exit(0); /* only if every page could be written */
  }
  int status;
  waitpid(pid, &status, 0);
  /* Killed by SIGBUS, or (in sanitizer builds) the sanitizer's SIGBUS
   * report and exit: either way the writes faulted. */
  cr_assert(!(WIFEXITED(status) && WEXITSTATUS(status) == 0),
            "a sparse mapping on a full tmpfs was written without a fault");
}

Test(exhaustion, too_many_queues_gives_clear_error) {
  private_dev_shm("size=64m,nr_inodes=6,mode=1777");
  const char *opts[] = {"capacity", "4096", NULL};
  sage_queue *qs[16];
  int made = 0, rc = 0;
  char names[16][64];
  while (made < 16) {
    snprintf(names[made], sizeof names[made], "exh-many-%d", made);
    rc = open_named(names[made], opts, &qs[made]);
    if (rc != 0)
      break;
    made++;
  }
  cr_assert_gt(made, 0);
  cr_assert_lt(made, 16, "the inode limit never bit");
  cr_assert_eq(rc, -ENOSPC, "open gave %d (%s)", rc, sage_last_error());
  assert_detail(names[made]);
  assert_detail("no room in /dev/shm");
  for (int i = 0; i < made; i++)
    sage_queue_destroy(qs[i]);
  cr_assert_eq(open_named(names[made], opts, &qs[0]), 0,
               "room again once queues are destroyed: %s", sage_last_error());
  sage_queue_destroy(qs[0]);
}

/* Creators SIGKILLed at random points of creating a large queue (most of
 * it spent allocating its pages) must leave nothing that holds space: no
 * temporary file that nothing would ever remove, which repeated crashes
 * would pile up until /dev/shm is full. Published queues whose creator
 * died are ordinary idle queues (sage-queue gc removes them). */
Test(exhaustion, creators_killed_mid_create_leave_nothing_behind) {
  private_dev_shm("size=1g,mode=1777");
  const char *opts[] = {"create", "always", "capacity", "128M", NULL};
  sage_queue *q;
  int64_t start = now_ns();
  cr_assert_eq(open_named("exh-timing", opts, &q), 0, "%s", sage_last_error());
  int64_t create_ns = now_ns() - start;
  sage_queue_destroy(q);
  int unpublished = 0;
  for (int i = 0; i < 30; i++) {
    char name[64];
    snprintf(name, sizeof name, "exh-crash-%d", i);
    pid_t pid = fork();
    if (pid == 0) {
      open_named(name, opts, &q);
      pause();
    }
    struct timespec ts = {0, (long)(rand() % (create_ns / 1000 + 1)) * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unpublished += sage_queue_unlink("shm", name, NULL) == -ENOENT;
  }
  cr_log_info("%d of 30 creators died before publishing", unpublished);
  cr_assert_eq(shm_entries(), 0, "a killed creator left a file behind");
  struct statvfs fs;
  cr_assert_eq(statvfs("/dev/shm", &fs), 0);
  cr_assert_eq(fs.f_blocks - fs.f_bfree, 0, "%llu blocks still held",
               (unsigned long long)(fs.f_blocks - fs.f_bfree));
}

/* ---- attachments ---- */

Test(exhaustion, too_many_attachments_gives_eusers) {
  const char *opts[] = {"capacity", "4096", "attach_max", "2", NULL};
  sage_queue *a, *b, *c = NULL;
  cr_assert_eq(open_named(fresh_name("users"), opts, &a), 0);
  cr_assert_eq(open_named(qname, NULL, &b), 0);
  cr_assert_eq(open_named(qname, NULL, &c), -EUSERS);
  cr_assert_null(c);
  assert_detail("attach_max");
  assert_detail(qname);
  sage_queue_close(b); /* a closed handle frees its entry */
  cr_assert_eq(open_named(qname, NULL, &b), 0);
  sage_queue_close(b);

  int ready[2];
  cr_assert_eq(pipe(ready), 0);
  pid_t pid = fork();
  if (pid == 0) { /* takes the last entry, then dies holding it */
    sage_queue *mine;
    char x = 1;
    if (open_named(qname, NULL, &mine) != 0 || write(ready[1], &x, 1) != 1)
      _exit(1);
    pause();
  }
  char x;
  cr_assert_eq(read(ready[0], &x, 1), 1);
  cr_assert_eq(open_named(qname, NULL, &c), -EUSERS);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  cr_assert_eq(open_named(qname, NULL, &c), 0,
               "a dead process's entry is reclaimed: %s", sage_last_error());
  sage_queue_close(c);
  sage_queue_destroy(a);
}

/* ---- file descriptors ---- */

/* Under Valgrind, whose descriptor limit is emulated, an O_CREAT open can
 * create its file and only then fail with EMFILE (the kernel refuses before
 * creating anything). Removes temporary segments this process left that
 * way, so they cannot upset other tests sharing /dev/shm. */
static void remove_own_temporaries(void) {
  char prefix[64];
  int n = snprintf(prefix, sizeof prefix, "sageq-%u-.tmp-%d-",
                   (unsigned)geteuid(), (int)getpid());
  DIR *d = opendir("/dev/shm");
  if (d == NULL)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strncmp(e->d_name, prefix, (size_t)n) == 0)
      unlinkat(dirfd(d), e->d_name, 0);
  closedir(d);
}

Test(exhaustion, no_descriptors_left_gives_emfile) {
  sage_queue *q, *other = NULL;
  cr_assert_eq(open_named(fresh_name("fds"), NULL, &q), 0);
  struct rlimit rl;
  cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  rl.rlim_cur = 64; /* soft limit only: Valgrind refuses hard-limit changes */
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "%s", strerror(errno));
  int fds[64], n = 0;
  while (n < 64 && (fds[n] = open("/dev/null", O_RDONLY)) >= 0)
    n++;
  cr_assert_eq(errno, EMFILE);
  int rc = open_named("exh-fds-other", NULL, &other);
  cr_assert_eq(rc, -EMFILE, "open gave %d (%s)", rc, sage_last_error());
  cr_assert_null(other);
  assert_detail("out of file descriptors");
  rc = open_named(qname, NULL, &other); /* opening an existing one too */
  cr_assert_eq(rc, -EMFILE, "open gave %d (%s)", rc, sage_last_error());
  char buf[8];
  size_t len;
  cr_assert_eq(sage_queue_put(q, "still", 5, 0), 0, "%s", sage_last_error());
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  while (n > 0)
    close(fds[--n]);
  remove_own_temporaries();
  cr_assert_eq(open_named(qname, NULL, &other), 0);
  sage_queue_close(other);
  sage_queue_destroy(q);
}

/* ---- processes killed while asleep ---- */

/* Forks a child that opens `name` and blocks in get (or put). */
static pid_t blocked_child(const char *name, int putter) {
  pid_t pid = fork();
  if (pid == 0) {
    sage_queue *q;
    static char msg[2000];
    size_t len;
    if (open_named(name, NULL, &q) != 0)
      _exit(1);
    if (putter)
      sage_queue_put(q, msg, sizeof msg, -1);
    else
      sage_queue_get(q, msg, sizeof msg, &len, -1);
    _exit(2);
  }
  return pid;
}

static void wait_for_waiters(sage_queue *q, uint64_t readers,
                             uint64_t writers) {
  for (int i = 0; i < 500; i++) {
    struct sage_stats st = stats_of(q);
    if (st.waiting_readers == readers && st.waiting_writers == writers)
      return;
    usleep(10000);
  }
  cr_assert_fail("waiters never reached %llu/%llu", (unsigned long long)readers,
                 (unsigned long long)writers);
}

Test(exhaustion, killed_sleepers_do_not_stay_counted_as_waiters) {
  const char *opts[] = {"capacity", "4096", NULL};
  sage_queue *empty, *full;
  char full_name[64];
  cr_assert_eq(open_named(fresh_name("sleep-full"), opts, &full), 0);
  snprintf(full_name, sizeof full_name, "%s", qname);
  static char msg[2000];
  for (int i = 0; i < 2; i++) /* 4000 of 4096 bytes: no room for 2000 */
    cr_assert_eq(sage_queue_put(full, msg, sizeof msg, 0), 0);
  cr_assert_eq(open_named(fresh_name("sleep-empty"), opts, &empty), 0);

  pid_t getter = blocked_child(qname, 0), putter = blocked_child(full_name, 1);
  wait_for_waiters(empty, 1, 0);
  wait_for_waiters(full, 0, 1);
  kill(getter, SIGKILL);
  kill(putter, SIGKILL);
  waitpid(getter, NULL, 0);
  waitpid(putter, NULL, 0);

  sage_queue *e2, *f2; /* the next attach takes the dead counts back */
  cr_assert_eq(open_named(qname, NULL, &e2), 0);
  cr_assert_eq(open_named(full_name, NULL, &f2), 0);
  wait_for_waiters(empty, 0, 0);
  wait_for_waiters(full, 0, 0);
  size_t len;
  cr_assert_eq(sage_queue_get(f2, msg, sizeof msg, &len, 0), 0);
  cr_assert_eq(sage_queue_put(e2, msg, 10, 0), 0);
  cr_assert_eq(sage_queue_get(empty, msg, sizeof msg, &len, 0), 0);
  sage_queue_close(e2);
  sage_queue_close(f2);
  sage_queue_destroy(full);
  sage_queue_destroy(empty);
}

/* ---- signals ---- */

static void on_alarm(int sig) {
  (void)sig;
}

/* SIGALRM after ms, then every 50 ms: a signal that lands before the call
 * goes to sleep cannot interrupt it, so one more comes. */
static void arm_alarm(long ms) {
  struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 50000}, {ms / 1000, (ms % 1000) * 1000}};
  setitimer(ITIMER_REAL, &it, NULL);
}

static void disarm_alarm(void) {
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
}

Test(exhaustion, signal_interrupts_blocked_get_and_put_promptly) {
  const char *opts[] = {"capacity", "4096", NULL};
  sage_queue *q;
  cr_assert_eq(open_named(fresh_name("signal"), opts, &q), 0);
  static char buf[2000];
  size_t len;

  arm_alarm(100);
  int64_t start = now_ns();
  int rc = sage_queue_get(q, buf, sizeof buf, &len, -1);
  int64_t took = now_ns() - start;
  disarm_alarm();
  cr_assert_eq(rc, -EINTR, "get gave %d", rc);
  cr_assert(took >= 90 * MS && took < 2000 * MS, "took %lld ns",
            (long long)took);

  for (int i = 0; i < 2; i++) /* 4000 of 4096 bytes */
    cr_assert_eq(sage_queue_put(q, buf, sizeof buf, 0), 0);
  arm_alarm(100);
  start = now_ns();
  rc = sage_queue_put(q, buf, sizeof buf, -1); /* no room for a third */
  took = now_ns() - start;
  disarm_alarm();
  cr_assert_eq(rc, -EINTR, "put gave %d", rc);
  cr_assert_lt(took, 2000 * MS);

  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.waiting_readers, 0);
  cr_assert_eq(st.waiting_writers, 0);
  cr_assert_eq(st.items, 2, "the interrupted put left nothing behind");
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  cr_assert_eq(len, sizeof buf);
  cr_assert_eq(sage_queue_put(q, "ok", 2, 0), 0, "the queue still works");
  sage_queue_destroy(q);
}
