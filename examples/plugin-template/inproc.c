/* inproc: a complete, minimal SAGE Queue transport, kept as the template
 * for third-party plugins (see README.md and docs/PLUGINS.md).
 *
 * Queues live in this process's memory: named FIFO lists of messages
 * guarded by a mutex, with condition variables for blocking. Any number
 * of threads may put and get on any number of handles; other processes
 * cannot see the queues (no SAGE_CAP_CROSS_PROCESS).
 *
 * Everything a plugin must get right is here: the one exported entry
 * function, the constant descriptor and ops table, open options
 * (standard keys, "x-" keys ignored, anything else -EINVAL), negative
 * errno returns with a detail for the caller, CLOCK_MONOTONIC timeouts,
 * -EMSGSIZE at once for a message that can never fit, stats copied into
 * the host's struct only as far as its `size` reaches.
 *
 * Fork: a child gets a private copy of every queue; use queues only in the
 * process that opened them. */
#include <errno.h>
#include <pthread.h>
#include <sage/transport.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INPROC_VERSION "0.1.0"
#define DEFAULT_CAPACITY (1u << 20)
#define NAME_MAX_LEN 128

struct msg {
  struct msg *next;
  size_t len;
  unsigned char data[];
};

/* One named queue, shared by every handle opened on that name. */
struct inproc {
  struct inproc *next; /* registry list */
  char name[NAME_MAX_LEN + 1];
  unsigned refs; /* open handles */
  int unlinked;  /* destroyed: freed when the last handle closes */
  pthread_mutex_t lock;
  pthread_cond_t readable, writable, finished;
  struct msg *head, *tail;
  uint64_t capacity, max_items; /* max_items 0: only capacity bounds */
  uint64_t bytes, items, unfinished;
  struct sage_stats counters; /* totals, kept in the ABI's own struct */
};

/* What a handle is: this plugin's `sage_transport_queue`. */
struct sage_transport_queue {
  struct inproc *q;
};

static const struct sage_host *host;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct inproc *registry;

/* ---- errors: a negative errno, and a sentence for sage_last_error() ---- */

static int fail(int code, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  /* Read a host field only when the host's struct is large enough. */
  if (host != NULL &&
      host->size >=
          offsetof(struct sage_host, set_detail) + sizeof host->set_detail &&
      host->set_detail != NULL)
    host->set_detail(text);
  return code;
}

/* ---- open options ---- */

enum { CREATE_AUTO, CREATE_ALWAYS, CREATE_NEVER };

struct options {
  uint64_t capacity, max_items;
  int create;
};

/* "4096", "64K", "1M", "1G". */
static int parse_size(const char *text, uint64_t *out) {
  char *end;
  if (text[0] < '0' || text[0] > '9')
    return -EINVAL;
  unsigned long long v = strtoull(text, &end, 10);
  unsigned shift = 0;
  if (*end == 'K' || *end == 'k')
    shift = 10, end++;
  else if (*end == 'M' || *end == 'm')
    shift = 20, end++;
  else if (*end == 'G' || *end == 'g')
    shift = 30, end++;
  if (*end != '\0' || v > (UINT64_MAX >> shift))
    return -EINVAL;
  *out = (uint64_t)v << shift;
  return 0;
}

static int parse_one(struct options *o, const char *key, const char *value) {
  if (strncmp(key, "x-", 2) == 0)
    return 0; /* keys for other transports or tools: ignore */
  if (strcmp(key, "capacity") == 0) {
    if (parse_size(value, &o->capacity) != 0 || o->capacity == 0)
      return fail(-EINVAL, "inproc: capacity '%s' is not a size > 0", value);
  } else if (strcmp(key, "max_items") == 0) {
    if (parse_size(value, &o->max_items) != 0)
      return fail(-EINVAL, "inproc: max_items '%s' is not a count", value);
  } else if (strcmp(key, "create") == 0) {
    static const char *const modes[] = {"auto", "always", "never"};
    o->create = -1;
    for (int i = 0; i < 3; i++)
      if (strcmp(value, modes[i]) == 0)
        o->create = i;
    if (o->create < 0)
      return fail(-EINVAL, "inproc: create must be auto, always or never");
  } else if (strcmp(key, "mode") == 0) {
    /* Accepted for compatibility: in-process queues have no permissions. */
    if (strspn(value, "01234567") != strlen(value) || value[0] == '\0')
      return fail(-EINVAL, "inproc: mode '%s' is not octal", value);
  } else {
    return fail(-EINVAL,
                "inproc: unknown option '%.64s' (known: capacity, max_items, "
                "create, mode; prefix custom keys with x-)",
                key);
  }
  return 0;
}

