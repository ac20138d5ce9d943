/* Kill test: producers and consumers (processes) move self-checking
 * messages through one small shm queue while a supervisor SIGKILLs a random
 * one of them at a random moment, many times, respawning each. Afterwards:
 * no duplicates or corrupt messages, confirmed messages lost only where a
 * consumer died, stats reconcile within the kills, and the queue works.
 *
 * usage: kill_test [-k KILLS] [-p PRODUCERS] [-c CONSUMERS] */
#include "config.h"

#include <errno.h>
#include <sage/queue.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"

#define MAX_INCARNATIONS 2048
#define MAX_SEQ 65536
#define MAX_WORKERS 16
#define MAX_PAYLOAD (256 * 1024) /* big copies widen the in-flight windows */
#define MS 1000000ll

struct shared {
  _Atomic int stop_producers, stop_consumers;
  _Atomic uint64_t errors, received;
  _Atomic uint32_t confirmed[MAX_INCARNATIONS]; /* puts that returned 0 */
  _Atomic uint8_t seen[MAX_INCARNATIONS][MAX_SEQ / 8];
};

static struct shared *sh;
static char qname[64];

static sage_queue *attach(void) {
  const char *opts[] = {"create", "never", NULL};
  sage_queue *q;
  if (sage_queue_open("shm", qname, opts, &q) != 0) {
    fprintf(stderr, "kill_test: open: %s\n", sage_last_error());
    _exit(2);
  }
  return q;
}

static unsigned char msg_buf[sizeof(struct test_msg_header) + MAX_PAYLOAD];

static void produce(uint32_t inc) {
  sage_queue *q = attach();
  uint64_t s = inc * 2654435761u + 1;
  for (uint32_t seq = 0; seq < MAX_SEQ && !atomic_load(&sh->stop_producers);
       seq++) {
    size_t n =
        test_msg_build(msg_buf, inc, seq, test_msg_rand(&s) % MAX_PAYLOAD);
    int rc;
    while ((rc = sage_queue_put(q, msg_buf, n, 200 * MS)) == -ETIMEDOUT &&
           !atomic_load(&sh->stop_producers))
      ;
    if (rc != 0)
      break;
    atomic_store(&sh->confirmed[inc], seq + 1);
  }
  sage_queue_close(q);
  _exit(0);
}

static void record(const struct test_msg_header *h) {
  uint8_t bit = (uint8_t)(1u << (h->seq % 8));
  if (atomic_fetch_or(&sh->seen[h->producer][h->seq / 8], bit) & bit)
    atomic_fetch_add(&sh->errors, 1); /* duplicate */
  atomic_fetch_add(&sh->received, 1);
}

static void consume(void) {
  sage_queue *q = attach();
  while (!atomic_load(&sh->stop_consumers)) {
    size_t n;
    int rc = sage_queue_get(q, msg_buf, sizeof msg_buf, &n, 100 * MS);
    if (rc == -ETIMEDOUT || rc == -EINTR)
      continue;
    struct test_msg_header h;
    if (rc != 0 || !test_msg_check(msg_buf, n, &h) ||
        h.producer >= MAX_INCARNATIONS || h.seq >= MAX_SEQ) {
      atomic_fetch_add(&sh->errors, 1);
      continue;
    }
    record(&h);
  }
  sage_queue_close(q);
  _exit(0);
}

struct worker {
  pid_t pid;
  int producer;
};

static uint32_t next_inc;

static void spawn(struct worker *w) {
  uint32_t inc = next_inc++;
  pid_t pid = fork();
  if (pid == 0) {
    if (w->producer)
      produce(inc);
    consume();
  }
  w->pid = pid;
}

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

static struct sage_stats stats_of(sage_queue *q) {
  struct sage_stats st = {.size = sizeof st};
  sage_queue_stats(q, &st);
  return st;
}

