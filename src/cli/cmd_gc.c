/* sage-queue gc: remove stale queues, those whose every attachment belongs
 * to a process that died. Idle queues (closed cleanly, nobody attached)
 * keep their messages by design and are kept, unless --idle; --older-than
 * keeps the young ones. */
#include "config.h"

#include <errno.h>

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

enum { OPT_DRY_RUN = 1, OPT_ALL, OPT_IDLE, OPT_OLDER_THAN };

static const struct cli_option options[] = {
    {"dry-run", 'n', CLI_FLAG, OPT_DRY_RUN},
    {"all", 'a', CLI_FLAG, OPT_ALL},
    {"idle", 'i', CLI_FLAG, OPT_IDLE},
    {"older-than", 0, CLI_VALUE, OPT_OLDER_THAN},
};

enum gc_action { GC_KEPT, GC_REMOVED, GC_WOULD_REMOVE, GC_FAILED, GC_SKIPPED };

static const char *const action_names[] = {"kept", "removed", "would_remove",
                                           "failed", "skipped"};

struct gc_item {
  struct queue_view v;
  enum gc_action action;
  int code; /* skipped or failed: why, a negative errno */
  char reason[768];
};

struct gc_args {
  int dry_run, all, idle;
  double older_than_s; /* 0: any age */
  const char *older_than;
  char **patterns;
  int npatterns;
};

/* "90", "30s", "10m", "2h", "7d" (also "1.5h"): 0 on success. */
static int parse_duration(const char *text, double *out) {
  char *end;
  double v = strtod(text, &end);
  if (end == text || v < 0 || v != v)
    return -1;
  double unit = 1;
  if (strcmp(end, "m") == 0)
    unit = 60;
  else if (strcmp(end, "h") == 0)
    unit = 3600;
  else if (strcmp(end, "d") == 0)
    unit = 86400;
  else if (strcmp(end, "w") == 0)
    unit = 7 * 86400;
  else if (strcmp(end, "s") != 0 && *end != '\0')
    return -1;
  *out = v * unit;
  return 0;
}

static int selected(const struct gc_args *a, const char *name) {
  if (a->npatterns == 0)
    return 1;
  for (int i = 0; i < a->npatterns; i++)
    if (fnmatch(a->patterns[i], name, 0) == 0)
      return 1;
  return 0;
}

/* The transport re-checks under its own lock, so a queue someone attached
 * to since we looked is kept (-EBUSY): a stale one "only_if_stale", an
 * idle one "unless_attached". */
static int remove_queue(const char *transport, const struct queue_view *v,
                        enum queue_state s) {
  char uid_text[16];
  snprintf(uid_text, sizeof uid_text, "%u", v->owner_uid);
  const char *opts[] = {s == QUEUE_STALE ? SAGE_UNLINK_ONLY_IF_STALE
                                         : SAGE_UNLINK_UNLESS_ATTACHED,
                        "1", SAGE_OPTION_UID, uid_text, NULL};
  return sage_queue_unlink(transport, v->name, opts);
}

/* Why a queue that is stale, or idle with --idle, is kept anyway; 0 if
 * it goes. */
static int keep_anyway(const struct gc_args *a, struct gc_item *it,
                       enum queue_state s, uint64_t now) {
  if (s == QUEUE_IDLE && !it->v.observing) {
    snprintf(it->reason, sizeof it->reason,
             "idle: transport %s cannot say who has it open", it->v.transport);
    return 1;
  }
  if (a->older_than == NULL)
    return 0;
  char age[32];
  if (it->v.st.created_ns == 0) {
    snprintf(it->reason, sizeof it->reason,
             "%s: creation time unknown, not older than %s",
             queue_state_name(s), a->older_than);
    return 1;
  }
  double age_s = queue_age_seconds(&it->v, now);
  if (age_s >= a->older_than_s)
    return 0;
  fmt_duration(age_s, age, sizeof age);
  snprintf(it->reason, sizeof it->reason, "%s, %s old: not older than %s",
           queue_state_name(s), age, a->older_than);
  return 1;
}

