/* Statistics: the current depth from the kernel, totals from the shared
 * counter page, geometry from the queue's attributes. What neither keeps
 * (attachments, waiters, high-water mark) is reported as 0; docs/PLUGINS.md
 * lists those fields. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posixmq.h"

/* Payload bytes queued in the kernel. Reading a queue descriptor on Linux
 * yields the same "QSIZE:<bytes> ..." line as /dev/mqueue/<name>, so this
 * works without the mqueue filesystem mounted. */
static uint64_t kernel_bytes(pmq_queue *q) {
  char text[160];
  ssize_t n = pread((int)q->mqd, text, sizeof text - 1, 0);
  if (n <= 0)
    return 0;
  text[n] = '\0';
  const char *p = strstr(text, "QSIZE:");
  return p != NULL ? strtoull(p + 6, NULL, 10) : 0;
}

/* Messages this handle holds back (taken from the kernel, not yet given
 * to a caller): they are still queued as far as users are concerned. */
static void held(pmq_queue *q, uint64_t *count, uint64_t *bytes) {
  pthread_mutex_lock(&q->held_lock);
  *count = q->held_count;
  *bytes = 0;
  for (struct pmq_held *h = q->held_head; h != NULL; h = h->next)
    *bytes += h->len;
  pthread_mutex_unlock(&q->held_lock);
}

int pmq_depth(pmq_queue *q, uint64_t *items, uint64_t *bytes) {
  struct mq_attr a;
  if (mq_getattr(q->mqd, &a) != 0)
    return sage_plugin_fail(-errno, "posixmq: queue '%s': mq_getattr failed",
                            q->name);
  uint64_t n, b;
  held(q, &n, &b);
  *items = (uint64_t)a.mq_curmsgs + n;
  *bytes = kernel_bytes(q) + b;
  return 0;
}

static uint64_t load(_Atomic uint64_t *v) {
  return atomic_load_explicit(v, memory_order_relaxed);
}

static void fill(pmq_queue *q, struct sage_stats *st) {
  struct pmq_page *p = q->page;
  st->capacity = (uint64_t)q->maxmsg * q->msgsize;
  st->max_message = q->msgsize;
  st->max_items = q->maxmsg;
  st->total_put = load(&p->total_put);
  st->total_got = load(&p->total_got);
  st->bytes_put = load(&p->bytes_put);
  st->bytes_got = load(&p->bytes_got);
  st->blocked_puts = load(&p->blocked_puts);
  st->blocked_gets = load(&p->blocked_gets);
  st->timeouts = load(&p->timeouts);
  st->abandoned = load(&p->abandoned);
  st->creator_pid = load(&p->creator_pid);
  st->created_ns = load(&p->created_ns);
  st->unfinished = pmq_unfinished(q);
  struct stat sb;
  if (fstat((int)q->mqd, &sb) == 0)
    st->owner_uid = sb.st_uid;
}

int pmq_stats(pmq_queue *q, struct sage_stats *st) {
  if (st == NULL || st->size < offsetof(struct sage_stats, capacity))
    return sage_plugin_fail(-EINVAL, "posixmq: stats: struct too small");
  struct sage_stats full;
  memset(&full, 0, sizeof full);
  int rc = pmq_depth(q, &full.items, &full.bytes_used);
  if (rc != 0)
    return rc;
  fill(q, &full);
  /* Copy only what the host's struct has room for (it may be older). */
  size_t n = st->size < sizeof full ? st->size : sizeof full;
  size_t head = offsetof(struct sage_stats, capacity);
  memcpy((char *)st + head, (char *)&full + head, n - head);
  return 0;
}
