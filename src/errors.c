/* Error codes to text, and the per-thread detail message. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define DETAIL_MAX SAGE__DETAIL_MAX

/* The calling thread's detail. A failing queue op only records what failed
 * (cheap: -EAGAIN from a polling loop is a normal result); the text is
 * formatted when someone asks for it. */
struct pending_detail {
  int code;
  const char *op;  /* a string literal */
  uint64_t serial; /* handle the names below were copied from; 0: none */
  char queue[136];
  char transport[72];
};

static _Thread_local struct {
  char text[DETAIL_MAX];
  int has_pending;
  int has_staged;          /* a plugin set `staged` in the current call */
  int last_put;            /* sage_last_put_result() */
  char staged[DETAIL_MAX]; /* see sage__stage_detail */
  struct pending_detail pending;
} tls;

#define detail tls.text

static const char *registry_strerror(int code) {
  switch (code) {
#define SAGE_XX(name, value, msg)                                              \
  case value:                                                                  \
    return msg;
    SAGE_REGISTRY_ERRNO_MAP(SAGE_XX)
#undef SAGE_XX
  default:
    return NULL;
  }
}

SAGE_API const char *sage_strerror(int code) {
  if (code == 0)
    return "success";
  const char *text = registry_strerror(code);
  if (text != NULL)
    return text;
  if (code < 0 && code > -4096) {
    /* strerror() may use a shared buffer; strerrordesc_np never does. */
    text = strerrordesc_np(-code);
    if (text != NULL)
      return text;
  }
  return "unknown error";
}

SAGE_API const char *sage_last_error(void) {
  if (tls.has_pending) {
    struct pending_detail *p = &tls.pending;
    tls.has_pending = 0;
    snprintf(detail, sizeof detail, "%s on queue '%s' (transport %s): %s",
             p->op, p->queue, p->transport, sage_strerror(p->code));
  }
  return detail;
}

void sage__set_detail(const char *text) {
  tls.has_pending = 0;
  snprintf(detail, sizeof detail, "%s", text != NULL ? text : "");
}

void sage__stage_detail(const char *text) {
  snprintf(tls.staged, sizeof tls.staged, "%s", text != NULL ? text : "");
  tls.has_staged = 1;
}

void sage__plugin_call_begin(void) {
  tls.has_staged = 0;
}

void sage__put_begin(void) {
  tls.last_put = 1;
}

int sage__put_end(int rc) {
  tls.last_put = rc;
  return rc;
}

SAGE_API int sage_last_put_result(void) {
  return tls.last_put;
}

int sage__detail_commit(void) {
  if (!tls.has_staged)
    return 0;
  tls.has_staged = 0;
  sage__set_detail(tls.staged);
  return 1;
}

static void copy_text(char *dst, size_t cap, const char *src) {
  size_t n = strnlen(src, cap - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

int sage__fail_lazy(int code, const char *op, uint64_t serial,
                    const char *queue, const char *transport) {
  struct pending_detail *p = &tls.pending;
  p->code = code;
  p->op = op;
  if (p->serial != serial) {
    copy_text(p->queue, sizeof p->queue, queue);
    copy_text(p->transport, sizeof p->transport, transport);
    p->serial = serial;
  }
  tls.has_pending = 1;
  return code;
}

int sage__fail(int code, const char *fmt, ...) {
  char text[DETAIL_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  memcpy(detail, text, sizeof detail);
  tls.has_pending = 0;
  return code;
}
