/* Deterministic tests of the shm ring's recovery defects (issue 12), one
 * or more per defect. Each test drives one interleaving through the step
 * points of the test build of the plugin (tests/steps/sage-shm.so, see
 * plugin/shm/steps.h): a party (a fork child, or a thread of the test)
 * stops at a named point and tells the test so through a pipe, then waits
 * there until the test lets it go on; or it dies there. Timeouts are only
 * upper bounds: the order of events comes from the pipes. */
#include "config.h"

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sage/queue.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#define SECOND 1000000000ll
#define MS 1000000ll
#define NOTE_SIZE 48    /* one note: a step point's name, NUL-padded */
#define AWAIT_MS 20000  /* upper bound for a party to reach a point */
#define CHILD_ALARM 120 /* fork children never outlive a stuck test */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * SECOND + ts.tv_nsec;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * MS};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static pid_t thread_id(void) {
  return (pid_t)syscall(SYS_gettid);
}

/* ---- parties: pipes between the test and a paused party ---- */

struct party {
  int note[2];   /* party -> test: the point it reached */
  int resume[2]; /* test -> party: go on */
};

static void party_init(struct party *p) {
  cr_assert_eq(pipe(p->note), 0);
  cr_assert_eq(pipe(p->resume), 0);
}

static void write_all(int fd, const void *buf, size_t n) {
  const char *c = buf;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    c += w;
    n -= (size_t)w;
  }
}

/* In the party: tells the test it reached `point`. */
static void party_tell(struct party *p, const char *point) {
  char note[NOTE_SIZE] = {0};
  snprintf(note, sizeof note, "%s", point);
  write_all(p->note[1], note, sizeof note);
}

/* In the party: tells the test, then waits until it says go on. */
static void party_pause(struct party *p, const char *point) {
  party_tell(p, point);
  char c;
  while (read(p->resume[0], &c, 1) < 0 && errno == EINTR)
    ;
}

/* In the test: lets a paused party go on. */
static void resume(struct party *p) {
  write_all(p->resume[1], "g", 1);
}

/* Reads the party's next note into got. 0, or -1 if none came in time. */
static int next_note(struct party *p, char got[NOTE_SIZE], int ms) {
  size_t have = 0;
  int64_t end = now_ns() + (int64_t)ms * MS;
  while (have < NOTE_SIZE) {
    int64_t left = (end - now_ns()) / MS;
    if (left <= 0)
      return -1;
    struct pollfd pfd = {p->note[0], POLLIN, 0};
    int ready = poll(&pfd, 1, (int)left);
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0)
      return -1;
    ssize_t r = read(p->note[0], got + have, NOTE_SIZE - have);
    if (r <= 0)
      return -1;
    have += (size_t)r;
  }
  return 0;
}

/* For threads other than the test's own (no cr_assert there). */
static int reached(struct party *p, const char *point) {
  char got[NOTE_SIZE];
  return next_note(p, got, AWAIT_MS) == 0 && strcmp(got, point) == 0;
}

/* In the test: waits until the party reports `point`. */
static void await_point(struct party *p, const char *point) {
  char got[NOTE_SIZE];
  cr_assert_eq(next_note(p, got, AWAIT_MS), 0,
               "no party reached step point '%s' within %d ms", point,
               AWAIT_MS);
  cr_assert_str_eq(got, point, "party reached '%s', expected '%s'", got, point);
}

/* ---- step hook: what a party does at a step point ---- */

enum act {
  ACT_NOTE,  /* tell the test, go on */
  ACT_PAUSE, /* tell the test, wait for it */
  ACT_KILL,  /* SIGKILL this process (fork children only) */
  ACT_CALL,  /* run fn(arg) */
};

struct rule {
  const char *point;
  enum act act;
  int nth;   /* act on this hit of the point only (0: every hit) */
  pid_t tid; /* only in this thread (0: any) */
  struct party *party;
  void (*fn)(void *);
  void *arg;
  _Atomic int hits;
};

#define MAX_RULES 8
static struct rule rules[MAX_RULES];
static _Atomic int n_rules;

static void step_hook(const char *point, void *unused) {
  (void)unused;
  int n = atomic_load(&n_rules);
  for (int i = 0; i < n; i++) {
    struct rule *r = &rules[i];
    if (strcmp(r->point, point) != 0 || (r->tid != 0 && r->tid != thread_id()))
      continue;
    int hit = atomic_fetch_add(&r->hits, 1) + 1;
    if (r->nth != 0 && hit != r->nth)
      continue;
    switch (r->act) {
    case ACT_NOTE:
      party_tell(r->party, point);
      break;
    case ACT_PAUSE:
      party_pause(r->party, point);
      break;
    case ACT_KILL:
      kill(getpid(), SIGKILL);
      break;
    case ACT_CALL:
      r->fn(r->arg);
      break;
    }
  }
}

static struct rule *add_rule(const char *point, enum act act, int nth,
                             pid_t tid) {
  int i = atomic_load(&n_rules);
  if (i >= MAX_RULES)
    abort();
  rules[i] = (struct rule){.point = point, .act = act, .nth = nth, .tid = tid};
  return &rules[i];
}

/* Arms a rule in this process (every thread). */
static void on(const char *point, enum act act, int nth, struct party *p) {
  add_rule(point, act, nth, 0)->party = p;
  atomic_fetch_add(&n_rules, 1);
}

/* Arms a rule for the calling thread only. */
static void on_here(const char *point, enum act act, int nth, struct party *p,
                    void (*fn)(void *), void *arg) {
  struct rule *r = add_rule(point, act, nth, thread_id());
  r->party = p;
  r->fn = fn;
  r->arg = arg;
  atomic_fetch_add(&n_rules, 1);
}

/* ---- suite: the step build of the plugin, queue and child cleanup ---- */

