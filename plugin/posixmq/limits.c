/* The kernel's message-queue limits and how the standard open options map
 * onto them. A POSIX queue has two knobs, mq_maxmsg (how many messages)
 * and mq_msgsize (how large each may be); `capacity` bounds their product,
 * `max_items` sets the first and `msgsize` the second. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "posixmq.h"

#define MQ_SYSCTL_DIR "/proc/sys/fs/mqueue/"
/* Used for a limit that cannot be read (Linux's compiled-in defaults). */
#define FALLBACK_MSG 10
#define FALLBACK_MSGSIZE 8192
#define FALLBACK_QUEUES 256
/* capacity alone buys slots first: as many as msg_max allows, each at least
 * this many bytes; the message size is what capacity leaves per slot. */
#define MIN_SLOT_BYTES 128

static uint64_t read_limit(const char *file, uint64_t fallback) {
  char path[128];
  snprintf(path, sizeof path, MQ_SYSCTL_DIR "%s", file);
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return fallback;
  unsigned long long v = 0;
  int ok = fscanf(f, "%llu", &v) == 1 && v > 0;
  fclose(f);
  return ok ? (uint64_t)v : fallback;
}

void pmq_limits_read(struct pmq_limits *l) {
  l->msg_max = read_limit("msg_max", FALLBACK_MSG);
  l->msgsize_max = read_limit("msgsize_max", FALLBACK_MSGSIZE);
  l->msg_default = read_limit("msg_default", FALLBACK_MSG);
  l->msgsize_default = read_limit("msgsize_default", FALLBACK_MSGSIZE);
  l->queues_max = read_limit("queues_max", FALLBACK_QUEUES);
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
  return a < b ? a : b;
}

static uint64_t at_least_1(uint64_t v) {
  return v > 0 ? v : 1;
}

static int check_limits(const struct pmq_options *o, const struct pmq_limits *l,
                        char *why, size_t cap) {
  if (o->max_items > l->msg_max) {
    snprintf(why, cap,
             "max_items %llu exceeds this system's POSIX message queue limit "
             "of %llu messages (" MQ_SYSCTL_DIR "msg_max)",
             (unsigned long long)o->max_items, (unsigned long long)l->msg_max);
    return -EINVAL;
  }
  if (o->msgsize > l->msgsize_max) {
    snprintf(why, cap,
             "msgsize %llu bytes exceeds this system's POSIX message queue "
             "limit of %llu bytes per message (" MQ_SYSCTL_DIR "msgsize_max)",
             (unsigned long long)o->msgsize,
             (unsigned long long)l->msgsize_max);
    return -EINVAL;
  }
  uint64_t most = l->msg_max * l->msgsize_max;
  if (o->capacity > most) {
    snprintf(why, cap,
             "capacity %llu bytes exceeds what one POSIX message queue can "
             "hold here: msg_max %llu x msgsize_max %llu = %llu bytes "
             "(" MQ_SYSCTL_DIR ")",
             (unsigned long long)o->capacity, (unsigned long long)l->msg_max,
             (unsigned long long)l->msgsize_max, (unsigned long long)most);
    return -EINVAL;
  }
  return 0;
}

/* Message count when max_items is not given. */
static uint64_t derive_count(const struct pmq_options *o,
                             const struct pmq_limits *l) {
  if (o->capacity == 0)
    return min_u64(l->msg_default, l->msg_max);
  uint64_t slot = o->msgsize ? o->msgsize : MIN_SLOT_BYTES;
  return min_u64(l->msg_max, at_least_1(o->capacity / slot));
}

/* Message size when msgsize is not given. */
static uint64_t derive_size(const struct pmq_options *o,
                            const struct pmq_limits *l, uint64_t count) {
  if (o->capacity == 0)
    return min_u64(l->msgsize_default, l->msgsize_max);
  return min_u64(l->msgsize_max, at_least_1(o->capacity / count));
}

int pmq_geometry(const struct pmq_options *o, const struct pmq_limits *l,
                 size_t *maxmsg, size_t *msgsize, char *why, size_t cap) {
  int rc = check_limits(o, l, why, cap);
  if (rc != 0)
    return rc;
  uint64_t count = o->max_items ? o->max_items : derive_count(o, l);
  uint64_t size = o->msgsize ? o->msgsize : derive_size(o, l, count);
  if (o->capacity && o->msgsize && count * size > o->capacity) {
    snprintf(why, cap,
             "%llu messages of msgsize %llu bytes need %llu bytes, more than "
             "capacity %llu",
             (unsigned long long)count, (unsigned long long)size,
             (unsigned long long)(count * size),
             (unsigned long long)o->capacity);
    return -EINVAL;
  }
  *maxmsg = (size_t)count;
  *msgsize = (size_t)size;
  return 0;
}

int pmq_open_error(const char *name, int err, const struct pmq_limits *l) {
  switch (err) {
  case ENOENT:
    return sage_plugin_fail(-ENOENT, "posixmq: queue '%s' does not exist",
                            name);
  case EEXIST:
    return sage_plugin_fail(-EEXIST, "posixmq: queue '%s' already exists",
                            name);
  case EACCES:
  case EPERM:
    return sage_plugin_fail(-EACCES, "posixmq: queue '%s': permission denied",
                            name);
  case ENOSPC:
    return sage_plugin_fail(
        -ENOSPC,
        "posixmq: queue '%s': the system-wide limit of %llu "
        "message queues is reached (" MQ_SYSCTL_DIR "queues_max)",
        name, (unsigned long long)l->queues_max);
  case EMFILE:
    return sage_plugin_fail(
        -EMFILE,
        "posixmq: queue '%s': out of descriptors, or this user's "
        "message queue bytes (RLIMIT_MSGQUEUE, ulimit -q) are "
        "used up by other queues",
        name);
  case ENFILE:
    return sage_plugin_fail(
        -ENFILE, "posixmq: queue '%s': system file table full", name);
  case ENOMEM:
    return sage_plugin_fail(-ENOMEM, "posixmq: queue '%s': out of memory",
                            name);
  case EINVAL:
    return sage_plugin_fail(
        -EINVAL,
        "posixmq: queue '%s': the kernel refused its size (limits "
        "msg_max %llu, msgsize_max %llu)",
        name, (unsigned long long)l->msg_max,
        (unsigned long long)l->msgsize_max);
  default:
    return sage_plugin_fail(-err, "posixmq: queue '%s': mq_open: %s", name,
                            strerror(err));
  }
}
