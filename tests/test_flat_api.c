/* The flat queue API over the "mem" fixture transport. */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <sage/queue.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

static sage_queue *open_mem(const char *transport, const char *name) {
  use_plugin_path(fixtures_dir());
  sage_queue *q = NULL;
  int rc = sage_queue_open(transport, name, NULL, &q);
  cr_assert_eq(rc, 0, "open: %s", sage_last_error());
  cr_assert_not_null(q);
  return q;
}

Test(flat, put_get_roundtrip) {
  sage_queue *q = open_mem("mem", "roundtrip");
  cr_assert_str_eq(sage_queue_transport_name(q), "mem");
  cr_assert_str_eq(sage_queue_name(q), "roundtrip");
  cr_assert_eq(sage_queue_put(q, "hello", 5, 0), 0);
  char buf[16];
  size_t len = 0;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  cr_assert_eq(len, 5);
  cr_assert_eq(memcmp(buf, "hello", 5), 0);
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), -EAGAIN);
  cr_assert_eq(sage_queue_close(q), 0);
}

Test(flat, get_too_small_buffer_keeps_message) {
  sage_queue *q = open_mem("mem", "small");
  cr_assert_eq(sage_queue_put(q, "0123456789", 10, 0), 0);
  char buf[4];
  size_t len = 0;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), -EMSGSIZE);
  cr_assert_eq(len, 10);
  char big[16];
  cr_assert_eq(sage_queue_get(q, big, sizeof big, &len, 0), 0);
  cr_assert_eq(len, 10);
  sage_queue_close(q);
}

Test(flat, env_selects_transport) {
  setenv("SAGE_TRANSPORT", "mem", 1);
  sage_queue *q = open_mem(NULL, "byenv");
  cr_assert_str_eq(sage_queue_transport_name(q), "mem");
  sage_queue_close(q);
}

Test(flat, per_queue_choice_beats_env) {
  setenv("SAGE_TRANSPORT", "nosuch", 1);
  sage_queue *q = open_mem("mem", "explicit");
  cr_assert_str_eq(sage_queue_transport_name(q), "mem");
  sage_queue_close(q);
}

Test(flat, missing_transport_is_clear) {
  use_plugin_path(fixtures_dir());
  sage_queue *q = (sage_queue *)1;
  cr_assert_eq(sage_queue_open("nosuch", "q", NULL, &q), SAGE_ENOPLUGIN);
  cr_assert_null(q);
  cr_assert(strstr(sage_last_error(), "nosuch") != NULL);
}

Test(flat, bad_queue_names) {
  use_plugin_path(fixtures_dir());
  const char *bad[] = {"", "../x", "a/b", ".hidden", "-x", "sp ace", "x\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sage_queue *q;
    cr_assert_eq(sage_queue_open("mem", bad[i], NULL, &q), SAGE_EBADNAME,
                 "name '%s'", bad[i]);
    cr_assert(strstr(sage_last_error(), "invalid queue name") != NULL);
  }
  char longname[200];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  sage_queue *q;
  cr_assert_eq(sage_queue_open("mem", longname, NULL, &q), SAGE_EBADNAME);
  cr_assert_eq(sage_queue_open("mem", NULL, NULL, &q), SAGE_EBADNAME);
}

Test(flat, bad_options_are_reported) {
  use_plugin_path(fixtures_dir());
  const char *opts[] = {"colour", "blue", NULL};
  sage_queue *q;
  cr_assert_eq(sage_queue_open("mem", "opts", opts, &q), -EINVAL);
  cr_assert(strstr(sage_last_error(), "unknown option") != NULL);
  const char *custom[] = {"x-anything", "goes", NULL};
  cr_assert_eq(sage_queue_open("mem", "opts", custom, &q), 0);
  sage_queue_close(q);
}

Test(flat, optional_op_dispatch) {
  sage_queue *q = open_mem("mem", "batch");
  const void *datas[] = {"a", "bb", "ccc"};
  size_t lens[] = {1, 2, 3}, done = 0;
  cr_assert_eq(sage_queue_put_batch(q, datas, lens, 3, &done, 0), 0);
  cr_assert_eq(done, 3);
  struct sage_stats st = {.size = sizeof st};
  cr_assert_eq(sage_queue_stats(q, &st), 0);
  cr_assert_eq(st.items, 3);
  cr_assert_eq(st.bytes_put, 6);
  /* mem has no get_batch or zero-copy ops. */
  char buf[64];
  size_t out[4], count;
  cr_assert_eq(sage_queue_get_batch(q, buf, sizeof buf, out, 4, &count, 0),
               -ENOTSUP);
  cr_assert(strstr(sage_last_error(), "get_batch") != NULL);
  void *ptr;
  uint64_t token;
  cr_assert_eq(sage_queue_reserve(q, 8, &ptr, &token, 0), -ENOTSUP);
  sage_queue_close(q);
}

