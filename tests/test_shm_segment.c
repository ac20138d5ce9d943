/* shm segments: hostile or broken segments under a queue's name, mode
 * bits, foreign owners, the create/open race, destroy while attached,
 * auto-cleanup. Every bad segment must give a clear error, never a crash
 * (this suite also runs under ASan). */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sage/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SECOND 1000000000ll
#define RACERS 24

static char qname[64], qpath[128];

static void fresh_name(const char *tag) {
  static unsigned counter;
  snprintf(qname, sizeof qname, "seg-%s-%d-%u", tag, (int)getpid(), counter++);
  snprintf(qpath, sizeof qpath, "/dev/shm/sageq-%u-%s", (unsigned)geteuid(),
           qname);
}

static void remove_queue(void) {
  if (qname[0] != '\0')
    unlink(qpath);
}

TestSuite(segment, .fini = remove_queue);

static int open_q(const char *const *opts, sage_queue **q) {
  return sage_queue_open("shm", qname, opts, q);
}

static void write_segment(const void *bytes, size_t n) {
  int fd = open(qpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
  cr_assert(fd >= 0);
  cr_assert_eq(write(fd, bytes, n), (ssize_t)n);
  close(fd);
}

static void expect_corrupt(const char *needle) {
  sage_queue *q = NULL;
  int rc = open_q(NULL, &q); /* create=auto must not overwrite it */
  cr_assert_eq(rc, -EBADMSG, "open gave %d (%s)", rc, sage_last_error());
  cr_assert_null(q);
  cr_assert(strstr(sage_last_error(), qname) != NULL, "%s", sage_last_error());
  cr_assert(strstr(sage_last_error(), needle) != NULL, "'%s' lacks '%s'",
            sage_last_error(), needle);
  struct stat st;
  cr_assert_eq(stat(qpath, &st), 0, "the bad segment must be left alone");
}

Test(segment, zero_size) {
  fresh_name("zero");
  write_segment("", 0);
  expect_corrupt("smaller than a header");
}

Test(segment, wrong_magic) {
  fresh_name("magic");
  static unsigned char zeros[1 << 16];
  write_segment(zeros, sizeof zeros);
  expect_corrupt("bad magic");
}

Test(segment, random_header) {
  fresh_name("random");
  static unsigned char junk[1 << 16];
  srand(7);
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (unsigned char)rand();
  write_segment(junk, sizeof junk);
  expect_corrupt("bad magic");
}

/* Makes a real queue, then rewrites one header field in its file. */
static void poke(size_t offset, const void *value, size_t n) {
  const char *opts[] = {"create", "always", "capacity", "8192", NULL};
  sage_queue *q;
  cr_assert_eq(open_q(opts, &q), 0, "%s", sage_last_error());
  sage_queue_close(q);
  int fd = open(qpath, O_RDWR);
  cr_assert(fd >= 0);
  cr_assert_eq(pwrite(fd, value, n, (off_t)offset), (ssize_t)n);
  close(fd);
}

/* Header field offsets (plugin/shm/layout.h, layout version 3). */
enum {
  OFF_VERSION = 8,
  OFF_TOTAL = 16,
  OFF_CAPACITY = 24,
  OFF_SLOTS = 32,
  OFF_SLOT_SIZE = 36,
  OFF_SLOTS_OFF = 56
};

Test(segment, wrong_version) {
  fresh_name("version");
  uint32_t v = 99;
  poke(OFF_VERSION, &v, sizeof v);
  expect_corrupt("layout version 99");
}

Test(segment, absurd_offsets) {
  fresh_name("offsets");
  uint64_t off = 1ull << 60;
  poke(OFF_SLOTS_OFF, &off, sizeof off);
  expect_corrupt("offsets do not match");
}

Test(segment, capacity_not_power_of_two) {
  fresh_name("capacity");
  uint64_t cap = 12345;
  poke(OFF_CAPACITY, &cap, sizeof cap);
  expect_corrupt("not a power of two");
}

Test(segment, slot_count_out_of_range) {
  fresh_name("slots");
  uint32_t slots = 0x80000000u;
  poke(OFF_SLOTS, &slots, sizeof slots);
  expect_corrupt("slot count");
}

Test(segment, slot_size_out_of_range) {
  uint32_t sizes[] = {0, 48, 256};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    fresh_name("slotsize");
    poke(OFF_SLOT_SIZE, &sizes[i], sizeof sizes[i]);
    expect_corrupt("slot size");
    remove_queue();
  }
}

