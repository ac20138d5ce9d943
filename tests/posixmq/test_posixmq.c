/* posixmq-specific behaviour the shared conformance suite does not cover:
 * limits and geometry, held messages, cross-process counters and task
 * accounting, removal by name, listing. Runs against the built plugin
 * through libsagequeue ($SAGE_PLUGIN_PATH from make check). */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <sage/queue.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test_util.h"

#define MS 1000000ll

static uint64_t sysctl(const char *file) {
  char path[128];
  snprintf(path, sizeof path, "/proc/sys/fs/mqueue/%s", file);
  FILE *f = fopen(path, "r");
  unsigned long long v = 0;
  if (f != NULL) {
    if (fscanf(f, "%llu", &v) != 1)
      v = 0;
    fclose(f);
  }
  return v;
}

static const char *unique(const char *tag) {
  static char name[96];
  static unsigned n;
  snprintf(name, sizeof name, "pmqt-%d-%s-%u", (int)getpid(), tag, n++);
  return name;
}

static sage_queue *open_opts(const char *name, const char *const *opts) {
  sage_queue *q = NULL;
  int rc = sage_queue_open("posixmq", name, opts, &q);
  cr_assert_eq(rc, 0, "open %s: %s [%s]", name, sage_strerror(rc),
               sage_last_error());
  return q;
}

static void expect_open_error(const char *const *opts, int code,
                              const char *needle) {
  sage_queue *q = NULL;
  int rc = sage_queue_open("posixmq", unique("bad"), opts, &q);
  cr_assert_eq(rc, code, "rc %d, want %d [%s]", rc, code, sage_last_error());
  cr_assert_not_null(strstr(sage_last_error(), needle),
                     "detail '%s' should mention '%s'", sage_last_error(),
                     needle);
}

Test(posixmq, refuses_options_beyond_kernel_limits) {
  char big[32], items[32], size[32];
  snprintf(big, sizeof big, "%llu",
           (unsigned long long)(sysctl("msg_max") * sysctl("msgsize_max") + 1));
  snprintf(items, sizeof items, "%llu",
           (unsigned long long)sysctl("msg_max") + 1);
  snprintf(size, sizeof size, "%llu",
           (unsigned long long)sysctl("msgsize_max") + 1);
  const char *o1[] = {"capacity", big, NULL};
  expect_open_error(o1, -EINVAL, "msgsize_max");
  const char *o2[] = {"max_items", items, NULL};
  expect_open_error(o2, -EINVAL, "msg_max");
  const char *o3[] = {"msgsize", size, NULL};
  expect_open_error(o3, -EINVAL, "msgsize_max");
  const char *o4[] = {"capacity", "1000", "max_items", "2",
                      "msgsize",  "600",  NULL};
  expect_open_error(o4, -EINVAL, "capacity");
  const char *o5[] = {"auto_cleanup", "1", NULL};
  expect_open_error(o5, -ENOTSUP, "destroy");
}

Test(posixmq, geometry_follows_options) {
  const char *o1[] = {"max_items", "3",      "msgsize", "100",
                      "create",    "always", NULL};
  sage_queue *q = open_opts(unique("geo"), o1);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.max_items, 3);
  cr_assert_eq(st.max_message, 100);
  cr_assert_eq(st.capacity, 300);
  sage_queue_destroy(q);

  const char *o2[] = {"capacity", "4096", "create", "always", NULL};
  q = open_opts(unique("geo"), o2);
  st = stats_of(q);
  cr_assert(st.capacity <= 4096 && st.capacity >= 2048, "capacity %llu",
            (unsigned long long)st.capacity);
  cr_assert_eq(st.max_items * st.max_message, st.capacity);
  sage_queue_destroy(q);
}

Test(posixmq, oversize_put_names_the_limit) {
  const char *o[] = {"msgsize", "64", "create", "always", NULL};
  sage_queue *q = open_opts(unique("big"), o);
  char buf[65] = {0};
  cr_assert_eq(sage_queue_put(q, buf, sizeof buf, -1), -EMSGSIZE);
  cr_assert_not_null(strstr(sage_last_error(), "at most 64 bytes"), "%s",
                     sage_last_error());
  cr_assert_eq(sage_queue_put(q, buf, 64, 0), 0);
  sage_queue_destroy(q);
}

/* A message refused for a small buffer stays first: for the same handle,
 * and for everyone once that handle closes. */
