/* Crash-point matrix of the shm ring, over the real code (the test build of
 * the plugin, tests/steps, with its named step points).
 *
 * For every step point of put, put_batch, reserve/commit/cancel, get,
 * get_batch, peek/release, task_done and of recovery itself, a victim
 * process does its operation on a prepared queue and is SIGKILLed exactly
 * at that point (its step hook). Then a survivor of each kind must finish
 * within BOUND_MS:
 *  block  a consumer calling get with a timeout
 *  poll   a consumer calling get_batch with timeout 0, in a loop
 *  space  a producer putting into a queue left full, the victim being a
 *         consumer that held the head record
 *  race   two recoverers at once: a blocking and a polling consumer racing
 *         to resolve a dead producer's ticket, or two producers racing to
 *         free a dead consumer's head record
 *  late   a blocking consumer that attaches only after the death, so it
 *         takes over the victim's attachment entry (attach.c resolves the
 *         entry's counted reservations before clearing its intents)
 * For the recovery points, recoverer A (of the column's kind) is the one
 * killed there and B must finish; in the race column A is only paused
 * there while B recovers, the ring laps, and A, resumed, must change
 * nothing. "n/a" where a kind has nothing to recover or cannot finish on
 * its own (a producer waiting behind a ticket only a consumer can pass).
 *
 * Afterwards: no duplicates, no torn messages, exactly the deliveries the
 * protocol predicts for that point, exact stats and task accounting, and a
 * put/get round trip. The whole matrix runs four times: from position 0;
 * from tickets and units just short of 2^32, so that both wrap inside the
 * victim's operation; and both again with 128-byte slots, where most
 * messages live in their slots instead of the ring (layout.h). Standalone (no
 * Criterion): it runs under every sanitizer build. */
#include "config.h"

#include <errno.h>
#include <sage/queue.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crash_matrix_msg.h"
#include "crash_matrix_party.h"

#define BOUND_MS 5000 /* every survivor finishes within this */
#define BOUND_NS (BOUND_MS * CM_MS)
#define MARKER 9 /* producer id of end markers */
#define MARKER_LEN 120
#define WARM 8   /* producer id of warm-up messages */
#define LAPPED 7 /* producer id of the message a lap leaves */
#define SLOTS 64
#define MAX_EXPECT 64

/* ---- rows: a step point of an operation, and what must become of the
 * victim's messages ---- */

enum op {
  OP_PUT,
  OP_PUT_BATCH,
  OP_RESERVE, /* reserve, write, commit */
  OP_CANCEL,  /* reserve, write, cancel */
  OP_GET,
  OP_GET_BATCH,
  OP_PEEK, /* peek, release */
  OP_TASK_DONE,
  OP_RECOVER,      /* a consumer resolving a dead producer's ticket */
  OP_RECOVER_HEAD, /* a producer freeing a dead consumer's head record */
};

/* A message's fate, as flags. */
enum {
  X_PUT = 1,     /* counted in total_put */
  X_DELIVER = 2, /* a survivor takes it, exactly once */
  X_GOT = 4,     /* counted in total_got although no survivor took it */
  X_ABANDON = 8, /* counted in abandoned */
  X_TASK = 16,   /* the victim took it: its task_done is owed */
};
#define FATE_NONE 0         /* never reserved */
#define FATE_DEAD X_ABANDON /* reserved, never counted */
#define FATE_SKIP 0         /* cancelled */
#define FATE_DELIVER (X_PUT | X_DELIVER)
#define FATE_LOST (X_PUT | X_ABANDON) /* claimed by a dead consumer */
#define FATE_GONE (X_PUT | X_TASK)    /* released, not counted as got */
#define FATE_GOT (X_PUT | X_GOT | X_TASK)

enum col { C_BLOCK, C_POLL, C_SPACE, C_RACE, C_LATE, N_COLS };
static const char *const col_names[N_COLS] = {"block", "poll", "space", "race",
                                              "late"};
#define M(c) (1u << (c))
#define PUT_COLS (M(C_BLOCK) | M(C_POLL) | M(C_RACE) | M(C_LATE))
#define HELD_COLS (PUT_COLS | M(C_SPACE))
#define FREED_COLS (M(C_BLOCK) | M(C_POLL) | M(C_SPACE) | M(C_LATE))
#define PLAIN_COLS (M(C_BLOCK) | M(C_POLL) | M(C_LATE))
#define HEAD_COLS (M(C_SPACE) | M(C_RACE))

struct row {
  const char *name, *point;
  enum op op;
  unsigned fate, cols;
};

/* clang-format off */
#define PUT_ROWS(name, op)                                                     \
  {name, "put:intent", op, FATE_NONE, PUT_COLS},                               \
  {name, "put:reserved", op, FATE_DEAD, PUT_COLS},                             \
  {name, "put:written", op, FATE_DEAD, PUT_COLS},                              \
  {name, "put:counted", op, FATE_DELIVER, PUT_COLS},                           \
  {name, "put:published", op, FATE_DELIVER, PUT_COLS},                         \
  {name, "put:cleared", op, FATE_DELIVER, PUT_COLS}