Test(segment, truncated) {
  fresh_name("truncated");
  const char *opts[] = {"create", "always", NULL};
  sage_queue *q;
  cr_assert_eq(open_q(opts, &q), 0);
  sage_queue_close(q);
  cr_assert_eq(truncate(qpath, 8192), 0);
  expect_corrupt("but its header needs");
}

static mode_t mode_of(void) {
  struct stat st;
  cr_assert_eq(stat(qpath, &st), 0);
  return st.st_mode & 0777;
}

Test(segment, mode_0600_by_default_whatever_the_umask) {
  fresh_name("mode");
  umask(0);
  sage_queue *q;
  cr_assert_eq(open_q(NULL, &q), 0);
  cr_assert_eq(mode_of(), 0600);
  sage_queue_destroy(q);
  fresh_name("mode");
  umask(077);
  const char *wider[] = {"mode", "0640", NULL};
  cr_assert_eq(open_q(wider, &q), 0);
  cr_assert_eq(mode_of(), 0640);
  sage_queue_destroy(q);
}

Test(segment, foreign_owner_refused_unless_trusted) {
  if (geteuid() != 0)
    cr_skip_test("needs root to chown a segment to another user");
  fresh_name("foreign");
  sage_queue *q;
  cr_assert_eq(open_q(NULL, &q), 0);
  sage_queue_close(q);
  cr_assert_eq(chown(qpath, 65534, 65534), 0);
  cr_assert_eq(open_q(NULL, &q), -EACCES);
  cr_assert(strstr(sage_last_error(), "allow_foreign") != NULL, "%s",
            sage_last_error());
  const char *trust[] = {"allow_foreign", "1", NULL};
  cr_assert_eq(open_q(trust, &q), 0, "%s", sage_last_error());
  sage_queue_destroy(q);
}

/* Many processes open the same new name at once: all must end up on one
 * initialised segment, and no temporary file may be left behind. */
Test(segment, create_open_race) {
  fresh_name("race");
  int go[2];
  cr_assert_eq(pipe(go), 0);
  pid_t pids[RACERS];
  for (int i = 0; i < RACERS; i++) {
    pids[i] = fork();
    if (pids[i] == 0) {
      char c;
      close(go[1]);
      if (read(go[0], &c, 1) != 0)
        _exit(3);
      sage_queue *q;
      const char *opts[] = {"capacity", "65536", NULL};
      if (open_q(opts, &q) != 0)
        _exit(1);
      int rc = sage_queue_put(q, &i, sizeof i, SECOND);
      sage_queue_close(q);
      _exit(rc == 0 ? 0 : 2);
    }
  }
  close(go[0]);
  close(go[1]); /* releases every racer at once */
  for (int i = 0; i < RACERS; i++) {
    int status;
    waitpid(pids[i], &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "racer %d failed (%d)", i, status);
  }
  const char *never[] = {"create", "never", NULL};
  sage_queue *q;
  cr_assert_eq(open_q(never, &q), 0);
  int seen[RACERS] = {0};
  for (int i = 0; i < RACERS; i++) {
    int v = -1;
    size_t len;
    cr_assert_eq(sage_queue_get(q, &v, sizeof v, &len, 0), 0,
                 "message %d missing: a racer used another segment", i);
    cr_assert(v >= 0 && v < RACERS && !seen[v]);
    seen[v] = 1;
  }
  sage_queue_destroy(q);
  /* Only our racers' temporary names: other processes of this user may be
   * creating queues of their own right now. */
  for (int i = 0; i < RACERS; i++) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls /dev/shm | grep -q '^sageq-%u-\\.tmp-%d-'",
             (unsigned)geteuid(), (int)pids[i]);
    cr_assert_neq(system(cmd), 0, "racer %d left a temporary segment", i);
  }
}

