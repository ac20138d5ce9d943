/* How a blocked call waits (plugin/shm/wait.c, struct shm_call_wait):
 * the adaptive spin's rule on its own and through a queue (a get or put
 * that slept and was woken soon spins through its next wait of that length
 * instead of sleeping: stats show who is asleep), and one call that waits
 * several times counts as one blocked call. */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sage/queue.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"
#include "test_util.h"

#define US 1000ll
#define MS 1000000ll

/* ---- the rule ---- */

Test(spin_rule, a_sleep_woken_soon_grows_the_budget_to_one_and_a_half) {
  cr_assert_eq(shm_spin_next(5 * US, 5 * US, 100 * US, 40 * US), 60 * US);
}

Test(spin_rule, growth_stops_at_the_ceiling) {
  cr_assert_eq(shm_spin_next(5 * US, 5 * US, 100 * US, 90 * US), 100 * US);
}

Test(spin_rule, a_short_sleep_never_shrinks_it) {
  /* the futex found the word changed at once: nothing to learn */
  cr_assert_eq(shm_spin_next(80 * US, 5 * US, 100 * US, 2 * US), 80 * US);
}

Test(spin_rule, a_long_sleep_or_timeout_halves_it_down_to_the_base) {
  cr_assert_eq(shm_spin_next(100 * US, 5 * US, 100 * US, 101 * US), 50 * US);
  cr_assert_eq(shm_spin_next(8 * US, 5 * US, 100 * US, INT64_MAX), 5 * US);
  cr_assert_eq(shm_spin_next(5 * US, 5 * US, 100 * US, INT64_MAX), 5 * US);
}

Test(spin_rule, a_ceiling_at_or_below_the_base_turns_it_off) {
  cr_assert_eq(shm_spin_next(5 * US, 5 * US, 0, 40 * US), 5 * US);
  cr_assert_eq(shm_spin_next(5 * US, 5 * US, 5 * US, 4 * US), 5 * US);
}

Test(spin_rule, a_base_of_zero_means_no_spinning_at_all) {
  cr_assert_eq(shm_spin_next(0, 0, 100 * US, 40 * US), 0);
}

/* What shm_spin_learn takes from one sleep of a call that began waiting
 * `waited` ago, on a handle with spin_ns 5 us and spin_max_ns 100 us whose
 * data-side budget was 5 us. */
static int64_t learned(int64_t waited, int mode, int rc, int met) {
  shm_queue q;
  memset(&q, 0, sizeof q);
  q.spin_ns = 5 * US;
  q.spin_max_ns = 100 * US;
  atomic_init(&q.spin_data_ns, 5 * US);
  atomic_init(&q.spin_space_ns, 5 * US);
  struct shm_call_wait cw = {mode, 1, shm_now_ns() - waited};
  shm_spin_learn(&q, WAIT_DATA, &cw, rc, met);
  cr_assert_eq(shm_spin_budget(&q, WAIT_SPACE), 5 * US, "the other side");
  return shm_spin_budget(&q, WAIT_DATA);
}

Test(spin_rule, only_a_wait_that_ended_met_teaches_a_short_wait) {
  int64_t grown = learned(40 * US, 0, 0, 1);
  cr_assert(grown >= 60 * US && grown <= 100 * US, "%lld", (long long)grown);
  /* a sleep slice that ran out, or a wake-up for something else */
  cr_assert_eq(learned(40 * US, 0, 0, 0), 5 * US);
  cr_assert_eq(learned(40 * US, 0, -ETIMEDOUT, 0), 5 * US);
  cr_assert_eq(learned(40 * US, 0, -EINTR, 1), 5 * US, "interrupted: nothing");
  /* a later slice of a longer wait: its start is in an earlier call */
  cr_assert_eq(learned(40 * US, SHM_RESUMED, 0, 1), 5 * US);
}

/* ---- through a queue ---- */

#define CEILING "100000000" /* 100 ms, the option's largest */

static char qname[64];

static void remove_queue(void) {
  if (qname[0] != '\0')
    sage_queue_unlink("shm", qname, NULL);
}

TestSuite(spin_queue, .fini = remove_queue);

static sage_queue *create(const char *spin_max_ns, const char *max_items) {
  snprintf(qname, sizeof qname, "spin-%d", (int)getpid());
  const char *opts[] = {"create",    "always",      "spin_ns",
                        "1000",      "spin_max_ns", spin_max_ns,
                        "max_items", max_items,     NULL};
  sage_queue *q;
  cr_assert_eq(sage_queue_open("shm", qname, opts, &q), 0, "%s",
               sage_last_error());
  return q;
}