Test(flat, ops_table_too_small_for_optional_op) {
  sage_queue *q = open_mem("smallops", "small");
  const void *datas[] = {"a"};
  size_t lens[] = {1}, done = 7;
  cr_assert_eq(sage_queue_put_batch(q, datas, lens, 1, &done, 0), -ENOTSUP);
  cr_assert_eq(done, 0);
  struct sage_stats st = {.size = sizeof st};
  cr_assert_eq(sage_queue_stats(q, &st), 0);
  cr_assert_eq(st.items, 0, "the host must not call an op beyond ops->size");
  sage_queue_close(q);
}

Test(flat, stats_by_name) {
  sage_queue *q = open_mem("mem", "named");
  cr_assert_eq(sage_queue_put(q, "abcd", 4, 0), 0);
  size_t n = sage_stats_count();
  cr_assert(n >= 20);
  uint64_t values[64];
  cr_assert_eq(sage_queue_stats_values(q, values, 64), (int)n);
  int seen = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(sage_stats_name(i), "bytes_put") == 0) {
      cr_assert_eq(values[i], 4);
      seen++;
    }
    if (strcmp(sage_stats_name(i), "items") == 0) {
      cr_assert_eq(values[i], 1);
      seen++;
    }
  }
  cr_assert_eq(seen, 2);
  cr_assert_null(sage_stats_name(n));
  sage_queue_close(q);
}

Test(flat, stats_size_is_honoured) {
  sage_queue *q = open_mem("mem", "oldstats");
  cr_assert_eq(sage_queue_put(q, "abcd", 4, 0), 0);
  /* A host built against a shorter struct gets only what it knows. */
  struct sage_stats st;
  memset(&st, 0xAB, sizeof st);
  st.size = offsetof(struct sage_stats, items);
  cr_assert_eq(sage_queue_stats(q, &st), 0);
  cr_assert_eq(st.size, offsetof(struct sage_stats, items));
  cr_assert_eq(st.bytes_used, 4);
  uint64_t after;
  memcpy(&after, &st.items, sizeof after);
  cr_assert_eq(after, 0xABABABABABABABABull, "wrote past st->size");
  st.size = 0;
  cr_assert_eq(sage_queue_stats(q, &st), -EINVAL);
  sage_queue_close(q);
}

Test(flat, null_arguments) {
  char buf[4];
  size_t len;
  cr_assert_eq(sage_queue_put(NULL, "a", 1, 0), -EINVAL);
  cr_assert_eq(sage_queue_get(NULL, buf, 4, &len, 0), -EINVAL);
  cr_assert_eq(sage_queue_close(NULL), -EINVAL);
  cr_assert_eq(sage_queue_open("mem", "x", NULL, NULL), -EINVAL);
  sage_queue *q = open_mem("mem", "nulls");
  cr_assert_eq(sage_queue_put(q, NULL, 3, 0), -EINVAL);
  cr_assert_eq(sage_queue_get(q, buf, 4, NULL, 0), -EINVAL);
  cr_assert_eq(sage_queue_put(q, NULL, 0, 0), 0, "empty message is valid");
  sage_queue_close(q);
}

Test(flat, destroy_and_reopen_is_new) {
  sage_queue *a = open_mem("mem", "gone");
  cr_assert_eq(sage_queue_put(a, "x", 1, 0), 0);
  cr_assert_eq(sage_queue_destroy(a), 0);
  sage_queue *b = open_mem("mem", "gone");
  char buf[4];
  size_t len;
  cr_assert_eq(sage_queue_get(b, buf, 4, &len, 0), -EAGAIN);
  sage_queue_close(b);
}

Test(flat, list_and_unlink_unsupported_are_clear) {
  use_plugin_path(fixtures_dir());
  cr_assert_eq(sage_queue_unlink("mem", "x", NULL), -ENOTSUP);
  cr_assert(strstr(sage_last_error(), "mem") != NULL);
  cr_assert_eq(sage_queue_unlink("mem", "../x", NULL), SAGE_EBADNAME);
}

static void expect_detail_names(const char *name) {
  char want[64];
  snprintf(want, sizeof want, "on queue '%s'", name);
  cr_assert_not_null(strstr(sage_last_error(), want), "'%s' lacks \"%s\"",
                     sage_last_error(), want);
}

