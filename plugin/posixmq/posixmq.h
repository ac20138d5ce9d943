/* Internal declarations of the posixmq transport: queues on POSIX message
 * queues (mq_open), kernel-owned, with a small shared-memory page beside
 * each queue for the counters the kernel does not keep. */
#ifndef SAGE_POSIXMQ_H
#define SAGE_POSIXMQ_H

#include <mqueue.h>
#include <pthread.h>
#include <sage/transport.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "handles.h"
#include "host.h"

/* Queue "<name>" of user <uid> is the message queue "/sagemq-<uid>-<name>"
 * (visible as /dev/mqueue/sagemq-<uid>-<name> where the mqueue filesystem
 * is mounted); its counters live in the shared-memory object
 * "/sagemq-<uid>-<name>.stats-<inode>" (/dev/shm), named after the queue's
 * inode so a re-created queue never inherits an old queue's counters. */
#define PMQ_PREFIX "sagemq-"
#define PMQ_PAGE_TAG ".stats-"
#define PMQ_SHM_DIR "/dev/shm"
#define PMQ_PATH_MAX 256
#define PMQ_UID_SELF UINT64_MAX

/* Message priorities: every put uses PMQ_PRIO_NORMAL; a message handed back
 * to the queue by a closing handle (see io.c) uses PMQ_PRIO_RETURNED so it
 * is delivered before everything put after it. */
#define PMQ_PRIO_NORMAL 0u
#define PMQ_PRIO_RETURNED 1u

/* The kernel's limits, from /proc/sys/fs/mqueue. */
struct pmq_limits {
  uint64_t msg_max, msgsize_max, msg_default, msgsize_default, queues_max;
};

/* Open-time options (transport.c parses them; 0 means "not given" for
 * capacity, max_items and msgsize). */
struct pmq_options {
  uint64_t capacity, max_items, msgsize, mode, create, uid, auto_cleanup;
};
enum { PMQ_CREATE_AUTO = 0, PMQ_CREATE_ALWAYS = 1, PMQ_CREATE_NEVER = 2 };

/* The shared counters. A zero-filled page is a valid initial state, so
 * openers never wait for one another. Only counters live here: nothing in
 * the page is a size, offset or pointer, so a corrupt page can only make
 * the numbers wrong. */
#define PMQ_PAGE_MAGIC 0x31514d5045474153ull /* "SAGEPMQ1" */
#define PMQ_PAGE_SIZE 4096
struct pmq_page {
  _Atomic uint64_t magic;
  _Atomic uint64_t created_ns, creator_pid;
  _Atomic uint64_t total_put, total_got, bytes_put, bytes_got;
  _Atomic uint64_t blocked_puts, blocked_gets, timeouts, abandoned;
  /* Task accounting: a put counts in tasks_started before its message is
   * sent (and is taken back if the send fails), so a consumer can never
   * finish a task the page has not seen start. */
  _Atomic uint64_t tasks_started, tasks_done;
  _Atomic uint32_t task_event; /* futex word: bumped when work finishes */
  _Atomic uint32_t task_waiters;
};

/* A message a get took from the kernel queue but could not hand over (the
 * caller's buffer was too small). POSIX queues cannot put a message back
 * at the head, so the handle keeps it for its next get. */
struct pmq_held {
  struct pmq_held *next;
  size_t len;
  unsigned char data[];
};

struct sage_transport_queue {
  mqd_t mqd;
  struct pmq_page *page;
  size_t msgsize; /* mq_msgsize: the largest message */
  size_t maxmsg;  /* mq_maxmsg: the item bound */
  uint64_t ino;   /* the queue's inode, names its page */
  uint32_t uid;   /* whose namespace the name is in */
  pthread_mutex_t held_lock;
  struct pmq_held *held_head, *held_tail;
  size_t held_count;
  char name[PMQ_PATH_MAX];      /* queue name as the user gave it */
  char mq_name[PMQ_PATH_MAX];   /* "/sagemq-<uid>-<name>" */
  char page_name[PMQ_PATH_MAX]; /* "/sagemq-<uid>-<name>.stats-<ino>" */
  struct sage_handle_link link; /* in the plugin's open-handle list */
};
typedef struct sage_transport_queue pmq_queue;

/* ---- transport.c ---- */

/* ---- limits.c: kernel limits and queue geometry ---- */
/* Reads /proc/sys/fs/mqueue; falls back to the Linux defaults (10 messages
 * of 8192 bytes) for any file it cannot read. */
void pmq_limits_read(struct pmq_limits *l);
/* Turns capacity/max_items/msgsize into mq_maxmsg/mq_msgsize within the
 * limits. Returns 0, or -EINVAL with the limit named in `why`. Pure. */
int pmq_geometry(const struct pmq_options *o, const struct pmq_limits *l,
                 size_t *maxmsg, size_t *msgsize, char *why, size_t cap);
/* Explains an mq_open failure, naming the limit behind it; returns the
 * negative code to report. */
int pmq_open_error(const char *name, int err, const struct pmq_limits *l);

/* ---- names.c: naming, listing and removing queues ---- */
int pmq_mq_name(const char *name, uint32_t uid, char *out, size_t cap);
int pmq_page_name(const char *name, uint32_t uid, uint64_t ino, char *out,
                  size_t cap);
uint32_t pmq_uid(uint64_t opt_uid);
int pmq_list(int all_users, sage_list_cb cb, void *ctx);
int pmq_unlink_name(const char *name, uint32_t uid);

/* ---- page.c: the shared counter page ---- */
/* Opens (creating if missing, with `mode`) and maps q's page; removes pages
 * left behind by earlier queues of the same name when `fresh`. */
int pmq_page_open(pmq_queue *q, unsigned mode, int fresh);
void pmq_page_close(pmq_queue *q);
void pmq_page_unlink_stale(const char *name, uint32_t uid, uint64_t keep_ino);

/* ---- io.c: put/get, deadlines, held messages ---- */
int pmq_put(pmq_queue *q, const void *data, size_t len, int64_t timeout_ns);
int pmq_get(pmq_queue *q, void *buf, size_t cap, size_t *len,
            int64_t timeout_ns);
/* Hands held messages back to the kernel queue (at close). */
void pmq_return_held(pmq_queue *q);
int64_t pmq_now_ns(void);

/* ---- tasks.c ---- */
int pmq_task_done(pmq_queue *q, uint64_t count);
int pmq_join(pmq_queue *q, int64_t timeout_ns);
void pmq_task_wake(pmq_queue *q);
uint64_t pmq_unfinished(pmq_queue *q);

/* ---- stats.c ---- */
int pmq_stats(pmq_queue *q, struct sage_stats *st);
int pmq_depth(pmq_queue *q, uint64_t *items, uint64_t *bytes);

#endif /* SAGE_POSIXMQ_H */