static char qname[64];
static pid_t children[16];

static void track(pid_t pid) {
  for (size_t i = 0; i < sizeof children / sizeof children[0]; i++)
    if (children[i] == 0) {
      children[i] = pid;
      return;
    }
  kill(pid, SIGKILL);
  cr_assert_fail("too many children");
}

/* Waits for a child; returns its wait status. */
static int reap(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  for (size_t i = 0; i < sizeof children / sizeof children[0]; i++)
    if (children[i] == pid)
      children[i] = 0;
  return status;
}

static void cleanup(void) {
  for (size_t i = 0; i < sizeof children / sizeof children[0]; i++)
    if (children[i] != 0) {
      kill(children[i], SIGKILL);
      reap(children[i]);
    }
  if (qname[0] != '\0')
    sage_queue_unlink("shm", qname, NULL);
  unsetenv("SAGE_SHM_TEST_NO_PROC");
}

/* Loads the shm plugin from $SAGE_TEST_STEPS (ahead of the release build on
 * SAGE_PLUGIN_PATH) and installs the step hook in it. */
static void setup(void) {
  atomic_store(&n_rules, 0);
  const char *steps = getenv("SAGE_TEST_STEPS");
  cr_assert(steps != NULL && *steps != '\0',
            "SAGE_TEST_STEPS must name the directory of the step build of "
            "the shm plugin (tests/steps/.libs)");
  const char *path = getenv("SAGE_PLUGIN_PATH");
  char dirs[4096];
  snprintf(dirs, sizeof dirs, "%s%s%s", steps, path && *path ? ":" : "",
           path ? path : "");
  setenv("SAGE_PLUGIN_PATH", dirs, 1);
  cr_assert_eq(sage_transport_load("shm"), 0, "%s", sage_last_error());
  char so[4096];
  snprintf(so, sizeof so, "%s/sage-shm.so", steps);
  void *lib = dlopen(so, RTLD_NOW | RTLD_NOLOAD);
  cr_assert(lib != NULL, "the shm plugin loaded is not %s", so);
  void (*set_hook)(void (*)(const char *, void *), void *);
  *(void **)&set_hook = dlsym(lib, "sage_shm_set_step_hook");
  cr_assert(set_hook != NULL, "%s has no step hook", so);
  set_hook(step_hook, NULL);
  dlclose(lib); /* the registry keeps it loaded */
}

TestSuite(defects, .init = setup, .fini = cleanup, .timeout = 120);

static sage_queue *create_with(const char *capacity, const char *spin_ns) {
  static unsigned counter;
  snprintf(qname, sizeof qname, "defects-%d-%u", (int)getpid(), counter++);
  const char *opts[] = {"create", "always",  "capacity", capacity, "slots",
                        "64",     "spin_ns", spin_ns,    NULL};
  if (spin_ns == NULL)
    opts[6] = NULL;
  sage_queue *q;
  cr_assert_eq(sage_queue_open("shm", qname, opts, &q), 0, "%s",
               sage_last_error());
  return q;
}

/* 64 slots: ticket t + 64 reuses ticket t's slot. */
static sage_queue *create(const char *capacity) {
  return create_with(capacity, NULL);
}

/* In a fork child: its own handle on the test's queue. */
static sage_queue *attach(void) {
  const char *opts[] = {"create", "never", NULL};
  sage_queue *q;
  if (sage_queue_open("shm", qname, opts, &q) != 0)
    _exit(3);
  return q;
}

/* Runs fn(arg) in a fork child with no rules of the test's. */
static pid_t spawn(void (*fn)(void *), void *arg) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    atomic_store(&n_rules, 0);
    alarm(CHILD_ALARM);
    fn(arg);
    _exit(0);
  }
  track(pid);
  return pid;
}

/* Runs fn in a child that must end by SIGKILL. */
static void in_child(void (*fn)(void *), void *arg) {
  int status = reap(spawn(fn, arg));
  cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
            "child did not die as planned (status %d)", status);
}

static void expect_exit(pid_t pid, int code, const char *who) {
  int status = reap(pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == code,
            "%s: status %d, expected exit %d", who, status, code);
}

/* Message i: `size` bytes naming i, so a misplaced or cut one shows. */
static void make_msg(char *buf, size_t size, int i) {
  memset(buf, 'a' + i % 26, size);
  char head[16];
  int n = snprintf(head, sizeof head, "m%d:", i);
  memcpy(buf, head, (size_t)n < size ? (size_t)n : size);
}

static void put_msg(sage_queue *q, int i, size_t size, int64_t timeout) {
  char buf[4096];
  make_msg(buf, size, i);
  int rc = sage_queue_put(q, buf, size, timeout);
  cr_assert_eq(rc, 0, "put of message %d: %s (%s)", i, sage_strerror(rc),
               sage_last_error());
}

static void get_msg(sage_queue *q, int i, size_t size, int64_t timeout) {
  char want[4096], got[4096];
  size_t len = 0;
  make_msg(want, size, i);
  int rc = sage_queue_get(q, got, sizeof got, &len, timeout);
  cr_assert_eq(rc, 0, "get of message %d: %s (%s)", i, sage_strerror(rc),
               sage_last_error());
  cr_assert(len == size && memcmp(got, want, size) == 0,
            "message %d: got %zu bytes '%.12s', want %zu bytes '%.12s'", i, len,
            got, size, want);
}

/* Everything taken: nothing may stay counted as held. */
static void assert_drained(sage_queue *q) {
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.items, 0, "items %llu", (unsigned long long)st.items);
  cr_assert_eq(st.bytes_used, 0, "bytes_used %llu with the queue drained",
               (unsigned long long)st.bytes_used);
}