static void expect_eagain_naming(sage_queue *q, const char *name) {
  char buf[8];
  size_t len = 0;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), -EAGAIN);
  expect_detail_names(name);
}

/* The text of a polling failure is formatted lazily and its names copied
 * once per handle: it must still name whichever handle failed last, also a
 * new handle that reuses a closed one's memory. */
Test(flat, lazy_error_text_names_the_failing_handle) {
  sage_queue *a = open_mem("mem", "lazy-a");
  sage_queue *b = open_mem("mem", "lazy-b");
  expect_eagain_naming(a, "lazy-a");
  expect_eagain_naming(a, "lazy-a");
  expect_eagain_naming(b, "lazy-b");
  expect_eagain_naming(a, "lazy-a");
  cr_assert_eq(sage_queue_close(a), 0);
  sage_queue *c = open_mem("mem", "lazy-c");
  expect_eagain_naming(c, "lazy-c");
  cr_assert_eq(sage_queue_put(c, "x", 1, 0), 0);
  expect_detail_names("lazy-c"); /* a success keeps the detail */
  cr_assert_eq(sage_queue_close(b), 0);
  cr_assert_eq(sage_queue_close(c), 0);
}

static void expect_detail(const char *want, const char *after) {
  cr_assert_str_eq(sage_last_error(), want, "%s changed the detail", after);
}

static void queue_calls_succeed(sage_queue *q, const char *want) {
  char buf[8];
  size_t len = 0;
  uint64_t items, bytes;
  struct sage_stats st = {.size = sizeof st};
  cr_assert_eq(sage_queue_put(q, "x", 1, 0), 0);
  expect_detail(want, "put");
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  expect_detail(want, "get");
  cr_assert_eq(sage_queue_stats(q, &st), 0);
  expect_detail(want, "stats");
  cr_assert_eq(sage_queue_depth(q, &items, &bytes), 0);
  expect_detail(want, "depth");
}

static void registry_calls_succeed(const char *want) {
  cr_assert_eq(sage_transport_load("mem"), 0);
  expect_detail(want, "transport_load");
  sage_plugin_list *l; /* the fixtures dir holds refused plugins too */
  cr_assert_eq(sage_plugins_scan(&l), 0);
  sage_plugins_free(l);
  expect_detail(want, "plugins_scan");
  sage_queue *q;
  cr_assert_eq(sage_queue_open("mem", "detail-other", NULL, &q), 0);
  expect_detail(want, "open");
  cr_assert_eq(sage_queue_close(q), 0);
  expect_detail(want, "close");
}

/* queue.h: the detail is that of the thread's last failure, so a call that
 * succeeds leaves it as it was; the next failure replaces it. */
Test(errors, success_keeps_last_failure_detail) {
  sage_queue *q = open_mem("mem", "detail"), *none;
  cr_assert_eq(sage_queue_open("nosuch", "q", NULL, &none), SAGE_ENOPLUGIN);
  char want[1024];
  snprintf(want, sizeof want, "%s", sage_last_error());
  cr_assert(strstr(want, "nosuch") != NULL, "%s", want);
  queue_calls_succeed(q, want);
  registry_calls_succeed(want);
  expect_eagain_naming(q, "detail");
  cr_assert_eq(sage_queue_close(q), 0);
  expect_detail_names("detail");
}

/* sage_last_put_result(): what the thread's last put returned, for
 * bindings whose return value an asynchronous exception can replace. */
Test(flat, last_put_result_is_the_last_puts_result) {
  sage_queue *q = open_mem("mem", "lastresult");
  cr_assert_eq(sage_queue_put(q, "x", 1, 0), 0);
  cr_assert_eq(sage_last_put_result(), 0);
  /* Other calls leave it alone. */
  char buf[4];
  size_t len = 0;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), -EAGAIN);
  void *ptr;
  uint64_t token;
  cr_assert_eq(sage_queue_reserve(q, 8, &ptr, &token, 0), -ENOTSUP);
  cr_assert_eq(sage_last_put_result(), 0);
  /* A put refused by its argument checks never ran: 1, not a result. */
  cr_assert_eq(sage_queue_put(q, NULL, 4, 0), -EINVAL);
  cr_assert_eq(sage_last_put_result(), 1);
  cr_assert_eq(sage_queue_put(q, "x", 1, 0), 0);
  cr_assert_eq(sage_queue_put(NULL, "x", 1, 0), -EINVAL);
  cr_assert_eq(sage_last_put_result(), 1, "nor did one without a handle");
  sage_queue_close(q);
}

