/* The open-handle registry behind each plugin's fork handling. */
#include "config.h"

#include "handles.h"

#include <pthread.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct sage_handle_link *head;
static const struct sage_fork_hooks *hooks;

static void run(void (*fn)(struct sage_handle_link *)) {
  if (fn == NULL)
    return;
  for (struct sage_handle_link *l = head; l != NULL; l = l->next)
    fn(l);
}

static void before_fork(void) {
  pthread_mutex_lock(&lock);
  run(hooks->prepare);
}

static void after_fork_parent(void) {
  run(hooks->parent);
  pthread_mutex_unlock(&lock);
}

static void after_fork_child(void) {
  run(hooks->child);
  pthread_mutex_unlock(&lock);
}

static void install(void) {
  pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

void sage_handles_track(struct sage_handle_link *link,
                        const struct sage_fork_hooks *h) {
  pthread_once(&once, install); /* before the handle can need it */
  pthread_mutex_lock(&lock);
  hooks = h;
  link->next = head;
  head = link;
  pthread_mutex_unlock(&lock);
}

void sage_handles_untrack(struct sage_handle_link *link) {
  pthread_mutex_lock(&lock);
  for (struct sage_handle_link **p = &head; *p != NULL; p = &(*p)->next)
    if (*p == link) {
      *p = link->next;
      break;
    }
  pthread_mutex_unlock(&lock);
}

void sage_handles_lock(void) {
  pthread_mutex_lock(&lock);
}

void sage_handles_unlock(void) {
  pthread_mutex_unlock(&lock);
}