/* What a fork child saw, in memory shared with the test. */
struct outcome {
  int rc;
  size_t len;
  char data[256];
};
static struct outcome *shared_outcome(void) {
  void *m = mmap(NULL, sizeof(struct outcome), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  cr_assert(m != MAP_FAILED);
  return m;
}

/* Dead producers and consumers. */
static void reserve_and_die(void *unused) {
  (void)unused;
  sage_queue *q = attach();
  void *ptr;
  uint64_t token;
  if (sage_queue_reserve(q, 100, &ptr, &token, SECOND) == 0)
    kill(getpid(), SIGKILL);
}

static void peek_and_die(void *unused) {
  (void)unused;
  sage_queue *q = attach();
  const void *ptr;
  size_t len;
  uint64_t token;
  if (sage_queue_peek(q, &ptr, &len, &token, SECOND) == 0)
    kill(getpid(), SIGKILL);
}

/* ---- 1: a survivor that lost the race to recover a ticket writes
 * nothing, even when the slot already holds a later lap's message ---- */

static struct party survivor_a;

static void get_paused_at_recovery(void *arg) {
  struct outcome *out = arg;
  sage_queue *q = attach();
  on("recover:decided", ACT_PAUSE, 1, &survivor_a);
  out->rc =
      sage_queue_get(q, out->data, sizeof out->data, &out->len, 30 * SECOND);
  _exit(0);
}

Test(defects, losing_recoverer_leaves_reused_slot_alone) {
  sage_queue *q = create("4096");
  struct outcome *a_saw = shared_outcome();
  in_child(reserve_and_die, NULL); /* ticket 0: reserved by the dead */
  party_init(&survivor_a);
  pid_t a = spawn(get_paused_at_recovery, a_saw);
  await_point(&survivor_a, "recover:decided"); /* A: about ticket 0 */
  /* B (this process) recovers ticket 0 and takes ticket 1 behind it. */
  put_msg(q, 1, 100, 0);
  get_msg(q, 1, 100, 5 * SECOND);
  for (int i = 2; i < 64; i++) {
    put_msg(q, i, 100, 0);
    get_msg(q, i, 100, SECOND);
  }
  /* Ticket 64 reuses ticket 0's slot; A still holds its decision. */
  cr_assert_eq(sage_queue_put(q, "LATER", 5, 0), 0, "%s", sage_last_error());
  resume(&survivor_a);
  expect_exit(a, 0, "survivor A");
  cr_expect(a_saw->rc == 0 && a_saw->len == 5 &&
                memcmp(a_saw->data, "LATER", 5) == 0,
            "the later message came out as rc %d, %zu bytes '%.*s'", a_saw->rc,
            a_saw->len, (int)a_saw->len, a_saw->data);
  struct sage_stats st = stats_of(q);
  cr_expect(st.items == 0 && st.bytes_used == 0,
            "drained, the queue counts %llu items, %llu bytes held",
            (unsigned long long)st.items, (unsigned long long)st.bytes_used);
  /* The queue keeps working, and wraps its ring many times: put through
   * a new handle, whose producers have no cached head to go by. */
  const char *opts[] = {"create", "never", NULL};
  sage_queue *q2;
  cr_assert_eq(sage_queue_open("shm", qname, opts, &q2), 0);
  for (int i = 100; i < 300; i++) {
    put_msg(q2, i, 100, SECOND);
    get_msg(q, i, 100, SECOND);
  }
  sage_queue_close(q2);
  assert_drained(q);
  st = stats_of(q);
  cr_assert_eq(st.abandoned, 1);
  cr_assert_eq(st.total_put, 264);
  sage_queue_destroy(q);
}

/* The same with a live owner that stalls past the queue's stall_timeout
 * after reserving, before writing its record (SIGSTOP, a debugger): its
 * ticket is given up (DEAD) and consumers move on. It still writes its
 * record when it wakes up, so head must stay behind it until then: had
 * head passed it, ticket 64 would reuse its slot and later messages its
 * bytes, and the owner's late writes would corrupt them. Then its put
 * fails with -ECANCELED and the queue goes on. (v1 had no
 * stall_timeout.) */
static struct party stalled;

static void put_stalled_after_reserving(void *unused) {
  (void)unused;
  sage_queue *q = attach();
  on("put:reserved", ACT_PAUSE, 1, &stalled);
  char buf[100];
  memset(buf, 'P', sizeof buf);
  int rc = sage_queue_put(q, buf, sizeof buf, 30 * SECOND);
  _exit(rc == -ECANCELED ? 0 : 1);
}

Test(defects, stalled_owner_given_up_writes_nothing) {
  static unsigned counter;
  snprintf(qname, sizeof qname, "defects-stall-%d-%u", (int)getpid(),
           counter++);
  const char *opts[] = {"create", "always", "capacity",         "4096",
                        "slots",  "64",     "stall_timeout_ms", "50",
                        NULL};
  sage_queue *q;
  cr_assert_eq(sage_queue_open("shm", qname, opts, &q), 0, "%s",
               sage_last_error());
  party_init(&stalled);
  pid_t p = spawn(put_stalled_after_reserving, NULL);
  await_point(&stalled, "put:reserved"); /* ticket 0, nothing written */
  put_msg(q, 1, 100, 0);
  get_msg(q, 1, 100, 5 * SECOND); /* ticket 0 given up after 50 ms */
  /* Consumers go past the given-up record, but head stays behind it while
   * its owner may still write it: the ring fills up instead of handing
   * its bytes or its slot to a later message. */
  int i = 2;
  char buf[4096];
  for (;; i++) {
    make_msg(buf, 100, i);
    int rc = sage_queue_put(q, buf, 100, 0);
    if (rc == -EAGAIN)
      break;
    cr_assert_eq(rc, 0, "put of message %d: %s", i, sage_strerror(rc));
    get_msg(q, i, 100, SECOND);
  }
  cr_assert(i > 2 && i < 64, "%d messages went by the stalled record", i - 2);
  resume(&stalled); /* it writes its record now, and publishes */
  expect_exit(p, 0, "stalled producer (expected -ECANCELED)");
  cr_assert_eq(sage_queue_put(q, "LATER", 5, 0), 0, "%s", sage_last_error());
  size_t len = 0;
  int rc = sage_queue_get(q, buf, sizeof buf, &len, SECOND);
  cr_expect(rc == 0 && len == 5 && memcmp(buf, "LATER", 5) == 0,
            "the later message came out as %s, %zu bytes '%.8s'",
            sage_strerror(rc), len, buf);
  struct sage_stats st = stats_of(q);
  cr_expect(st.items == 0 && st.bytes_used == 0,
            "drained, the queue counts %llu items, %llu bytes held",
            (unsigned long long)st.items, (unsigned long long)st.bytes_used);
  const char *again[] = {"create", "never", NULL};
  sage_queue *q2;
  cr_assert_eq(sage_queue_open("shm", qname, again, &q2), 0);
  for (int k = 100; k < 300; k++) {
    put_msg(q2, k, 100, SECOND);
    get_msg(q, k, 100, SECOND);
  }
  sage_queue_close(q2);
  assert_drained(q);
  st = stats_of(q);
  cr_assert_eq(st.abandoned, 1);
  cr_assert_eq(st.total_put, (uint64_t)(i - 1) + 1 + 200);
  sage_queue_destroy(q);
}

/* ---- 2: recovery never frees the bytes of a record whose live producer
 * publishes while the recovery runs ---- */

struct peeker {
  sage_queue *q;
  struct party *self;  /* notes "recover:marked" */
  struct party *other; /* a paused producer that mid_scan lets go on */
  void (*mid_scan)(void *);
  _Atomic int other_done;
  int other_ok;
  int rc;
  const void *ptr;
  size_t len;
  uint64_t token;
};

/* The v1 ring looked at the records after a dead one to find where it
 * ended: a record found unpublished, then no live intent covering it, was
 * taken as dead, and its bytes as free. A producer publishing (or setting
 * an intent) between those two looks misled it. To show that with the v1
 * code, a step point "recover:successor_unpublished" was put between the
 * looks there; the v2 ring has no such scan, so these rules never fire
 * and the other producer goes on after the recovery instead. */
static void successor_finishes(void *arg) {
  struct peeker *pk = arg;
  resume(pk->other);
  pk->other_ok = reached(pk->other, "put:cleared");
  atomic_store(&pk->other_done, 1);
}

static void *peek_recovering(void *arg) {
  struct peeker *pk = arg;
  on_here("recover:marked", ACT_NOTE, 1, pk->self, NULL, NULL);
  if (pk->mid_scan != NULL)
    on_here("recover:successor_unpublished", ACT_CALL, 1, NULL, pk->mid_scan,
            pk);
  pk->rc = sage_queue_peek(pk->q, &pk->ptr, &pk->len, &pk->token, 30 * SECOND);
  return NULL;
}

static void start_peeker(struct peeker *pk, pthread_t *thread) {
  static struct party self;
  party_init(&self);
  pk->self = &self;
  cr_assert_eq(pthread_create(thread, NULL, peek_recovering, pk), 0);
}

#define LIVE_SIZE 1000

static void live_producer(void *arg) {
  struct party *p = arg;
  sage_queue *q = attach();
  party_pause(p, "attached");
  on("put:reserved", ACT_PAUSE, 1, p);
  on("put:cleared", ACT_NOTE, 1, p);
  char buf[LIVE_SIZE];
  memset(buf, 'L', sizeof buf);
  int rc = sage_queue_put(q, buf, sizeof buf, 30 * SECOND);
  sage_queue_close(q);
  _exit(rc == 0 ? 0 : 1);
}

static int all_of(const void *ptr, size_t len, char c) {
  const char *b = ptr;
  for (size_t i = 0; i < len; i++)
    if (b[i] != c)
      return 0;
  return 1;
}

static int all_live(const void *ptr, size_t len) {
  return all_of(ptr, len, 'L');
}

/* The peeker holds the live message (ticket 1, behind the dead ticket 0,
 * with `others` messages of 300 'S' bytes after it): puts fill the ring,
 * and the held record must stay intact; then everything is taken and the
 * queue must count nothing held. */
static void check_held_live(sage_queue *q, struct peeker *pk, pthread_t thread,
                            pid_t live_pid, pid_t others_pid, int others) {
  pthread_join(thread, NULL);
  expect_exit(live_pid, 0, "live producer");
  cr_assert_eq(pk->rc, 0, "peek: %s", sage_strerror(pk->rc));
  cr_assert(pk->len == LIVE_SIZE && all_live(pk->ptr, pk->len),
            "peeked %zu bytes, not the live message", pk->len);
  struct sage_stats st = stats_of(q);
  cr_expect(st.bytes_used <= st.capacity,
            "the queue counts %llu bytes held in a ring of %llu",
            (unsigned long long)st.bytes_used, (unsigned long long)st.capacity);
  if (others_pid != 0) /* its messages come right after the live one */
    expect_exit(others_pid, 0, "the other producer");
  int n = 0;
  for (; n < 64; n++) {
    char buf[500];
    make_msg(buf, sizeof buf, n);
    int rc = sage_queue_put(q, buf, sizeof buf, 0);
    if (rc == -EAGAIN)
      break;
    cr_assert_eq(rc, 0, "fill %d: %s", n, sage_last_error());
  }
  cr_expect(n > 0 && n < 64, "%d puts fitted", n);
  cr_expect(all_live(pk->ptr, pk->len),
            "the held live message was overwritten by later puts");
  cr_assert_eq(sage_queue_release(q, pk->token), 0);
  for (int i = 0; i < others; i++) {
    char buf[4096];
    size_t len = 0;
    cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, SECOND), 0);
    cr_assert(len == 300 && all_of(buf, len, 'S'), "message %d of %d wrong", i,
              others);
  }
  for (int i = 0; i < n; i++)
    get_msg(q, i, 500, SECOND);
  assert_drained(q);
  st = stats_of(q);
  cr_assert_eq(st.abandoned, 1);
  cr_assert_eq(st.total_put, (uint64_t)(n + others + 1));
}

