/* Error codes to text, and the per-thread detail message. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define DETAIL_MAX 1024

static _Thread_local char detail[DETAIL_MAX];

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
  return detail;
}

void sage__set_detail(const char *text) {
  snprintf(detail, sizeof detail, "%s", text != NULL ? text : "");
}

void sage__clear_detail(void) {
  detail[0] = '\0';
}

int sage__fail(int code, const char *fmt, ...) {
  char text[DETAIL_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  memcpy(detail, text, sizeof detail);
  return code;
}