#define GET_ROWS(name, op)                                                     \
  {name, "get:intent", op, FATE_DELIVER, PLAIN_COLS},                          \
  {name, "get:claimed", op, FATE_LOST, HELD_COLS},                             \
  {name, "get:copied", op, FATE_LOST, HELD_COLS},                              \
  {name, "get:released", op, FATE_GONE, FREED_COLS},                           \
  {name, "get:counted", op, FATE_GOT, FREED_COLS}
/* clang-format on */

/* For OP_RECOVER the fate is that of the dead producer's message: DEAD if
 * it died before counting (put:written), else published for it. */
static const struct row rows[] = {
    PUT_ROWS("put", OP_PUT),
    PUT_ROWS("put_batch", OP_PUT_BATCH),
    {"reserve", "reserve:reserved", OP_RESERVE, FATE_DEAD, PUT_COLS},
    {"commit", "commit:counted", OP_RESERVE, FATE_DELIVER, PUT_COLS},
    {"commit", "commit:published", OP_RESERVE, FATE_DELIVER, PUT_COLS},
    {"cancel", "cancel:published", OP_CANCEL, FATE_SKIP, PUT_COLS},
    GET_ROWS("get", OP_GET),
    GET_ROWS("get_batch", OP_GET_BATCH),
    {"peek", "peek:claimed", OP_PEEK, FATE_LOST, HELD_COLS},
    {"release", "release:released", OP_PEEK, FATE_GONE, FREED_COLS},
    {"task_done", "task_done:checked", OP_TASK_DONE, FATE_GOT, PLAIN_COLS},
    {"recover/dead", "recover:decided", OP_RECOVER, FATE_DEAD, PUT_COLS},
    {"recover/counted", "recover:decided", OP_RECOVER, FATE_DELIVER, PUT_COLS},
    {"recover/dead", "recover:marked", OP_RECOVER, FATE_DEAD, PUT_COLS},
    {"recover/counted", "recover:marked", OP_RECOVER, FATE_DELIVER, PUT_COLS},
    {"recover_head", "recover_head:decided", OP_RECOVER_HEAD, FATE_LOST,
     HEAD_COLS},
    {"recover_head", "recover_head:marked", OP_RECOVER_HEAD, FATE_LOST,
     HEAD_COLS},
};
#define N_ROWS (sizeof rows / sizeof rows[0])

/* Victim message sizes (whole messages): one put, or one batch. */
static const size_t victim_lens[2][3] = {{100, 0, 0}, {40, 150, 75}};

/* ---- roles: what a party does ---- */

struct role_arg {
  int poll;          /* consumer: get_batch with timeout 0, in a loop */
  int race;          /* consumer: stop when the board says so */
  unsigned markers;  /* consumer: stop after this many markers */
  int batch;         /* victim: the batch form */
  int cancel;        /* reserve victim: cancel instead of commit */
  int task_done;     /* get victim: then task_done(1) */
  uint32_t producer; /* put victim / marker producer: id and seq */
  uint32_t seq;
};

static void record(struct cm_out *out, const unsigned char *buf, size_t n) {
  struct cm_msg_hdr h;
  int ok = cm_msg_check(buf, n, &h);
  if (out->n < CM_MAX_GOT)
    out->got[out->n++] = (struct cm_got){h.producer, h.seq, !ok};
  else
    cm_note(out, "took more than %d messages", CM_MAX_GOT);
}

/* Takes one message or batch; returns how many markers it held. */
static unsigned take(sage_queue *q, struct cm_out *out,
                     const struct role_arg *a, int64_t left_ns) {
  static unsigned char buf[4 * CM_MSG_MAX];
  size_t lens[4], count = 0, len = 0;
  int rc = a->poll
               ? sage_queue_get_batch(q, buf, sizeof buf, lens, 4, &count, 0)
               : sage_queue_get(q, buf, sizeof buf, &len, left_ns);
  if (rc == 0 && !a->poll) {
    lens[0] = len;
    count = 1;
  }
  out->rc = rc;
  if (rc != 0 && rc != -EAGAIN && rc != -ETIMEDOUT && rc != -EINTR)
    cm_note(out, "get: %s (%s)", sage_strerror(rc), sage_last_error());
  unsigned markers = 0;
  for (size_t i = 0, off = 0; rc == 0 && i < count; off += lens[i++]) {
    record(out, buf + off, lens[i]);
    markers += out->got[out->n - 1].producer == MARKER;
  }
  return markers;
}

/* Blocking or polling consumer: takes messages until it has seen its
 * markers (or, racing, until another racer has). */
static void role_consume(sage_queue *q, struct cm_out *out, const void *arg) {
  const struct role_arg *a = arg;
  int64_t end = cm_now_ms() + BOUND_MS;
  unsigned seen = 0;
  while (seen < a->markers && !(a->race && atomic_load(&cm_board->stop))) {
    int64_t left = end - cm_now_ms();
    if (left <= 0) {
      cm_note(out, "wedged: %u of %u markers after %d ms", seen, a->markers,
              BOUND_MS);
      return;
    }
    seen += take(q, out, a, left * CM_MS);
    if (out->note[0] != '\0')
      return;
    if (a->poll && out->rc == -EAGAIN)
      cm_nap_us(200);
  }
  if (seen >= a->markers && a->race)
    atomic_store(&cm_board->stop, 1);
}