/* Ticket 0 is a dead producer's, ticket 1 the live producer's (paused
 * after reserving). A peeking consumer recovers ticket 0 and then holds
 * ticket 1. */
static void dead_then_live(sage_queue *q, struct party *live, pid_t live_pid,
                           void (*mid_scan)(void *)) {
  struct peeker pk = {.q = q, .other = live, .mid_scan = mid_scan};
  pthread_t thread;
  start_peeker(&pk, &thread);
  await_point(pk.self, "recover:marked"); /* ticket 0 resolved */
  if (!atomic_load(&pk.other_done)) {
    resume(live);
    await_point(live, "put:cleared");
  } else {
    cr_assert(pk.other_ok, "the live producer did not finish");
  }
  check_held_live(q, &pk, thread, live_pid, 0, 0);
}

Test(defects, recovery_never_frees_a_live_successor) {
  sage_queue *q = create("4096");
  struct party live;
  party_init(&live);
  pid_t l = spawn(live_producer, &live);
  await_point(&live, "attached");
  in_child(reserve_and_die, NULL); /* ticket 0 */
  resume(&live);
  await_point(&live, "put:reserved"); /* ticket 1, not written yet */
  dead_then_live(q, &live, l, successor_finishes);
  sage_queue_destroy(q);
}

/* ---- 3: an intent set from a stale tail covers tickets its lane does
 * not own; it must not decide or place anything ---- */

