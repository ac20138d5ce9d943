/* Conformance checks of naming, listing, removing and attaching: the open
 * options (SAGE_OPTION_*), list(), unlink(), depth(), attachments() and
 * observe mode (SAGE_OPTION_ATTACH "0"). */
#include "config.h"

#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* create=always refuses an existing queue, create=never a missing one,
 * create=auto (the default) opens or creates; errors name the queue. */
CONF_CHECK(conf_check_create_options) {
  sage_queue *q, *other;
  char name[128], buf[8];
  OPEN(c, "create", CAPACITY, 0, &q, name);
  const char *always[] = {"create", "always", NULL};
  int rc = conf_open(c, name, always, &other);
  CHECK(c, rc == -EEXIST, "create=always on an existing queue: %s",
        sage_strerror(rc));
  CHECK(c, conf_detail_has(name), "-EEXIST detail should name the queue: '%s'",
        sage_last_error());
  CHECK(c, sage_queue_put(q, "x", 1, 0) == 0, "put");
  rc = conf_open(c, name, NULL, &other); /* create=auto by default */
  CHECK(c, rc == 0, "open of an existing queue, no options: %s",
        sage_strerror(rc));
  size_t len;
  CHECK(c, sage_queue_get(other, buf, sizeof buf, &len, 0) == 0 && len == 1,
        "create=auto opened another queue than the existing one");
  conf_close(c, other);
  conf_destroy(c, q);

  conf_unique_name(name, sizeof name, "create-missing");
  rc = conf_reopen(c, name, &q);
  CHECK(c, rc == -ENOENT, "create=never on a missing queue: %s",
        sage_strerror(rc));
  CHECK(c, conf_detail_has(name), "-ENOENT detail should name the queue: '%s'",
        sage_last_error());
  const char *bogus[] = {"create", "sometimes", NULL};
  rc = conf_open(c, name, bogus, &q);
  CHECK(c, rc == -EINVAL, "create=sometimes: %s", sage_strerror(rc));
  CHECK(c, conf_detail_has("create"),
        "detail should name the option 'create': '%s'", sage_last_error());
  const char *autoo[] = {"create", "auto", NULL};
  rc = conf_open(c, name, autoo, &q);
  CHECK(c, rc == 0, "create=auto on a missing queue: %s", sage_strerror(rc));
  conf_close(c, q);
  rc = conf_reopen(c, name, &q);
  CHECK(c, rc == 0, "create=auto did not create the queue: %s",
        sage_strerror(rc));
  conf_destroy(c, q);
  return CONF_PASS;
}

/* Opens a new queue with one extra option; expects -EINVAL (a bad value)
 * or, where `unhonoured` allows it, -ENOTSUP (an option the transport
 * cannot honour), with a detail naming it. */
static enum conf_result expect_refused(struct conf_ctx *c, const char *key,
                                       const char *value, const char *why,
                                       int unhonoured) {
  char name[128];
  sage_queue *q;
  conf_unique_name(name, sizeof name, "refused");
  const char *opts[] = {"create", "always", key, value, NULL};
  int rc = conf_open(c, name, opts, &q);
  CHECK(c, rc == -EINVAL || (unhonoured && rc == -ENOTSUP),
        "%s=%s (%s): %s, want -EINVAL%s", key, value, why,
        rc == 0 ? "accepted" : sage_strerror(rc),
        unhonoured ? " or -ENOTSUP" : "");
  CHECK(c, conf_detail_has(key), "%s=%s: detail should name '%s': '%s'", key,
        value, key, sage_last_error());
  return CONF_PASS;
}

/* Standard options with bad values are -EINVAL, and those the transport
 * cannot honour (max_items without item_bound, attach=0 without observe)
 * -EINVAL or -ENOTSUP, with a detail naming them. */
CONF_CHECK(conf_check_refused_options) {
  enum conf_result r;
  if ((r = expect_refused(c, "capacity", "lots", "not a size", 0)) != CONF_PASS)
    return r;
  if ((r = expect_refused(c, "mode", "rw-all", "not octal", 1)) != CONF_PASS)
    return r;
  if (!(c->caps & SAGE_CAP_ITEM_BOUND) &&
      (r = expect_refused(c, "max_items", "4", "no item_bound capability",
                          1)) != CONF_PASS)
    return r;
  if (!(c->caps & SAGE_CAP_OBSERVE) &&
      (r = expect_refused(c, "attach", "0", "no observe capability", 1)) !=
          CONF_PASS)
    return r;
  return CONF_PASS;
}

struct listing {
  const char *want;
  int found, calls, stop_with;
  uint32_t uid;
};

