/* Makes live queues for the sage-queue command's tests.
 *
 *   queue_tool create NAME [CAPACITY]  create NAME (empty) and close it
 *   queue_tool put NAME COUNT [SIZE]   put COUNT messages of SIZE bytes
 *   queue_tool hold NAME [COUNT]       open (creating), put COUNT messages,
 *                                      print "ready <pid>", stay attached
 *                                      until SIGTERM/SIGINT (then close
 *                                      cleanly) or SIGKILL (then stale)
 *   queue_tool pump NAME               print "ready <pid>", then put and get
 *                                      1 KiB messages until SIGTERM/SIGINT
 *
 * Uses $SAGE_TRANSPORT (default shm). Exit 0 ok, 1 error, 2 usage. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sage/queue.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "queue_tool: %s: %s\n", what,
          sage_last_error()[0] ? sage_last_error() : sage_strerror(rc));
  return 1;
}

static int open_queue(const char *name, const char *capacity, sage_queue **q) {
  const char *opts[] = {"capacity", capacity, NULL};
  return sage_queue_open(NULL, name, capacity ? opts : NULL, q);
}

static int put_many(sage_queue *q, unsigned long count, size_t size) {
  char *msg = calloc(1, size ? size : 1);
  int rc = msg == NULL ? -ENOMEM : 0;
  for (unsigned long i = 0; rc == 0 && i < count; i++)
    rc = sage_queue_put(q, msg, size, 0);
  free(msg);
  return rc;
}

static void catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
}

/* Sleeps until SIGTERM/SIGINT, with no window for a lost wake-up. */
static void wait_for_stop(void) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &old);
  while (!stop)
    sigsuspend(&old);
  sigprocmask(SIG_SETMASK, &old, NULL);
}

static void say_ready(void) {
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
}

static int pump(sage_queue *q) {
  char msg[1024] = {0}, buf[1024];
  while (!stop) {
    size_t len;
    int rc = sage_queue_put(q, msg, sizeof msg, 0);
    if (rc == 0)
      rc = sage_queue_get(q, buf, sizeof buf, &len, 0);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: queue_tool create|put|hold|pump NAME [...]\n");
    return 2;
  }
  const char *cmd = argv[1], *name = argv[2];
  int create = strcmp(cmd, "create") == 0;
  sage_queue *q;
  int rc = open_queue(name, create && argc > 3 ? argv[3] : NULL, &q);
  if (rc != 0)
    return fail("open", rc);
  if (strcmp(cmd, "put") == 0 || strcmp(cmd, "hold") == 0) {
    unsigned long count = argc > 3 ? strtoul(argv[3], NULL, 10) : 0;
    size_t size = argc > 4 ? strtoul(argv[4], NULL, 10) : 16;
    rc = put_many(q, count, size);
  }
  if (rc == 0 && (strcmp(cmd, "hold") == 0 || strcmp(cmd, "pump") == 0)) {
    catch_signals();
    say_ready();
    if (strcmp(cmd, "pump") == 0)
      rc = pump(q);
    else
      wait_for_stop();
  }
  if (rc != 0) {
    fail(cmd, rc);
    sage_queue_close(q);
    return 1;
  }
  return sage_queue_close(q) == 0 ? 0 : 1;
}
