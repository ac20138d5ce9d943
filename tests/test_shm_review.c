/* Deterministic regression tests for the defects an adversarial review of
 * the shm ring found (R1 to R5 and R7; fixed together). Each drives one
 * interleaving through the step points of the test build of the plugin
 * (tests/steps/sage-shm.so, see plugin/shm/steps.h), as
 * tests/test_shm_defects.c does: a party (a fork child) stops at a named
 * point and tells the test so through a pipe, then waits there until the
 * test lets it go on; or it dies there. Timeouts are only upper bounds:
 * the order of events comes from the pipes. What each test expects is the
 * recovery protocol of docs/ARCHITECTURE.md ("Recovery"). */
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
/* How soon a survivor must deliver or recover what a dead or stalled party
 * left: a sleeper wakes every 200 ms, then checks after 10 ms stuck. */
#define RECOVERY_BOUND SECOND

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

/* In the party: tells the test it reached `point`, then waits until the
 * test says go on. */
static void party_pause(struct party *p, const char *point) {
  char note[NOTE_SIZE] = {0};
  snprintf(note, sizeof note, "%s", point);
  write_all(p->note[1], note, sizeof note);
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
  ACT_PAUSE, /* tell the test, wait for it */
  ACT_KILL,  /* SIGKILL this process (fork children only) */
};

struct rule {
  const char *point;
  enum act act;
  int nth; /* act on this hit of the point only (0: every hit) */
  struct party *party;
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
    if (strcmp(r->point, point) != 0)
      continue;
    int hit = atomic_fetch_add(&r->hits, 1) + 1;
    if (r->nth != 0 && hit != r->nth)
      continue;
    if (r->act == ACT_PAUSE)
      party_pause(r->party, point);
    else
      kill(getpid(), SIGKILL);
  }
}

