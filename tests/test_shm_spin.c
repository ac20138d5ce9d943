/* Adaptive spinning (plugin/shm/wait.c): the rule on its own, and through
 * a queue: a get that slept and was woken soon spins through the next
 * wait of that length instead of sleeping (stats show who is asleep). */
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

/* ---- through a queue ---- */

static char qname[64];

static void remove_queue(void) {
  if (qname[0] != '\0')
    sage_queue_unlink("shm", qname, NULL);
}

TestSuite(spin_queue, .fini = remove_queue);

static sage_queue *create(const char *spin_max_ns) {
  snprintf(qname, sizeof qname, "spin-%d", (int)getpid());
  const char *opts[] = {"create",      "always",    "spin_ns", "1000",
                        "spin_max_ns", spin_max_ns, NULL};
  sage_queue *q;
  cr_assert_eq(sage_queue_open("shm", qname, opts, &q), 0, "%s",
               sage_last_error());
  return q;
}

static void *get_twice(void *arg) {
  char buf[16];
  size_t len;
  for (int i = 0; i < 2; i++)
    cr_assert_eq(sage_queue_get(arg, buf, sizeof buf, &len, -1), 0);
  return NULL;
}

static uint64_t readers_asleep(sage_queue *q) {
  struct sage_stats st = {.size = sizeof st};
  cr_assert_eq(sage_queue_stats(q, &st), 0, "%s", sage_last_error());
  return st.waiting_readers;
}

static void pause_ns(long long ns) {
  struct timespec ts = {ns / 1000000000, ns % 1000000000};
  nanosleep(&ts, NULL);
}

/* Waits (up to 10 s) until the getter sleeps; 1 if it did. */
static int until_asleep(sage_queue *q) {
  for (int i = 0; i < 10000; i++, pause_ns(MS))
    if (readers_asleep(q) == 1)
      return 1;
  return 0;
}

/* The getter sleeps in its first get (spin 1 us) and is woken 100 ms
 * later, then waits again. Returns whether it was asleep `after` ns into
 * that second wait (polled every ms; 0: looked once, 10 ms in). */
static int asleep_in_second_wait(const char *spin_max_ns, long long after) {
  sage_queue *q = create(spin_max_ns);
  pthread_t getter;
  cr_assert_eq(pthread_create(&getter, NULL, get_twice, q), 0);
  cr_assert(until_asleep(q), "the first get never slept");
  pause_ns(100 * MS);
  cr_assert_eq(sage_queue_put(q, "one", 3, -1), 0, "%s", sage_last_error());
  while (readers_asleep(q) != 0) /* woken; then it waits again */
    pause_ns(100 * US);
  int asleep = 0;
  if (after == 0) {
    pause_ns(10 * MS);
    asleep = readers_asleep(q) == 1;
  } else {
    for (long long t = 0; t < after && !asleep; t += MS, pause_ns(MS))
      asleep = readers_asleep(q) == 1;
  }
  /* a spinning getter sleeps once its budget is spent */
  cr_assert(until_asleep(q), "the second get never slept");
  cr_assert_eq(sage_queue_put(q, "two", 3, -1), 0, "%s", sage_last_error());
  pthread_join(getter, NULL);
  sage_queue_close(q);
  return asleep;
}

Test(spin_queue, a_get_woken_soon_after_sleeping_spins_next_time) {
  /* woken after ~100 ms, within a 1 s ceiling: the next wait spins about
   * 150 ms before it sleeps */
  cr_assert_not(asleep_in_second_wait("1000000000", 0),
                "the second get slept within 10 ms: the spin did not adapt");
}

Test(spin_queue, a_ceiling_of_zero_keeps_the_spin_fixed) {
  cr_assert(asleep_in_second_wait("0", 100 * MS),
            "with spin_max_ns=0 the second get should sleep after 1 us");
}

Test(spin_queue, an_out_of_range_ceiling_is_refused) {
  snprintf(qname, sizeof qname, "spin-%d", (int)getpid());
  const char *opts[] = {"create", "always", "spin_max_ns", "2000000000", NULL};
  sage_queue *q;
  cr_assert_eq(sage_queue_open("shm", qname, opts, &q), -EINVAL);
  cr_assert(strstr(sage_last_error(), "spin_max_ns") != NULL, "%s",
            sage_last_error());
}
