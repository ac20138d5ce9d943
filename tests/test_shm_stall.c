/* stall_timeout: a producer stopped (SIGSTOP) in the middle of a put is
 * taken over after the queue's stall_timeout, so consumers go on; its late
 * publish then fails with -ECANCELED, or succeeds if the survivors
 * published its finished record for it. Uses the step-point build of the
 * plugin (tests/steps) to stop the producer at an exact point. */
#include "config.h"

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <sage/queue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#define MS 1000000ll
#define SECOND (1000 * MS)

static char qname[64];
static const char *stop_at;

static void use_step_build(void) {
  const char *steps = getenv("SAGE_TEST_STEPS");
  cr_assert_not_null(steps, "SAGE_TEST_STEPS is not set (run via make check)");
  setenv("SAGE_PLUGIN_PATH", steps, 1);
}

static void remove_queue(void) {
  if (qname[0] != '\0')
    sage_queue_unlink("shm", qname, NULL);
}

TestSuite(stall, .init = use_step_build, .fini = remove_queue);

static sage_queue *open_queue(const char *create, const char *stall_ms) {
  const char *opts[] = {"create",           create,   "capacity", "64K",
                        "stall_timeout_ms", stall_ms, NULL};
  sage_queue *q;
  cr_assert_eq(sage_queue_open("shm", qname, opts, &q), 0, "%s",
               sage_last_error());
  return q;
}

static void stop_here(const char *point, void *arg) {
  (void)arg;
  if (stop_at != NULL && strcmp(point, stop_at) == 0)
    raise(SIGSTOP);
}

/* In a child: stop at `point` during one put; exit 0 if the put then
 * returns `want`. */
static pid_t stalled_put(const char *point, int want) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid != 0)
    return pid;
  sage_queue *q = open_queue("never", "0");
  void *so = dlopen("sage-shm.so", RTLD_NOW | RTLD_NOLOAD);
  void (*set_hook)(void (*)(const char *, void *), void *) =
      so ? (void (*)(void (*)(const char *, void *), void *))dlsym(
               so, "sage_shm_set_step_hook")
         : NULL;
  if (set_hook == NULL)
    _exit(3);
  stop_at = point;
  set_hook(stop_here, NULL);
  int rc = sage_queue_put(q, "stalled", 7, SECOND);
  _exit(rc == want ? 0 : 10 + (-rc & 0x7f));
}

static void wait_stopped(pid_t pid) {
  int status;
  cr_assert_eq(waitpid(pid, &status, WUNTRACED), pid);
  cr_assert(WIFSTOPPED(status), "producer did not stop (status %#x)", status);
}

static void resume_and_check(pid_t pid) {
  kill(pid, SIGCONT);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "the stalled put returned the wrong code (status %#x)", status);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * SECOND + ts.tv_nsec;
}

static void get_expect(sage_queue *q, const char *want, int64_t timeout) {
  char buf[64];
  size_t len = 0;
  int rc = sage_queue_get(q, buf, sizeof buf, &len, timeout);
  cr_assert_eq(rc, 0, "get: %s (%s)", sage_strerror(rc), sage_last_error());
  cr_assert(len == strlen(want) && memcmp(buf, want, len) == 0,
            "got '%.*s', want '%s'", (int)len, buf, want);
}

static void name_queue(void) {
  static unsigned counter;
  snprintf(qname, sizeof qname, "stall-%d-%u", (int)getpid(), counter++);
}

Test(stall, unfinished_record_is_skipped_and_its_put_fails) {
  name_queue();
  sage_queue *q = open_queue("always", "200");
  pid_t pid = stalled_put("put:written", -ECANCELED);
  wait_stopped(pid);
  cr_assert_eq(sage_queue_put(q, "after", 5, 0), 0);
  int64_t start = now_ns();
  get_expect(q, "after", 5 * SECOND);
  int64_t took = now_ns() - start;
  cr_assert(took >= 150 * MS && took < 2 * SECOND,
            "skipped after %lld ms, not about the 200 ms stall_timeout",
            (long long)(took / MS));
  resume_and_check(pid);
  char buf[64];
  size_t len;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), -EAGAIN,
               "the given-up message must not be delivered");
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.abandoned, 1);
  cr_assert_eq(st.total_put, 1, "only 'after' counts as put");
  cr_assert_eq(st.total_got, 1);
  sage_queue_destroy(q);
}

Test(stall, finished_record_is_published_for_its_owner) {
  name_queue();
  sage_queue *q = open_queue("always", "200");
  pid_t pid = stalled_put("put:counted", 0);
  wait_stopped(pid);
  get_expect(q, "stalled", 5 * SECOND);
  resume_and_check(pid);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.abandoned, 0);
  cr_assert_eq(st.total_put, 1);
  cr_assert_eq(st.total_got, 1);
  sage_queue_destroy(q);
}

Test(stall, off_by_default_a_stopped_owner_is_waited_for) {
  name_queue();
  sage_queue *q = open_queue("always", "0");
  pid_t pid = stalled_put("put:written", 0);
  wait_stopped(pid);
  cr_assert_eq(sage_queue_put(q, "after", 5, 0), 0);
  char buf[64];
  size_t len;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 400 * MS), -ETIMEDOUT);
  resume_and_check(pid);
  get_expect(q, "stalled", SECOND);
  get_expect(q, "after", SECOND);
  sage_queue_destroy(q);
}