static void pause_ns(long long ns) {
  struct timespec ts = {ns / 1000000000, ns % 1000000000};
  nanosleep(&ts, NULL);
}

/* Waits (up to 10 s, polling every 100 us) until field's value is `want`;
 * 1 if it got there. */
#define UNTIL(q, field, want)                                                  \
  ({                                                                           \
    int reached_ = 0;                                                          \
    for (int i_ = 0; i_ < 100000 && !reached_; i_++) {                         \
      reached_ = stats_of(q).field == (want);                                  \
      if (!reached_)                                                           \
        pause_ns(100 * US);                                                    \
    }                                                                          \
    reached_;                                                                  \
  })

/* Whether field reads 1 (a waiter asleep) at some poll within `within` ns
 * (0: one look, 10 ms from now). */
static int asleep_within(sage_queue *q, int readers, long long within) {
  if (within == 0) {
    pause_ns(10 * MS);
    struct sage_stats st = stats_of(q);
    return (readers ? st.waiting_readers : st.waiting_writers) == 1;
  }
  for (long long t = 0; t < within; t += MS, pause_ns(MS)) {
    struct sage_stats st = stats_of(q);
    if ((readers ? st.waiting_readers : st.waiting_writers) == 1)
      return 1;
  }
  return 0;
}

#define THREAD_TIMEOUT (10000 * MS) /* a lost wake-up fails, not hangs */

/* Thread bodies return their first failure (0 if none). */
static void *get_twice(void *arg) {
  char buf[16];
  size_t len;
  intptr_t rc = 0;
  for (int i = 0; i < 2 && rc == 0; i++)
    rc = sage_queue_get(arg, buf, sizeof buf, &len, THREAD_TIMEOUT);
  return (void *)rc;
}

static void join_ok(pthread_t t) {
  void *rc;
  pthread_join(t, &rc);
  cr_assert_eq((intptr_t)rc, 0, "the thread's call failed: %s",
               sage_strerror((int)(intptr_t)rc));
}

/* A getter sleeps in its first get (spin 1 us) and is woken ~50 ms later,
 * then waits again: whether it sleeps within `within` of that wait. */
static int getter_asleep_again(const char *spin_max_ns, long long within) {
  sage_queue *q = create(spin_max_ns, "0");
  pthread_t getter;
  cr_assert_eq(pthread_create(&getter, NULL, get_twice, q), 0);
  cr_assert(UNTIL(q, waiting_readers, 1), "the first get never slept");
  pause_ns(50 * MS);
  cr_assert_eq(sage_queue_put(q, "one", 3, -1), 0, "%s", sage_last_error());
  cr_assert(UNTIL(q, total_got, 1), "the first get never returned");
  int asleep = asleep_within(q, 1, within);
  /* a spinning getter sleeps once its budget is spent */
  cr_assert(UNTIL(q, waiting_readers, 1), "the second get never slept");
  cr_assert_eq(sage_queue_put(q, "two", 3, -1), 0, "%s", sage_last_error());
  join_ok(getter);
  sage_queue_close(q);
  return asleep;
}

Test(spin_queue, a_get_woken_soon_after_sleeping_spins_next_time) {
  /* woken after ~50 ms, within the ceiling: the next wait spins ~75 ms */
  cr_assert_not(getter_asleep_again(CEILING, 0),
                "the second get slept within 10 ms: the spin did not adapt");
}

Test(spin_queue, a_ceiling_of_zero_keeps_the_spin_fixed) {
  cr_assert(getter_asleep_again("0", 100 * MS),
            "with spin_max_ns=0 the second get should sleep after 1 us");
}

static void *put_twice(void *arg) {
  intptr_t rc = 0;
  for (int i = 0; i < 2 && rc == 0; i++)
    rc = sage_queue_put(arg, "more", 4, THREAD_TIMEOUT);
  return (void *)rc;
}

Test(spin_queue, a_put_woken_soon_after_sleeping_spins_next_time) {
  sage_queue *q = create(CEILING, "1"); /* one message fills it */
  cr_assert_eq(sage_queue_put(q, "full", 4, -1), 0, "%s", sage_last_error());
  pthread_t putter;
  cr_assert_eq(pthread_create(&putter, NULL, put_twice, q), 0);
  cr_assert(UNTIL(q, waiting_writers, 1), "the first put never slept");
  pause_ns(50 * MS);
  char buf[16];
  size_t len;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, -1), 0);
  cr_assert(UNTIL(q, total_put, 2), "the first blocked put never returned");
  cr_assert_not(asleep_within(q, 0, 0),
                "the second put slept within 10 ms: the spin did not adapt");
  cr_assert(UNTIL(q, waiting_writers, 1), "the second put never slept");
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, -1), 0);
  join_ok(putter);
  sage_queue_close(q);
}