static int list_cb(const char *name, uint32_t owner_uid, void *arg) {
  struct listing *l = arg;
  l->calls++;
  if (strcmp(name, l->want) == 0) {
    l->found++;
    l->uid = owner_uid;
  }
  return l->stop_with;
}

/* list() reports a created queue (with our uid) and not a destroyed one;
 * a callback returning nonzero stops it and list returns that value. */
CONF_CHECK(conf_check_list) {
  sage_queue *q, *q2;
  char name[128], name2[128];
  OPEN(c, "list", CAPACITY, 0, &q, name);
  OPEN(c, "list", CAPACITY, 0, &q2, name2);
  struct listing l = {.want = name};
  int rc = sage_queue_list(c->transport, NULL, list_cb, &l);
  if (rc == -ENOTSUP)
    return conf_skip(c, "list: %s (%s)", sage_strerror(rc), sage_last_error());
  CHECK(c, rc == 0, "list: %s", sage_strerror(rc));
  CHECK(c, l.found == 1, "queue '%s' listed %d times", name, l.found);
  CHECK(c, l.calls >= 2, "two queues created, %d listed", l.calls);
  CHECK(c, l.uid == (uint32_t)getuid(), "listed with owner uid %u, want %u",
        (unsigned)l.uid, (unsigned)getuid());
  l = (struct listing){.want = name, .stop_with = 42};
  rc = sage_queue_list(c->transport, NULL, list_cb, &l);
  CHECK(c, rc == 42 && l.calls == 1,
        "callback returned 42: list returned %d after %d calls, want 42 after "
        "1",
        rc, l.calls);
  const char *hint[] = {"x-conformance", "1", NULL};
  l = (struct listing){.want = name};
  rc = sage_queue_list(c->transport, hint, list_cb, &l);
  CHECK(c, rc == 0 && l.found == 1, "list with an x- option: %s",
        sage_strerror(rc));
  const char *bad[] = {"no_such_option", "1", NULL};
  rc = sage_queue_list(c->transport, bad, list_cb, &l);
  CHECK(c, rc == -EINVAL, "list with an unknown option: %s", sage_strerror(rc));
  conf_destroy(c, q);
  l = (struct listing){.want = name};
  rc = sage_queue_list(c->transport, NULL, list_cb, &l);
  CHECK(c, rc == 0 && l.found == 0, "destroyed queue still listed (rc %d)", rc);
  conf_destroy(c, q2);
  return CONF_PASS;
}

/* Whether `name` can be opened (create=never); closes what it opened. */
static int exists(struct conf_ctx *c, const char *name) {
  sage_queue *q;
  int rc = conf_reopen(c, name, &q);
  if (rc == 0)
    conf_close(c, q);
  return rc == 0;
}

static enum conf_result unlink_attached(struct conf_ctx *c, const char *flag) {
  sage_queue *q;
  char name[128], buf[8];
  OPEN(c, flag, CAPACITY, 0, &q, name);
  const char *opts[] = {flag, "1", NULL};
  int rc = sage_queue_unlink(c->transport, name, opts);
  CHECK(c, rc == -EBUSY || rc == -ENOTSUP,
        "unlink %s=1 of a queue with a handle open here: %s, want -EBUSY or "
        "-ENOTSUP",
        flag, rc == 0 ? "removed it" : sage_strerror(rc));
  CHECK(c, exists(c, name), "refused unlink %s=1 removed the queue", flag);
  if (rc == -EBUSY) {
    CHECK(c, conf_detail_has(name), "-EBUSY detail should name the queue: '%s'",
          sage_last_error());
  }
  /* With nothing attached, unless_attached must remove the queue (whether
   * only_if_stale then counts it stale is the transport's choice). */
  if (rc == -EBUSY && strcmp(flag, SAGE_UNLINK_UNLESS_ATTACHED) == 0) {
    conf_close(c, q);
    rc = sage_queue_unlink(c->transport, name, opts);
    CHECK(c, rc == 0, "unlink %s=1 once nothing is attached: %s", flag,
          sage_strerror(rc));
    CHECK(c, !exists(c, name), "unlink %s=1 left the queue", flag);
    return CONF_PASS;
  }
  /* Plain unlink while attached: the open handle keeps working. */
  CHECK(c, sage_queue_unlink(c->transport, name, NULL) == 0, "unlink");
  CHECK(c, !exists(c, name), "unlink left the queue");
  size_t len;
  CHECK(c,
        sage_queue_put(q, "k", 1, 0) == 0 &&
            sage_queue_get(q, buf, sizeof buf, &len, 0) == 0,
        "a handle open during unlink stopped working");
  conf_close(c, q);
  return CONF_PASS;
}

/* unlink() removes by name, -ENOENT for a missing queue, and
 * unless_attached / only_if_stale with a live handle: -EBUSY or -ENOTSUP. */