static struct party stale;

static void put_from_stale_tail(void *unused) {
  (void)unused;
  sage_queue *q = attach();
  on("put:intent", ACT_PAUSE, 1, &stale);
  char a[300], b[300];
  memset(a, 'S', sizeof a);
  memset(b, 'S', sizeof b);
  const void *datas[] = {a, b};
  size_t lens[] = {sizeof a, sizeof b}, done;
  sage_queue_put_batch(q, datas, lens, 2, &done, 30 * SECOND);
  _exit(1); /* killed at its intent before this */
}

Test(defects, stale_intent_decides_nothing) {
  sage_queue *q = create("4096");
  party_init(&stale);
  pid_t s = spawn(put_from_stale_tail, NULL);
  /* Intent [0, 2) from tail 0, before anyone reserved: stale from now. */
  await_point(&stale, "put:intent");
  struct party live;
  party_init(&live);
  pid_t l = spawn(live_producer, &live);
  await_point(&live, "attached");
  in_child(reserve_and_die, NULL); /* ticket 0 */
  resume(&live);
  await_point(&live, "put:reserved"); /* ticket 1 */
  /* The stale producer dies holding its intent over tickets 0 and 1. */
  kill(s, SIGKILL);
  int status = reap(s);
  cr_assert(WIFSIGNALED(status), "the stale producer did not die");
  dead_then_live(q, &live, l, NULL);
  sage_queue_destroy(q);
}

static struct party counted_owner;

static void put_and_die_counted(void *unused) {
  (void)unused;
  sage_queue *q = attach();
  party_pause(&counted_owner, "attached");
  on("put:counted", ACT_KILL, 1, NULL);
  char buf[LIVE_SIZE];
  memset(buf, 'L', sizeof buf);
  sage_queue_put(q, buf, sizeof buf, SECOND);
}

/* The stale intent's lane comes first in the table, the owner's second:
 * the owner wrote and counted its record before it died, so the record
 * is delivered whatever the dead stale intent says. */
Test(defects, stale_intent_does_not_override_a_counted_owner) {
  sage_queue *q = create("4096");
  party_init(&stale);
  pid_t s = spawn(put_from_stale_tail, NULL);
  await_point(&stale, "put:intent"); /* intent [0, 2) */
  party_init(&counted_owner);
  pid_t o = spawn(put_and_die_counted, NULL);
  await_point(&counted_owner, "attached");
  resume(&counted_owner);
  int status = reap(o);
  cr_assert(WIFSIGNALED(status), "the owner did not die (status %d)", status);
  kill(s, SIGKILL);
  status = reap(s);
  cr_assert(WIFSIGNALED(status), "the stale producer did not die");
  char buf[4096];
  size_t len = 0;
  int rc = sage_queue_get(q, buf, sizeof buf, &len, 5 * SECOND);
  cr_assert_eq(rc, 0, "the counted record was not delivered: %s",
               sage_strerror(rc));
  cr_assert(len == LIVE_SIZE && all_live(buf, len));
  assert_drained(q);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.abandoned, 0);
  cr_assert_eq(st.total_put, 1);
  cr_assert_eq(sage_queue_task_done(q, 1), 0);
  cr_assert_eq(sage_queue_join(q, 0), 0);
  sage_queue_destroy(q);
}

/* The v1 ring could take the start of the record after a dead one from a
 * live intent that covered it without starting there (an intent set from
 * a stale tail), leaving that start uninitialised. Here a producer read
 * the tail before ticket 0 was reserved and sets its intent [0, 2) from
 * it while a survivor recovers ticket 0. To show that with the v1 code, a
 * step point "put:loaded" (tail read, no intent yet) was added there, and
 * this producer stops at it first. The v2 build has no such point: the
 * producer first stops with its intent set, which then covers ticket 0,
 * so ticket 0 counts as a live owner's until the producer goes on (its
 * reservation fails and it reserves tickets 2 and 3 instead). Either way
 * nothing may be misplaced. */