/* The _r calls leave their return value in the request as well. */
Test(flat, put_r_and_commit_r_leave_their_result_in_the_request) {
  sage_queue *q = open_mem("mem", "putr");
  struct sage_send s = {q, 77};
  cr_assert_eq(sage_queue_put_r(&s, "x", 1, 0), 0);
  cr_assert_eq(s.result, 0);
  cr_assert_eq(sage_queue_put_r(&s, NULL, 4, 0), -EINVAL);
  cr_assert_eq(s.result, -EINVAL);
  s.result = 77;
  cr_assert_eq(sage_queue_commit_r(&s, 1), -ENOTSUP, "mem has no reserve");
  cr_assert_eq(s.result, -ENOTSUP);
  /* put_back_r: a put (task_done is -ENOTSUP on mem, and ignored). */
  s.result = 77;
  cr_assert_eq(sage_queue_put_back_r(&s, "z", 1), 0);
  cr_assert_eq(s.result, 0);
  char buf[4];
  size_t len = 0;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0);
  cr_assert(len == 1 && buf[0] == 'z');
  cr_assert_eq(sage_queue_put_r(NULL, "x", 1, 0), -EINVAL);
  cr_assert_eq(sage_queue_commit_r(NULL, 1), -EINVAL);
  cr_assert_eq(sage_queue_put_back_r(NULL, "x", 1), -EINVAL);
  cr_assert_eq(sage_queue_try_put(NULL, "x", 1), -EINVAL);
  cr_assert(strstr(sage_last_error(), "request is NULL") != NULL);
  sage_queue_close(q);
}

Test(flat, try_put_and_try_get_never_wait) {
  sage_queue *q = open_mem("mem", "trycalls");
  char buf[8];
  struct sage_recv r = {q, buf, sizeof buf, 99};
  cr_assert_eq(sage_queue_try_get(&r), -EAGAIN);
  cr_assert_eq(r.len, 99, "an empty queue leaves len alone");
  struct sage_send s = {q, 77};
  cr_assert_eq(sage_queue_try_put(&s, "hello", 5), 0);
  cr_assert_eq(s.result, 0);
  cr_assert_eq(sage_last_put_result(), 0);
  cr_assert_eq(sage_queue_try_put(&s, "0123456789", 10), 0);
  cr_assert_eq(sage_queue_try_get(&r), 5, "returns the length");
  cr_assert_eq(r.len, 5);
  cr_assert_eq(memcmp(buf, "hello", 5), 0);
  cr_assert_eq(sage_queue_try_get(&r), -EMSGSIZE);
  cr_assert_eq(r.len, 10, "the size of the message left queued");
  cr_assert_eq(sage_queue_try_put(&s, "x", -1), -EINVAL);
  cr_assert_eq(s.result, -EINVAL);
  cr_assert(strstr(sage_last_error(), "negative length") != NULL);
  r.cap = (size_t)INT_MAX + 1;
  cr_assert_eq(sage_queue_try_get(&r), -EINVAL);
  cr_assert_eq(sage_queue_try_get(NULL), -EINVAL);
  char big[16];
  struct sage_recv whole = {q, big, sizeof big, 0};
  cr_assert_eq(sage_queue_try_get(&whole), 10);
  cr_assert_eq(memcmp(big, "0123456789", 10), 0);
  sage_queue_close(q);
}

Test(flat, try_calls_leave_a_forked_childs_first_call_to_put_get) {
  sage_queue *q = open_mem("mem", "tryfork");
  struct sage_send s = {q, 77};
  cr_assert_eq(sage_queue_try_put(&s, "a", 1), 0);
  pid_t pid = fork();
  if (pid == 0) {
    char buf[8];
    struct sage_recv r = {q, buf, sizeof buf, 0};
    int ok = sage_queue_try_put(&s, "b", 1) == -EINPROGRESS &&
             s.result == -EINPROGRESS && sage_queue_try_get(&r) == -EINPROGRESS;
    size_t len;
    ok = ok && sage_queue_get(q, buf, sizeof buf, &len, 0) == 0 &&
         sage_queue_try_put(&s, "c", 1) == 0 && sage_queue_try_get(&r) == 1;
    _exit(ok ? 0 : 1);
  }
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char buf[8];
  struct sage_recv r = {q, buf, sizeof buf, 0};
  cr_assert_eq(sage_queue_try_get(&r), 1, "the parent never forked");
  sage_queue_close(q);
}
