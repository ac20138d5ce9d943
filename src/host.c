/* The host services handed to every plugin's entry function. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Log lines at or below $SAGE_LOG_LEVEL (0 error .. 3 debug, default 1)
 * go to stderr. */
static int log_threshold(void) {
  const char *env = secure_getenv("SAGE_LOG_LEVEL");
  if (env == NULL || *env == '\0')
    return SAGE_LOG_WARN;
  return atoi(env);
}

static void host_log(int level, const char *transport, const char *message) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  if (level > log_threshold())
    return;
  const char *lvl = (level >= 0 && level <= 3) ? names[level] : "log";
  fprintf(stderr, "sage-queue[%s] %s: %s\n",
          transport != NULL ? transport : "?", lvl,
          message != NULL ? message : "");
}

static const struct sage_host host = {
    .abi_version = SAGE_TRANSPORT_ABI_VERSION,
    .size = sizeof(struct sage_host),
    .log = host_log,
    .set_detail = sage__stage_detail,
};

const struct sage_host *sage__host(void) {
  return &host;
}