CONF_CHECK(conf_check_unlink) {
  char name[128];
  conf_unique_name(name, sizeof name, "unlink-missing");
  int rc = sage_queue_unlink(c->transport, name, NULL);
  if (rc == -ENOTSUP)
    return conf_skip(c, "unlink: %s", sage_last_error());
  CHECK(c, rc == -ENOENT, "unlink of a missing queue: %s", sage_strerror(rc));
  CHECK(c, conf_detail_has(name), "-ENOENT detail should name the queue: '%s'",
        sage_last_error());
  sage_queue *q;
  OPEN(c, "unlink", CAPACITY, 0, &q, name);
  CHECK(c, sage_queue_put(q, "m", 1, 0) == 0, "put");
  conf_close(c, q);
  const char *bad[] = {"no_such_option", "1", NULL};
  rc = sage_queue_unlink(c->transport, name, bad);
  CHECK(c, rc == -EINVAL, "unlink with an unknown option: %s",
        rc == 0 ? "removed it" : sage_strerror(rc));
  const char *hint[] = {"x-conformance", "1", NULL};
  rc = sage_queue_unlink(c->transport, name, hint);
  CHECK(c, rc == 0, "unlink (with an x- option): %s", sage_strerror(rc));
  CHECK(c, !exists(c, name), "queue still opens after unlink");
  enum conf_result r = unlink_attached(c, SAGE_UNLINK_UNLESS_ATTACHED);
  if (r == CONF_PASS)
    r = unlink_attached(c, SAGE_UNLINK_ONLY_IF_STALE);
  return r;
}

static enum conf_result depth_agrees(struct conf_ctx *c, sage_queue *q,
                                     const char *when) {
  uint64_t items = ~0ull, bytes = ~0ull;
  int rc = sage_queue_depth(q, &items, &bytes);
  CHECK(c, rc == 0, "depth %s: %s", when, sage_strerror(rc));
  struct sage_stats st = conf_stats(q);
  CHECK(c, items == st.items && bytes == st.bytes_used,
        "depth %s: %llu items %llu bytes, stats: %llu items %llu bytes", when,
        (unsigned long long)items, (unsigned long long)bytes,
        (unsigned long long)st.items, (unsigned long long)st.bytes_used);
  return CONF_PASS;
}

/* depth() agrees with stats (items, bytes_used) as messages come and go. */
CONF_CHECK(conf_check_depth) {
  sage_queue *q;
  char name[128], buf[64] = {0};
  OPEN(c, "depth", CAPACITY, 0, &q, name);
  enum conf_result r;
  if ((r = depth_agrees(c, q, "when empty")) != CONF_PASS)
    return r;
  for (size_t i = 1; i <= 3; i++)
    CHECK(c, sage_queue_put(q, buf, 10 * i, 0) == 0, "put");
  if ((r = depth_agrees(c, q, "after 3 puts")) != CONF_PASS)
    return r;
  uint64_t items, bytes;
  sage_queue_depth(q, &items, &bytes);
  CHECK(c, items == 3 && bytes >= 60,
        "depth after 3 puts of 60 bytes: %llu, %llu", (unsigned long long)items,
        (unsigned long long)bytes);
  size_t len;
  CHECK(c, sage_queue_get(q, buf, sizeof buf, &len, 0) == 0, "get");
  if ((r = depth_agrees(c, q, "after a get")) != CONF_PASS)
    return r;
  conf_destroy(c, q);
  return CONF_PASS;
}

/* Calls attachments(); *has_me: our pid among those written. */
static int attached_pids(sage_queue *q, int *has_me) {
  int32_t pids[64];
  int n = sage_queue_attachments(q, pids, 64);
  *has_me = 0;
  for (int i = 0; i < n && i < 64; i++)
    *has_me |= pids[i] == (int32_t)getpid();
  return n;
}