static void decide(const char *transport, const struct gc_args *a,
                   struct gc_item *it) {
  enum queue_state s = queue_state_of(&it->v);
  if (s == QUEUE_CORRUPT || s == QUEUE_UNREADABLE) {
    it->action = GC_SKIPPED;
    it->code = it->v.rc;
    snprintf(it->reason, sizeof it->reason, "%s: %s", queue_state_name(s),
             it->v.error);
    return;
  }
  if (s != QUEUE_STALE && !(s == QUEUE_IDLE && a->idle)) {
    it->action = GC_KEPT;
    snprintf(it->reason, sizeof it->reason, "%s", queue_state_name(s));
    return;
  }
  uint64_t now = now_realtime_ns();
  if (keep_anyway(a, it, s, now)) {
    it->action = GC_KEPT;
    return;
  }
  char age[32] = "";
  if (a->older_than != NULL) {
    strcpy(age, ", age ");
    fmt_duration(queue_age_seconds(&it->v, now), age + 6, sizeof age - 6);
  }
  if (s == QUEUE_STALE)
    snprintf(it->reason, sizeof it->reason,
             "stale: %llu dead attachment%s, %llu message%s queued%s",
             (unsigned long long)it->v.st.stale_attached,
             it->v.st.stale_attached == 1 ? "" : "s",
             (unsigned long long)it->v.st.items, it->v.st.items == 1 ? "" : "s",
             age);
  else
    snprintf(it->reason, sizeof it->reason,
             "idle: nobody attached, %llu message%s queued%s",
             (unsigned long long)it->v.st.items, it->v.st.items == 1 ? "" : "s",
             age);
  if (a->dry_run) {
    it->action = GC_WOULD_REMOVE;
    return;
  }
  int rc = remove_queue(transport, &it->v, s);
  if (rc == 0) {
    it->action = GC_REMOVED;
    return;
  }
  if (rc == -EBUSY) { /* someone attached since we looked */
    it->action = GC_KEPT;
    snprintf(it->reason, sizeof it->reason, "live again");
    return;
  }
  const char *detail = sage_last_error();
  it->action = GC_FAILED;
  it->code = rc;
  snprintf(it->reason, sizeof it->reason, "%s",
           detail[0] ? detail : sage_strerror(rc));
}

static void print_json(const struct gc_item *items, size_t n, int dry_run) {
  printf("{\"dry_run\": %s, \"queues\": [", dry_run ? "true" : "false");
  for (size_t i = 0; i < n; i++) {
    printf("%s\n  {", i ? "," : "");
    json_key(stdout, "name", 1);
    json_string(stdout, items[i].v.name);
    printf(", \"owner_uid\": %u", items[i].v.owner_uid);
    json_key(stdout, "state", 0);
    json_string(stdout, queue_state_name(queue_state_of(&items[i].v)));
    printf(", \"action\": ");
    json_string(stdout, action_names[items[i].action]);
    json_key(stdout, "reason", 0);
    json_string(stdout, items[i].reason);
    /* skipped or failed: the error in the shape of every --json error */
    json_key(stdout, "error", 0);
    const char *why = items[i].action == GC_SKIPPED  ? items[i].v.error
                      : items[i].action == GC_FAILED ? items[i].reason
                                                     : NULL;
    json_error_object(stdout, why, cli_code_name(items[i].code));
    printf("}");
  }
  printf("\n]}\n");
}

static void print_human(const struct gc_item *items, size_t n, int dry_run,
                        int idle) {
  size_t counts[5] = {0};
  for (size_t i = 0; i < n; i++) {
    const struct gc_item *it = &items[i];
    counts[it->action]++;
    if (it->action == GC_REMOVED || it->action == GC_WOULD_REMOVE)
      printf("%s %s (%s)\n",
             it->action == GC_REMOVED ? "removed" : "would remove", it->v.name,
             it->reason);
    else if (it->action == GC_SKIPPED)
      printf("skipped %s (%s)\n", it->v.name, it->reason);
  }
  printf("%s %zu %s queue%s; kept %zu", dry_run ? "would remove" : "removed",
         counts[GC_REMOVED] + counts[GC_WOULD_REMOVE],
         idle ? "stale or idle" : "stale",
         counts[GC_REMOVED] + counts[GC_WOULD_REMOVE] == 1 ? "" : "s",
         counts[GC_KEPT]);
  if (counts[GC_SKIPPED])
    printf(", skipped %zu unreadable", counts[GC_SKIPPED]);
  if (counts[GC_FAILED])
    printf(", failed %zu", counts[GC_FAILED]);
  putchar('\n');
}