Test(segment, destroy_while_another_process_is_attached) {
  fresh_name("destroy");
  sage_queue *q;
  cr_assert_eq(open_q(NULL, &q), 0);
  int ready[2], done[2];
  cr_assert(pipe(ready) == 0 && pipe(done) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    const char *never[] = {"create", "never", NULL};
    sage_queue *mine;
    char c = 0, buf[8];
    size_t len;
    if (open_q(never, &mine) != 0 || write(ready[1], &c, 1) != 1 ||
        read(done[0], &c, 1) != 1)
      _exit(1);
    /* the name is gone now; the attached queue keeps working */
    int ok = sage_queue_put(mine, "still", 5, 0) == 0 &&
             sage_queue_get(mine, buf, sizeof buf, &len, 0) == 0 && len == 5;
    sage_queue_close(mine);
    _exit(ok ? 0 : 2);
  }
  char c;
  cr_assert_eq(read(ready[0], &c, 1), 1);
  cr_assert_eq(sage_queue_destroy(q), 0);
  const char *never[] = {"create", "never", NULL};
  cr_assert_eq(open_q(never, &q), -ENOENT);
  cr_assert_eq(write(done[1], &c, 1), 1);
  int status;
  waitpid(pid, &status, 0);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(segment, auto_cleanup_on_last_close) {
  fresh_name("auto");
  const char *opts[] = {"auto_cleanup", "1", NULL};
  sage_queue *a, *b;
  cr_assert_eq(open_q(opts, &a), 0);
  cr_assert_eq(open_q(NULL, &b), 0);
  sage_queue_close(a);
  struct stat st;
  cr_assert_eq(stat(qpath, &st), 0, "b is still attached");
  sage_queue_close(b);
  cr_assert_neq(stat(qpath, &st), 0, "last close removes the queue");
}

Test(segment, observe_only_handles_cannot_move_messages) {
  fresh_name("observe");
  sage_queue *q, *o;
  cr_assert_eq(open_q(NULL, &q), 0);
  cr_assert_eq(sage_queue_put(q, "x", 1, 0), 0);
  const char *observe[] = {"attach", "0", NULL};
  cr_assert_eq(open_q(observe, &o), 0);
  struct sage_stats st = {.size = sizeof st};
  cr_assert_eq(sage_queue_stats(o, &st), 0);
  cr_assert_eq(st.items, 1);
  cr_assert_eq(st.attached, 1, "observing is not attaching");
  cr_assert_eq(sage_queue_put(o, "y", 1, 0), -EPERM);
  sage_queue_close(o);
  sage_queue_destroy(q);
}

Test(segment, oversize_capacity_is_clear) {
  fresh_name("huge");
  const char *opts[] = {"capacity", "64G", NULL};
  sage_queue *q;
  cr_assert_eq(open_q(opts, &q), -EINVAL);
  cr_assert(strstr(sage_last_error(), "capacity") != NULL, "%s",
            sage_last_error());
}

/* Conditional removal by name is decided under the queue's lifecycle lock,
 * so tools cannot race a process that is attaching. */
Test(segment, conditional_unlink) {
  fresh_name("unlinkif");
  sage_queue *q;
  cr_assert_eq(open_q(NULL, &q), 0);
  const char *unless[] = {"unless_attached", "1", NULL};
  const char *stale[] = {"only_if_stale", "1", NULL};
  cr_assert_eq(sage_queue_unlink("shm", qname, unless), -EBUSY);
  cr_assert(strstr(sage_last_error(), "in use by 1 process") != NULL, "%s",
            sage_last_error());
  cr_assert_eq(sage_queue_unlink("shm", qname, stale), -EBUSY);
  pid_t pid = fork();
  if (pid == 0) { /* an attachment that dies without closing */
    const char *never[] = {"create", "never", NULL};
    sage_queue *mine;
    _exit(open_q(never, &mine) == 0 ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  sage_queue_close(q); /* ours closes cleanly: only the dead one remains */
  cr_assert_eq(sage_queue_unlink("shm", qname, stale), 0, "%s",
               sage_last_error());
  struct stat st;
  cr_assert_neq(stat(qpath, &st), 0);
}