Test(posixmq, held_message_goes_back_at_close) {
  const char *name = unique("held");
  const char *o[] = {"msgsize", "64", "create", "always", NULL};
  sage_queue *a = open_opts(name, o);
  const char *never[] = {"create", "never", NULL};
  sage_queue *b = open_opts(name, never);
  cr_assert_eq(sage_queue_put(a, "first-message", 13, 0), 0);
  cr_assert_eq(sage_queue_put(a, "second", 6, 0), 0);
  char small[4], buf[64];
  size_t len = 0;
  cr_assert_eq(sage_queue_get(a, small, sizeof small, &len, 0), -EMSGSIZE);
  cr_assert_eq(len, 13);
  cr_assert_eq(stats_of(a).items, 2, "the held message still counts");
  cr_assert_eq(sage_queue_close(a), 0);
  cr_assert_eq(sage_queue_get(b, buf, sizeof buf, &len, 0), 0);
  cr_assert(len == 13 && memcmp(buf, "first-message", 13) == 0,
            "order lost: got %zu bytes", len);
  cr_assert_eq(sage_queue_get(b, buf, sizeof buf, &len, 0), 0);
  cr_assert(len == 6 && memcmp(buf, "second", 6) == 0);
  sage_queue_destroy(b);
}

/* Totals live in the shared page: a child's puts show in the parent. */
Test(posixmq, counters_and_tasks_are_shared_across_processes) {
  const char *name = unique("xproc");
  const char *o[] = {"create", "always", NULL};
  sage_queue *q = open_opts(name, o);
  pid_t pid = fork();
  if (pid == 0) {
    int ok = 1;
    for (int i = 0; i < 3; i++)
      ok &= sage_queue_put(q, "abcd", 4, 1000 * MS) == 0;
    _exit(ok ? 0 : 1);
  }
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.total_put, 3);
  cr_assert_eq(st.bytes_put, 12);
  cr_assert_eq(st.items, 3);
  cr_assert_eq(st.bytes_used, 12);
  cr_assert_eq(st.unfinished, 3);

  pid = fork();
  if (pid == 0) {
    char buf[8192];
    size_t len;
    int ok = 1;
    for (int i = 0; i < 3; i++)
      ok &= sage_queue_get(q, buf, sizeof buf, &len, 1000 * MS) == 0;
    usleep(50000);
    ok &= sage_queue_task_done(q, 3) == 0;
    _exit(ok ? 0 : 1);
  }
  cr_assert_eq(sage_queue_join(q, 5000 * MS), 0, "%s", sage_last_error());
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  st = stats_of(q);
  cr_assert(st.total_got == 3 && st.bytes_got == 12 && st.items == 0);
  cr_assert_eq(st.owner_uid, geteuid());
  cr_assert_eq(st.creator_pid, (uint64_t)getpid());
  sage_queue_destroy(q);
}

static size_t count_pages(const char *name) {
  char pattern[256];
  snprintf(pattern, sizeof pattern, "/dev/shm/sagemq-%u-%s.stats-*",
           (unsigned)geteuid(), name);
  glob_t g;
  size_t n = glob(pattern, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
  globfree(&g);
  return n;
}

Test(posixmq, unlink_by_name_removes_queue_and_page) {
  const char *name = unique("unlink");
  const char *o[] = {"create", "always", NULL};
  sage_queue *q = open_opts(name, o);
  cr_assert_eq(sage_queue_close(q), 0);
  cr_assert_eq(count_pages(name), 1);
  cr_assert_eq(sage_queue_unlink("posixmq", name, NULL), 0, "%s",
               sage_last_error());
  cr_assert_eq(count_pages(name), 0);
  const char *never[] = {"create", "never", NULL};
  cr_assert_eq(sage_queue_open("posixmq", name, never, &q), -ENOENT);
  cr_assert_eq(sage_queue_unlink("posixmq", name, NULL), -ENOENT);
}

Test(posixmq, mode_is_exact_whatever_the_umask) {
  const char *name = unique("mode");
  mode_t old = umask(077);
  const char *o[] = {"mode", "0640", "create", "always", NULL};
  sage_queue *q = open_opts(name, o);
  umask(old);
  char pattern[256];
  snprintf(pattern, sizeof pattern, "/dev/shm/sagemq-%u-%s.stats-*",
           (unsigned)geteuid(), name);
  glob_t g;
  cr_assert_eq(glob(pattern, 0, NULL, &g), 0);
  struct stat st;
  cr_assert_eq(stat(g.gl_pathv[0], &st), 0);
  globfree(&g);
  cr_assert_eq(st.st_mode & 0777, 0640, "mode %o", st.st_mode & 0777);
  sage_queue_destroy(q);
}

struct found {
  const char *want;
  int seen;
};

static int on_queue(const char *name, uint32_t uid, void *ctx) {
  struct found *f = ctx;
  if (strcmp(name, f->want) == 0 && uid == geteuid())
    f->seen = 1;
  return 0;
}

Test(posixmq, list_needs_the_mqueue_filesystem) {
  const char *name = unique("list");
  const char *o[] = {"create", "always", NULL};
  sage_queue *q = open_opts(name, o);
  struct found f = {name, 0};
  int rc = sage_queue_list("posixmq", NULL, on_queue, &f);
  if (rc == -ENOTSUP)
    cr_assert_not_null(strstr(sage_last_error(), "mount"), "%s",
                       sage_last_error());
  else
    cr_assert(rc == 0 && f.seen, "rc %d, seen %d", rc, f.seen);
  sage_queue_destroy(q);
}

Test(posixmq, timeout_zero_never_blocks_and_counts_nothing) {
  const char *o[] = {"max_items", "1", "create", "always", NULL};
  sage_queue *q = open_opts(unique("nb"), o);
  cr_assert_eq(sage_queue_put(q, "x", 1, 0), 0);
  cr_assert_eq(sage_queue_put(q, "y", 1, 0), -EAGAIN);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.blocked_puts, 0);
  cr_assert_eq(st.unfinished, 1, "a refused put is no task");
  cr_assert_eq(sage_queue_put(q, "y", 1, 20 * MS), -ETIMEDOUT);
  st = stats_of(q);
  cr_assert(st.blocked_puts == 1 && st.timeouts == 1);
  sage_queue_destroy(q);
}