/* Arms a rule in this process (every thread). */
static void on(const char *point, enum act act, int nth, struct party *p) {
  int i = atomic_load(&n_rules);
  if (i >= MAX_RULES)
    abort();
  rules[i] = (struct rule){.point = point, .act = act, .nth = nth, .party = p};
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

TestSuite(review, .init = setup, .fini = cleanup, .timeout = 60);

/* A fresh queue of 64 slots (ticket t + 64 reuses ticket t's slot) with
 * `capacity` bytes, and stall_timeout_ms if `stall_ms` is not NULL. */
static sage_queue *create(const char *capacity, const char *stall_ms) {
  static unsigned counter;
  snprintf(qname, sizeof qname, "review-%d-%u", (int)getpid(), counter++);
  const char *opts[] = {"create",           "always", "capacity",
                        capacity,           "slots",  "64",
                        "stall_timeout_ms", stall_ms, NULL};
  if (stall_ms == NULL)
    opts[6] = NULL;
  sage_queue *q;
  cr_assert_eq(sage_queue_open("shm", qname, opts, &q), 0, "%s",
               sage_last_error());
  return q;
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

/* Gets `text`, and nothing else, within `timeout`. */
static void get_text(sage_queue *q, const char *text, int64_t timeout) {
  char buf[4096];
  size_t len = 0;
  int rc = sage_queue_get(q, buf, sizeof buf, &len, timeout);
  cr_assert_eq(rc, 0, "get of '%s': %s (%s)", text, sage_strerror(rc),
               sage_last_error());
  cr_assert(len == strlen(text) && memcmp(buf, text, len) == 0,
            "got %zu bytes '%.*s', want '%s'", len, (int)len, buf, text);
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
  size_t len, done;
  char data[2048];
};
static struct outcome *shared_outcome(void) {
  void *m = mmap(NULL, sizeof(struct outcome), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  cr_assert(m != MAP_FAILED);
  memset(m, 0, sizeof(struct outcome));
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

/* ---- R1: a consumer asleep on an empty queue notices a producer that
 * reserved and then died or stalled (nobody wakes it) ---- */

struct sleeper {
  sage_queue *q;
  _Atomic pid_t tid;
  int rc;
  size_t len;
  char buf[256];
  int64_t done_ns;
};

static void *sleep_in_get(void *arg) {
  struct sleeper *s = arg;
  atomic_store(&s->tid, thread_id());
  s->rc = sage_queue_get(s->q, s->buf, sizeof s->buf, &s->len, 3 * SECOND);
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

/* Starts s and waits until it is a reader asleep in the kernel on the
 * empty queue. */
static void start_sleeper(pthread_t *t, struct sleeper *s) {
  cr_assert_eq(pthread_create(t, NULL, sleep_in_get, s), 0);
  for (int i = 0; i < 10000; i++) {
    pid_t tid = atomic_load(&s->tid);
    char st = tid != 0 ? thread_state(tid) : 'R';
    if (stats_of(s->q).waiting_readers == 1 && (st == 'S' || st == '?'))
      return;
    sleep_ms(1);
  }
  cr_assert_fail("the reader did not fall asleep");
}

/* The sleeper must have `text` within RECOVERY_BOUND of `since`. */
static void sleeper_got(struct sleeper *s, pthread_t t, const char *text,
                        int64_t since) {
  pthread_join(t, NULL);
  cr_assert_eq(s->rc, 0,
               "the reader asleep on the empty queue never got the message "
               "(%s after %lld ms)",
               sage_strerror(s->rc), (long long)((s->done_ns - since) / MS));
  cr_assert(s->len == strlen(text) && memcmp(s->buf, text, s->len) == 0,
            "got '%.*s'", (int)s->len, s->buf);
  cr_assert(s->done_ns - since < RECOVERY_BOUND,
            "the reader got the message %lld ms after its producer died or "
            "stalled",
            (long long)((s->done_ns - since) / MS));
}

static void put_and_die_counted(void *unused) {
  (void)unused;
  sage_queue *q = attach();
  on("put:counted", ACT_KILL, 1, NULL);
  sage_queue_put(q, "counted", 7, SECOND);
}

/* The producer wrote and counted its record, then died: the record is
 * delivered on its behalf, to the reader already asleep. */
Test(review, sleeper_on_empty_queue_gets_a_dead_producers_counted_put) {
  sage_queue *q = create("65536", NULL);
  struct sleeper s = {.q = q};
  pthread_t t;
  start_sleeper(&t, &s);
  in_child(put_and_die_counted, NULL); /* ticket 0: counted, unpublished */
  int64_t died = now_ns();
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.total_put, 1);
  sleeper_got(&s, t, "counted", died);
  assert_drained(q);
  st = stats_of(q);
  cr_assert_eq(st.abandoned, 0);
  cr_assert_eq(st.total_put, 1);
  cr_assert_eq(st.total_got, 1);
  sage_queue_destroy(q);
}

static struct party stalled;

static void put_stalled_counted(void *unused) {
  (void)unused;
  sage_queue *q = attach();
  on("put:counted", ACT_PAUSE, 1, &stalled);
  int rc = sage_queue_put(q, "stalled", 7, 30 * SECOND);
  _exit(rc == 0 ? 0 : 1);
}

/* With stall_timeout_ms, the same for a live producer stopped after it
 * counted: its record is published for it, and its put succeeds. */
Test(review, sleeper_on_empty_queue_gets_a_stalled_producers_put) {
  sage_queue *q = create("65536", "50");
  struct sleeper s = {.q = q};
  pthread_t t;
  start_sleeper(&t, &s);
  party_init(&stalled);
  pid_t p = spawn(put_stalled_counted, NULL);
  await_point(&stalled, "put:counted");
  sleeper_got(&s, t, "stalled", now_ns());
  resume(&stalled);
  expect_exit(p, 0, "stalled producer (its record was published for it)");
  assert_drained(q);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.abandoned, 0);
  cr_assert_eq(st.total_put, 1);
  cr_assert_eq(st.total_got, 1);
  sage_queue_destroy(q);
}

/* ---- R2: a producer stopped between its put intent and its CAS (it lost
 * the CAS to a producer that then died) owns nothing ---- */

static struct party loser;

static void put_paused_at_intent(void *unused) {
  (void)unused;
  sage_queue *q = attach();
  on("put:intent", ACT_PAUSE, 1, &loser);
  int rc = sage_queue_put(q, "O-msg", 5, 30 * SECOND);
  _exit(rc == 0 ? 0 : 1);
}

static void put_and_die_reserved(void *unused) {
  (void)unused;
  sage_queue *q = attach();
  on("put:reserved", ACT_KILL, 1, NULL);
  sage_queue_put(q, "D-msg", 5, SECOND);
}

/* O stops with its intent [0, 1) set, before its CAS; D reserves ticket 0
 * and dies before writing it. O's intent covers ticket 0, but D took it:
 * it becomes DEAD at once. With stall_timeout_ms, consumers went past it
 * anyway; there head must not stay behind it either (O will never write
 * it), or the ring fills while O is stopped. */
static void stopped_put_intent(const char *stall_ms) {
  sage_queue *q = create("4096", stall_ms);
  party_init(&loser);
  pid_t o = spawn(put_paused_at_intent, NULL);
  await_point(&loser, "put:intent");    /* O: intent [0, 1), tail still 0 */
  in_child(put_and_die_reserved, NULL); /* D: ticket 0, nothing written */
  cr_assert_eq(sage_queue_put(q, "M1", 2, 0), 0); /* ticket 1 */
  int64_t t0 = now_ns();
  get_text(q, "M1", 2 * SECOND);
  cr_assert(now_ns() - t0 < RECOVERY_BOUND,
            "the dead producer's ticket took %lld ms to recover",
            (long long)((now_ns() - t0) / MS));
  /* 200 messages of 100 bytes through a 4096-byte ring of 64 slots:
   * each lap needs head past ticket 0. */
  for (int i = 0; i < 200; i++) {
    put_msg(q, i, 100, 300 * MS);
    get_msg(q, i, 100, SECOND);
  }
  resume(&loser); /* its CAS fails; it reserves ticket 202 */
  expect_exit(o, 0, "the stopped producer");
  get_text(q, "O-msg", SECOND);
  assert_drained(q);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.abandoned, 1);
  cr_assert_eq(st.total_put, 202);
  cr_assert_eq(st.total_got, 202);
  sage_queue_destroy(q);
}

Test(review, stopped_put_intent_never_blocks_a_dead_ticket) {
  stopped_put_intent(NULL);
}

Test(review, stopped_put_intent_never_pins_head_with_stall_timeout) {
  stopped_put_intent("50");
}

/* ---- R3: the same on the get side: a consumer stopped between its get
 * intent and its CAS never blocks a dead consumer's claim ---- */

static void get_paused_at_intent(void *arg) {
  struct outcome *out = arg;
  sage_queue *q = attach();
  on("get:intent", ACT_PAUSE, 1, &loser);
  out->rc =
      sage_queue_get(q, out->data, sizeof out->data, &out->len, 30 * SECOND);
  _exit(0);
}

/* C stops with its get intent [0, 1) set, before its CAS; K claims ticket
 * 0 and dies holding it. Ticket 0 is K's, not C's: it is LOST as soon as
 * a producer needs its bytes. 2000 + 1000 bytes are queued in 4096; 1500
 * more fit only at the start of the ring, once ticket 0's bytes are
 * free. */
Test(review, stopped_get_intent_never_blocks_a_lost_claim) {
  sage_queue *q = create("4096", NULL);
  struct outcome *c_saw = shared_outcome();
  put_msg(q, 0, 2000, 0);
  party_init(&loser);
  pid_t c = spawn(get_paused_at_intent, c_saw);
  await_point(&loser, "get:intent"); /* C: intent [0, 1), read still 0 */
  in_child(peek_and_die, NULL);      /* K: claims ticket 0, dies */
  put_msg(q, 1, 1000, 0);
  int64_t t0 = now_ns();
  put_msg(q, 2, 1500, 2 * SECOND);
  cr_assert(now_ns() - t0 < RECOVERY_BOUND,
            "the dead consumer's record took %lld ms to recover",
            (long long)((now_ns() - t0) / MS));
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.abandoned, 1);
  cr_assert_eq(st.unfinished, 2);
  resume(&loser); /* its CAS fails; it takes ticket 1 */
  expect_exit(c, 0, "the stopped consumer");
  char want[1000];
  make_msg(want, sizeof want, 1);
  cr_assert(c_saw->rc == 0 && c_saw->len == sizeof want &&
                memcmp(c_saw->data, want, sizeof want) == 0,
            "the stopped consumer got %s, %zu bytes", sage_strerror(c_saw->rc),
            c_saw->len);
  get_msg(q, 2, 1500, SECOND);
  assert_drained(q);
  st = stats_of(q);
  cr_assert_eq(st.abandoned, 1);
  cr_assert_eq(st.total_put, 3);
  cr_assert_eq(st.total_got, 2);
  cr_assert_eq(sage_queue_task_done(q, 2), 0);
  cr_assert_eq(sage_queue_join(q, 0), 0);
  sage_queue_destroy(q);
}

/* ---- R4: a fork child's first call is commit, cancel or release of a
 * token its parent got: -EINVAL, and nothing is written ---- */

struct inherited {
  sage_queue *q;
  uint64_t token;
  struct outcome *out;
  int (*call)(sage_queue *, uint64_t);
};

static void call_inherited(void *arg) {
  struct inherited *in = arg;
  in->out->rc = in->call(in->q, in->token);
  sage_queue_close(in->q);
  _exit(0);
}

/* Runs call(q, token) as the first call of a fork child on q. */
static int first_call_in_child(sage_queue *q, uint64_t token,
                               int (*call)(sage_queue *, uint64_t)) {
  struct inherited in = {q, token, shared_outcome(), call};
  expect_exit(spawn(call_inherited, &in), 0, "fork child");
  int rc = in.out->rc;
  munmap(in.out, sizeof *in.out);
  return rc;
}

/* 60 messages queued, so that the slot table around the reservation's
 * lane is in use (the old code wrote the lane through attachment -1,
 * into the slots). */
Test(review, fork_child_cannot_commit_or_cancel_parents_reservation) {
  sage_queue *q = create("65536", NULL);
  for (int i = 0; i < 60; i++)
    put_msg(q, i, 6, 0);
  void *ptr;
  uint64_t token;
  cr_assert_eq(sage_queue_reserve(q, 6, &ptr, &token, 0), 0); /* ticket 60 */
  memcpy(ptr, "parent", 6);
  int rc = first_call_in_child(q, token, sage_queue_commit);
  cr_expect_eq(rc, -EINVAL, "a fork child committed its parent's token: %s",
               sage_strerror(rc));
  rc = first_call_in_child(q, token, sage_queue_cancel);
  cr_expect_eq(rc, -EINVAL, "a fork child cancelled its parent's token: %s",
               sage_strerror(rc));
  for (int i = 0; i < 60; i++)
    get_msg(q, i, 6, 0);
  char buf[64];
  size_t len = 0;
  rc = sage_queue_get(q, buf, sizeof buf, &len, 0);
  cr_assert_eq(rc, -EAGAIN, "got %s '%.*s' ahead of the parent's commit",
               sage_strerror(rc), rc == 0 ? (int)len : 0, buf);
  cr_assert_eq(sage_queue_commit(q, token), 0, "%s", sage_last_error());
  get_text(q, "parent", 0);
  assert_drained(q);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.abandoned, 0);
  cr_assert_eq(st.total_put, 61);
  cr_assert_eq(st.total_got, 61);
  cr_assert_eq(st.attached, 1);
  cr_assert_eq(st.stale_attached, 0);
  cr_assert_eq(sage_queue_task_done(q, 61), 0);
  cr_assert_eq(sage_queue_join(q, 0), 0);
  sage_queue_destroy(q);
}

