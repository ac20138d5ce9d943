/* sage-queue rm: remove queues by name, shell pattern or all of one's own
 * (--all), refusing one that processes are still attached to unless
 * --force. */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

enum { OPT_FORCE = 1, OPT_UID, OPT_ALL, OPT_DRY_RUN };

static const struct cli_option options[] = {
    {"force", 'f', CLI_FLAG, OPT_FORCE},
    {"uid", 'u', CLI_VALUE, OPT_UID},
    {"all", 'a', CLI_FLAG, OPT_ALL},
    {"dry-run", 'n', CLI_FLAG, OPT_DRY_RUN},
};

struct rm_args {
  int force, all, dry_run;
  uint32_t uid;
};

struct rm_result {
  int removed;
  int would_remove; /* --dry-run: it would have been removed */
  int code;         /* why not: a negative errno (-EBUSY, -ENOENT, ...) */
  char error[768];
};

/* A queue to remove, from a NAME, a URI, a PATTERN or --all; or a
 * pattern that matched nothing (error set). */
struct rm_target {
  char transport[64];
  char name[160];
  char error[256];
};

struct rm_targets {
  struct rm_target *items;
  size_t count, cap;
};

static struct rm_target *add_target(struct rm_targets *ts,
                                    const char *transport, const char *name) {
  for (size_t i = 0; i < ts->count; i++) /* each queue once */
    if (strcmp(ts->items[i].name, name) == 0 &&
        strcmp(ts->items[i].transport, transport) == 0)
      return NULL;
  if (ts->count == ts->cap) {
    size_t cap = ts->cap ? ts->cap * 2 : 16;
    void *grown = realloc(ts->items, cap * sizeof *ts->items);
    if (grown == NULL) {
      fputs("sage-queue: rm: out of memory\n", stderr);
      exit(EXIT_ERROR);
    }
    ts->items = grown;
    ts->cap = cap;
  }
  struct rm_target *t = &ts->items[ts->count++];
  memset(t, 0, sizeof *t);
  snprintf(t->transport, sizeof t->transport, "%s", transport);
  snprintf(t->name, sizeof t->name, "%s", name);
  return t;
}

/* A queue name never holds these; a NAME that does is a shell pattern. */
static int is_pattern(const char *arg) {
  return !sage__is_uri(arg) && strpbrk(arg, "*?[") != NULL;
}

/* Adds the queues of user a->uid matching `pattern` (every one if NULL). */
static int add_matches(struct rm_targets *ts, const char *transport,
                       const char *pattern, const struct rm_args *a) {
  struct queue_listing l;
  int rc = queue_list(transport, a->uid != (uint32_t)geteuid(), &l);
  if (rc != 0)
    return cli_error("rm", rc);
  size_t found = 0;
  for (size_t i = 0; i < l.count; i++)
    if (l.entries[i].uid == a->uid &&
        (pattern == NULL || fnmatch(pattern, l.entries[i].name, 0) == 0)) {
      add_target(ts, transport, l.entries[i].name);
      found++;
    }
  queue_listing_free(&l);
  if (found == 0 && pattern != NULL) {
    struct rm_target *t = add_target(ts, transport, pattern);
    if (t != NULL)
      snprintf(t->error, sizeof t->error, "no queue matches '%s'", pattern);
  }
  return EXIT_OK;
}

/* Removes by name; "force" skips validation, for corrupt segments only.
 * Without --force the transport re-checks attachments under its own lock
 * ("unless_attached"), so a process attaching after our check is safe. */
static int unlink_queue(const char *transport, const char *name, uint32_t uid,
                        int corrupt, int force, int observing) {
  char uid_text[16];
  snprintf(uid_text, sizeof uid_text, "%u", uid);
  const char *opts[7];
  size_t n = 0;
  if (corrupt) {
    opts[n++] = SAGE_UNLINK_FORCE;
    opts[n++] = "1";
  } else if (!force && observing) { /* else the transport cannot tell */
    opts[n++] = SAGE_UNLINK_UNLESS_ATTACHED;
    opts[n++] = "1";
  }
  if (uid != (uint32_t)geteuid()) {
    opts[n++] = SAGE_OPTION_UID;
    opts[n++] = uid_text;
  }
  opts[n] = NULL;
  return sage_queue_unlink(transport, name, n ? opts : NULL);
}

