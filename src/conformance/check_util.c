/* Helpers every conformance check uses (check.h). */
#include "config.h"

#include "check.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The error detail when the running check began: a failure quotes the
 * detail only if a call of this check set it. */
static _Thread_local char detail_before[512];

void conf_detail_mark(const char *transport) {
  sage_queue *q;
  /* Sets a detail of its own (an invalid name fails in the host), so that
   * one left by the previous check is not taken for this one's. */
  if (sage_queue_open(transport, "", NULL, &q) == 0)
    sage_queue_close(q);
  snprintf(detail_before, sizeof detail_before, "%s", sage_last_error());
}

enum conf_result conf_fail(struct conf_ctx *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(c->why, sizeof c->why, fmt, ap);
  va_end(ap);
  const char *detail = sage_last_error();
  if (n > 0 && (size_t)n < sizeof c->why && detail[0] != '\0' &&
      strncmp(detail, detail_before, sizeof detail_before - 1) != 0)
    snprintf(c->why + n, sizeof c->why - (size_t)n, " [last error detail: %s]",
             detail);
  return CONF_FAIL;
}

enum conf_result conf_skip(struct conf_ctx *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->why, sizeof c->why, fmt, ap);
  va_end(ap);
  return CONF_SKIP;
}

int64_t conf_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void conf_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * MS};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

void conf_unique_name(char *buf, size_t cap, const char *tag) {
  static _Atomic unsigned counter;
  snprintf(buf, cap, "conf-%d-%s-%u", (int)getpid(), tag,
           atomic_fetch_add(&counter, 1));
}

void conf_track(struct conf_ctx *c, sage_queue *q) {
  for (int i = 0; i < CONF_MAX_HANDLES; i++)
    if (c->open[i] == NULL) {
      c->open[i] = q;
      return;
    }
}

static void untrack(struct conf_ctx *c, sage_queue *q) {
  for (int i = 0; i < CONF_MAX_HANDLES; i++)
    if (c->open[i] == q)
      c->open[i] = NULL;
}

int conf_close(struct conf_ctx *c, sage_queue *q) {
  untrack(c, q);
  return sage_queue_close(q);
}

int conf_destroy(struct conf_ctx *c, sage_queue *q) {
  untrack(c, q);
  return sage_queue_destroy(q);
}

int conf_open(struct conf_ctx *c, const char *name, const char *const *options,
              sage_queue **q) {
  int rc = sage_queue_open(c->transport, name, options, q);
  if (rc == 0)
    conf_track(c, *q);
  return rc;
}

int conf_reopen(struct conf_ctx *c, const char *name, sage_queue **q) {
  const char *opts[] = {"create", "never", NULL};
  return conf_open(c, name, opts, q);
}

int conf_open_fresh(struct conf_ctx *c, const char *tag, size_t capacity,
                    size_t max_items, sage_queue **q, char *name,
                    size_t name_cap) {
  char cap_s[32], items_s[32];
  const char *opts[8];
  size_t n = 0;
  opts[n++] = "create";
  opts[n++] = "always";
  if (capacity) {
    snprintf(cap_s, sizeof cap_s, "%zu", capacity);
    opts[n++] = "capacity";
    opts[n++] = cap_s;
  }
  if (max_items) {
    snprintf(items_s, sizeof items_s, "%zu", max_items);
    opts[n++] = "max_items";
    opts[n++] = items_s;
  }
  opts[n] = NULL;
  conf_unique_name(name, name_cap, tag);
  return conf_open(c, name, opts, q);
}

struct sage_stats conf_stats(sage_queue *q) {
  struct sage_stats st = {.size = sizeof st};
  sage_queue_stats(q, &st);
  return st;
}

int conf_detail_has(const char *text) {
  return strstr(sage_last_error(), text) != NULL;
}