/* The parent peeks ticket 0; a fork child's release of it must not move
 * head past it: ticket 64 (slot 0) cannot be reserved until the parent
 * itself releases, once. (The old code released it in the child, then
 * again in the parent over ticket 64's published slot.) */
Test(review, fork_child_cannot_release_parents_peek) {
  sage_queue *q = create("65536", NULL);
  for (int i = 0; i < 3; i++)
    put_msg(q, i, 6, 0);
  const void *ptr;
  size_t len;
  uint64_t token;
  cr_assert_eq(sage_queue_peek(q, &ptr, &len, &token, 0), 0); /* ticket 0 */
  int rc = first_call_in_child(q, token, sage_queue_release);
  cr_expect_eq(rc, -EINVAL, "a fork child released its parent's peek: %s",
               sage_strerror(rc));
  for (int i = 1; i < 3; i++)
    get_msg(q, i, 6, 0);
  for (int i = 3; i < 64; i++) {
    put_msg(q, i, 6, 0);
    get_msg(q, i, 6, 0);
  }
  char buf[64];
  make_msg(buf, 6, 64);
  rc = sage_queue_put(q, buf, 6, 0);
  cr_assert_eq(rc, -EAGAIN,
               "put into the slot of the parent's held peek: %s (the child's "
               "release freed it)",
               sage_strerror(rc));
  cr_assert(len == 6 && memcmp(ptr, "m0:aaa", 6) == 0,
            "the held message changed: '%.6s'", (const char *)ptr);
  cr_assert_eq(sage_queue_release(q, token), 0, "%s", sage_last_error());
  cr_assert_eq(sage_queue_release(q, token), -EINVAL);
  put_msg(q, 64, 6, 0); /* slot 0 */
  get_msg(q, 64, 6, 0);
  assert_drained(q);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.abandoned, 0);
  cr_assert_eq(st.total_put, 65);
  cr_assert_eq(st.total_got, 65);
  cr_assert_eq(st.attached, 1);
  cr_assert_eq(sage_queue_task_done(q, 65), 0);
  cr_assert_eq(sage_queue_join(q, 0), 0);
  sage_queue_destroy(q);
}