static void remove_one(const char *transport, const char *name,
                       const struct rm_args *a, struct queue_view *v,
                       struct rm_result *res) {
  char pids[512];
  *res = (struct rm_result){0};
  int rc = queue_observe(transport, name, a->uid, v);
  int corrupt = rc == -EBADMSG;
  if (rc != 0 && !(corrupt && a->force)) {
    res->code = rc;
    int hint = corrupt && strstr(v->error, "--force") == NULL;
    snprintf(res->error, sizeof res->error, "%s%s", v->error,
             hint ? "; --force removes it without validating it" : "");
    return;
  }
  if (v->npids > 0 && !a->force) {
    res->code = -EBUSY;
    queue_pids_text(v, pids, sizeof pids);
    snprintf(res->error, sizeof res->error,
             "queue '%s' is in use by %d process%s (%s); stop %s or use "
             "--force",
             name, v->npids, v->npids == 1 ? "" : "es", pids,
             v->npids == 1 ? "it" : "them");
    return;
  }
  if (a->dry_run) {
    res->would_remove = 1;
    return;
  }
  rc = unlink_queue(transport, name, a->uid, corrupt, a->force, v->observing);
  if (rc != 0) {
    const char *detail = sage_last_error();
    res->code = rc;
    snprintf(res->error, sizeof res->error, "%s",
             detail[0] ? detail : sage_strerror(rc));
    return;
  }
  res->removed = 1;
}

static void print_human(const struct queue_view *v,
                        const struct rm_result *res) {
  char pids[512];
  if (!res->removed && !res->would_remove) {
    fprintf(stderr, "sage-queue: rm %s: %s\n", v->name, res->error);
    return;
  }
  printf("%s %s", res->removed ? "removed" : "would remove", v->name);
  if (v->npids > 0) {
    queue_pids_text(v, pids, sizeof pids);
    printf(" (still attached, working on until they close: %s)", pids);
  } else if (!v->observing) {
    printf(" (transport %s cannot say who has it open: whoever does keeps "
           "it until they close it)",
           v->transport);
  }
  putchar('\n');
}

static void print_pids_json(const struct queue_view *v) {
  size_t shown = sizeof v->pids / sizeof v->pids[0];
  int n = v->pids_known ? v->npids : 0;
  printf("[");
  for (int i = 0; i < n && (size_t)i < shown; i++)
    printf("%s%d", i ? ", " : "", (int)v->pids[i]);
  printf("]");
}

static void print_json(const struct queue_view *v, const struct rm_result *res,
                       int first) {
  printf("%s\n  {", first ? "" : ",");
  json_key(stdout, "name", 1);
  json_string(stdout, v->name);
  printf(", \"removed\": %s, \"would_remove\": %s, \"pids\": ",
         res->removed ? "true" : "false", res->would_remove ? "true" : "false");
  print_pids_json(v);
  printf(", \"error\": ");
  if (res->removed || res->would_remove)
    printf("null");
  else
    json_error_object(stdout, res->error, cli_code_name(res->code));
  printf("}");
  if (!res->removed && !res->would_remove) /* to stderr in JSON mode too */
    fprintf(stderr, "sage-queue: rm %s: %s\n", v->name, res->error);
}

/* The queues the arguments name, in order, each once. */
static int gather(char **args, int nargs, const struct cli_opts *opts,
                  const struct rm_args *a, struct rm_targets *ts) {
  const char *transport = sage_transport_choose(opts->transport);
  if (a->all)
    return add_matches(ts, transport, NULL, a);
  for (int i = 0; i < nargs; i++) {
    struct cli_target t;
    if (is_pattern(args[i])) {
      int rc = add_matches(ts, transport, args[i], a);
      if (rc != EXIT_OK)
        return rc;
      continue;
    }
    if (cli_target(&cmd_rm, args[i], opts->transport, &t) != EXIT_OK)
      return EXIT_USAGE;
    add_target(ts, sage_transport_choose(t.transport), t.name);
  }
  return EXIT_OK;
}