static struct party late;

static void put_late_intent(void *unused) {
  (void)unused;
  sage_queue *q = attach();
  on("put:loaded", ACT_PAUSE, 1, &late);
  on("put:intent", ACT_PAUSE, 1, &late);
  char a[300], b[300];
  memset(a, 'S', sizeof a);
  memset(b, 'S', sizeof b);
  const void *datas[] = {a, b};
  size_t lens[] = {sizeof a, sizeof b}, done = 0;
  int rc = sage_queue_put_batch(q, datas, lens, 2, &done, 5 * SECOND);
  sage_queue_close(q);
  _exit(rc == 0 && done == 2 ? 0 : 1);
}

static void late_intent_lands(void *arg) {
  struct peeker *pk = arg;
  resume(pk->other);
  pk->other_ok = reached(pk->other, "put:intent");
  atomic_store(&pk->other_done, 1);
}

Test(defects, intent_from_a_stale_tail_places_nothing) {
  sage_queue *q = create("4096");
  party_init(&late);
  pid_t p = spawn(put_late_intent, NULL);
  char first[NOTE_SIZE];
  cr_assert_eq(next_note(&late, first, AWAIT_MS), 0);
  int v1 = strcmp(first, "put:loaded") == 0;
  cr_assert(v1 || strcmp(first, "put:intent") == 0, "stopped at '%s'", first);
  struct party live;
  party_init(&live);
  pid_t l = spawn(live_producer, &live);
  await_point(&live, "attached");
  in_child(reserve_and_die, NULL); /* ticket 0 */
  resume(&live);
  await_point(&live, "put:reserved"); /* ticket 1 */
  struct peeker pk = {.q = q, .other = &late, .mid_scan = late_intent_lands};
  pthread_t thread;
  start_peeker(&pk, &thread);
  if (!v1)
    resume(&late); /* its intent over ticket 0 goes; it reserves 2 and 3 */
  await_point(pk.self, "recover:marked"); /* ticket 0 resolved */
  if (v1) {
    cr_assert(atomic_load(&pk.other_done) && pk.other_ok,
              "the late producer did not set its intent mid-recovery");
    resume(&late); /* reserves 2 and 3 */
  }
  resume(&live);
  await_point(&live, "put:cleared");
  check_held_live(q, &pk, thread, l, p, 2);
  sage_queue_destroy(q);
}

/* ---- 4: pollers (timeout 0) and short timeouts recover too ---- */

static void put_and_die_reserved(void *unused) {
  (void)unused;
  sage_queue *q = attach();
  on("put:reserved", ACT_KILL, 1, NULL);
  sage_queue_put(q, "dead", 4, SECOND);
}

/* A dead producer's reservation ahead of three ready messages; gets with
 * `timeout` in a loop (1 ms apart) must have all three within 10 s. */
static void poll_past_dead_producer(int64_t timeout) {
  sage_queue *q = create("65536");
  in_child(put_and_die_reserved, NULL); /* ticket 0 */
  for (int i = 1; i <= 3; i++)
    put_msg(q, i, 64, 0);
  int got = 0;
  int64_t end = now_ns() + 10 * SECOND;
  while (got < 3 && now_ns() < end) {
    char want[64], buf[4096];
    size_t len = 0;
    int rc = sage_queue_get(q, buf, sizeof buf, &len, timeout);
    if (rc == -EAGAIN || rc == -ETIMEDOUT) {
      sleep_ms(1);
      continue;
    }
    cr_assert_eq(rc, 0, "%s", sage_last_error());
    got++;
    make_msg(want, sizeof want, got);
    cr_assert(len == sizeof want && memcmp(buf, want, len) == 0,
              "message %d wrong", got);
  }
  cr_assert_eq(got, 3, "%s with timeout %lld ns got %d of 3 messages in 10 s",
               timeout == 0 ? "polling" : "getting", (long long)timeout, got);
  cr_assert_eq(stats_of(q).abandoned, 1);
  sage_queue_destroy(q);
}

Test(defects, poller_gets_past_dead_producer) {
  poll_past_dead_producer(0);
}

Test(defects, short_timeouts_get_past_dead_producer) {
  poll_past_dead_producer(MS);
}

/* A full queue whose head record a dead consumer holds; puts with
 * `timeout` in a loop (1 ms apart) must get in within 10 s. */
static void poll_past_dead_consumer(int64_t timeout) {
  sage_queue *q = create("4096"); /* largest message 2048 */
  put_msg(q, 0, 2000, 0);
  put_msg(q, 1, 2000, 0);
  in_child(peek_and_die, NULL); /* holds message 0 */
  char big[2000];
  make_msg(big, sizeof big, 2);
  int rc = -EAGAIN;
  int64_t end = now_ns() + 10 * SECOND;
  while (now_ns() < end) {
    rc = sage_queue_put(q, big, sizeof big, timeout);
    if (rc != -EAGAIN && rc != -ETIMEDOUT)
      break;
    sleep_ms(1);
  }
  cr_assert_eq(rc, 0, "%s with timeout %lld ns: still %s after 10 s",
               timeout == 0 ? "polling" : "putting", (long long)timeout,
               sage_strerror(rc));
  get_msg(q, 1, 2000, 0);
  get_msg(q, 2, 2000, 0);
  assert_drained(q);
  cr_assert_eq(stats_of(q).abandoned, 1);
  sage_queue_destroy(q);
}

Test(defects, poller_puts_past_dead_consumer) {
  poll_past_dead_consumer(0);
}

