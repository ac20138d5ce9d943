/* shm crash recovery, made deterministic with the zero-copy API: a child
 * reserves (a put in flight) or peeks (a get in flight) and is SIGKILLed
 * before finishing. Survivors must detect the dead owner and carry on. */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <sage/queue.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#define SECOND 1000000000ll

static char qname[64];

/* A failed assertion skips the test's own destroy: remove its queue here. */
static void remove_queue(void) {
  if (qname[0] != '\0')
    sage_queue_unlink("shm", qname, NULL);
}

TestSuite(recovery, .fini = remove_queue);

static sage_queue *create(const char *capacity) {
  static unsigned counter;
  snprintf(qname, sizeof qname, "recovery-%d-%u", (int)getpid(), counter++);
  const char *opts[] = {"create", "always", "capacity", capacity, NULL};
  sage_queue *q;
  cr_assert_eq(sage_queue_open("shm", qname, opts, &q), 0, "%s",
               sage_last_error());
  return q;
}

static sage_queue *attach(void) {
  const char *opts[] = {"create", "never", NULL};
  sage_queue *q;
  if (sage_queue_open("shm", qname, opts, &q) != 0)
    _exit(3);
  return q;
}

static void die(void) {
  kill(getpid(), SIGKILL);
}

/* Runs fn in a child that must end by SIGKILL. */
static void in_child(void (*fn)(void)) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    fn();
    _exit(4); /* fn must not return */
  }
  int status;
  waitpid(pid, &status, 0);
  cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
            "child did not die as planned (status %d)", status);
}

static void get_expect(sage_queue *q, const char *want, int64_t timeout) {
  char buf[4096];
  size_t len = 0;
  int rc = sage_queue_get(q, buf, sizeof buf, &len, timeout);
  cr_assert_eq(rc, 0, "get: %s (%s)", sage_strerror(rc), sage_last_error());
  cr_assert(len == strlen(want) && memcmp(buf, want, len) == 0,
            "got '%.*s', want '%s'", (int)len, buf, want);
}

static void reserve_and_die(void) {
  sage_queue *q = attach();
  void *ptr;
  uint64_t token;
  if (sage_queue_reserve(q, 100, &ptr, &token, SECOND) == 0)
    die();
}

Test(recovery, producer_killed_mid_put) {
  sage_queue *q = create("65536");
  cr_assert_eq(sage_queue_put(q, "before", 6, 0), 0);
  in_child(reserve_and_die);
  cr_assert_eq(sage_queue_put(q, "after", 5, 0), 0);
  get_expect(q, "before", SECOND);
  get_expect(q, "after", 5 * SECOND); /* waits out the dead reservation */
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.abandoned, 1);
  cr_assert_eq(st.total_put, 2);
  cr_assert_eq(st.stale_attached, 1);
  sage_queue_destroy(q);
}

static void peek_and_die(void) {
  sage_queue *q = attach();
  const void *ptr;
  size_t len;
  uint64_t token;
  if (sage_queue_peek(q, &ptr, &len, &token, SECOND) == 0)
    die();
}

static void fill(sage_queue *q, char tag, size_t size, int count) {
  char buf[4096];
  for (int i = 0; i < count; i++) {
    memset(buf, tag + i, size);
    cr_assert_eq(sage_queue_put(q, buf, size, 0), 0, "fill %d: %s", i,
                 sage_last_error());
  }
}

/* The dead consumer holds the head record: a producer waiting for space
 * must see it reclaimed. */
Test(recovery, consumer_killed_mid_get_at_head) {
  sage_queue *q = create("4096"); /* largest message 2048 */
  fill(q, 'a', 2000, 2);
  in_child(peek_and_die);
  char big[2000];
  memset(big, 'z', sizeof big);
  cr_assert_eq(sage_queue_put(q, big, sizeof big, 0), -EAGAIN);
  cr_assert_eq(sage_queue_put(q, big, sizeof big, 5 * SECOND), 0, "%s",
               sage_last_error());
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.abandoned, 1);
  cr_assert_eq(st.items, 2);
  char buf[4096];
  size_t len;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  cr_assert_eq(buf[0], 'b', "the second message comes next");
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  cr_assert_eq(buf[0], 'z');
  sage_queue_destroy(q);
}

