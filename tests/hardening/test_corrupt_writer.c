/* A writer corrupting records while they are read: a thread keeps flipping
 * the length word of the record at the read position between a size that
 * fits the reader's buffer and one that does not, while the main thread
 * puts and gets messages into a buffer that ends at a PROT_NONE page. get
 * must return the message or an error, and never write past the buffer
 * (which would fault here) - whatever the shared memory says, and however
 * often it changes under the reader.
 *
 * The flipping thread reaches into the segment through the layout the
 * plugin uses (plugin/shm/layout.h). Standalone (no Criterion), so it also
 * runs under ThreadSanitizer builds; its racing writes are the point of the
 * test, so it skips there. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sage/queue.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"

#define ROUNDS 200000
#define SMALL 8u

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#endif

static _Atomic int stop;
static struct shm_header *hdr;
static struct shm_slot *slots;

static void *flipper(void *arg) {
  (void)arg;
  uint32_t big = (uint32_t)(hdr->capacity / 2);
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    uint32_t r = atomic_load_explicit(&hdr->read, memory_order_relaxed);
    struct shm_slot *s =
        (struct shm_slot *)((char *)slots +
                            (size_t)(r & (hdr->slot_count - 1)) *
                                hdr->slot_size);
    atomic_store_explicit(&s->len, big, memory_order_relaxed);
    atomic_store_explicit(&s->len, SMALL, memory_order_relaxed);
  }
  return NULL;
}

/* SMALL bytes that end exactly where an inaccessible page begins. */
static unsigned char *guarded_buffer(void) {
  long page = sysconf(_SC_PAGESIZE);
  unsigned char *p = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED || mprotect(p + page, (size_t)page, PROT_NONE) != 0)
    return NULL;
  return p + page - SMALL;
}

static int map_segment(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "/dev/shm/sageq-%u-%s", (unsigned)geteuid(),
           name);
  int fd = open(path, O_RDWR);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0)
    return -1;
  void *base =
      mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED)
    return -1;
  hdr = base;
  slots = (struct shm_slot *)((char *)base + hdr->slots_off);
  return 0;
}

int main(void) {
#ifdef UNDER_TSAN
  puts("ThreadSanitizer build: the racing writer is the test; skipping");
  return 77;
#endif
  char name[64];
  snprintf(name, sizeof name, "corrupt-writer-%d", (int)getpid());
  const char *opts[] = {"create", "always", "capacity", "4096", NULL};
  sage_queue *q;
  if (sage_queue_open("shm", name, opts, &q) != 0 || map_segment(name) != 0) {
    fprintf(stderr, "setup: %s\n", sage_last_error());
    return 99;
  }
  unsigned char *buf = guarded_buffer();
  pthread_t t;
  if (buf == NULL || pthread_create(&t, NULL, flipper, NULL) != 0)
    return 99;
  unsigned counts[4] = {0}; /* ok, EMSGSIZE, EBADMSG, other */
  static const unsigned char msg[SMALL] = "message";
  for (int i = 0; i < ROUNDS; i++) {
    uint64_t items = 0, bytes;
    sage_queue_depth(q, &items, &bytes);
    if (items == 0 && sage_queue_put(q, msg, sizeof msg, 0) != 0)
      break;
    size_t len;
    int rc = sage_queue_get(q, buf, SMALL, &len, 0);
    counts[rc == 0 ? 0 : rc == -EMSGSIZE ? 1 : rc == -EBADMSG ? 2 : 3]++;
  }
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  printf("corrupt writer: %u got, %u too big, %u refused as corrupt, %u "
         "other; no write past the buffer\n",
         counts[0], counts[1], counts[2], counts[3]);
  sage_queue_destroy(q);
  return counts[3] == 0 ? 0 : 1;
}