Test(defects, short_timeouts_put_past_dead_consumer) {
  poll_past_dead_consumer(MS);
}

/* ---- 5: a woken sleeper that takes nothing leaves no other asleep
 * beside a message ---- */

struct sleeper {
  sage_queue *q;
  size_t cap;
  _Atomic pid_t tid;
  int rc;
  size_t len;
  char buf[256];
  int64_t done_ns;
};

static void *sleep_in_get(void *arg) {
  struct sleeper *s = arg;
  atomic_store(&s->tid, thread_id());
  s->rc = sage_queue_get(s->q, s->buf, s->cap, &s->len, 5 * SECOND);
  s->done_ns = now_ns();
  return NULL;
}

/* Thread state from /proc ('S': asleep), '?' if unknown. */
static char thread_state(pid_t tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return '?';
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  return p != NULL && p[1] == ' ' ? p[2] : '?';
}

/* Starts s and waits until it is the `nth` reader asleep in the kernel. */
static void start_sleeper(pthread_t *t, struct sleeper *s, uint64_t nth) {
  cr_assert_eq(pthread_create(t, NULL, sleep_in_get, s), 0);
  for (int i = 0; i < 10000; i++) {
    pid_t tid = atomic_load(&s->tid);
    char st = tid != 0 ? thread_state(tid) : 'R';
    if (stats_of(s->q).waiting_readers == nth && (st == 'S' || st == '?'))
      return;
    sleep_ms(1);
  }
  cr_assert_fail("reader %llu did not fall asleep", (unsigned long long)nth);
}

/* Woken in the order they fell asleep, the small-buffer reader comes
 * first: it takes nothing (-EMSGSIZE). The other must get the message
 * anyway, long before its 5 s timeout. (If the other wins the race after
 * both are woken, the small one sees nothing and sleeps on: a second
 * message of the same size ends its wait.) */
Test(defects, sleeper_taking_nothing_leaves_none_asleep) {
  sage_queue *q = create("65536");
  const char msg[] = "longer than the first reader's buffer";
  struct sleeper small = {.q = q, .cap = 8}, big = {.q = q, .cap = 256};
  pthread_t ts, tb;
  start_sleeper(&ts, &small, 1); /* asleep first: woken first */
  start_sleeper(&tb, &big, 2);
  int64_t put_ns = now_ns();
  cr_assert_eq(sage_queue_put(q, msg, strlen(msg), 0), 0);
  pthread_join(tb, NULL);
  cr_assert_eq(big.rc, 0, "the other reader slept on beside the message: %s",
               sage_strerror(big.rc));
  cr_assert(big.len == strlen(msg) && memcmp(big.buf, msg, big.len) == 0);
  cr_assert(big.done_ns - put_ns < 2 * SECOND,
            "the other reader took %lld ms to get the message",
            (long long)((big.done_ns - put_ns) / MS));
  cr_assert_eq(sage_queue_put(q, msg, strlen(msg), 0), 0);
  pthread_join(ts, NULL);
  cr_assert_eq(small.rc, -EMSGSIZE, "small reader: %s",
               sage_strerror(small.rc));
  cr_assert_eq(small.len, strlen(msg));
  char buf[256];
  size_t len = 0;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  cr_assert_eq(len, strlen(msg));
  sage_queue_destroy(q);
}

/* ---- 6: without /proc, a fork child never uses its parent's
 * attachment ---- */

/* In the child: 0 if it could put (on a fresh attachment), 1 on a clear
 * -EBADF, 2 on anything else. */
static void put_via_inherited(void *arg) {
  sage_queue *q = arg;
  int rc = sage_queue_put(q, "child", 5, SECOND);
  if (rc == 0)
    rc = sage_queue_close(q);
  _exit(rc == 0 ? 0 : rc == -EBADF ? 1 : 2);
}

static pid_t fork_without_proc(sage_queue *q) {
  setenv("SAGE_SHM_TEST_NO_PROC", "1", 1);
  pid_t pid = spawn(put_via_inherited, q);
  unsetenv("SAGE_SHM_TEST_NO_PROC");
  return pid;
}

Test(defects, fork_child_without_proc_leaves_parent_reservation) {
  sage_queue *q = create("65536");
  void *ptr;
  uint64_t token;
  cr_assert_eq(sage_queue_reserve(q, 6, &ptr, &token, 0), 0); /* ticket 0 */
  memcpy(ptr, "parent", 6);
  expect_exit(fork_without_proc(q), 0, "child (fresh attachment)");
  struct sage_stats st = stats_of(q);
  cr_expect_eq(st.attached, 1, "attached %llu after the child closed",
               (unsigned long long)st.attached);
  cr_expect_eq(st.stale_attached, 0);
  /* Our reservation is live: nobody may take it over as dead. A get waits
   * on it long enough for any recovery to run (10 ms stuck). */
  char buf[64];
  size_t len = 0;
  int rc = sage_queue_get(q, buf, sizeof buf, &len, 300 * MS);
  cr_expect_eq(rc, -ETIMEDOUT, "get behind our live reservation: %s '%.*s'",
               sage_strerror(rc), rc == 0 ? (int)len : 0, buf);
  cr_assert_eq(sage_queue_commit(q, token), 0);
  rc = sage_queue_get(q, buf, sizeof buf, &len, SECOND);
  cr_assert(rc == 0 && len == 6 && memcmp(buf, "parent", 6) == 0,
            "the committed message was lost: %s", sage_strerror(rc));
  if (rc == 0) {
    rc = sage_queue_get(q, buf, sizeof buf, &len, SECOND);
    cr_assert(rc == 0 && len == 5 && memcmp(buf, "child", 5) == 0);
  }
  st = stats_of(q);
  cr_assert_eq(st.abandoned, 0);
  cr_assert_eq(st.attached, 1);
  sage_queue_destroy(q);
}