/* Records released out of order behind a dead consumer's record are freed
 * once the dead one is reclaimed. */
Test(recovery, consumer_killed_with_later_records_done) {
  sage_queue *q = create("8192"); /* largest message 4096 */
  fill(q, 'a', 2000, 3);
  in_child(peek_and_die); /* holds 'a' */
  char buf[4096];
  size_t len;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  cr_assert_eq(buf[0], 'b');
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  cr_assert_eq(buf[0], 'c');
  cr_assert_eq(stats_of(q).bytes_used, 6000, "head still pinned by 'a'");
  char big[4096];
  memset(big, 'z', sizeof big);
  cr_assert_eq(sage_queue_put(q, big, sizeof big, 5 * SECOND), 0);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.items, 1);
  cr_assert(st.bytes_used >= 4096 && st.bytes_used <= 8192);
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  cr_assert(len == 4096 && buf[0] == 'z');
  sage_queue_destroy(q);
}

/* join() must not wait forever for a message its consumer died holding. */
Test(recovery, join_counts_lost_messages_as_finished) {
  sage_queue *q = create("65536");
  cr_assert_eq(sage_queue_put(q, "task", 4, 0), 0);
  in_child(peek_and_die);
  cr_assert_eq(sage_queue_join(q, 5 * SECOND), 0, "%s", sage_last_error());
  cr_assert_eq(stats_of(q).unfinished, 0);
  sage_queue_destroy(q);
}

static pid_t *grandchild; /* shared with the children below */

/* A fork child that inherits a handle must not keep its parent looking
 * alive: the parent's in-flight put is recovered while the child lives. */
static void parent_forks_then_dies(void) {
  sage_queue *q = attach();
  pid_t pid = fork();
  if (pid == 0) { /* holds the inherited handle, never uses it */
    alarm(60);
    for (;;)
      pause();
  }
  *grandchild = pid;
  void *ptr;
  uint64_t token;
  if (sage_queue_reserve(q, 10, &ptr, &token, SECOND) == 0)
    die();
}

Test(recovery, inherited_handle_does_not_mask_death) {
  grandchild = mmap(NULL, sizeof *grandchild, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  sage_queue *q = create("65536");
  in_child(parent_forks_then_dies);
  cr_assert_eq(kill(*grandchild, 0), 0, "the inheriting child is alive");
  cr_assert_eq(sage_queue_put(q, "next", 4, 0), 0);
  get_expect(q, "next", 5 * SECOND);
  cr_assert_eq(stats_of(q).abandoned, 1);
  kill(*grandchild, SIGKILL);
  sage_queue_destroy(q);
}

static void put_via_inherited(sage_queue *q) {
  pid_t pid = fork();
  if (pid == 0)
    _exit(sage_queue_put(q, "child", 5, SECOND) == 0 && sage_queue_close(q) == 0
              ? 0
              : 1);
  int status;
  waitpid(pid, &status, 0);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "child could not use the inherited handle");
}

Test(recovery, fork_child_reattaches_on_first_use) {
  sage_queue *q = create("65536");
  put_via_inherited(q);
  get_expect(q, "child", 0);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.attached, 1, "the child detached on exit");
  cr_assert_eq(st.stale_attached, 0, "the child closed its handle");
  sage_queue_destroy(q);
}

static void open_and_die(void) {
  attach();
  die();
}

Test(recovery, killed_attachment_is_stale) {
  sage_queue *q = create("65536");
  in_child(open_and_die);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.attached, 1);
  cr_assert_eq(st.stale_attached, 1);
  sage_queue_destroy(q);
}