/* Many producers in another process, many consumers here: every message
 * arrives exactly once, and each consumer sees each producer's messages in
 * order. */
enum { PRODUCERS = 2, CONSUMERS = 2, PER_PRODUCER = 1000 };

struct mpmc {
  sage_queue *q;
  _Atomic int taken;
  _Atomic unsigned char seen[PRODUCERS][PER_PRODUCER];
  _Atomic int errors;
};

struct tagged {
  uint32_t producer, seq;
};

static void *produce(void *arg) {
  sage_queue *q = ((void **)arg)[0];
  uint32_t id = (uint32_t)(uintptr_t)((void **)arg)[1];
  for (uint32_t i = 0; i < PER_PRODUCER; i++) {
    struct tagged m = {id, i};
    if (sage_queue_put(q, &m, sizeof m, 5000 * MS) != 0)
      return (void *)1;
  }
  return NULL;
}

static void *consume(void *arg) {
  struct mpmc *s = arg;
  int64_t last[PRODUCERS] = {-1, -1};
  while (atomic_fetch_add(&s->taken, 1) < PRODUCERS * PER_PRODUCER) {
    char buf[8192];
    size_t len;
    struct tagged m;
    if (sage_queue_get(s->q, buf, sizeof buf, &len, 5000 * MS) != 0 ||
        len != sizeof m) {
      s->errors++;
      break;
    }
    memcpy(&m, buf, sizeof m);
    if (m.producer >= PRODUCERS || m.seq >= PER_PRODUCER ||
        (int64_t)m.seq <= last[m.producer] ||
        atomic_exchange(&s->seen[m.producer][m.seq], 1) != 0)
      s->errors++;
    else
      last[m.producer] = m.seq;
  }
  return NULL;
}

Test(posixmq, mpmc_across_processes_delivers_each_message_once) {
  const char *o[] = {"create", "always", NULL};
  static struct mpmc s;
  s.q = open_opts(unique("mpmc"), o);
  pid_t pid = fork();
  if (pid == 0) {
    pthread_t t[PRODUCERS];
    void *args[PRODUCERS][2];
    for (uintptr_t i = 0; i < PRODUCERS; i++) {
      args[i][0] = s.q;
      args[i][1] = (void *)i;
      pthread_create(&t[i], NULL, produce, args[i]);
    }
    int bad = 0;
    for (int i = 0; i < PRODUCERS; i++) {
      void *r;
      pthread_join(t[i], &r);
      bad |= r != NULL;
    }
    _exit(bad);
  }
  pthread_t c[CONSUMERS];
  for (int i = 0; i < CONSUMERS; i++)
    pthread_create(&c[i], NULL, consume, &s);
  for (int i = 0; i < CONSUMERS; i++)
    pthread_join(c[i], NULL);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "producers");
  cr_assert_eq(s.errors, 0, "duplicates, losses or reordering");
  for (int p = 0; p < PRODUCERS; p++)
    for (int i = 0; i < PER_PRODUCER; i++)
      cr_assert(s.seen[p][i], "message %d/%d never arrived", p, i);
  struct sage_stats st = stats_of(s.q);
  cr_assert_eq(st.total_put, PRODUCERS * PER_PRODUCER);
  cr_assert_eq(st.total_got, PRODUCERS * PER_PRODUCER);
  sage_queue_destroy(s.q);
}
