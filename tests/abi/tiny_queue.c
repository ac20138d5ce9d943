/* A tiny in-process transport shared by the ABI fixture plugins: named
 * queues of up to TINY_SLOTS messages of up to TINY_MSG bytes, never
 * blocking (timeouts are ignored). #included after the ABI header the
 * fixture is built against, so the same code is compiled as a 1.0 and as
 * a 1.1 plugin. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TINY_SLOTS 16
#define TINY_MSG 256

struct tiny {
  struct tiny *next;
  char name[160];
  size_t head, count;
  size_t lens[TINY_SLOTS];
  unsigned char data[TINY_SLOTS][TINY_MSG];
  uint64_t puts, gets;
};

struct sage_transport_queue {
  struct tiny *t;
};

static pthread_mutex_t tiny_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tiny *tiny_all;

static struct tiny *tiny_find(const char *name) {
  struct tiny *t = tiny_all;
  while (t != NULL && strcmp(t->name, name) != 0)
    t = t->next;
  return t;
}

static int tiny_open(const char *name, const char *const *options,
                     sage_transport_queue **out) {
  for (size_t i = 0; options != NULL && options[i] != NULL; i += 2)
    if (strcmp(options[i], "create") != 0 && strncmp(options[i], "x-", 2) != 0)
      return -EINVAL;
  sage_transport_queue *h = calloc(1, sizeof *h);
  if (h == NULL)
    return -ENOMEM;
  pthread_mutex_lock(&tiny_lock);
  struct tiny *t = tiny_find(name);
  if (t == NULL && (t = calloc(1, sizeof *t)) != NULL) {
    strncpy(t->name, name, sizeof t->name - 1);
    t->next = tiny_all;
    tiny_all = t;
  }
  pthread_mutex_unlock(&tiny_lock);
  if (t == NULL) {
    free(h);
    return -ENOMEM;
  }
  h->t = t;
  *out = h;
  return 0;
}

static int tiny_put(sage_transport_queue *q, const void *data, size_t len,
                    int64_t timeout_ns) {
  if (len > TINY_MSG)
    return -EMSGSIZE;
  pthread_mutex_lock(&tiny_lock);
  struct tiny *t = q->t;
  int rc = -EAGAIN;
  if (t->count < TINY_SLOTS) {
    size_t slot = (t->head + t->count++) % TINY_SLOTS;
    memcpy(t->data[slot], data, len);
    t->lens[slot] = len;
    t->puts++;
    rc = 0;
  }
  pthread_mutex_unlock(&tiny_lock);
  return rc;
}

static int tiny_get(sage_transport_queue *q, void *buf, size_t cap, size_t *len,
                    int64_t timeout_ns) {
  pthread_mutex_lock(&tiny_lock);
  struct tiny *t = q->t;
  int rc = -EAGAIN;
  if (t->count > 0) {
    *len = t->lens[t->head];
    rc = -EMSGSIZE;
    if (*len <= cap) {
      memcpy(buf, t->data[t->head], *len);
      t->head = (t->head + 1) % TINY_SLOTS;
      t->count--;
      t->gets++;
      rc = 0;
    }
  }
  pthread_mutex_unlock(&tiny_lock);
  return rc;
}

static int tiny_stats(sage_transport_queue *q, struct sage_stats *st) {
  pthread_mutex_lock(&tiny_lock);
  struct sage_stats full = {.size = sizeof full};
  full.capacity = TINY_SLOTS * TINY_MSG;
  full.max_message = TINY_MSG;
  full.max_items = TINY_SLOTS;
  full.items = q->t->count;
  full.total_put = q->t->puts;
  full.total_got = q->t->gets;
  pthread_mutex_unlock(&tiny_lock);
  size_t n = st->size < sizeof full ? st->size : sizeof full;
  memcpy((char *)st + 8, (char *)&full + 8, n - 8);
  return 0;
}

static int tiny_close(sage_transport_queue *q) {
  free(q);
  return 0;
}

static int tiny_destroy(sage_transport_queue *q) {
  pthread_mutex_lock(&tiny_lock);
  q->t->name[0] = '\0'; /* unreachable by name; the memory stays */
  pthread_mutex_unlock(&tiny_lock);
  return tiny_close(q);
}

static int tiny_depth(sage_transport_queue *q, uint64_t *items,
                      uint64_t *bytes) {
  pthread_mutex_lock(&tiny_lock);
  *items = q->t->count;
  *bytes = 0;
  for (size_t i = 0; i < q->t->count; i++)
    *bytes += q->t->lens[(q->t->head + i) % TINY_SLOTS];
  pthread_mutex_unlock(&tiny_lock);
  return 0;
}