Test(defects, fork_child_without_proc_or_name_fails_clearly) {
  sage_queue *q = create("65536");
  void *ptr;
  uint64_t token;
  cr_assert_eq(sage_queue_reserve(q, 6, &ptr, &token, 0), 0);
  memcpy(ptr, "parent", 6);
  /* The name gone too, the child has no way to a fresh attachment. */
  cr_assert_eq(sage_queue_unlink("shm", qname, NULL), 0);
  expect_exit(fork_without_proc(q), 1, "child (expected -EBADF)");
  cr_assert_eq(sage_queue_commit(q, token), 0);
  char buf[64];
  size_t len = 0;
  int rc = sage_queue_get(q, buf, sizeof buf, &len, SECOND);
  cr_assert(rc == 0 && len == 6 && memcmp(buf, "parent", 6) == 0,
            "the committed message was lost: %s", sage_strerror(rc));
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.attached, 1);
  cr_assert_eq(st.abandoned, 0);
  qname[0] = '\0';
  sage_queue_close(q);
}

/* ---- 7: a put is counted before anyone can take it ---- */

static struct party counted;

static void put_paused_published(void *unused) {
  (void)unused;
  sage_queue *q = attach();
  on("put:published", ACT_PAUSE, 1, &counted);
  sage_queue_put(q, "task", 4, SECOND);
  _exit(1); /* killed while paused */
}

Test(defects, put_counted_before_it_can_be_taken) {
  sage_queue *q = create("65536");
  party_init(&counted);
  pid_t p = spawn(put_paused_published, NULL);
  await_point(&counted, "put:published");
  char buf[64];
  size_t len = 0;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, SECOND), 0);
  cr_assert(len == 4 && memcmp(buf, "task", 4) == 0);
  int rc = sage_queue_task_done(q, 1);
  cr_expect_eq(rc, 0, "task_done of a message just got: %s (%s)",
               sage_strerror(rc), sage_last_error());
  kill(p, SIGKILL); /* the producer dies right after publishing */
  int status = reap(p);
  cr_assert(WIFSIGNALED(status));
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.total_put, 1);
  cr_assert_eq(st.unfinished, rc == 0 ? 0 : 1);
  cr_assert_eq(sage_queue_join(q, SECOND), rc == 0 ? 0 : -ETIMEDOUT);
  /* Exact from here on. */
  cr_assert_eq(sage_queue_put(q, "more", 4, 0), 0);
  cr_assert_eq(stats_of(q).unfinished, 1);
  cr_assert_eq(sage_queue_join(q, 0), -EAGAIN);
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  cr_assert_eq(sage_queue_task_done(q, 1), 0);
  cr_assert_eq(sage_queue_join(q, 0), 0);
  cr_assert_eq(sage_queue_task_done(q, 1), -EINVAL);
  sage_queue_destroy(q);
}

/* ---- 8a: a non-blocking call that finds every lane of its handle busy
 * returns -EAGAIN and counts no timeout ---- */

Test(defects, nonblocking_call_with_lanes_busy_is_eagain) {
  sage_queue *q = create("65536");
  cr_assert_eq(sage_queue_put(q, "ready", 5, 0), 0);
  void *ptr[8];
  uint64_t token[8];
  for (int i = 0; i < 8; i++) /* each holds a lane until commit */
    cr_assert_eq(sage_queue_reserve(q, 8, &ptr[i], &token[i], 0), 0, "%s",
                 sage_last_error());
  uint64_t timeouts = stats_of(q).timeouts;
  int rc = sage_queue_put(q, "x", 1, 0);
  cr_expect_eq(rc, -EAGAIN, "put: %s", sage_strerror(rc));
  char buf[64];
  size_t len;
  rc = sage_queue_get(q, buf, sizeof buf, &len, 0);
  cr_expect_eq(rc, -EAGAIN, "get: %s", sage_strerror(rc));
  cr_expect_eq(stats_of(q).timeouts, timeouts,
               "non-blocking calls counted "
               "as timeouts");
  for (int i = 0; i < 8; i++) {
    memcpy(ptr[i], "reserved", 8);
    cr_assert_eq(sage_queue_commit(q, token[i]), 0);
  }
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  cr_assert(len == 5 && memcmp(buf, "ready", 5) == 0);
  for (int i = 0; i < 8; i++) {
    cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
    cr_assert(len == 8 && memcmp(buf, "reserved", 8) == 0);
  }
  sage_queue_destroy(q);
}

/* ---- 8b: spinning never outlasts the caller's deadline ---- */

#define SPIN_BOUND (150 * MS) /* the spin is 300 ms; the timeout 1 ms */

Test(defects, spin_honours_the_deadline) {
  sage_queue *q = create_with("4096", "300000000");
  char buf[2048];
  size_t len;
  int64_t t0 = now_ns();
  int rc = sage_queue_get(q, buf, sizeof buf, &len, MS);
  int64_t took = now_ns() - t0;
  cr_expect_eq(rc, -ETIMEDOUT, "get: %s", sage_strerror(rc));
  cr_expect(took < SPIN_BOUND, "get with a 1 ms timeout took %lld ms",
            (long long)(took / MS));
  put_msg(q, 0, 2000, 0);
  put_msg(q, 1, 2000, 0); /* full for another 2000 */
  make_msg(buf, 2000, 2);
  t0 = now_ns();
  rc = sage_queue_put(q, buf, 2000, MS);
  took = now_ns() - t0;
  cr_expect_eq(rc, -ETIMEDOUT, "put: %s", sage_strerror(rc));
  cr_expect(took < SPIN_BOUND, "put with a 1 ms timeout took %lld ms",
            (long long)(took / MS));
  sage_queue_destroy(q);
}