/* ---- R5: a party that stalls right before it counts a LOST (or DEAD)
 * record head passes counts nothing twice, however far the ring went on
 * meanwhile ---- */

struct tally_party {
  const char *point;
  struct party party;
  struct outcome *out;
};

/* A joins (its join recovers ticket 0 LOST), and stops at `point`. */
static void join_paused(void *arg) {
  struct tally_party *a = arg;
  sage_queue *q = attach();
  on(a->point, ACT_PAUSE, 1, &a->party);
  a->out->rc = sage_queue_join(q, SECOND);
  _exit(0);
}

/* A gets (it recovers ticket 0 DEAD and passes it), and stops at
 * `point`. */
static void get_paused(void *arg) {
  struct tally_party *a = arg;
  sage_queue *q = attach();
  on(a->point, ACT_PAUSE, 1, &a->party);
  a->out->rc = sage_queue_get(q, a->out->data, sizeof a->out->data,
                              &a->out->len, SECOND);
  _exit(0);
}

/* While A is stopped: head passes ticket 0 (counting it), tickets 1..72
 * go through the 64 slots with their tasks done but 72's, and ticket 71
 * is abandoned too (by `abandon`), so the tally's marker is 72, more than
 * the slot count past ticket 0. Returns after head passed 71. */
static void lap_while_stopped(sage_queue *q, void (*abandon)(void *)) {
  for (int i = 1; i <= 70; i++) {
    put_msg(q, i, 6, 0);
    get_msg(q, i, 6, SECOND);
    cr_assert_eq(sage_queue_task_done(q, 1), 0, "task %d", i);
  }
  if (abandon == peek_and_die)
    put_msg(q, 71, 6, 0);
  in_child(abandon, NULL); /* ticket 71 */
  put_msg(q, 72, 6, 0);
  get_msg(q, 72, 6, SECOND); /* its task stays open */
  for (int i = 0; i < 100 && stats_of(q).abandoned < 2; i++)
    sage_queue_join(q, 20 * MS); /* recovers 71 */
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.abandoned, 2);
  cr_assert_eq(st.unfinished, 1);
}