static int parse_options(const char *const *kv, struct options *o) {
  *o = (struct options){DEFAULT_CAPACITY, 0, CREATE_AUTO};
  for (size_t i = 0; kv != NULL && kv[i] != NULL; i += 2) {
    if (kv[i + 1] == NULL)
      return fail(-EINVAL, "inproc: option '%.64s' has no value", kv[i]);
    int rc = parse_one(o, kv[i], kv[i + 1]);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* ---- time ---- */

static struct timespec deadline_after(int64_t timeout_ns) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += (time_t)(timeout_ns / 1000000000);
  ts.tv_nsec += (long)(timeout_ns % 1000000000);
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  return ts;
}

/* Waits on `cv` (q->lock held): timeout < 0 forever, else until deadline.
 * Returns 0 or ETIMEDOUT (positive, as pthread does). */
static int wait_on(struct inproc *q, pthread_cond_t *cv, int64_t timeout_ns,
                   const struct timespec *deadline) {
  if (timeout_ns < 0)
    return pthread_cond_wait(cv, &q->lock);
  return pthread_cond_timedwait(cv, &q->lock, deadline);
}

/* ---- registry of named queues ---- */

static struct inproc *find(const char *name) {
  struct inproc *q = registry;
  while (q != NULL && strcmp(q->name, name) != 0)
    q = q->next;
  return q;
}

static struct inproc *create(const char *name, const struct options *o) {
  struct inproc *q = calloc(1, sizeof *q);
  if (q == NULL)
    return NULL;
  snprintf(q->name, sizeof q->name, "%s", name);
  q->capacity = o->capacity;
  q->max_items = o->max_items;
  pthread_mutex_init(&q->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* timeouts are */
  pthread_cond_init(&q->readable, &attr);
  pthread_cond_init(&q->writable, &attr);
  pthread_cond_init(&q->finished, &attr);
  pthread_condattr_destroy(&attr);
  q->next = registry;
  registry = q;
  return q;
}

static void free_queue(struct inproc *q) {
  for (struct msg *m = q->head, *next; m != NULL; m = next) {
    next = m->next;
    free(m);
  }
  pthread_mutex_destroy(&q->lock);
  pthread_cond_destroy(&q->readable);
  pthread_cond_destroy(&q->writable);
  pthread_cond_destroy(&q->finished);
  free(q);
}

/* ---- mandatory ops ---- */

static int inproc_open(const char *name, const char *const *options,
                       sage_transport_queue **out) {
  struct options o;
  int rc = parse_options(options, &o);
  if (rc != 0)
    return rc;
  if (strlen(name) > NAME_MAX_LEN)
    return fail(-EINVAL, "inproc: queue name too long");
  sage_transport_queue *h = calloc(1, sizeof *h);
  if (h == NULL)
    return fail(-ENOMEM, "inproc: out of memory");
  pthread_mutex_lock(&registry_lock);
  struct inproc *q = find(name);
  if (q != NULL && o.create == CREATE_ALWAYS)
    rc = fail(-EEXIST, "inproc: queue '%s' already exists", name);
  else if (q == NULL && o.create == CREATE_NEVER)
    rc = fail(-ENOENT, "inproc: queue '%s' does not exist", name);
  else if (q == NULL && (q = create(name, &o)) == NULL)
    rc = fail(-ENOMEM, "inproc: out of memory");
  if (rc == 0)
    q->refs++;
  pthread_mutex_unlock(&registry_lock);
  if (rc != 0) {
    free(h);
    return rc;
  }
  h->q = q;
  *out = h;
  return 0;
}

static int full(const struct inproc *q, size_t len) {
  return q->bytes + len > q->capacity ||
         (q->max_items != 0 && q->items >= q->max_items);
}

static int inproc_put(sage_transport_queue *h, const void *data, size_t len,
                      int64_t timeout_ns) {
  struct inproc *q = h->q;
  if (len > q->capacity) /* could never fit: fail now, never block */
    return fail(-EMSGSIZE,
                "inproc: a %zu-byte message can never fit queue '%s' "
                "(capacity %llu bytes)",
                len, q->name, (unsigned long long)q->capacity);
  struct msg *m = malloc(sizeof *m + len);
  if (m == NULL)
    return fail(-ENOMEM, "inproc: out of memory");
  m->next = NULL;
  m->len = len;
  if (len > 0)
    memcpy(m->data, data, len);
  struct timespec deadline = deadline_after(timeout_ns > 0 ? timeout_ns : 0);
  pthread_mutex_lock(&q->lock);
  int waited = 0, rc = 0;
  while (rc == 0 && full(q, len)) {
    if (timeout_ns == 0) {
      rc = EAGAIN;
      break;
    }
    q->counters.blocked_puts += !waited;
    waited = 1;
    q->counters.waiting_writers++;
    rc = wait_on(q, &q->writable, timeout_ns, &deadline);
    q->counters.waiting_writers--;
  }
  if (rc == 0) {
    if (q->tail != NULL)
      q->tail->next = m;
    else
      q->head = m;
    q->tail = m;
    q->items++;
    q->bytes += len;
    q->unfinished++;
    q->counters.total_put++;
    q->counters.bytes_put += len;
    if (q->bytes > q->counters.high_water)
      q->counters.high_water = q->bytes;
    pthread_cond_signal(&q->readable);
  } else if (rc == ETIMEDOUT) {
    q->counters.timeouts++;
  }
  pthread_mutex_unlock(&q->lock);
  if (rc != 0)
    free(m);
  return -rc;
}

static int inproc_get(sage_transport_queue *h, void *buf, size_t cap,
                      size_t *len, int64_t timeout_ns) {
  struct inproc *q = h->q;
  struct timespec deadline = deadline_after(timeout_ns > 0 ? timeout_ns : 0);
  pthread_mutex_lock(&q->lock);
  int waited = 0, rc = 0;
  while (rc == 0 && q->head == NULL) {
    if (timeout_ns == 0) {
      rc = EAGAIN;
      break;
    }
    q->counters.blocked_gets += !waited;
    waited = 1;
    q->counters.waiting_readers++;
    rc = wait_on(q, &q->readable, timeout_ns, &deadline);
    q->counters.waiting_readers--;
  }
  struct msg *m = rc == 0 ? q->head : NULL;
  if (m != NULL && m->len > cap) {
    *len = m->len; /* too big for buf: report its size, leave it queued */
    pthread_mutex_unlock(&q->lock);
    return fail(-EMSGSIZE, "inproc: next message is %zu bytes, buffer %zu",
                m->len, cap);
  }
  if (m != NULL) {
    q->head = m->next;
    if (q->head == NULL)
      q->tail = NULL;
    q->items--;
    q->bytes -= m->len;
    q->counters.total_got++;
    q->counters.bytes_got += m->len;
    pthread_cond_broadcast(&q->writable); /* sizes differ: let all re-check */
  } else if (rc == ETIMEDOUT) {
    q->counters.timeouts++;
  }
  pthread_mutex_unlock(&q->lock);
  if (m == NULL)
    return -rc;
  memcpy(buf, m->data, m->len);
  *len = m->len;
  free(m);
  return 0;
}

static int inproc_stats(sage_transport_queue *h, struct sage_stats *st) {
  struct inproc *q = h->q;
  pthread_mutex_lock(&q->lock);
  struct sage_stats all = q->counters;
  all.capacity = q->capacity;
  all.max_message = q->capacity;
  all.max_items = q->max_items;
  all.bytes_used = q->bytes;
  all.items = q->items;
  all.unfinished = q->unfinished;
  pthread_mutex_unlock(&q->lock);
  pthread_mutex_lock(&registry_lock);
  all.attached = q->refs;
  pthread_mutex_unlock(&registry_lock);
  /* The host's struct may be older (smaller) or newer (larger) than ours:
   * copy the fields both know, after the 8-byte size/reserved header. */
  size_t head = offsetof(struct sage_stats, capacity);
  size_t n = st->size < sizeof all ? st->size : sizeof all;
  if (n > head)
    memcpy((char *)st + head, (char *)&all + head, n - head);
  return 0;
}

static int inproc_close(sage_transport_queue *h) {
  struct inproc *q = h->q;
  pthread_mutex_lock(&registry_lock);
  int last = --q->refs == 0 && q->unlinked;
  pthread_mutex_unlock(&registry_lock);
  if (last)
    free_queue(q);
  free(h);
  return 0;
}

static int inproc_destroy(sage_transport_queue *h) {
  struct inproc *q = h->q;
  pthread_mutex_lock(&registry_lock);
  for (struct inproc **p = &registry; *p != NULL; p = &(*p)->next)
    if (*p == q) {
      *p = q->next;
      break;
    }
  q->unlinked = 1; /* other handles keep working until they close */
  pthread_mutex_unlock(&registry_lock);
  return inproc_close(h);
}

/* ---- optional ops: the host calls them only if present ---- */

static int inproc_depth(sage_transport_queue *h, uint64_t *items,
                        uint64_t *bytes) {
  pthread_mutex_lock(&h->q->lock);
  *items = h->q->items;
  *bytes = h->q->bytes;
  pthread_mutex_unlock(&h->q->lock);
  return 0;
}

static int inproc_task_done(sage_transport_queue *h, uint64_t count) {
  struct inproc *q = h->q;
  pthread_mutex_lock(&q->lock);
  int rc = 0;
  if (count > q->unfinished)
    rc = fail(-EINVAL, "inproc: task_done(%llu) with %llu unfinished",
              (unsigned long long)count, (unsigned long long)q->unfinished);
  else if ((q->unfinished -= count) == 0)
    pthread_cond_broadcast(&q->finished);
  pthread_mutex_unlock(&q->lock);
  return rc;
}

static int inproc_join(sage_transport_queue *h, int64_t timeout_ns) {
  struct inproc *q = h->q;
  struct timespec deadline = deadline_after(timeout_ns > 0 ? timeout_ns : 0);
  pthread_mutex_lock(&q->lock);
  int rc = 0;
  while (rc == 0 && q->unfinished > 0)
    rc = timeout_ns == 0 ? EAGAIN
                         : wait_on(q, &q->finished, timeout_ns, &deadline);
  pthread_mutex_unlock(&q->lock);
  return -rc;
}

/* ---- what the host sees ---- */

static const struct sage_transport_ops ops = {
    .size = sizeof(struct sage_transport_ops), /* as compiled: the host
                                                  checks it per op */
    .open = inproc_open,
    .put = inproc_put,
    .get = inproc_get,
    .stats = inproc_stats,
    .close = inproc_close,
    .destroy = inproc_destroy,
    .depth = inproc_depth,
    .task_done = inproc_task_done,
    .join = inproc_join,
};

static const struct sage_transport_descriptor descriptor = {
    .abi_version = SAGE_TRANSPORT_ABI_VERSION,
    .size = sizeof(struct sage_transport_descriptor),
    .name = "inproc", /* must match the file: sage-inproc.so */
    .version = INPROC_VERSION,
    .description = "in-process queues for threads (plugin template)",
    .capabilities = SAGE_CAP_MPMC | SAGE_CAP_BLOCKING | SAGE_CAP_PERSISTENT |
                    SAGE_CAP_ITEM_BOUND,
    .ops = &ops,
};

/* The one exported symbol. Called once per load, perhaps with host NULL
 * by tools that only read the descriptor. */
SAGE_PLUGIN_EXPORT const struct sage_transport_descriptor *
SAGE_TRANSPORT_ENTRY(const struct sage_host *h) {
  if (h != NULL)
    host = h;
  return &descriptor;
}
