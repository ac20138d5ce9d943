/* Looking at queues from the outside: listing them and reading a queue's
 * stats and attachments through an observe-only handle (attach=0), so the
 * command never counts as an attachment itself. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* What the stats do not carry: the memory the queue holds and its mode.
 * The shm transport keeps a queue in /dev/shm/sageq-<uid>-<name>, a file
 * whose size is the whole segment (header, slots, ring); others cannot
 * tell (-1). */
static void read_segment(struct queue_view *v) {
  v->memory = -1;
  v->mode = -1;
  if (v->transport == NULL || strcmp(v->transport, "shm") != 0)
    return;
  char path[256];
  struct stat sb;
  snprintf(path, sizeof path, "/dev/shm/sageq-%u-%s", v->owner_uid, v->name);
  if (stat(path, &sb) != 0)
    return;
  v->memory = (int64_t)sb.st_size;
  v->mode = (int)(sb.st_mode & 07777);
}

int queue_view_read(sage_queue *q, struct queue_view *v) {
  v->rc = 0;
  v->error[0] = '\0';
  v->nvalues = 0;
  v->npids = 0;
  v->pids_known = 0;
  v->st = (struct sage_stats){.size = sizeof v->st};
  int rc = sage_queue_stats(q, &v->st);
  if (rc == 0) {
    int n = sage_queue_stats_values(q, v->values,
                                    sizeof v->values / sizeof v->values[0]);
    v->nvalues = n > 0 ? (size_t)n : 0;
    v->owner_uid = (uint32_t)v->st.owner_uid;
    read_segment(v);
    rc = sage_queue_attachments(q, v->pids, sizeof v->pids / sizeof v->pids[0]);
    v->pids_known = rc >= 0;
    /* A transport that cannot name its attachments still counts them. */
    v->npids = rc >= 0 ? rc : (int)v->st.attached;
    rc = rc == -ENOTSUP ? 0 : rc;
  }
  if (rc < 0)
    remember_error(v, rc);
  return v->rc;
}

int queue_observe(const char *transport, const char *name, uint32_t uid,
                  struct queue_view *v) {
  *v = (struct queue_view){.transport = sage_transport_choose(transport),
                           .owner_uid = uid};
  snprintf(v->name, sizeof v->name, "%s", name);
  read_segment(v);
  sage_queue *q;
  int rc = queue_open_observer(transport, name, uid, &q, &v->observing);
  if (rc != 0) {
    remember_error(v, rc);
    return rc;
  }
  queue_view_read(q, v);
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

double queue_age_seconds(const struct queue_view *v, uint64_t now_ns) {
  if (v->rc != 0 || v->st.created_ns == 0 || v->st.created_ns > now_ns)
    return 0;
  return (double)(now_ns - v->st.created_ns) / 1e9;
}

/* The stats `ls --json` shows without --stats: its table's columns. */
static int brief_stat(const char *name) {
  static const char *const brief[] = {"capacity",       "bytes_used",
                                      "items",          "attached",
                                      "stale_attached", "created_ns"};
  for (size_t i = 0; i < sizeof brief / sizeof brief[0]; i++)
    if (strcmp(name, brief[i]) == 0)
      return 1;
  return 0;
}

void queue_json_members(FILE *out, const struct queue_view *v, uint64_t now_ns,
                        int all_stats) {
  enum queue_state s = queue_state_of(v);
  char owner[64];
  fmt_user(v->owner_uid, owner, sizeof owner);
  json_key(out, "name", 1);
  json_string(out, v->name);
  json_key(out, "transport", 0);
  json_string(out, v->transport);
  json_key(out, "owner", 0);
  json_string(out, owner);
  fprintf(out, ", \"owner_uid\": %u", v->owner_uid);
  json_key(out, "state", 0);
  json_string(out, queue_state_name(s));
  fprintf(out, ", \"stale\": %s, \"observed\": %s, \"pids\": [",
          s == QUEUE_STALE ? "true" : "false", v->observing ? "true" : "false");
  size_t shown = sizeof v->pids / sizeof v->pids[0];
  for (int i = 0; v->pids_known && i < v->npids && (size_t)i < shown; i++)
    fprintf(out, "%s%d", i ? ", " : "", (int)v->pids[i]);
  fputs("], \"age_s\": ", out);
  if (v->rc == 0 && v->st.created_ns != 0)
    fprintf(out, "%.3f", queue_age_seconds(v, now_ns));
  else
    fputs("null", out);
  fputs(", \"memory_bytes\": ", out);
  if (v->memory >= 0)
    fprintf(out, "%lld", (long long)v->memory);
  else
    fputs("null", out);
  fputs(", \"mode\": ", out);
  if (v->mode >= 0)
    fprintf(out, "\"%04o\"", (unsigned)v->mode);
  else
    fputs("null", out);
  fputs(", \"stats\": ", out);
  if (v->rc == 0) {
    int first = 1;
    fputc('{', out);
    for (size_t i = 0; i < v->nvalues; i++) {
      const char *name = sage_stats_name(i);
      if (name == NULL || (!all_stats && !brief_stat(name)))
        continue;
      json_key(out, name, first);
      fprintf(out, "%llu", (unsigned long long)v->values[i]);
      first = 0;
    }
    fputs("}, \"error\": null", out);
  } else {
    fputs("null, \"error\": ", out);
    json_error_object(out, v->error, cli_code_name(v->rc));
  }
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

int queue_observe_all(const char *transport, int all_users,
                      struct queue_view **views, size_t *count) {
  struct queue_listing l;
  *views = NULL;
  *count = 0;
  int rc = queue_list(transport, all_users, &l);
  if (rc != 0)
    return rc;
  *views = calloc(l.count ? l.count : 1, sizeof **views);
  if (*views == NULL) {
    queue_listing_free(&l);
    return -ENOMEM;
  }
  for (size_t i = 0; i < l.count; i++)
    queue_observe(transport, l.entries[i].name, l.entries[i].uid, &(*views)[i]);
  *count = l.count;
  queue_listing_free(&l);
  return 0;
}
