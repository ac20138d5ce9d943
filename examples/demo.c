/* SAGE Queue demo: two processes exchange messages over the shm transport
 * and print throughput and the queue's shared stats.
 *
 *   demo [MESSAGES] [SIZE]      (default 2,000,000 x 64 bytes)
 *
 * The producer and consumer are separate processes: the consumer opens the
 * queue by name, as any other program would. */
#include "config.h"

#include <errno.h>
#include <sage/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SECOND 1000000000ll
#define BATCH 64

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what) {
  fprintf(stderr, "demo: %s: %s\n", what, sage_last_error());
  return 1;
}

/* Consumer process: sums sequence numbers until the empty end marker. */
static int consume(const char *name, size_t size) {
  const char *opts[] = {"create", "never", NULL};
  sage_queue *q;
  if (sage_queue_open("shm", name, opts, &q) != 0)
    return fail("consumer open");
  char *buf = malloc(size + 1);
  unsigned long long count = 0, sum = 0;
  for (;;) {
    size_t len;
    int rc = sage_queue_get(q, buf, size + 1, &len, 10 * SECOND);
    if (rc != 0)
      return fail("get");
    if (len == 0)
      break;
    unsigned long long seq;
    memcpy(&seq, buf, sizeof seq);
    sum += seq;
    count++;
  }
  printf("consumer (pid %d): received %llu messages, checksum %llu\n",
         (int)getpid(), count, sum);
  free(buf);
  sage_queue_close(q);
  return 0;
}

static int produce(sage_queue *q, unsigned long long n, size_t size) {
  char *buf = calloc(1, size);
  for (unsigned long long seq = 0; seq < n; seq++) {
    memcpy(buf, &seq, sizeof seq);
    if (sage_queue_put(q, buf, size, 10 * SECOND) != 0)
      return fail("put");
  }
  free(buf);
  return sage_queue_put(q, "", 0, 10 * SECOND) != 0 ? fail("put end") : 0;
}

static void print_stats(sage_queue *q) {
  uint64_t values[64];
  int n = sage_queue_stats_values(q, values, 64);
  printf("\nshared stats of the queue:\n");
  for (int i = 0; i < n; i++)
    printf("  %-16s %llu\n", sage_stats_name((size_t)i),
           (unsigned long long)values[i]);
}

int main(int argc, char **argv) {
  unsigned long long n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
  size_t size = argc > 2 ? strtoul(argv[2], NULL, 10) : 64;
  if (size < 8)
    size = 8;
  char name[64];
  snprintf(name, sizeof name, "demo-%d", (int)getpid());
  const char *opts[] = {"create", "always", "capacity", "4M", NULL};
  sage_queue *q;
  if (sage_queue_open("shm", name, opts, &q) != 0)
    return fail("create");
  printf("queue '%s' on transport '%s': %llu messages of %zu bytes\n", name,
         sage_queue_transport_name(q), n, size);
  fflush(stdout); /* else a piped stdout's buffer is printed by both */
  pid_t consumer = fork();
  if (consumer == 0) {
    int crc = consume(name, size);
    fflush(stdout);
    _exit(crc);
  }
  double t0 = now_s();
  int rc = produce(q, n, size);
  int status = 1;
  waitpid(consumer, &status, 0);
  double secs = now_s() - t0;
  if (rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    printf("producer (pid %d): sent %llu messages and an empty end marker "
           "(the stats count both)\n",
           (int)getpid(), n);
    printf("throughput: %.2f M msgs/s, %.1f MB/s (%.3f s)\n", n / secs / 1e6,
           (double)n * (double)size / secs / 1e6, secs);
    print_stats(q);
  } else {
    rc = 1;
  }
  sage_queue_destroy(q);
  return rc;
}
