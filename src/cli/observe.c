/* Looking at queues from the outside: listing them and reading a queue's
 * stats and attachments through an observe-only handle (attach=0), so the
 * command never counts as an attachment itself. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void remember_error(struct queue_view *v, int rc) {
  const char *detail = sage_last_error();
  v->rc = rc;
  snprintf(v->error, sizeof v->error, "%s",
           detail[0] != '\0' ? detail : sage_strerror(rc));
}

int queue_open_observer(const char *transport, const char *name, uint32_t uid,
                        sage_queue **q, int *observing) {
  char uid_text[16];
  snprintf(uid_text, sizeof uid_text, "%u", uid);
  int64_t caps = sage_transport_capabilities(sage_transport_choose(transport));
  *observing = caps > 0 && (caps & SAGE_CAP_OBSERVE);
  /* Only name another user's queue explicitly: a transport without user
   * namespaces need not know the "uid" option. */
  int own = uid == (uint32_t)geteuid();
  const char *options[] = {*observing ? SAGE_OPTION_ATTACH : SAGE_OPTION_CREATE,
                           *observing ? "0" : SAGE_CREATE_NEVER,
                           own ? NULL : SAGE_OPTION_UID, uid_text, NULL};
  return sage_queue_open(transport, name, options, q);
}

void queue_observe_note(const char *transport, char *buf, size_t cap) {
  snprintf(buf, cap,
           "transport %s has no observe mode: the queue was read through an "
           "ordinary handle, and the transport cannot say who has it open",
           sage_transport_choose(transport));
}

int queue_observe(const char *transport, const char *name, uint32_t uid,
                  struct queue_view *v) {
  *v = (struct queue_view){.transport = sage_transport_choose(transport),
                           .owner_uid = uid};
  snprintf(v->name, sizeof v->name, "%s", name);
  sage_queue *q;
  int rc = queue_open_observer(transport, name, uid, &q, &v->observing);
  if (rc != 0) {
    remember_error(v, rc);
    return rc;
  }
  v->st.size = sizeof v->st;
  rc = sage_queue_stats(q, &v->st);
  if (rc == 0) {
    v->owner_uid = (uint32_t)v->st.owner_uid;
    rc = sage_queue_attachments(q, v->pids, sizeof v->pids / sizeof v->pids[0]);
    v->pids_known = rc >= 0;
    /* A transport that cannot name its attachments still counts them. */
    v->npids = rc >= 0 ? rc : (int)v->st.attached;
    rc = rc == -ENOTSUP ? 0 : rc;
  }
  if (rc < 0)
    remember_error(v, rc);
  sage_queue_close(q);
  return v->rc;
}

enum queue_state queue_stats_state(const struct sage_stats *st) {
  if (st->attached > 0)
    return QUEUE_LIVE;
  return st->stale_attached > 0 ? QUEUE_STALE : QUEUE_IDLE;
}

enum queue_state queue_state_of(const struct queue_view *v) {
  if (v->rc == -EBADMSG)
    return QUEUE_CORRUPT;
  return v->rc != 0 ? QUEUE_UNREADABLE : queue_stats_state(&v->st);
}

const char *queue_state_name(enum queue_state s) {
  static const char *const names[] = {"live", "idle", "stale", "corrupt",
                                      "unreadable"};
  return names[s];
}

void queue_pids_text(const struct queue_view *v, char *buf, size_t cap) {
  size_t shown = sizeof v->pids / sizeof v->pids[0];
  if (!v->pids_known) {
    snprintf(buf, cap, "pids not reported by the transport");
    return;
  }
  size_t used = (size_t)snprintf(buf, cap, "pid%s ", v->npids == 1 ? "" : "s");
  for (int i = 0; i < v->npids && (size_t)i < shown && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%d", i ? ", " : "",
                             (int)v->pids[i]);
  if ((size_t)v->npids > shown && used < cap)
    snprintf(buf + used, cap - used, " and %zu more", (size_t)v->npids - shown);
}

/* ---- listing ---- */

struct list_ctx {
  struct queue_listing *l;
  size_t cap;
};

static int add_entry(const char *name, uint32_t owner_uid, void *arg) {
  struct list_ctx *c = arg;
  if (c->l->count == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 32;
    void *grown = realloc(c->l->entries, cap * sizeof *c->l->entries);
    if (grown == NULL)
      return -ENOMEM;
    c->l->entries = grown;
    c->cap = cap;
  }
  struct queue_entry *e = &c->l->entries[c->l->count++];
  snprintf(e->name, sizeof e->name, "%s", name);
  e->uid = owner_uid;
  return 0;
}

static int by_name_then_uid(const void *a, const void *b) {
  const struct queue_entry *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c != 0 ? c : (x->uid > y->uid) - (x->uid < y->uid);
}

int queue_list(const char *transport, int all_users, struct queue_listing *l) {
  static const char *const all[] = {"all", "1", NULL};
  *l = (struct queue_listing){0};
  struct list_ctx c = {.l = l};
  int rc = sage_queue_list(transport, all_users ? all : NULL, add_entry, &c);
  if (rc < 0) {
    queue_listing_free(l);
    return rc;
  }
  if (l->count > 1)
    qsort(l->entries, l->count, sizeof *l->entries, by_name_then_uid);
  return 0;
}

void queue_listing_free(struct queue_listing *l) {
  free(l->entries);
  *l = (struct queue_listing){0};
}
