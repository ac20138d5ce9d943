/* What the conformance checks share: failing and skipping with a reason,
 * opening and tracking queues, time. Internal to libsage_conformance; each
 * check_*.c file holds the checks of one part of sage/transport.h. */
#ifndef SAGE_CONFORMANCE_CHECK_H
#define SAGE_CONFORMANCE_CHECK_H

#include <sage/queue.h>
#include <stddef.h>
#include <stdint.h>

#include "conformance.h"

#define CAPACITY 65536
#define MS 1000000ll

/* Sets c->why (with sage_last_error() appended) and returns CONF_FAIL. */
enum conf_result conf_fail(struct conf_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Notes the error detail before a check runs (see conf_fail). */
void conf_detail_mark(const char *transport);
/* Sets c->why and returns CONF_SKIP. */
enum conf_result conf_skip(struct conf_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define CHECK(ctx, cond, ...)                                                  \
  do {                                                                         \
    if (!(cond))                                                               \
      return conf_fail(ctx, __VA_ARGS__);                                      \
  } while (0)

int64_t conf_now_ns(void);
void conf_sleep_ms(int ms);
/* "conf-<pid>-<tag>-<n>", unique in this process. */
void conf_unique_name(char *buf, size_t cap, const char *tag);

/* Handles a check has open are destroyed after it (see conf_ctx.open). */
void conf_track(struct conf_ctx *c, sage_queue *q);
int conf_close(struct conf_ctx *c, sage_queue *q);
int conf_destroy(struct conf_ctx *c, sage_queue *q);
/* Opens an existing queue (create=never), tracked. */
int conf_reopen(struct conf_ctx *c, const char *name, sage_queue **q);
/* Opens `name` with `options`, tracked on success. */
int conf_open(struct conf_ctx *c, const char *name, const char *const *options,
              sage_queue **q);
/* Creates a fresh queue (create=always); capacity, max_items 0: default. */
int conf_open_fresh(struct conf_ctx *c, const char *tag, size_t capacity,
                    size_t max_items, sage_queue **q, char *name,
                    size_t name_cap);
struct sage_stats conf_stats(sage_queue *q);

#define OPEN(c, tag, capacity, items, q, name)                                 \
  do {                                                                         \
    int rc_ = conf_open_fresh(c, tag, capacity, items, q, name, sizeof name);  \
    CHECK(c, rc_ == 0, "open %s: %s", tag, sage_strerror(rc_));                \
  } while (0)

/* Whether the last error detail contains `text`. */
int conf_detail_has(const char *text);

#define CONF_CHECK(fn) enum conf_result fn(struct conf_ctx *c)

/* check_admin.c: naming, listing, removing and attaching. */
CONF_CHECK(conf_check_create_options);
CONF_CHECK(conf_check_refused_options);
CONF_CHECK(conf_check_list);
CONF_CHECK(conf_check_unlink);
CONF_CHECK(conf_check_depth);
CONF_CHECK(conf_check_attachments);
CONF_CHECK(conf_check_observe);

/* check_rules.c: error details, sizes and the stats counting rules. */
CONF_CHECK(conf_check_error_detail);
CONF_CHECK(conf_check_max_message);
CONF_CHECK(conf_check_stats_fields);
CONF_CHECK(conf_check_stats_counting);
CONF_CHECK(conf_check_wait_flags);

/* check_process.c: signals, fork and other processes. */
CONF_CHECK(conf_check_eintr);
CONF_CHECK(conf_check_fork);
CONF_CHECK(conf_check_cross_process);

#endif