/* Then A goes on: nothing may be counted again, and one task (72's) is
 * still open until we finish it. */
static void after_stopped_tally(sage_queue *q, struct tally_party *a, pid_t pid,
                                uint64_t total_put) {
  resume(&a->party);
  expect_exit(pid, 0, "party A");
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.abandoned, 2,
               "abandoned %llu: ticket 0 counted again after A's stall",
               (unsigned long long)st.abandoned);
  cr_assert_eq(st.unfinished, 1);
  cr_assert_eq(sage_queue_join(q, 0), -EAGAIN);
  cr_assert_eq(sage_queue_task_done(q, 1), 0, "message 72's task_done: %s",
               sage_last_error());
  cr_assert_eq(sage_queue_join(q, 0), 0);
  cr_assert_eq(sage_queue_task_done(q, 1), -EINVAL);
  assert_drained(q);
  st = stats_of(q);
  cr_assert_eq(st.abandoned, 2);
  cr_assert_eq(st.total_put, total_put);
}

Test(review, lost_tally_counts_once_after_a_stall_longer_than_the_ring) {
  sage_queue *q = create("65536", NULL);
  struct tally_party a = {.point = "head:lost", .out = shared_outcome()};
  put_msg(q, 0, 6, 0);
  in_child(peek_and_die, NULL); /* holds ticket 0 */
  party_init(&a.party);
  pid_t pid = spawn(join_paused, &a);
  await_point(&a.party, "head:lost"); /* ticket 0 LOST, not counted yet */
  lap_while_stopped(q, peek_and_die);
  after_stopped_tally(q, &a, pid, 73);
  cr_assert_eq(a.out->rc, -ETIMEDOUT,
               "A's join returned %s with message 72's task open",
               sage_strerror(a.out->rc));
  sage_queue_destroy(q);
}

