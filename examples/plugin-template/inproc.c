/* inproc: the shortest correct SAGE Queue transport, kept as the template
 * for yours (README.md; every rule it follows is in sage-transport(7)).
 * Named queues in this process's memory, shared by its threads: no other
 * process sees them (no SAGE_CAP_CROSS_PROCESS), a fork()ed child starts
 * with none. One lock guards all; waits sleep on a futex, so a signal
 * handler ends them with -EINTR. A handle is simply its queue. */
#define _GNU_SOURCE /* syscall() */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sage/transport.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000LL
typedef struct sage_transport_queue queue;
struct msg {
  struct msg *next;
  size_t len;
  unsigned char data[];
};
struct sage_transport_queue { /* every field under `lock` */
  queue *next;                /* the registry: a list of named queues */
  char name[129];
  int destroyed;            /* unnamed: freed when its last handle closes */
  uint32_t seq;             /* futex word: bumped by every put and get */
  struct msg *head, **tail; /* FIFO; tail: where the next put links in */
  struct sage_stats st;     /* as stats() reports it; attached: handles */
};
static const struct sage_host *host;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static queue *registry;

/* Errors but -EAGAIN, -ETIMEDOUT and -EINTR say what is wrong, in a line. */
static int fail(int err, const char *name, const char *fmt, ...) {
  char what[200], line[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(line, sizeof line, "inproc: queue '%s': %s", name, what);
  if (host) /* NULL for tools that only read the descriptor */
    host->set_detail(line);
  return err;
}

/* Sizes: "4096", "64K", "1MiB" (powers of 1024). */
static int parse_size(const char *s, uint64_t *out) {
  char *end;
  errno = 0; /* ERANGE: too large */
  unsigned long long v = strtoull(s, &end, 10);
  const char *u = *end ? strchr("KMG", *end) : NULL;
  int shift = u ? 10 * (int)(u - "KMG" + 1) : 0;
  end += u ? (strcmp(end + 1, "iB") == 0 ? 3 : 1) : 0;
  *out = (uint64_t)v << shift;
  return *s >= '0' && *s <= '9' && !*end && !errno && v <= UINT64_MAX >> shift;
}

/* Waits (lock held) until a put of len bytes fits (put) or a message is
 * there (get), counting as sage_stats says. The futex sleep has a deadline
 * ("forever": 146 years), so the kernel never restarts it after a signal
 * handler: it fails with EINTR. */
static int wait_for(queue *q, int put, size_t len, int64_t timeout) {
  struct timespec end; /* FUTEX_WAIT_BITSET: absolute, on CLOCK_MONOTONIC */
  clock_gettime(CLOCK_MONOTONIC, &end);
  int64_t ns = end.tv_nsec + (timeout >> 62 ? (int64_t)1 << 62 : timeout);
  end = (struct timespec){end.tv_sec + ns / NS, ns % NS};
  uint64_t *waiting = put ? &q->st.waiting_writers : &q->st.waiting_readers;
  for (int slept = 0; put ? len > q->st.capacity - q->st.bytes_used : !q->head;
       slept = 1) {
    if (timeout == 0)
      return -EAGAIN;
    *(put ? &q->st.blocked_puts : &q->st.blocked_gets) += !slept;
    uint32_t seen = q->seq;
    ++*waiting;
    pthread_mutex_unlock(&lock);
    long rc = syscall(SYS_futex, &q->seq, FUTEX_WAIT_BITSET_PRIVATE, seen, &end,
                      NULL, FUTEX_BITSET_MATCH_ANY);
    int err = rc == 0 ? 0 : errno; /* EAGAIN: seq moved on; retry */
    pthread_mutex_lock(&lock);
    --*waiting;
    if (err == EINTR || err == ETIMEDOUT)
      return err == EINTR ? -EINTR : (q->st.timeouts++, -ETIMEDOUT);
  }
  return 0;
}

static void wake(queue *q) { /* lock held: after a put or get */
  q->seq++;
  if (q->st.waiting_readers + q->st.waiting_writers > 0)
    syscall(SYS_futex, &q->seq, FUTEX_WAKE_PRIVATE, 1 << 30, NULL, NULL, 0);
}

static int inproc_open(const char *name, const char *const *kv, queue **out) {
  const char *create = SAGE_CREATE_AUTO;
  uint64_t capacity = 1 << 20;
  for (; kv && kv[0]; kv += 2) { /* the host passes whole pairs */
    const char *k = kv[0], *v = kv[1];
    int bad = 0;
    if (!strcmp(k, SAGE_OPTION_CREATE))
      bad = strcmp(create = v, SAGE_CREATE_AUTO) &&
            strcmp(v, SAGE_CREATE_NEVER) && strcmp(v, SAGE_CREATE_ALWAYS);
    else if (!strcmp(k, SAGE_OPTION_CAPACITY))
      bad = !parse_size(v, &capacity) || capacity == 0;
    else if (strncmp(k, "x-", 2)) /* x-: others' hints, ignored */
      return fail(-EINVAL, name, "option '%s' is not supported", k);
    if (bad)
      return fail(-EINVAL, name, "option '%s': bad value '%s'", k, v);
  }
  int rc = 0;
  pthread_mutex_lock(&lock);
  queue **p = &registry, *q;
  while ((q = *p) && strcmp(q->name, name))
    p = &q->next; /* ends at q or, when there is none, the list's end */
  if (q && !strcmp(create, SAGE_CREATE_ALWAYS))
    rc = fail(-EEXIST, name, "it exists (create=always)");
  else if (!q && !strcmp(create, SAGE_CREATE_NEVER))
    rc = fail(-ENOENT, name, "there is none (create=never)");
  else if (!q && !(q = *p = calloc(1, sizeof *q)))
    rc = fail(-ENOMEM, name, "no memory");
  else if (!q->tail) {     /* new: calloc left it all 0 */
    strcpy(q->name, name); /* the host checked it: at most 128 bytes */
    q->tail = &q->head;
    q->st.capacity = q->st.max_message = capacity;
  }
  if (rc == 0)
    q->st.attached++, *out = q;
  pthread_mutex_unlock(&lock);
  return rc;
}

static int inproc_put(queue *q, const void *data, size_t len, int64_t tmo) {
  if (len > q->st.max_message) /* can never fit: fail at once */
    return fail(-EMSGSIZE, q->name, "%zu bytes > max_message %llu", len,
                (unsigned long long)q->st.max_message);
  struct msg *m = malloc(sizeof *m + len);
  if (!m)
    return fail(-ENOMEM, q->name, "no memory for %zu bytes", len);
  *m = (struct msg){NULL, len};
  if (len > 0) /* data may be NULL then */
    memcpy(m->data, data, len);
  pthread_mutex_lock(&lock);
  int rc = wait_for(q, 1, len, tmo);
  if (rc == 0) {
    *q->tail = m, q->tail = &m->next;
    q->st.items++, q->st.total_put++, q->st.bytes_put += len;
    if ((q->st.bytes_used += len) > q->st.high_water)
      q->st.high_water = q->st.bytes_used;
    wake(q);
  }
  pthread_mutex_unlock(&lock);
  if (rc)
    free(m);
  return rc;
}

static int inproc_get(queue *q, void *buf, size_t cap, size_t *len,
                      int64_t tmo) {
  pthread_mutex_lock(&lock);
  int rc = wait_for(q, 0, 0, tmo);
  struct msg *m = rc ? NULL : q->head;
  if (m && (*len = m->len) > cap) { /* say how big; it stays queued */
    rc = fail(-EMSGSIZE, q->name, "next message %zu bytes > %zu", m->len, cap);
    m = NULL;
  } else if (m) {
    if (!(q->head = m->next))
      q->tail = &q->head;
    q->st.items--, q->st.total_got++, q->st.bytes_got += m->len;
    q->st.bytes_used -= m->len;
    wake(q);
  }
  pthread_mutex_unlock(&lock);
  if (m && m->len > 0) /* buf may be NULL for 0 bytes */
    memcpy(buf, m->data, m->len);
  free(m);
  return rc;
}

static int inproc_stats(queue *q, struct sage_stats *st) {
  uint32_t size = st->size; /* the host's: never overwritten */
  pthread_mutex_lock(&lock);
  *st = q->st; /* the host's struct is at least as large as ours */
  pthread_mutex_unlock(&lock);
  st->size = size;
  return 0;
}

static int inproc_close(queue *q) { /* messages stay for the next open */
  pthread_mutex_lock(&lock);
  int last = --q->st.attached == 0 && q->destroyed;
  pthread_mutex_unlock(&lock);
  for (struct msg *m = last ? q->head : NULL, *next; m; m = next)
    next = m->next, free(m);
  if (last) /* destroyed, no handle left: nobody can reach it */
    free(q);
  return 0;
}

static int inproc_destroy(queue *q) { /* other handles keep working */
  pthread_mutex_lock(&lock);
  queue **p = &registry;
  while (*p && *p != q)
    p = &(*p)->next;
  if (*p) /* else another handle destroyed it already */
    *p = q->next, q->destroyed = 1;
  pthread_mutex_unlock(&lock);
  return inproc_close(q);
}

/* The table as compiled (its size tells the host which ops it has). */
static const struct sage_transport_ops ops = {.size = sizeof ops,
                                              .open = inproc_open,
                                              .put = inproc_put,
                                              .get = inproc_get,
                                              .stats = inproc_stats,
                                              .close = inproc_close,
                                              .destroy = inproc_destroy};

static const struct sage_transport_descriptor descriptor = {
    .abi_version = SAGE_TRANSPORT_ABI_VERSION,
    .size = sizeof descriptor,
    .name = "inproc",
    .version = "0.1.0", /* name: the file's, sage-inproc.so */
    .description = "in-process queues for threads (plugin template)",
    .capabilities = SAGE_CAP_MPMC | SAGE_CAP_BLOCKING | SAGE_CAP_PERSISTENT,
    .ops = &ops,
};

/* fork(): the lock is never inherited held, and the child has no queues. */
static void fork_prepare(void) {
  pthread_mutex_lock(&lock);
}
static void fork_parent(void) {
  pthread_mutex_unlock(&lock);
}
static void fork_child(void) {
  registry = NULL;
  pthread_mutex_unlock(&lock);
}
__attribute__((constructor)) static void at_load(void) {
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* The one exported symbol. host is NULL for tools that only read. */
SAGE_PLUGIN_EXPORT const struct sage_transport_descriptor *
SAGE_TRANSPORT_ENTRY(const struct sage_host *h) {
  if (h)
    host = h;
  return &descriptor;
}