static void role_put(sage_queue *q, struct cm_out *out, const void *arg) {
  const struct role_arg *a = arg;
  static unsigned char bufs[3][CM_MSG_MAX];
  const void *datas[3];
  size_t lens[3], k = a->batch ? 3 : 1, done = 0;
  for (size_t i = 0; i < k; i++) {
    lens[i] = cm_msg_build(bufs[i], a->producer, (uint32_t)i,
                           victim_lens[a->batch][i]);
    datas[i] = bufs[i];
  }
  out->rc = a->batch ? sage_queue_put_batch(q, datas, lens, k, &done, BOUND_NS)
                     : sage_queue_put(q, datas[0], lens[0], BOUND_NS);
}

static void role_reserve(sage_queue *q, struct cm_out *out, const void *arg) {
  const struct role_arg *a = arg;
  unsigned char msg[CM_MSG_MAX];
  size_t n = cm_msg_build(msg, a->producer, 0, victim_lens[0][0]);
  void *ptr;
  uint64_t token;
  int rc = sage_queue_reserve(q, n, &ptr, &token, BOUND_NS);
  if (rc == 0) {
    memcpy(ptr, msg, n);
    rc = a->cancel ? sage_queue_cancel(q, token) : sage_queue_commit(q, token);
  }
  out->rc = rc;
}

static void role_get(sage_queue *q, struct cm_out *out, const void *arg) {
  const struct role_arg *a = arg;
  static unsigned char buf[4 * CM_MSG_MAX];
  size_t lens[3], count, len;
  int rc = a->batch ? sage_queue_get_batch(q, buf, sizeof buf, lens, 3, &count,
                                           BOUND_NS)
                    : sage_queue_get(q, buf, sizeof buf, &len, BOUND_NS);
  if (rc == 0 && a->task_done)
    rc = sage_queue_task_done(q, 1);
  out->rc = rc;
}

static void role_peek(sage_queue *q, struct cm_out *out, const void *arg) {
  const void *ptr;
  size_t len;
  uint64_t token;
  int rc = sage_queue_peek(q, &ptr, &len, &token, BOUND_NS);
  out->rc = rc == 0 ? sage_queue_release(q, token) : rc;
}

static void role_marker(sage_queue *q, struct cm_out *out, const void *arg) {
  const struct role_arg *a = arg;
  unsigned char msg[MARKER_LEN];
  cm_msg_build(msg, MARKER, a->seq, sizeof msg);
  out->rc = sage_queue_put(q, msg, sizeof msg, BOUND_NS);
  if (out->rc != 0)
    cm_note(out, "put: %s (%s)", sage_strerror(out->rc), sage_last_error());
}

static cm_role victim_role(enum op op) {
  switch (op) {
  case OP_PUT:
  case OP_PUT_BATCH:
    return role_put;
  case OP_RESERVE:
  case OP_CANCEL:
    return role_reserve;
  case OP_PEEK:
    return role_peek;
  default:
    return role_get;
  }
}

/* ---- one cell: a row, a survivor kind, a starting position ---- */

struct expect {
  uint32_t producer, seq, fate, seen;
};

struct cell {
  const struct row *row;
  enum col col;
  int pass; /* enum pass */
  char name[64];
  sage_queue *q;
  struct expect exp[MAX_EXPECT];
  unsigned n_exp;
  uint64_t base; /* warm-up messages: put, got and done */
  unsigned used; /* tickets taken since the warm-up */
  struct cm_party party[CM_MAX_PARTIES];
  unsigned n_party;
  char why[240]; /* first failure */
};

static char current_shm[128], current_cell[128]; /* for give_up() */

