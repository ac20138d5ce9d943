/* sage-queue gc: remove stale queues, those whose every attachment belongs
 * to a process that died. Idle queues (closed cleanly, nobody attached)
 * keep their messages by design and are kept. */
#include "config.h"

#include <errno.h>

#include <fnmatch.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

enum { OPT_DRY_RUN = 1, OPT_ALL };

static const struct cli_option options[] = {
    {"dry-run", 'n', CLI_FLAG, OPT_DRY_RUN},
    {"all", 'a', CLI_FLAG, OPT_ALL},
};

enum gc_action { GC_KEPT, GC_REMOVED, GC_WOULD_REMOVE, GC_FAILED, GC_SKIPPED };

static const char *const action_names[] = {"kept", "removed", "would_remove",
                                           "failed", "skipped"};

struct gc_item {
  struct queue_view v;
  enum gc_action action;
  char reason[768];
};

struct gc_args {
  int dry_run, all;
  char **patterns;
  int npatterns;
};

static int selected(const struct gc_args *a, const char *name) {
  if (a->npatterns == 0)
    return 1;
  for (int i = 0; i < a->npatterns; i++)
    if (fnmatch(a->patterns[i], name, 0) == 0)
      return 1;
  return 0;
}

/* The transport re-checks staleness under its own lock ("only_if_stale"),
 * so a queue someone attached to since we looked is kept (-EBUSY). */
static int remove_stale(const char *transport, const struct queue_view *v) {
  char uid_text[16];
  snprintf(uid_text, sizeof uid_text, "%u", v->owner_uid);
  const char *opts[] = {SAGE_UNLINK_ONLY_IF_STALE, "1", SAGE_OPTION_UID,
                        uid_text, NULL};
  return sage_queue_unlink(transport, v->name, opts);
}

static void decide(const char *transport, const struct gc_args *a,
                   struct gc_item *it) {
  enum queue_state s = queue_state_of(&it->v);
  if (s == QUEUE_CORRUPT || s == QUEUE_UNREADABLE) {
    it->action = GC_SKIPPED;
    snprintf(it->reason, sizeof it->reason, "%s: %s", queue_state_name(s),
             it->v.error);
    return;
  }
  if (s != QUEUE_STALE) {
    it->action = GC_KEPT;
    snprintf(it->reason, sizeof it->reason, "%s", queue_state_name(s));
    return;
  }
  snprintf(it->reason, sizeof it->reason,
           "stale: %llu dead attachment%s, %llu message%s queued",
           (unsigned long long)it->v.st.stale_attached,
           it->v.st.stale_attached == 1 ? "" : "s",
           (unsigned long long)it->v.st.items, it->v.st.items == 1 ? "" : "s");
  if (a->dry_run) {
    it->action = GC_WOULD_REMOVE;
    return;
  }
  int rc = remove_stale(transport, &it->v);
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
  snprintf(it->reason, sizeof it->reason, "%s",
           detail[0] ? detail : sage_strerror(rc));
}

static void print_json(const struct gc_item *items, size_t n, int dry_run) {
  printf("{\"dry_run\": %s, \"queues\": [", dry_run ? "true" : "false");
  for (size_t i = 0; i < n; i++) {
    printf("%s\n  {", i ? "," : "");
    json_key(stdout, "name", 1);
    json_string(stdout, items[i].v.name);
    printf(", \"owner_uid\": %u, \"action\": ", items[i].v.owner_uid);
    json_string(stdout, action_names[items[i].action]);
    json_key(stdout, "reason", 0);
    json_string(stdout, items[i].reason);
    printf("}");
  }
  printf("\n]}\n");
}

static void print_human(const struct gc_item *items, size_t n, int dry_run) {
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
  printf("%s %zu stale queue%s; kept %zu", dry_run ? "would remove" : "removed",
         counts[GC_REMOVED] + counts[GC_WOULD_REMOVE],
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
    print_human(items, n, a->dry_run);
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
  cli_parser_init(&p, &cmd_gc, argc, argv, options, 2, &opts);
  p.queue_options = 1;
  while ((id = cli_next_option(&p, &value)) > 0) {
    a.dry_run |= id == OPT_DRY_RUN;
    a.all |= id == OPT_ALL;
  }
  if (id < 0)
    return EXIT_USAGE;
  a.patterns = cli_positional(&p, &a.npatterns);
  return collect(&opts, &a);
}

const struct cli_command cmd_gc = {
    .name = "gc",
    .summary = "remove stale queues (every attachment dead)",
    .usage =
        "usage: sage-queue gc [PATTERN...] [--dry-run] [--all]\n"
        "                     [--transport NAME] [--json]\n\n"
        "Removes every stale queue: one whose attached processes all died\n"
        "without closing it (for example its creator was killed). Live\n"
        "queues and idle ones (closed cleanly by everyone; they keep their\n"
        "messages) are kept. Corrupt queues are reported, not removed: see\n"
        "`sage-queue rm --force`.\n\n"
        "Options:\n"
        "  PATTERN               only queues whose name matches one of these\n"
        "                        shell patterns (quote them: 'job-*')\n"
        "  -n, --dry-run         list what would be removed; remove nothing\n"
        "  -a, --all             every user's queues (needs permission)\n"
        "  -t, --transport NAME  transport to clean\n"
        "  --json                {\"dry_run\": ..., \"queues\": [{name,\n"
        "                        owner_uid, action, reason}]}\n\n"
        "Examples:\n"
        "  $ sage-queue gc --dry-run\n"
        "  would remove jobs (stale: 1 dead attachment, 12 messages queued)\n"
        "  would remove 1 stale queue; kept 3\n"
        "  $ sage-queue gc 'worker-*'\n\n"
        "Exit status: 0 ok, 1 if a stale queue could not be removed,\n"
        "2 usage.\n",
    .run = run,
};
