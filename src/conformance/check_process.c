/* Conformance checks involving signals and other processes: waits end with
 * -EINTR when a handler runs (sage/transport.h "Waits"), a child of fork()
 * reopens by name without harming the parent ("Threads and fork"), and
 * SAGE_CAP_CROSS_PROCESS queues carry messages both ways between
 * processes. */
#include "config.h"

#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONF_SIGNAL SIGUSR2

static void on_signal(int sig) {
  (void)sig;
}

struct forever {
  sage_queue *q;
  int is_put;
  int rc;
  atomic_int done;
};

static void *wait_forever(void *arg) {
  struct forever *f = arg;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, CONF_SIGNAL);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  char buf[64];
  size_t len;
  f->rc = f->is_put ? sage_queue_put(f->q, "filler", 6, -1)
                    : sage_queue_get(f->q, buf, sizeof buf, &len, -1);
  atomic_store(&f->done, 1);
  return NULL;
}

static int wait_done(struct forever *f, int ms) {
  for (int i = 0; i < ms / 10 && !atomic_load(&f->done); i++)
    conf_sleep_ms(10);
  return atomic_load(&f->done);
}

/* Blocks a put or get forever in a thread and signals it (a handler, no
 * SA_RESTART) until it returns, a few times at most (a signal may land
 * before the thread sleeps); then unblocks it the ordinary way. */
static int interrupt(sage_queue *q, int is_put) {
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART */
  sigaction(CONF_SIGNAL, &sa, &old);
  struct forever f = {.q = q, .is_put = is_put};
  pthread_t t;
  int rc = pthread_create(&t, NULL, wait_forever, &f);
  if (rc != 0) {
    sigaction(CONF_SIGNAL, &old, NULL);
    return -rc;
  }
  for (int tries = 0; tries < 5 && !atomic_load(&f.done); tries++) {
    conf_sleep_ms(100);
    pthread_kill(t, CONF_SIGNAL);
    wait_done(&f, 400);
  }
  if (!atomic_load(&f.done)) { /* never interrupted: let it finish */
    char buf[64];
    size_t len;
    if (is_put)
      sage_queue_get(q, buf, sizeof buf, &len, 1000 * MS);
    else
      sage_queue_put(q, "filler", 6, 1000 * MS);
  }
  pthread_join(t, NULL);
  sigaction(CONF_SIGNAL, &old, NULL);
  return f.rc;
}

/* A get or put waiting forever returns -EINTR, having done nothing, when a
 * signal handler runs in its thread (so: no condition variables). */
CONF_CHECK(conf_check_eintr) {
  sage_queue *q;
  char name[128], buf[64];
  size_t len;
  OPEN(c, "eintr", 4096, 0, &q, name);
  int rc = interrupt(q, 0);
  CHECK(c, rc == -EINTR,
        "get waiting forever, signalled 5 times: %s, want -EINTR",
        rc == 0 ? "returned only when a message came" : sage_strerror(rc));
  CHECK(c, sage_queue_put(q, "after", 5, 0) == 0, "put after -EINTR");
  CHECK(c,
        sage_queue_get(q, buf, sizeof buf, &len, 0) == 0 && len == 5 &&
            memcmp(buf, "after", 5) == 0,
        "an interrupted get took a message");
  int n = 0;
  while (n < 100000 && sage_queue_put(q, "filler", 6, 0) == 0)
    n++;
  struct sage_stats before = conf_stats(q);
  rc = interrupt(q, 1);
  CHECK(c, rc == -EINTR,
        "put waiting forever, signalled 5 times: %s, want -EINTR",
        rc == 0 ? "returned only when room was made" : sage_strerror(rc));
  struct sage_stats after = conf_stats(q);
  CHECK(c, after.items == before.items && after.total_put == before.total_put,
        "an interrupted put put a message (items %llu -> %llu)",
        (unsigned long long)before.items, (unsigned long long)after.items);
  conf_destroy(c, q);
  return CONF_PASS;
}

/* Child side: opens `name` by name (a new handle), puts `msg`, closes.
 * Exit status: 0, or the step that failed. */
static int child_put(const char *transport, const char *name, const char *msg) {
  sage_queue *q;
  const char *opts[] = {"create", "never", NULL};
  if (sage_queue_open(transport, name, opts, &q) != 0)
    return 2;
  if (sage_queue_put(q, msg, strlen(msg), 5000 * MS) != 0)
    return 3;
  return sage_queue_close(q) == 0 ? 0 : 4;
}

static const char *child_step(int status) {
  if (!WIFEXITED(status))
    return "died of a signal (or hung, and was killed)";
  switch (WEXITSTATUS(status)) {
  case 0:
    return "ok";
  case 2:
    return "could not open the queue by name";
  case 3:
    return "put failed";
  case 4:
    return "close failed";
  case 5:
    return "get failed or got the wrong message";
  default:
    return "failed";
  }
}

/* Waits up to `ms` for the child, then kills it; returns its status. */
static int reap(pid_t pid, int ms) {
  int status = 0;
  for (int i = 0; i < ms / 10; i++) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      return status;
    conf_sleep_ms(10);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return status;
}