__attribute__((format(printf, 2, 3))) static int fail(struct cell *c,
                                                      const char *fmt, ...) {
  if (c->why[0] == '\0') {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static struct expect *find(struct cell *c, uint32_t producer, uint32_t seq) {
  for (unsigned i = 0; i < c->n_exp; i++)
    if (c->exp[i].producer == producer && c->exp[i].seq == seq)
      return &c->exp[i];
  return NULL;
}

static void expect(struct cell *c, uint32_t producer, uint32_t seq,
                   unsigned fate) {
  struct expect *e = find(c, producer, seq);
  if (e == NULL && c->n_exp < MAX_EXPECT)
    e = &c->exp[c->n_exp++];
  if (e != NULL)
    *e = (struct expect){producer, seq, fate, 0};
}

static unsigned count_fate(const struct cell *c, unsigned flag) {
  unsigned n = 0;
  for (unsigned i = 0; i < c->n_exp; i++)
    n += (c->exp[i].fate & flag) != 0;
  return n;
}

/* The runs of the matrix: where positions start, and the slot size. */
enum pass { PASS_ZERO, PASS_WRAP, PASS_SMALL, PASS_SMALL_WRAP, N_PASSES };
static const char *const pass_tags[N_PASSES] = {"[zero]", "[wrap]", "[small]",
                                                "[small wrap]"};
static const char *const pass_titles[N_PASSES] = {
    "from ticket 0, unit 0:", "from ticket 2^32-5, unit 2^32-40 (both wrap):",
    "from 0, 128-byte slots (payloads up to 104 bytes in their slots):",
    "from 2^32-5 / 2^32-40, 128-byte slots:"};

static int open_queue(struct cell *c) {
  static unsigned counter;
  char ticket[16], unit[16];
  int wrap = c->pass == PASS_WRAP || c->pass == PASS_SMALL_WRAP;
  int small = c->pass == PASS_SMALL || c->pass == PASS_SMALL_WRAP;
  snprintf(c->name, sizeof c->name, "cm-%d-%u", (int)getpid(), counter++);
  snprintf(current_shm, sizeof current_shm, "/sageq-%u-%s", (unsigned)geteuid(),
           c->name);
  snprintf(ticket, sizeof ticket, "%u", wrap ? 0xfffffffbu : 0u);
  snprintf(unit, sizeof unit, "%u", wrap ? 0xffffffd8u : 0u);
  const char *opts[] = {"create",
                        "always",
                        "capacity",
                        "4096",
                        "slots",
                        "64",
                        "attach_max",
                        "16",
                        "first_ticket",
                        ticket,
                        "first_unit",
                        unit,
                        "slot_size",
                        small ? "128" : "32",
                        NULL};
  int rc = sage_queue_open("shm", c->name, opts, &c->q);
  return rc == 0 ? 0 : fail(c, "open: %s", sage_last_error());
}

static int parent_put(struct cell *c, uint32_t producer, uint32_t seq,
                      size_t len) {
  unsigned char msg[CM_MSG_MAX];
  cm_msg_build(msg, producer, seq, len);
  int rc = sage_queue_put(c->q, msg, len, 0);
  if (rc == 0 && producer != WARM) {
    expect(c, producer, seq, FATE_DELIVER);
    c->used++;
  }
  return rc;
}

static int parent_put_batch(struct cell *c, uint32_t seq, const size_t *lens,
                            size_t k) {
  unsigned char bufs[4][CM_MSG_MAX];
  const void *datas[4];
  size_t done = 0;
  for (size_t i = 0; i < k; i++) {
    cm_msg_build(bufs[i], 0, seq + (uint32_t)i, lens[i]);
    datas[i] = bufs[i];
  }
  int rc = sage_queue_put_batch(c->q, datas, lens, k, &done, 0);
  for (size_t i = 0; i < done; i++)
    expect(c, 0, seq + (uint32_t)i, FATE_DELIVER);
  c->used += (unsigned)done;
  return rc == 0 && done == k ? 0 : fail(c, "prefill batch: %d", rc);
}

/* Moves the positions on by n records (n * 8 units), fully done. */
static int warm_up(struct cell *c, unsigned n) {
  unsigned char buf[CM_MSG_MAX];
  size_t len;
  for (unsigned i = 0; i < n; i++)
    if (parent_put(c, WARM, i, 64) != 0 ||
        sage_queue_get(c->q, buf, sizeof buf, &len, 0) != 0)
      return fail(c, "warm-up: %s", sage_last_error());
  c->base = n;
  return sage_queue_task_done(c->q, n) == 0 ? 0 : fail(c, "warm-up done");
}

/* Laps the ring up to the slot of the first ticket after the warm-up (the
 * one recovery is paused on) and leaves a message there: a recoverer
 * resumed now, acting on what it read before its pause, must not touch it. */
static int lap(struct cell *c) {
  unsigned char buf[CM_MSG_MAX];
  size_t len;
  unsigned n = SLOTS - c->used;
  for (unsigned i = 0; i < n; i++)
    if (parent_put(c, WARM, i, 24) != 0 ||
        sage_queue_get(c->q, buf, sizeof buf, &len, 0) != 0)
      return fail(c, "lap: %s", sage_last_error());
  c->base += n;
  if (sage_queue_task_done(c->q, n) != 0 || parent_put(c, LAPPED, 0, 80) != 0)
    return fail(c, "lap: %s", sage_last_error());
  return 0;
}

/* Five messages, three of them one batch; a victim takes the first 1 or 3. */
static int prefill_small(struct cell *c) {
  static const size_t batch[3] = {40, 150, 75};
  if (parent_put(c, 0, 0, 100) != 0 || parent_put_batch(c, 1, batch, 3) != 0 ||
      parent_put(c, 0, 4, 60) != 0)
    return fail(c, "prefill: %s", sage_last_error());
  return 0;
}

/* Fills the queue until a marker no longer fits; the head record is big, so
 * freeing it makes room for two markers. */
static int fill_full(struct cell *c) {
  static const size_t sizes[4] = {216, 106, 326, 166};
  uint32_t seq = 0;
  int rc = parent_put(c, 0, seq++, 1500);
  for (int i = 0; rc == 0; i++)
    if ((rc = parent_put(c, 0, seq, sizes[i % 4])) == 0)
      seq++;
  if (rc == -EAGAIN) /* then as many markers as still fit */
    while ((rc = parent_put(c, 0, seq, MARKER_LEN)) == 0)
      seq++;
  return rc == -EAGAIN ? 0 : fail(c, "fill: %s", sage_strerror(rc));
}

static int spawn(struct cell *c, cm_role role, const struct role_arg *arg,
                 const char *point, enum cm_at at) {
  unsigned i = c->n_party++;
  if (cm_spawn(&c->party[i], (int)i, c->name, role, arg, point, at) != 0) {
    fail(c, "party %u did not attach: %s", i, c->party[i].out->note);
    return -1;
  }
  return (int)i;
}

/* Runs party i (already told to go, or told now) to its SIGKILL. */
static int killed(struct cell *c, int i, const char *what) {
  struct cm_party *p = &c->party[i];
  int st = cm_reap(p, BOUND_MS);
  if (st == -1)
    return fail(c, "%s hung before %s", what, c->row->point);
  if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
    return fail(c, "%s never reached %s (rc %d %s)", what, c->row->point,
                p->out->rc, p->out->note);
  return 0;
}

/* 1 while party p runs, else 0 (and it is reaped); a party that ended
 * other than by returning from its role fails the cell. */
static int running(struct cell *c, struct cm_party *p) {
  int st = 0;
  if (p->pid <= 0 || waitpid(p->pid, &st, WNOHANG) == 0)
    return p->pid > 0;
  cm_reap(p, 0); /* reaped already: forget it */
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    fail(c, "survivor ended with status %#x: %s", st, p->out->note);
  return 0;
}

#define P(i) (1u << (i)) /* a set of parties */

/* Waits for the parties in `set`; racing, once one has seen the last
 * marker, the others are interrupted so they see the stop flag. */
static int finish(struct cell *c, unsigned set, int race) {
  int64_t end = cm_now_ms() + BOUND_MS + 1000;
  for (int left = 1; left > 0;) {
    left = 0;
    for (unsigned i = 0; i < c->n_party; i++) {
      struct cm_party *p = &c->party[i];
      if (!(set & P(i)))
        continue;
      left += running(c, p);
      if (p->pid > 0 && race && atomic_load(&cm_board->stop))
        cm_nudge(p);
    }
    if (left > 0 && cm_now_ms() > end)
      return fail(c, "wedged: survivor still running after %d ms", BOUND_MS);
    if (left > 0)
      cm_nap_us(500);
  }
  for (unsigned i = 0; i < c->n_party; i++)
    if ((set & P(i)) && c->party[i].out->note[0] != '\0')
      return fail(c, "survivor: %s", c->party[i].out->note);
  return c->why[0] == '\0' ? 0 : -1;
}

static int go_finish(struct cell *c, unsigned set, int race) {
  for (unsigned i = 0; i < c->n_party; i++)
    if (set & P(i))
      cm_go(&c->party[i]);
  return finish(c, set, race);
}

/* ---- the four kinds of scenario ---- */

static void expect_victim(struct cell *c, uint32_t producer, size_t k,
                          unsigned fate) {
  for (uint32_t i = 0; i < k; i++)
    expect(c, producer, i, fate);
}

/* A producer dies mid-put; consumers already waiting carry on (late: one
 * that attaches only afterwards, taking over the dead attachment). */
static void run_put_side(struct cell *c) {
  const struct row *r = c->row;
  static const size_t post[2] = {30, 200};
  struct role_arg s = {.poll = c->col == C_POLL, .markers = 1},
                  s2 = {.poll = 1, .race = 1, .markers = 1},
                  v = {.batch = r->op == OP_PUT_BATCH,
                       .cancel = r->op == OP_CANCEL,
                       .producer = 1};
  s.race = c->col == C_RACE;
  int late = c->col == C_LATE, n = late ? 0 : c->col == C_RACE ? 2 : 1;
  if (warm_up(c, 3) != 0 || parent_put(c, 0, 0, 64) != 0 ||
      (n > 0 && spawn(c, role_consume, &s, NULL, CM_RUN) < 0) ||
      (n == 2 && spawn(c, role_consume, &s2, NULL, CM_RUN) < 0) ||
      spawn(c, victim_role(r->op), &v, r->point, CM_KILL) < 0)
    return;
  for (int i = 0; i <= n; i++) /* survivors, then the victim */
    cm_go(&c->party[i]);
  if (killed(c, n, "victim") != 0)
    return;
  expect_victim(c, 1, v.batch ? 3 : 1, r->fate);
  if (parent_put(c, 0, 1, 90) != 0 || parent_put_batch(c, 2, post, 2) != 0 ||
      parent_put(c, MARKER, 0, MARKER_LEN) != 0) {
    fail(c, "post: %s", sage_last_error());
    return;
  }
  if (!late)
    finish(c, P(n) - 1, c->col == C_RACE);
  else if (spawn(c, role_consume, &s, NULL, CM_RUN) == 1)
    go_finish(c, P(1), 0);
}

static int check_tasks_unchanged(struct cell *c) {
  struct sage_stats st = {.size = sizeof st};
  sage_queue_stats(c->q, &st);
  unsigned want = count_fate(c, X_PUT);
  return st.unfinished == want ? 0
                               : fail(c, "unfinished %llu, want %u",
                                      (unsigned long long)st.unfinished, want);
}

/* A consumer dies mid-get; consumers (waiting already, or attaching
 * afterwards), or producers wanting space, go on. */
static void run_get_side(struct cell *c) {
  const struct row *r = c->row;
  int full = c->col == C_SPACE || c->col == C_RACE, late = c->col == C_LATE;
  int n = c->col == C_RACE ? 2 : 1;
  struct role_arg v = {.batch = r->op == OP_GET_BATCH,
                       .task_done = r->op == OP_TASK_DONE},
                  s = {.poll = c->col == C_POLL, .markers = 1},
                  m[2] = {{.seq = 0}, {.seq = 1}}, d = {.markers = (unsigned)n};
  if (warm_up(c, 4) != 0 || (full ? fill_full(c) : prefill_small(c)) != 0 ||
      spawn(c, victim_role(r->op), &v, r->point, CM_KILL) < 0)
    return;
  for (int i = 0; i < (full ? n : !late); i++)
    if (spawn(c, full ? role_marker : role_consume, full ? &m[i] : &s, NULL,
              CM_RUN) < 0)
      return;
  if (full && spawn(c, role_consume, &d, NULL, CM_RUN) < 0)
    return;
  cm_go(&c->party[0]);
  if (killed(c, 0, "victim") != 0)
    return;
  expect_victim(c, 0, v.batch ? 3 : 1, r->fate);
  if (r->op == OP_TASK_DONE && check_tasks_unchanged(c) != 0)
    return;
  if (!full) {
    if (parent_put(c, MARKER, 0, MARKER_LEN) != 0)
      fail(c, "marker: %s", sage_last_error());
    else if (!late || spawn(c, role_consume, &s, NULL, CM_RUN) == 1)
      go_finish(c, P(1), 0);
    return;
  }
  for (int i = 0; i < n; i++)
    expect(c, MARKER, (uint32_t)i, FATE_DELIVER);
  if (go_finish(c, (P(n) - 1) << 1, 0) == 0)
    go_finish(c, P(1 + n), 0);
}

/* A producer died before publishing; recoverer A dies at the recovery
 * point and B (late: attaching only then) must finish; or A pauses there
 * while B recovers, the ring laps, and A, resumed, must change nothing. */
static void run_recover(struct cell *c) {
  const struct row *r = c->row;
  int pause = c->col == C_RACE, late = c->col == C_LATE;
  const char *death =
      r->fate == FATE_DEAD ? "put:written" : "put:counted"; /* D's */
  struct role_arg dead = {.producer = 2},
                  a = {.poll = c->col == C_POLL, .race = pause, .markers = 1},
                  b = {.poll = c->col == C_POLL, .markers = 1},
                  last = {.race = 1, .markers = 1};
  if (warm_up(c, 4) != 0 || spawn(c, role_put, &dead, death, CM_KILL) < 0 ||
      spawn(c, role_consume, &a, r->point, pause ? CM_PAUSE : CM_KILL) < 0 ||
      (!late && spawn(c, role_consume, &b, NULL, CM_RUN) < 0) ||
      (pause && spawn(c, role_consume, &last, NULL, CM_RUN) < 0))
    return;
  cm_go(&c->party[0]);
  if (killed(c, 0, "producer") != 0)
    return;
  expect(c, 2, 0, r->fate);
  c->used++;
  if (parent_put(c, MARKER, 0, MARKER_LEN) != 0) {
    fail(c, "marker: %s", sage_last_error());
    return;
  }
  cm_go(&c->party[1]);
  if (!pause) {
    if (killed(c, 1, "recoverer A") == 0 &&
        (!late || spawn(c, role_consume, &b, NULL, CM_RUN) == 2))
      go_finish(c, P(2), 0);
    return;
  }
  if (cm_wait_reached(&c->party[1], BOUND_MS) != 0) {
    fail(c, "recoverer A never reached %s", r->point);
    return;
  }
  if (go_finish(c, P(2), 0) != 0 || lap(c) != 0 ||
      parent_put(c, MARKER, 2, MARKER_LEN) != 0)
    return;
  /* A's call goes on once resumed (from recover:marked it may claim): it
   * races a last consumer for what is left */
  cm_resume(&c->party[1]);
  cm_go(&c->party[3]);
  finish(c, P(1) | P(3), 1);
}

/* A consumer died holding the head record of a full queue; producer A dies
 * at the head-recovery point and producer B must finish; or A pauses there
 * while B recovers, the ring laps, and A, resumed, must change nothing. */
static void run_head(struct cell *c) {
  const struct row *r = c->row;
  int pause = c->col == C_RACE;
  struct role_arg v = {0}, a = {.seq = 0}, b = {.seq = 1}, d = {.markers = 1};
  if (warm_up(c, 4) != 0 || fill_full(c) != 0 ||
      spawn(c, role_get, &v, "get:claimed", CM_KILL) < 0 ||
      spawn(c, role_marker, &a, r->point, pause ? CM_PAUSE : CM_KILL) < 0 ||
      spawn(c, role_marker, &b, NULL, CM_RUN) < 0 ||
      spawn(c, role_consume, &d, NULL, CM_RUN) < 0 ||
      (pause && spawn(c, role_consume, &d, NULL, CM_RUN) < 0))
    return;
  cm_go(&c->party[0]);
  if (killed(c, 0, "consumer") != 0)
    return;
  expect(c, 0, 0, FATE_LOST);
  expect(c, MARKER, 0, pause ? FATE_DELIVER : FATE_NONE);
  expect(c, MARKER, 1, FATE_DELIVER);
  cm_go(&c->party[1]);
  if (!pause) {
    if (killed(c, 1, "producer A") == 0 && go_finish(c, P(2), 0) == 0)
      go_finish(c, P(3), 0);
    return;
  }
  if (cm_wait_reached(&c->party[1], BOUND_MS) != 0) {
    fail(c, "producer A never reached %s", r->point);
    return;
  }
  c->used++; /* B's marker */
  if (go_finish(c, P(2), 0) != 0 || go_finish(c, P(3), 0) != 0 || lap(c) != 0)
    return;
  cm_resume(&c->party[1]);
  if (finish(c, P(1), 0) == 0) /* A's put goes through */
    go_finish(c, P(4), 0);
}

/* ---- checks ---- */

static int check_deliveries(struct cell *c) {
  for (unsigned i = 0; i < c->n_party; i++) {
    const struct cm_out *o = c->party[i].out;
    for (uint32_t j = 0; j < o->n; j++) {
      const struct cm_got *g = &o->got[j];
      struct expect *e = find(c, g->producer, g->seq);
      if (g->torn)
        return fail(c, "torn message (%u,%u)", g->producer, g->seq);
      if (e == NULL)
        return fail(c, "unknown message (%u,%u)", g->producer, g->seq);
      if (e->seen++ > 0)
        return fail(c, "duplicate (%u,%u)", g->producer, g->seq);
      if (!(e->fate & X_DELIVER))
        return fail(c, "delivered (%u,%u), which must not be", g->producer,
                    g->seq);
    }
  }
  for (unsigned i = 0; i < c->n_exp; i++)
    if ((c->exp[i].fate & X_DELIVER) && c->exp[i].seen == 0)
      return fail(c, "lost (%u,%u)", c->exp[i].producer, c->exp[i].seq);
  return 0;
}

#define STAT_IS(field, want)                                                   \
  if (st.field != (uint64_t)(want))                                            \
  return fail(c, #field " %llu, want %llu", (unsigned long long)st.field,      \
              (unsigned long long)(want))

static int check_stats(struct cell *c) {
  struct sage_stats st = {.size = sizeof st};
  if (sage_queue_stats(c->q, &st) != 0)
    return fail(c, "stats: %s", sage_last_error());
  STAT_IS(total_put, c->base + count_fate(c, X_PUT));
  STAT_IS(total_got, c->base + count_fate(c, X_DELIVER) + count_fate(c, X_GOT));
  STAT_IS(items, 0);
  STAT_IS(bytes_used, 0);
  STAT_IS(abandoned, count_fate(c, X_ABANDON));
  STAT_IS(unfinished, 0);
  return 0;
}

/* Task accounting: everything taken is done, join() returns, and not one
 * task_done more is accepted. */
static int check_tasks(struct cell *c) {
  unsigned owed = count_fate(c, X_DELIVER) + count_fate(c, X_TASK);
  int rc = owed > 0 ? sage_queue_task_done(c->q, owed) : 0;
  if (rc != 0)
    return fail(c, "task_done(%u): %s", owed, sage_last_error());
  rc = sage_queue_join(c->q, BOUND_NS);
  if (rc != 0)
    return fail(c, "join: %s", sage_strerror(rc));
  if (check_stats(c) != 0)
    return -1;
  rc = sage_queue_task_done(c->q, 1);
  return rc == -EINVAL ? 0 : fail(c, "task_done beyond the puts: %d", rc);
}

static int round_trip(struct cell *c) {
  unsigned char in[CM_MSG_MAX], out[CM_MSG_MAX];
  size_t n = cm_msg_build(in, MARKER, 99, 56), len = 0;
  int rc = sage_queue_put(c->q, in, n, BOUND_NS);
  if (rc == 0)
    rc = sage_queue_get(c->q, out, sizeof out, &len, BOUND_NS);
  if (rc != 0)
    return fail(c, "round trip: %s", sage_strerror(rc));
  if (len != n || memcmp(in, out, n) != 0)
    return fail(c, "round trip: got something else");
  return sage_queue_task_done(c->q, 1) == 0 ? 0 : fail(c, "round trip done");
}

static void verify(struct cell *c) {
  if (c->why[0] == '\0' && check_deliveries(c) == 0 && check_tasks(c) == 0)
    round_trip(c);
}

static void run_cell(struct cell *c) {
  snprintf(current_cell, sizeof current_cell, "%s %s @%s / %s\n",
           pass_tags[c->pass], c->row->name, c->row->point, col_names[c->col]);
  memset(cm_board, 0, sizeof *cm_board);
  alarm(60);
  if (open_queue(c) == 0) {
    switch (c->row->op) {
    case OP_RECOVER:
      run_recover(c);
      break;
    case OP_RECOVER_HEAD:
      run_head(c);
      break;
    case OP_GET:
    case OP_GET_BATCH:
    case OP_PEEK:
    case OP_TASK_DONE:
      run_get_side(c);
      break;
    default:
      run_put_side(c);
    }
    verify(c);
  }
  for (unsigned i = 0; i < c->n_party; i++)
    cm_cleanup(&c->party[i]);
  if (c->q != NULL)
    sage_queue_destroy(c->q);
  else
    sage_queue_unlink("shm", c->name, NULL);
  alarm(0);
}

/* ---- the table ---- */

static char outcome[N_PASSES][N_ROWS][N_COLS][256];
static int passed, failed;

static unsigned count_exact(const struct cell *c, unsigned fate) {
  unsigned n = 0;
  for (unsigned i = 0; i < c->n_exp; i++)
    n += c->exp[i].fate == fate;
  return n;
}

/* "ok", with what the victim's crash cost: reservations abandoned (dead),
 * messages abandoned with their dead consumer (lost), messages it took
 * with it (gone). */
static void describe(struct cell *c, char *buf, size_t cap) {
  if (c->why[0] != '\0') {
    snprintf(buf, cap, "FAIL: %s", c->why);
    failed++;
    return;
  }
  passed++;
  unsigned dead = count_exact(c, FATE_DEAD), lost = count_exact(c, FATE_LOST);
  unsigned gone = count_fate(c, X_TASK);
  int n = snprintf(buf, cap, "ok");
  if (dead > 0)
    n += snprintf(buf + n, cap - (size_t)n, " dead=%u", dead);
  if (lost > 0)
    n += snprintf(buf + n, cap - (size_t)n, " lost=%u", lost);
  if (gone > 0)
    snprintf(buf + n, cap - (size_t)n, " gone=%u", gone);
}

static void print_table(int pass) {
  printf("\n%s\n", pass_titles[pass]);
  printf("%-16s %-21s", "operation", "killed at");
  for (int k = 0; k < N_COLS; k++)
    printf(" %-15s", col_names[k]);
  printf("\n");
  for (size_t i = 0; i < N_ROWS; i++) {
    printf("%-16s %-21s", rows[i].name, rows[i].point);
    for (int k = 0; k < N_COLS; k++)
      printf(" %-15.15s", outcome[pass][i][k]);
    printf("\n");
  }
}

static void print_failures(void) {
  for (int w = 0; w < N_PASSES; w++)
    for (size_t i = 0; i < N_ROWS; i++)
      for (int k = 0; k < N_COLS; k++)
        if (strncmp(outcome[w][i][k], "FAIL", 4) == 0)
          printf("%s %s @%s / %s: %s\n", pass_tags[w], rows[i].name,
                 rows[i].point, col_names[k], outcome[w][i][k]);
}

/* A cell ran past 60 s, or the run was interrupted: leave nothing behind. */
static void give_up(int sig) {
  static const char late[] = "crash_matrix: FAIL: this cell ran past 60 s: ";
  static const char stop[] = "crash_matrix: interrupted in cell ";
  const char *msg = sig == SIGALRM ? late : stop;
  cm_kill_all();
  shm_unlink(current_shm);
  if (write(1, msg, strlen(msg)) < 0 ||
      write(1, current_cell, strlen(current_cell)) < 0)
    _exit(2);
  _exit(1);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *steps = getenv("SAGE_TEST_STEPS");
  if (steps == NULL || *steps == '\0') {
    printf("SAGE_TEST_STEPS not set (run through make check): skipping\n");
    return 77;
  }
  if (cm_init(steps) != 0)
    return 99;
  int sigs[] = {SIGALRM, SIGINT, SIGTERM, SIGHUP};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    signal(sigs[i], give_up);
  signal(SIGPIPE, SIG_IGN); /* a party that died early: its pipe errs */
  int64_t start = cm_now_ms();
  for (int pass = 0; pass < N_PASSES; pass++)
    for (size_t i = 0; i < N_ROWS; i++)
      for (int k = 0; k < N_COLS; k++) {
        char *out = outcome[pass][i][k];
        if (!(rows[i].cols & M(k))) {
          snprintf(out, sizeof outcome[0][0][0], "n/a");
          continue;
        }
        static struct cell c;
        memset(&c, 0, sizeof c);
        c.row = &rows[i];
        c.col = (enum col)k;
        c.pass = pass;
        run_cell(&c);
        describe(&c, out, sizeof outcome[0][0][0]);
      }
  for (int pass = 0; pass < N_PASSES; pass++)
    print_table(pass);
  printf("\ndead=N: reservations abandoned (DEAD: never counted, never "
         "delivered)\nlost=N: messages abandoned with their dead consumer "
         "(LOST)\ngone=N: messages the victim took with it (task_done owed; "
         "counted as got if it reached get:counted)\n\n");
  print_failures();
  printf("time: %.1f s\n", (double)(cm_now_ms() - start) / 1000);
  printf("%d passed, %d failed\n", passed, failed);
  return failed > 0 ? 1 : 0;
}
