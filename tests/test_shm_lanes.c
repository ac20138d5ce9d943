/* Threads of one process share a handle, and a handle has 8 lanes (one per
 * operation in flight). Threads asleep in get or put must not hold one:
 * more sleepers than lanes would otherwise keep the handle's other threads
 * from putting the message (or taking the one) that would wake them. */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sage/queue.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#define SECOND 1000000000ll
#define SLEEPERS 24 /* three times the lanes of a handle */

static char qname[64];

static void remove_queue(void) {
  if (qname[0] != '\0')
    sage_queue_unlink("shm", qname, NULL);
}

TestSuite(lanes, .fini = remove_queue);

static sage_queue *create(const char *capacity) {
  snprintf(qname, sizeof qname, "lanes-%d", (int)getpid());
  const char *opts[] = {"create", "always", "capacity", capacity, NULL};
  sage_queue *q;
  cr_assert_eq(sage_queue_open("shm", qname, opts, &q), 0, "%s",
               sage_last_error());
  return q;
}

/* Waits (at most 10 s) until the queue counts `readers` and `writers`
 * threads asleep. */
static void await_sleepers(sage_queue *q, uint64_t readers, uint64_t writers) {
  for (int i = 0; i < 10000; i++) {
    struct sage_stats st = stats_of(q);
    if (st.waiting_readers == readers && st.waiting_writers == writers)
      return;
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
  struct sage_stats st = stats_of(q);
  cr_assert_fail("waiting readers %llu, writers %llu; expected %llu, %llu",
                 (unsigned long long)st.waiting_readers,
                 (unsigned long long)st.waiting_writers,
                 (unsigned long long)readers, (unsigned long long)writers);
}

struct job {
  sage_queue *q;
  int rc;
  char msg[16];
};

static void *get_one(void *arg) {
  struct job *j = arg;
  size_t len = 0;
  j->rc = sage_queue_get(j->q, j->msg, sizeof j->msg - 1, &len, 10 * SECOND);
  j->msg[j->rc == 0 ? len : 0] = '\0';
  return NULL;
}

static void *put_one(void *arg) {
  struct job *j = arg;
  j->rc = sage_queue_put(j->q, j->msg, strlen(j->msg), 10 * SECOND);
  return NULL;
}

Test(lanes, sleeping_consumers_leave_lanes_to_a_producer) {
  sage_queue *q = create("65536");
  pthread_t t[SLEEPERS];
  struct job jobs[SLEEPERS];
  for (int i = 0; i < SLEEPERS; i++) {
    jobs[i] = (struct job){.q = q, .rc = 1};
    pthread_create(&t[i], NULL, get_one, &jobs[i]);
  }
  await_sleepers(q, SLEEPERS, 0);
  for (int i = 0; i < SLEEPERS; i++) {
    char msg[16];
    snprintf(msg, sizeof msg, "m%d", i);
    cr_assert_eq(sage_queue_put(q, msg, strlen(msg), SECOND), 0,
                 "put %d with %d consumers asleep: %s", i, SLEEPERS,
                 sage_last_error());
  }
  int seen[SLEEPERS] = {0};
  for (int i = 0; i < SLEEPERS; i++) {
    pthread_join(t[i], NULL);
    cr_assert_eq(jobs[i].rc, 0, "consumer %d: %d", i, jobs[i].rc);
    int n = -1;
    cr_assert_eq(sscanf(jobs[i].msg, "m%d", &n), 1);
    cr_assert(n >= 0 && n < SLEEPERS && !seen[n]++, "message %s", jobs[i].msg);
  }
  await_sleepers(q, 0, 0);
  cr_assert_eq(stats_of(q).timeouts, 0);
  sage_queue_destroy(q);
}

Test(lanes, sleeping_producers_leave_lanes_to_a_consumer) {
  sage_queue *q = create("4096");
  char fill[8] = {0}, buf[64];
  size_t len;
  while (sage_queue_put(q, fill, sizeof fill, 0) == 0) /* full to the byte */
    ;
  pthread_t t[SLEEPERS];
  struct job jobs[SLEEPERS];
  for (int i = 0; i < SLEEPERS; i++) {
    jobs[i] = (struct job){.q = q, .rc = 1};
    snprintf(jobs[i].msg, sizeof jobs[i].msg, "p%d", i);
    pthread_create(&t[i], NULL, put_one, &jobs[i]);
  }
  await_sleepers(q, 0, SLEEPERS);
  int small = 0; /* the fill goes first, then every producer's message */
  while (small < SLEEPERS) {
    cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, SECOND), 0,
                 "get with %d producers asleep: %s", SLEEPERS - small,
                 sage_last_error());
    small += len < sizeof fill;
  }
  for (int i = 0; i < SLEEPERS; i++) {
    pthread_join(t[i], NULL);
    cr_assert_eq(jobs[i].rc, 0, "producer %d: %d", i, jobs[i].rc);
  }
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), -EAGAIN);
  sage_queue_destroy(q);
}

Test(lanes, timeouts_are_counted) {
  sage_queue *q = create("65536");
  char buf[8];
  size_t len;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, SECOND / 20),
               -ETIMEDOUT);
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, SECOND / 20),
               -ETIMEDOUT);
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.timeouts, 2);
  cr_assert_eq(st.blocked_gets, 2);
  cr_assert_eq(st.waiting_readers, 0);
  sage_queue_destroy(q);
}