/* Waits until consumers have taken everything (items == 0, nothing new). */
static void drain(sage_queue *q) {
  uint64_t last = UINT64_MAX;
  for (int quiet = 0; quiet < 10;) {
    sleep_us(100000);
    uint64_t got = atomic_load(&sh->received);
    quiet = (got == last && stats_of(q).items == 0) ? quiet + 1 : 0;
    last = got;
  }
}

static uint64_t missing_confirmed(void) {
  uint64_t missing = 0;
  for (uint32_t inc = 0; inc < next_inc; inc++)
    for (uint32_t seq = 0; seq < atomic_load(&sh->confirmed[inc]); seq++)
      missing += !(atomic_load(&sh->seen[inc][seq / 8]) & (1u << (seq % 8)));
  return missing;
}

static int still_works(sage_queue *q) {
  char buf[16];
  size_t len;
  return sage_queue_put(q, "alive", 5, 1000 * MS) == 0 &&
         sage_queue_get(q, buf, sizeof buf, &len, 1000 * MS) == 0 && len == 5;
}

int main(int argc, char **argv) {
  int kills = 200, producers = 2, consumers = 2, opt;
  while ((opt = getopt(argc, argv, "k:p:c:")) != -1) {
    if (opt == 'k')
      kills = atoi(optarg);
    else if (opt == 'p')
      producers = atoi(optarg);
    else if (opt == 'c')
      consumers = atoi(optarg);
    else
      return 2;
  }
  int n = producers + consumers;
  if (n > MAX_WORKERS || kills >= MAX_INCARNATIONS - n)
    return 2;
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  snprintf(qname, sizeof qname, "killtest-%d", (int)getpid());
  const char *opts[] = {"create", "always", "capacity", "1048576", NULL};
  sage_queue *q;
  if (sage_queue_open("shm", qname, opts, &q) != 0) {
    fprintf(stderr, "kill_test: create: %s\n", sage_last_error());
    return 2;
  }
  alarm(600);
  srand((unsigned)getpid());
  struct worker w[MAX_WORKERS];
  for (int i = 0; i < n; i++) {
    w[i].producer = i < producers;
    spawn(&w[i]);
  }
  int consumer_kills = 0, producer_kills = 0;
  for (int k = 0; k < kills; k++) {
    sleep_us(rand() % 3000);
    struct worker *victim = &w[rand() % n];
    kill(victim->pid, SIGKILL);
    waitpid(victim->pid, NULL, 0);
    victim->producer ? producer_kills++ : consumer_kills++;
    spawn(victim);
  }
  atomic_store(&sh->stop_producers, 1);
  for (int i = 0; i < producers; i++)
    waitpid(w[i].pid, NULL, 0);
  drain(q);
  atomic_store(&sh->stop_consumers, 1);
  for (int i = producers; i < n; i++)
    waitpid(w[i].pid, NULL, 0);

  struct sage_stats st = stats_of(q);
  uint64_t missing = missing_confirmed(), errors = atomic_load(&sh->errors);
  int64_t gap = (int64_t)st.total_put - (int64_t)st.total_got -
                (int64_t)st.abandoned - (int64_t)st.items;
  printf("kill_test: %d kills (%d producers, %d consumers), %llu received, "
         "put %llu got %llu abandoned %llu items %llu, confirmed-but-missing "
         "%llu, errors %llu, accounting gap %lld\n",
         kills, producer_kills, consumer_kills,
         (unsigned long long)atomic_load(&sh->received),
         (unsigned long long)st.total_put, (unsigned long long)st.total_got,
         (unsigned long long)st.abandoned, (unsigned long long)st.items,
         (unsigned long long)missing, (unsigned long long)errors,
         (long long)gap);
  int ok = errors == 0 && missing <= (uint64_t)consumer_kills &&
           st.items == 0 && gap <= kills && -gap <= kills && still_works(q);
  sage_queue_destroy(q);
  if (!ok)
    fprintf(stderr, "kill_test: FAILED\n");
  return ok ? 0 : 1;
}