/* The same for the DEAD tally, whose tail used to be read before this
 * step point: a party stalled here while the ring lapped took the newer
 * marker for one from 2^32 tickets ago and counted ticket 0 again. */
Test(review, dead_tally_counts_once_after_a_stall_longer_than_the_ring) {
  sage_queue *q = create("65536", NULL);
  struct tally_party a = {.point = "head:dead_run", .out = shared_outcome()};
  in_child(reserve_and_die, NULL); /* ticket 0 */
  party_init(&a.party);
  pid_t pid = spawn(get_paused, &a);
  await_point(&a.party, "head:dead_run"); /* ticket 0 DEAD, not counted */
  lap_while_stopped(q, reserve_and_die);
  after_stopped_tally(q, &a, pid, 71); /* tickets 0 and 71 never counted */
  cr_assert_eq(a.out->rc, -ETIMEDOUT, "A's get: %s", sage_strerror(a.out->rc));
  sage_queue_destroy(q);
}

/* ---- R7: with stall_timeout_ms, a batch put taken over mid-way reports
 * exactly the messages it delivered ---- */

static void put_batch_stalling(void *arg) {
  struct outcome *out = arg;
  sage_queue *q = attach();
  on("put:reserved", ACT_PAUSE, 1, &stalled);
  on("put:counted", ACT_PAUSE, 1, &stalled);
  const void *datas[] = {"m0", "m1"};
  size_t lens[] = {2, 2};
  out->rc = sage_queue_put_batch(q, datas, lens, 2, &out->done, 30 * SECOND);
  _exit(0);
}

/* Polls (get, timeout 0) until `items` are left unclaimed; the messages
 * got go to got[*n]. */
static void poll_until_read(sage_queue *q, uint64_t items, char got[][8],
                            int *n) {
  for (int i = 0; i < 5000 && stats_of(q).items > items; i++) {
    char buf[64];
    size_t len = 0;
    int rc = sage_queue_get(q, buf, sizeof buf, &len, 0);
    if (rc == 0) {
      cr_assert(*n < 2 && len < 8, "got a third message, or a wrong one");
      memcpy(got[*n], buf, len);
      got[(*n)++][len] = '\0';
      continue;
    }
    cr_assert_eq(rc, -EAGAIN, "get: %s", sage_strerror(rc));
    sleep_ms(1);
  }
  cr_assert_eq(stats_of(q).items, items, "read did not move on");
}

/* O reserves tickets 0 and 1 for [m0, m1] and stalls before writing:
 * ticket 0 is given up (DEAD). O writes and counts both, and stalls again:
 * ticket 1 is taken over too. Whatever is delivered, O's done says so
 * (what a taken-over put delivers is a prefix), and total_put agrees. */
Test(review, taken_over_batch_reports_what_it_delivered) {
  sage_queue *q = create("65536", "50");
  struct outcome *o_saw = shared_outcome();
  party_init(&stalled);
  pid_t o = spawn(put_batch_stalling, o_saw);
  await_point(&stalled, "put:reserved"); /* tickets 0 and 1, unwritten */
  char got[2][8];
  int n = 0;
  poll_until_read(q, 1, got, &n); /* ticket 0 given up and passed */
  cr_assert_eq(n, 0, "got '%s' from a record never written", got[0]);
  resume(&stalled);
  await_point(&stalled, "put:counted"); /* both written and counted */
  poll_until_read(q, 0, got, &n);       /* ticket 1 taken over and passed */
  resume(&stalled);
  expect_exit(o, 0, "the stalled producer");
  size_t delivered = (size_t)n;
  cr_assert_eq(o_saw->done, delivered,
               "put_batch: %s with done = %zu, but %zu message(s) delivered",
               sage_strerror(o_saw->rc), o_saw->done, delivered);
  cr_assert_eq(o_saw->rc, delivered == 2 ? 0 : -ECANCELED);
  for (int i = 0; i < n; i++)
    cr_assert(strcmp(got[i], i == 0 ? "m0" : "m1") == 0, "got '%s' as %d",
              got[i], i);
  cr_assert_eq(sage_queue_put(q, "LATER", 5, 0), 0);
  get_text(q, "LATER", SECOND);
  assert_drained(q);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.total_put, delivered + 1);
  cr_assert_eq(st.total_got, delivered + 1);
  cr_assert_eq(st.abandoned, 2 - delivered);
  cr_assert_eq(st.unfinished, delivered + 1);
  sage_queue_destroy(q);
}
