/* The step-point hook of test builds (steps.h). A test sets it with
 * sage_shm_set_step_hook() (found with dlsym), or names one point in the
 * environment: SAGE_SHM_STEP=<point>[:kill|stop][:<nth hit>], which
 * SIGKILLs (default) or SIGSTOPs the process at that point. */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sage/transport.h>

#include "steps.h"

static _Atomic(shm_step_fn) hook;
static _Atomic(void *) hook_arg;

SAGE_PLUGIN_EXPORT void sage_shm_set_step_hook(shm_step_fn fn, void *arg) {
  atomic_store(&hook_arg, arg);
  atomic_store(&hook, fn);
}

static struct {
  char point[64];
  int sig;
  long nth;
  _Atomic long hits;
} env_step;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

/* Splits the last ":<field>" off spec (in place); NULL if there is none. */
static char *last_field(char *spec) {
  char *colon = strrchr(spec, ':');
  if (colon == NULL)
    return NULL;
  *colon = '\0';
  return colon + 1;
}

/* Points are named "side:step" themselves, so the optional fields are
 * taken from the right: [:<nth hit>], then [:kill|stop]. */
static void parse_env(void) {
  const char *env = getenv("SAGE_SHM_STEP");
  if (env == NULL)
    return;
  char spec[sizeof env_step.point];
  snprintf(spec, sizeof spec, "%s", env);
  long nth = 1;
  char *field = last_field(spec), *end = NULL;
  if (field != NULL && *field != '\0') {
    long n = strtol(field, &end, 10);
    if (*end == '\0')
      nth = n;
    else
      field[-1] = ':'; /* not a number: part of what comes before */
  }
  env_step.sig = SIGKILL;
  field = last_field(spec);
  if (field != NULL &&
      (strcmp(field, "kill") == 0 || strcmp(field, "stop") == 0))
    env_step.sig = strcmp(field, "stop") == 0 ? SIGSTOP : SIGKILL;
  else if (field != NULL)
    field[-1] = ':';
  snprintf(env_step.point, sizeof env_step.point, "%s", spec);
  env_step.nth = nth > 0 ? nth : 1;
}

void shm_step(const char *point) {
  pthread_once(&env_once, parse_env);
  if (env_step.point[0] != '\0' && strcmp(point, env_step.point) == 0 &&
      atomic_fetch_add(&env_step.hits, 1) + 1 == env_step.nth)
    kill(getpid(), env_step.sig);
  shm_step_fn fn = atomic_load(&hook);
  if (fn != NULL)
    fn(point, atomic_load(&hook_arg));
}

int shm_test_no_proc(void) {
  return getenv("SAGE_SHM_TEST_NO_PROC") != NULL;
}