/* A get behind a record that its (live) producer has not committed sleeps
 * in slices (10 ms and up) to check on it, and spins only briefly between
 * them, whatever the ceiling. */
static void *get_for_a_second(void *arg) {
  char buf[16];
  size_t len;
  if (sage_queue_get(arg, buf, sizeof buf, &len, 1000 * MS) != -ETIMEDOUT)
    return (void *)(intptr_t)-1;
  struct timespec cpu;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
  return (void *)(intptr_t)(cpu.tv_sec * 1000 + cpu.tv_nsec / MS);
}

Test(spin_queue, a_get_behind_a_pending_record_mostly_sleeps) {
  sage_queue *q = create(CEILING, "0");
  void *ptr;
  uint64_t token;
  cr_assert_eq(sage_queue_reserve(q, 8, &ptr, &token, -1), 0, "%s",
               sage_last_error());
  pthread_t getter;
  void *cpu_ms;
  cr_assert_eq(pthread_create(&getter, NULL, get_for_a_second, q), 0);
  pthread_join(getter, &cpu_ms);
  cr_assert_geq((intptr_t)cpu_ms, 0, "the get did not time out");
  cr_assert_lt((intptr_t)cpu_ms, 300,
               "a get that waited 1 s behind a pending record used %ld ms of "
               "CPU: it spun instead of sleeping",
               (long)(intptr_t)cpu_ms);
  cr_assert_eq(sage_queue_cancel(q, token), 0, "%s", sage_last_error());
  sage_queue_close(q);
}

/* ---- one call, one blocked wait ---- */

static void *put_three(void *arg) {
  const void *datas[3] = {"a", "b", "c"};
  size_t lens[3] = {1, 1, 1}, done;
  return (void *)(intptr_t)sage_queue_put_batch(arg, datas, lens, 3, &done,
                                                THREAD_TIMEOUT);
}

Test(spin_queue, a_batch_put_that_waits_for_each_message_counts_once) {
  sage_queue *q = create("100000", "1"); /* one message fills it */
  cr_assert_eq(sage_queue_put(q, "full", 4, -1), 0, "%s", sage_last_error());
  pthread_t putter;
  cr_assert_eq(pthread_create(&putter, NULL, put_three, q), 0);
  char buf[16];
  size_t len;
  for (int i = 0; i < 3; i++) { /* room for one at a time */
    pause_ns(20 * MS);
    cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, THREAD_TIMEOUT), 0);
  }
  join_ok(putter);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.total_put, 4);
  cr_assert_eq(st.blocked_puts, 1, "one put_batch call counted %llu times",
               (unsigned long long)st.blocked_puts);
  sage_queue_close(q);
}

static void *get_one(void *arg) {
  char buf[16];
  size_t len;
  return (void *)(intptr_t)sage_queue_get(arg, buf, sizeof buf, &len,
                                          THREAD_TIMEOUT);
}

Test(spin_queue, a_get_that_waits_past_a_cancelled_record_counts_once) {
  sage_queue *q = create("100000", "0");
  pthread_t getter;
  cr_assert_eq(pthread_create(&getter, NULL, get_one, q), 0);
  pause_ns(20 * MS);
  void *ptr;
  uint64_t token;
  cr_assert_eq(sage_queue_reserve(q, 4, &ptr, &token, -1), 0, "%s",
               sage_last_error());
  cr_assert_eq(sage_queue_cancel(q, token), 0, "%s", sage_last_error());
  pause_ns(20 * MS); /* the getter took the cancelled record, waits again */
  cr_assert_eq(sage_queue_put(q, "real", 4, -1), 0, "%s", sage_last_error());
  join_ok(getter);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.blocked_gets, 1, "one get call counted %llu times",
               (unsigned long long)st.blocked_gets);
  sage_queue_close(q);
}

Test(spin_queue, an_out_of_range_ceiling_is_refused) {
  snprintf(qname, sizeof qname, "spin-%d", (int)getpid());
  const char *opts[] = {"create", "always", "spin_max_ns", "100000001", NULL};
  sage_queue *q;
  cr_assert_eq(sage_queue_open("shm", qname, opts, &q), -EINVAL);
  cr_assert(strstr(sage_last_error(), "spin_max_ns") != NULL, "%s",
            sage_last_error());
}