/* Gets one message into buf (NUL-terminated) within `ms`. */
static int get_text(sage_queue *q, char *buf, size_t cap, int ms) {
  size_t len = 0;
  int rc = sage_queue_get(q, buf, cap - 1, &len, ms * MS);
  buf[rc == 0 ? len : 0] = '\0';
  return rc;
}

/* After fork() the child opens the queue by name and puts; the parent gets
 * it, and its own handle keeps working after the child has gone. */
CONF_CHECK(conf_check_fork) {
  sage_queue *q;
  char name[128], buf[64];
  OPEN(c, "fork", CAPACITY, 0, &q, name);
  CHECK(c, sage_queue_put(q, "parent", 6, 0) == 0, "put before fork");
  uint64_t attached = conf_stats(q).attached;
  fflush(NULL);
  pid_t pid = fork();
  CHECK(c, pid >= 0, "fork failed");
  if (pid == 0)
    _exit(child_put(c->transport, name, "child"));
  int rc = get_text(q, buf, sizeof buf, 5000);
  int rc2 = rc == 0 ? get_text(q, buf + 8, sizeof buf - 8, 5000) : rc;
  int status = reap(pid, 2000);
  CHECK(c, WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s",
        child_step(status));
  CHECK(c,
        rc == 0 && rc2 == 0 && strcmp(buf, "parent") == 0 &&
            strcmp(buf + 8, "child") == 0,
        "parent got '%s', '%s' (rc %d, %d), want 'parent', 'child'", buf,
        buf + 8, rc, rc2);
  sage_queue *again;
  rc = conf_reopen(c, name, &again);
  CHECK(c, rc == 0, "the queue cannot be opened after the child: %s",
        sage_strerror(rc));
  conf_close(c, again);
  CHECK(c, sage_queue_put(q, "again", 5, 0) == 0, "put after the child");
  rc = get_text(q, buf, sizeof buf, 1000);
  CHECK(c, rc == 0 && strcmp(buf, "again") == 0,
        "parent handle broken after the child: %s", sage_strerror(rc));
  struct sage_stats st = conf_stats(q);
  CHECK(c, st.items == 0 && st.attached == attached,
        "after the child: items %llu, attached %llu (was %llu)",
        (unsigned long long)st.items, (unsigned long long)st.attached,
        (unsigned long long)attached);
  conf_destroy(c, q);
  return CONF_PASS;
}

#define ROUNDS 50

/* Child side of cross_process: echoes ROUNDS messages from `to` to `from`. */
static int child_echo(const char *transport, const char *to_child,
                      const char *to_parent) {
  sage_queue *in, *out;
  const char *opts[] = {"create", "never", NULL};
  if (sage_queue_open(transport, to_child, opts, &in) != 0 ||
      sage_queue_open(transport, to_parent, opts, &out) != 0)
    return 2;
  for (int i = 0; i < ROUNDS; i++) {
    char buf[32], want[32];
    snprintf(want, sizeof want, "ping %d", i);
    if (get_text(in, buf, sizeof buf, 5000) != 0 || strcmp(buf, want) != 0)
      return 5;
    buf[1] = 'o'; /* "pong i" */
    if (sage_queue_put(out, buf, strlen(buf), 5000 * MS) != 0)
      return 3;
  }
  return sage_queue_close(in) == 0 && sage_queue_close(out) == 0 ? 0 : 4;
}

/* Two processes exchange messages both ways through queues opened by name,
 * each waking the other (the child waits first). */
CONF_CHECK(conf_check_cross_process) {
  sage_queue *to_child, *to_parent;
  char a[128], b[128], buf[32], want[32];
  OPEN(c, "xproc-in", CAPACITY, 0, &to_child, a);
  OPEN(c, "xproc-out", CAPACITY, 0, &to_parent, b);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(c, pid >= 0, "fork failed");
  if (pid == 0)
    _exit(child_echo(c->transport, a, b));
  /* The child waits first: until its get counts as blocked (or 10 s; a
   * child that never gets there is judged by the exchange below). */
  for (int64_t end = conf_now_ns() + 10000 * MS;
       conf_stats(to_child).blocked_gets == 0 && conf_now_ns() < end;)
    conf_sleep_ms(1);
  int i, rc = 0;
  for (i = 0; i < ROUNDS && rc == 0; i++) {
    snprintf(want, sizeof want, "ping %d", i);
    rc = sage_queue_put(to_child, want, strlen(want), 5000 * MS);
    if (rc == 0)
      rc = get_text(to_parent, buf, sizeof buf, 5000);
    want[1] = 'o';
    if (rc == 0 && strcmp(buf, want) != 0)
      rc = -EBADMSG;
  }
  int status = reap(pid, rc == 0 ? 2000 : 0);
  CHECK(c, rc == 0, "round %d: %s (child: %s)", i - 1, sage_strerror(rc),
        child_step(status));
  CHECK(c, WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s",
        child_step(status));
  struct sage_stats st = conf_stats(to_parent);
  CHECK(c, st.total_put == ROUNDS && st.total_got == ROUNDS,
        "stats in the parent miss the child's puts: put %llu got %llu",
        (unsigned long long)st.total_put, (unsigned long long)st.total_got);
  conf_destroy(c, to_child);
  conf_destroy(c, to_parent);
  return CONF_PASS;
}
