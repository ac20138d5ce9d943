/* Writes raw-mode seeds for fuzz_segment: real shm segments, made with the
 * real plugin and left in interesting states (empty, holding messages,
 * wrapped, full, a producer or a consumer killed mid-operation, out-of-order
 * releases), each copied from /dev/shm after a raw-mode prefix (see
 * fuzz_segment.c). `make fuzz-seeds` runs it into fuzz/corpus/segment.
 *
 * usage: make_seeds DIR */
#include "config.h"

#include <errno.h>
#include <sage/queue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SECOND 1000000000ll

static const char *dir;
static char qname[64];
static const unsigned char ops[48] = {
    3,  10, 3, 200, 5, 20, 5, 0x90, 4, 0x55, 7, 0, 0, 0,  1,  3,
    2,  1,  2, 0,   0, 0,  6, 1,    6, 0,    8, 0, 9, 1,  10, 0,
    11, 0,  3, 1,   0, 0,  7, 0,    3, 5,    3, 6, 1, 15, 2,  1};

static sage_queue *create_sized(const char *tag, const char *max_items,
                                const char *slot_size) {
  snprintf(qname, sizeof qname, "fuzzseed-%s-%d", tag, (int)getpid());
  const char *opts[] = {"create",    "always",  "capacity",   "4096",
                        "slots",     "64",      "attach_max", "2",
                        "max_items", max_items, "slot_size",  slot_size,
                        NULL};
  sage_queue *q;
  if (sage_queue_open("shm", qname, opts, &q) != 0) {
    fprintf(stderr, "make_seeds: %s\n", sage_last_error());
    exit(1);
  }
  return q;
}

static sage_queue *create(const char *tag, const char *max_items) {
  return create_sized(tag, max_items, "32");
}

static sage_queue *attach(void) {
  const char *opts[] = {"create", "never", NULL};
  sage_queue *q;
  if (sage_queue_open("shm", qname, opts, &q) != 0)
    _exit(3);
  return q;
}

static void put_n(sage_queue *q, int n, size_t len) {
  static unsigned char msg[2048];
  for (int i = 0; i < n; i++) {
    memset(msg, 'a' + i % 26, sizeof msg);
    if (sage_queue_put(q, msg, len + (size_t)i % 7, 0) != 0)
      return;
  }
}

static void get_n(sage_queue *q, int n) {
  unsigned char buf[4096];
  size_t len;
  for (int i = 0; i < n; i++)
    sage_queue_get(q, buf, sizeof buf, &len, 0);
}

/* Copies the segment file after the raw-mode prefix, then destroys q. */
static void dump(sage_queue *q, const char *tag) {
  char src[256], dst[1024];
  snprintf(src, sizeof src, "/dev/shm/sageq-%u-%s", (unsigned)geteuid(), qname);
  snprintf(dst, sizeof dst, "%s/raw-%s", dir, tag);
  FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
  if (in == NULL || out == NULL) {
    perror("make_seeds");
    exit(1);
  }
  const unsigned char prefix[6] = {1, 0, 0, 0, 0, 0};
  fwrite(prefix, 1, sizeof prefix, out);
  fwrite(ops, 1, sizeof ops, out);
  char block[4096];
  size_t n;
  while ((n = fread(block, 1, sizeof block, in)) > 0)
    fwrite(block, 1, n, out);
  fclose(in);
  fclose(out);
  sage_queue_destroy(q);
  printf("wrote %s\n", dst);
}

/* Runs fn in a child that holds an operation open until SIGKILLed. */
static void killed_child(void (*fn)(void)) {
  int ready[2];
  if (pipe(ready) != 0)
    exit(1);
  pid_t pid = fork();
  if (pid == 0) {
    fn();
    char c = 1;
    if (write(ready[1], &c, 1) != 1)
      _exit(2);
    pause();
    _exit(0);
  }
  char c;
  if (read(ready[0], &c, 1) != 1)
    exit(1);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(ready[0]);
  close(ready[1]);
}

static void reserve_and_hang(void) {
  void *ptr;
  uint64_t token;
  sage_queue_reserve(attach(), 100, &ptr, &token, SECOND);
}

static void peek_and_hang(void) {
  const void *ptr;
  size_t len;
  uint64_t token;
  sage_queue_peek(attach(), &ptr, &len, &token, SECOND);
}

int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  dir = argv[1];
  sage_queue *q = create("empty", "0");
  dump(q, "empty");

  q = create("messages", "0");
  put_n(q, 5, 40);
  dump(q, "messages");

  q = create("wrapped", "0");
  for (int round = 0; round < 6; round++) {
    put_n(q, 3, 700);
    get_n(q, 2);
  }
  dump(q, "wrapped");

  q = create("full", "0");
  put_n(q, 64, 300);
  dump(q, "full");

  q = create("itembound", "8");
  put_n(q, 8, 1);
  dump(q, "itembound");

  q = create_sized("smallslots", "0", "128"); /* payloads <= 104 inline */
  for (int round = 0; round < 4; round++) {
    put_n(q, 3, 40);
    put_n(q, 2, 200);
    put_n(q, 2, 104);
    get_n(q, 5);
  }
  dump(q, "smallslots");

  q = create("deadproducer", "0");
  put_n(q, 2, 10);
  killed_child(reserve_and_hang);
  put_n(q, 2, 10);
  dump(q, "deadproducer");

  q = create("deadconsumer", "0");
  put_n(q, 3, 10);
  killed_child(peek_and_hang);
  get_n(q, 1); /* released out of order: DONE behind the dead claim */
  dump(q, "deadconsumer");
  return 0;
}