static int run(int argc, char **argv, const struct cli_opts *global) {
  struct cli_opts opts = *global;
  struct rm_args a = {.uid = (uint32_t)geteuid()};
  struct cli_parser p;
  const char *value;
  int id, npos;
  cli_parser_init(&p, &cmd_rm, argc, argv, options,
                  sizeof options / sizeof options[0], &opts);
  p.queue_options = 1;
  while ((id = cli_next_option(&p, &value)) > 0) {
    if (id == OPT_FORCE)
      a.force = 1;
    else if (id == OPT_ALL)
      a.all = 1;
    else if (id == OPT_DRY_RUN)
      a.dry_run = 1;
    else if (id == OPT_UID && cli_parse_uid(value, &a.uid) != 0)
      return cli_usage(&cmd_rm, "--uid: no user '%s'", value);
  }
  if (id < 0)
    return EXIT_USAGE;
  char **names = cli_positional(&p, &npos);
  if (npos == 0 && !a.all)
    return cli_usage(&cmd_rm, "missing queue NAME (or --all)");
  if (a.all && npos > 0)
    return cli_usage(&cmd_rm, "--all takes no NAME, got '%s'", names[0]);
  if (a.all && a.uid != (uint32_t)geteuid())
    return cli_usage(&cmd_rm, "--all removes only your own queues: drop "
                              "--uid, or name the queues");
  struct rm_targets ts = {0};
  int rc = gather(names, npos, &opts, &a, &ts);
  if (rc != EXIT_OK) {
    free(ts.items);
    return rc;
  }
  int failed = 0;
  if (opts.json)
    printf("[");
  else if (a.all && ts.count == 0)
    printf("no own queues on transport %s\n",
           sage_transport_choose(opts.transport));
  for (size_t i = 0; i < ts.count; i++) {
    struct queue_view v = {0};
    struct rm_result res = {0};
    if (ts.items[i].error[0] != '\0') { /* a pattern that matched nothing */
      snprintf(v.name, sizeof v.name, "%s", ts.items[i].name);
      v.transport = ts.items[i].transport;
      snprintf(res.error, sizeof res.error, "%s", ts.items[i].error);
      res.code = -ENOENT;
    } else {
      remove_one(ts.items[i].transport, ts.items[i].name, &a, &v, &res);
    }
    if (opts.json)
      print_json(&v, &res, i == 0);
    else
      print_human(&v, &res);
    failed += !res.removed && !res.would_remove;
  }
  if (opts.json)
    printf("\n]\n");
  free(ts.items);
  return failed ? EXIT_ERROR : EXIT_OK;
}

const struct cli_command cmd_rm = {
    .name = "rm",
    .summary = "remove queues by name, pattern or --all (not ones in use)",
    .usage =
        "usage: sage-queue rm NAME|PATTERN... [--force] [--dry-run]\n"
        "                     [--uid USER] [--transport NAME] [--json]\n"
        "       sage-queue rm --all [--force] [--dry-run] [--json]\n\n"
        "Removes each queue NAME, every queue matching a shell PATTERN\n"
        "(quote it: 'job-*'; a pattern matching nothing is an error), or\n"
        "with --all every queue of your own (like ipcrm -a; never another\n"
        "user's). A queue that live processes are attached to is refused,\n"
        "naming their pids, unless --force; its processes then keep working\n"
        "on it until they close it. The transport re-checks under its own\n"
        "lock, so a process attaching meanwhile is safe.\n\n"
        "Options:\n"
        "  -a, --all              every queue of your own on the transport\n"
        "  -f, --force            remove queues in use, and corrupt ones\n"
        "                         (without validating them)\n"
        "  -n, --dry-run          say what would be removed; remove nothing\n"
        "  -u, --uid USER         another user's queues (name or uid;\n"
        "                         needs permission)\n"
        "  -t, --transport NAME   transport of the queues\n"
        "  --json                 a JSON array: name, removed, would_remove,\n"
        "                         pids, error (null, or {\"message\", "
        "\"code\"}\n"
        "                         with code an errno name: ENOENT, EBUSY)\n\n"
        "A NAME may be a queue URI, shm://jobs?maxsize=1M: its transport\n"
        "replaces --transport (docs/CONFIG.md).\n\n"
        "Examples:\n"
        "  $ sage-queue rm jobs results\n"
        "  removed jobs\n"
        "  removed results\n"
        "  $ sage-queue rm busy\n"
        "  sage-queue: rm busy: queue 'busy' is in use by 1 process (pid "
        "4242);\n"
        "  stop it or use --force\n"
        "  $ sage-queue rm -n 'job-*'\n"
        "  would remove job-1\n"
        "  $ sage-queue rm --all\n\n"
        "Exit status: 0 if every queue was removed (or would be), 1 if any\n"
        "was not, 2 usage.\n",
    .run = run,
};
