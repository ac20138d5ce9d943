/* sage-queue rm: remove queues by name, refusing one that processes are
 * still attached to unless --force. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

enum { OPT_FORCE = 1, OPT_UID };

static const struct cli_option options[] = {
    {"force", 'f', CLI_FLAG, OPT_FORCE},
    {"uid", 'u', CLI_VALUE, OPT_UID},
};

struct rm_args {
  int force;
  uint32_t uid;
};

struct rm_result {
  int removed;
  char error[768];
};

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
    int hint = corrupt && strstr(v->error, "--force") == NULL;
    snprintf(res->error, sizeof res->error, "%s%s", v->error,
             hint ? "; --force removes it without validating it" : "");
    return;
  }
  if (v->npids > 0 && !a->force) {
    queue_pids_text(v, pids, sizeof pids);
    snprintf(res->error, sizeof res->error,
             "queue '%s' is in use by %d process%s (%s); stop %s or use "
             "--force",
             name, v->npids, v->npids == 1 ? "" : "es", pids,
             v->npids == 1 ? "it" : "them");
    return;
  }
  rc = unlink_queue(transport, name, a->uid, corrupt, a->force, v->observing);
  if (rc != 0) {
    const char *detail = sage_last_error();
    snprintf(res->error, sizeof res->error, "%s",
             detail[0] ? detail : sage_strerror(rc));
    return;
  }
  res->removed = 1;
}

static void print_human(const struct queue_view *v,
                        const struct rm_result *res) {
  char pids[512];
  if (!res->removed) {
    fprintf(stderr, "sage-queue: rm %s: %s\n", v->name, res->error);
    return;
  }
  printf("removed %s", v->name);
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
  printf(", \"removed\": %s, \"pids\": ", res->removed ? "true" : "false");
  print_pids_json(v);
  printf(", \"error\": ");
  if (res->removed)
    printf("null");
  else
    json_string(stdout, res->error);
  printf("}");
  if (!res->removed) /* errors go to stderr in JSON mode too */
    fprintf(stderr, "sage-queue: rm %s: %s\n", v->name, res->error);
}

static int run(int argc, char **argv, const struct cli_opts *global) {
  struct cli_opts opts = *global;
  struct rm_args a = {.uid = (uint32_t)geteuid()};
  struct cli_parser p;
  const char *value;
  int id, npos;
  cli_parser_init(&p, &cmd_rm, argc, argv, options, 2, &opts);
  p.queue_options = 1;
  while ((id = cli_next_option(&p, &value)) > 0) {
    if (id == OPT_FORCE)
      a.force = 1;
    else if (id == OPT_UID && cli_parse_uid(value, &a.uid) != 0)
      return cli_usage(&cmd_rm, "--uid: no user '%s'", value);
  }
  if (id < 0)
    return EXIT_USAGE;
  char **names = cli_positional(&p, &npos);
  if (npos == 0)
    return cli_usage(&cmd_rm, "missing queue NAME");
  int failed = 0;
  if (opts.json)
    printf("[");
  for (int i = 0; i < npos; i++) {
    struct queue_view v;
    struct rm_result res;
    struct cli_target t;
    if (cli_target(&cmd_rm, names[i], opts.transport, &t) != EXIT_OK)
      return EXIT_USAGE;
    remove_one(t.transport, t.name, &a, &v, &res);
    if (opts.json)
      print_json(&v, &res, i == 0);
    else
      print_human(&v, &res);
    failed += !res.removed;
  }
  if (opts.json)
    printf("\n]\n");
  return failed ? EXIT_ERROR : EXIT_OK;
}

const struct cli_command cmd_rm = {
    .name = "rm",
    .summary = "remove queues (refuses ones in use unless --force)",
    .usage =
        "usage: sage-queue rm NAME... [--force] [--uid USER]\n"
        "                     [--transport NAME] [--json]\n\n"
        "Removes each queue NAME. A queue that live processes are attached\n"
        "to is refused, naming their pids, unless --force; its processes\n"
        "then keep working on it until they close it.\n\n"
        "Options:\n"
        "  -f, --force            remove queues in use, and corrupt ones\n"
        "                         (without validating them)\n"
        "  -u, --uid USER         another user's queues (name or uid;\n"
        "                         needs permission)\n"
        "  -t, --transport NAME   transport of the queues\n"
        "  --json                 a JSON array: name, removed, pids, error\n\n"
        "A NAME may be a queue URI, shm://jobs?maxsize=1M: its transport\n"
        "replaces --transport (docs/CONFIG.md).\n\n"
        "Examples:\n"
        "  $ sage-queue rm jobs results\n"
        "  removed jobs\n"
        "  removed results\n"
        "  $ sage-queue rm busy\n"
        "  sage-queue: rm busy: queue 'busy' is in use by 1 process (pid "
        "4242);\n"
        "  stop it or use --force\n\n"
        "Exit status: 0 if every queue was removed, 1 if any was not,\n"
        "2 usage.\n",
    .run = run,
};