/* attachments() lists our pid; stats' `attached` counts the open handles. */
CONF_CHECK(conf_check_attachments) {
  sage_queue *q, *q2;
  char name[128];
  OPEN(c, "attach", CAPACITY, 0, &q, name);
  int me, n = attached_pids(q, &me);
  if (n == -ENOTSUP)
    return conf_skip(c, "transport has no attachments op");
  CHECK(c, n >= 1 && me, "attachments with one handle: %d, our pid %s", n,
        me ? "listed" : "missing");
  uint64_t one = conf_stats(q).attached;
  CHECK(c, one == 1, "stats attached %llu with one handle open",
        (unsigned long long)one);
  int rc = conf_reopen(c, name, &q2);
  CHECK(c, rc == 0, "second open: %s", sage_strerror(rc));
  int n2 = attached_pids(q, &me);
  CHECK(c, n2 >= 1 && me, "attachments with two handles: %d, our pid %s", n2,
        me ? "listed" : "missing");
  uint64_t two = conf_stats(q).attached;
  CHECK(c, two == 2, "stats attached %llu with two handles open",
        (unsigned long long)two);
  int32_t sentinel[1] = {-7};
  rc = sage_queue_attachments(q, sentinel, 0);
  CHECK(c, rc == n2 && sentinel[0] == -7,
        "attachments with cap 0: %d (want %d), wrote %s", rc, n2,
        sentinel[0] == -7 ? "nothing" : "a pid");
  conf_close(c, q2);
  CHECK(c, conf_stats(q).attached == 1, "stats attached %llu after a close",
        (unsigned long long)conf_stats(q).attached);
  n = attached_pids(q, &me);
  CHECK(c, n >= 1 && me, "attachments after a close: %d", n);
  conf_destroy(c, q);
  return CONF_PASS;
}

/* Every op but stats, depth, attachments and close is -EPERM on an observe
 * handle (-ENOTSUP where the transport lacks the op). */
static enum conf_result observer_refuses(struct conf_ctx *c, sage_queue *o) {
  char buf[16];
  size_t len, n;
  CHECK(c, sage_queue_put(o, "w", 1, 0) == -EPERM, "put on an observe handle");
  CHECK(c, sage_queue_get(o, buf, sizeof buf, &len, 0) == -EPERM,
        "get on an observe handle");
  const void *d[] = {"w"};
  size_t lens[] = {1};
  int rc = sage_queue_put_batch(o, d, lens, 1, &n, 0);
  CHECK(c, rc == -EPERM || rc == -ENOTSUP, "put_batch on an observe handle: %d",
        rc);
  rc = sage_queue_get_batch(o, buf, sizeof buf, lens, 1, &n, 0);
  CHECK(c, rc == -EPERM || rc == -ENOTSUP, "get_batch on an observe handle: %d",
        rc);
  void *w;
  const void *r;
  uint64_t token;
  rc = sage_queue_reserve(o, 1, &w, &token, 0);
  CHECK(c, rc == -EPERM || rc == -ENOTSUP, "reserve on an observe handle: %d",
        rc);
  rc = sage_queue_peek(o, &r, &len, &token, 0);
  CHECK(c, rc == -EPERM || rc == -ENOTSUP, "peek on an observe handle: %d", rc);
  rc = sage_queue_task_done(o, 1);
  CHECK(c, rc == -EPERM || rc == -ENOTSUP, "task_done on an observe handle: %d",
        rc);
  return CONF_PASS;
}

/* attach=0 opens a handle that sees stats and depth, is not counted in
 * `attached` and may not put or get. */
CONF_CHECK(conf_check_observe) {
  sage_queue *q, *o;
  char name[128];
  OPEN(c, "observe", CAPACITY, 0, &q, name);
  CHECK(c,
        sage_queue_put(q, "ab", 2, 0) == 0 && sage_queue_put(q, "c", 1, 0) == 0,
        "put");
  uint64_t attached = conf_stats(q).attached;
  const char *opts[] = {"attach", "0", "create", "never", NULL};
  int rc = conf_open(c, name, opts, &o);
  CHECK(c, rc == 0, "open with attach=0: %s", sage_strerror(rc));
  struct sage_stats st = {.size = sizeof st};
  rc = sage_queue_stats(o, &st);
  CHECK(c, rc == 0 && st.items == 2 && st.total_put == 2,
        "stats on an observe handle: rc %d items %llu", rc,
        (unsigned long long)st.items);
  CHECK(c, st.attached == attached && conf_stats(q).attached == attached,
        "observe handle counted: attached %llu, was %llu",
        (unsigned long long)st.attached, (unsigned long long)attached);
  uint64_t items = 0, bytes = 0;
  rc = sage_queue_depth(o, &items, &bytes);
  CHECK(c, rc == 0 && items == 2,
        "depth on an observe handle: rc %d items %llu", rc,
        (unsigned long long)items);
  int32_t pids[8];
  rc = sage_queue_attachments(o, pids, 8);
  CHECK(c, rc == -ENOTSUP || rc >= 0, "attachments on an observe handle: %d",
        rc);
  enum conf_result r = observer_refuses(c, o);
  if (r != CONF_PASS)
    return r;
  CHECK(c, conf_stats(q).items == 2, "observe handle changed the queue");
  CHECK(c, conf_close(c, o) == 0, "close of an observe handle");
  CHECK(c, conf_stats(q).attached == attached, "attached changed after close");
  conf_destroy(c, q);
  return CONF_PASS;
}