static int collect(const struct cli_opts *opts, const struct gc_args *a) {
  struct queue_listing l;
  int rc = queue_list(opts->transport, a->all, &l);
  if (rc != 0)
    return cli_error("gc", rc);
  struct gc_item *items = calloc(l.count ? l.count : 1, sizeof *items);
  if (items == NULL) {
    queue_listing_free(&l);
    return cli_fail("gc: out of memory");
  }
  size_t n = 0, failed = 0;
  for (size_t i = 0; i < l.count; i++) {
    if (!selected(a, l.entries[i].name))
      continue;
    struct gc_item *it = &items[n++];
    queue_observe(opts->transport, l.entries[i].name, l.entries[i].uid, &it->v);
    decide(opts->transport, a, it);
    if (it->action == GC_FAILED) {
      fprintf(stderr, "sage-queue: gc: cannot remove %s: %s\n", it->v.name,
              it->reason);
      failed++;
    }
  }
  if (opts->json)
    print_json(items, n, a->dry_run);
  else
    print_human(items, n, a->dry_run, a->idle);
  free(items);
  queue_listing_free(&l);
  return failed ? EXIT_ERROR : EXIT_OK;
}

static int run(int argc, char **argv, const struct cli_opts *global) {
  struct cli_opts opts = *global;
  struct gc_args a = {0};
  struct cli_parser p;
  const char *value;
  int id;
  cli_parser_init(&p, &cmd_gc, argc, argv, options,
                  sizeof options / sizeof options[0], &opts);
  p.queue_options = 1;
  while ((id = cli_next_option(&p, &value)) > 0) {
    a.dry_run |= id == OPT_DRY_RUN;
    a.all |= id == OPT_ALL;
    a.idle |= id == OPT_IDLE;
    if (id == OPT_OLDER_THAN) {
      if (parse_duration(value, &a.older_than_s) != 0)
        return cli_usage(&cmd_gc,
                         "--older-than: '%s' is not a duration like 90s, "
                         "10m, 2h or 7d",
                         value);
      a.older_than = value;
    }
  }
  if (id < 0)
    return EXIT_USAGE;
  a.patterns = cli_positional(&p, &a.npatterns);
  return collect(&opts, &a);
}

const struct cli_command cmd_gc = {
    .name = "gc",
    .summary = "remove stale queues (every attachment dead); --idle too",
    .usage =
        "usage: sage-queue gc [PATTERN...] [--idle] [--older-than AGE]\n"
        "                     [--dry-run] [--all] [--transport NAME] [--json]\n"
        "\n"
        "Removes every stale queue: one whose attached processes all died\n"
        "without closing it (for example its creator was killed). Live\n"
        "queues and idle ones (closed cleanly by everyone; they keep their\n"
        "messages) are kept, unless --idle. Corrupt queues are reported, not\n"
        "removed: see `sage-queue rm --force`. The transport re-checks each\n"
        "queue as it removes it: one a process attached to meanwhile is kept.\n"
        "\n"
        "Options:\n"
        "  PATTERN               only queues whose name matches one of these\n"
        "                        shell patterns (quote them: 'job-*')\n"
        "  -i, --idle            also remove idle queues (nobody attached),\n"
        "                        with the messages they hold\n"
        "  --older-than AGE      only queues created more than AGE ago: 90s,\n"
        "                        10m, 2h, 7d (a number alone is seconds)\n"
        "  -n, --dry-run         list what would be removed; remove nothing\n"
        "  -a, --all             every user's queues (needs permission);\n"
        "                        without it only your own\n"
        "  -t, --transport NAME  transport to clean\n"
        "  --json                {\"dry_run\": ..., \"queues\": [{name,\n"
        "                        owner_uid, state, action, reason, error}]};\n"
        "                        action is removed, would_remove, kept,\n"
        "                        skipped or failed; error is null, or for\n"
        "                        skipped and failed {\"message\", \"code\"}\n"
        "                        (code an errno name: EBADMSG, EACCES)\n"
        "\n"
        "Examples:\n"
        "  $ sage-queue gc --dry-run\n"
        "  would remove jobs (stale: 1 dead attachment, 12 messages queued)\n"
        "  would remove 1 stale queue; kept 3\n"
        "  $ sage-queue gc 'worker-*'\n"
        "  $ sage-queue gc --idle --older-than 7d   # forgotten queues too\n"
        "  removed old (idle: nobody attached, 0 messages queued, age 9d02h)\n"
        "  removed 1 stale or idle queue; kept 2\n"
        "\n"
        "Exit status: 0 ok, 1 if a queue could not be removed, 2 usage.\n",
    .run = run,
};
