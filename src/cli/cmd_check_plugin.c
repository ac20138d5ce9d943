/* sage-queue check-plugin: runs the transport conformance suite against a
 * transport named on the search path or a plugin file given by path. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conformance/conformance.h"

struct check_outcome {
  enum conf_result result;
  char why[sizeof(((struct conf_ctx *)0)->why)];
};

static const char *result_word(enum conf_result r) {
  return r == CONF_PASS ? "PASS" : r == CONF_SKIP ? "SKIP" : "FAIL";
}

static int looks_like_path(const char *arg) {
  size_t n = strlen(arg);
  return strchr(arg, '/') != NULL || (n > 3 && strcmp(arg + n - 3, ".so") == 0);
}

/* Loads the plugin; writes the transport name to name (cap bytes). */
static int load_plugin(const char *arg, char *name, size_t cap) {
  if (looks_like_path(arg))
    return sage_transport_load_path(arg, name, cap);
  snprintf(name, cap, "%s", arg);
  return sage_transport_load(arg);
}

static void print_json(const char *name, const char *arg,
                       const struct check_outcome *out, const size_t *totals) {
  printf("{");
  json_key(stdout, "transport", 1);
  json_string(stdout, name);
  json_key(stdout, "plugin", 0);
  json_string(stdout, arg);
  printf(", \"passed\": %zu, \"failed\": %zu, \"skipped\": %zu, "
         "\"checks\": [",
         totals[0], totals[1], totals[2]);
  for (size_t i = 0; i < sage_conformance_count; i++) {
    const struct conf_check *c = &sage_conformance_checks[i];
    printf("%s\n  {", i ? "," : "");
    json_key(stdout, "name", 1);
    json_string(stdout, c->name);
    json_key(stdout, "summary", 0);
    json_string(stdout, c->summary);
    json_key(stdout, "result", 0);
    json_string(stdout, out[i].result == CONF_PASS   ? "pass"
                        : out[i].result == CONF_SKIP ? "skip"
                                                     : "fail");
    json_key(stdout, "reason", 0);
    json_string(stdout, out[i].why);
    printf("}");
  }
  printf("\n]}\n");
}

static void print_table(const char *name, const char *arg,
                        const struct check_outcome *out, const size_t *totals) {
  static const char *const headers[] = {"RESULT", "CHECK", "DETAIL"};
  struct table *t = table_new(3, headers);
  for (size_t i = 0; i < sage_conformance_count; i++) {
    const struct conf_check *c = &sage_conformance_checks[i];
    const char *row[] = {result_word(out[i].result), c->name,
                         out[i].result == CONF_PASS ? c->summary : out[i].why};
    table_add(t, row);
  }
  table_print(t, stdout);
  table_free(t);
  printf("%s%s%s%s: %zu passed, %zu failed, %zu skipped\n", name,
         strcmp(name, arg) ? " (" : "", strcmp(name, arg) ? arg : "",
         strcmp(name, arg) ? ")" : "", totals[0], totals[1], totals[2]);
}

static int check(const char *arg, const struct cli_opts *opts) {
  char name[128];
  int rc = load_plugin(arg, name, sizeof name);
  if (rc != 0) {
    char what[600];
    snprintf(what, sizeof what, "check-plugin: cannot load '%s'", arg);
    return cli_error(what, rc);
  }
  struct conf_ctx ctx;
  rc = sage_conformance_init(&ctx, name);
  if (rc != 0)
    return cli_error("check-plugin", rc);
  struct check_outcome *out = calloc(sage_conformance_count, sizeof *out);
  if (out == NULL)
    return cli_fail("check-plugin: out of memory");
  size_t totals[3] = {0}; /* passed, failed, skipped */
  for (size_t i = 0; i < sage_conformance_count; i++) {
    out[i].result = sage_conformance_run(&ctx, &sage_conformance_checks[i]);
    snprintf(out[i].why, sizeof out[i].why, "%s", ctx.why);
    totals[out[i].result == CONF_PASS   ? 0
           : out[i].result == CONF_SKIP ? 2
                                        : 1]++;
  }
  if (opts->json)
    print_json(name, arg, out, totals);
  else
    print_table(name, arg, out, totals);
  free(out);
  return totals[1] ? EXIT_ERROR : EXIT_OK;
}

static int run(int argc, char **argv, const struct cli_opts *global) {
  struct cli_opts opts = *global;
  struct cli_parser p;
  const char *value;
  int npos;
  cli_parser_init(&p, &cmd_check_plugin, argc, argv, NULL, 0, &opts);
  if (cli_next_option(&p, &value) != 0)
    return EXIT_USAGE;
  char **pos = cli_positional(&p, &npos);
  if (npos == 0)
    return cli_usage(&cmd_check_plugin, "missing plugin NAME or PATH");
  if (npos > 1)
    return cli_usage(&cmd_check_plugin, "one plugin only, got '%s'", pos[1]);
  return check(pos[0], &opts);
}

const struct cli_command cmd_check_plugin = {
    .name = "check-plugin",
    .summary = "run the transport conformance suite against a plugin",
    .usage =
        "usage: sage-queue check-plugin NAME|PATH [--json]\n\n"
        "Loads a transport, by NAME from the plugin search path or from the\n"
        "plugin file at PATH (anything with a '/' or ending in .so), and\n"
        "runs every conformance check on it, one for each rule of\n"
        "sage/transport.h: FIFO order, sizes, timeouts, stats and their\n"
        "counting rules, wait flags, batches, zero-copy, persistence, open\n"
        "options, error details, list, unlink, depth, attachments, observe\n"
        "mode, -EINTR on a signal, fork and cross-process use. A check\n"
        "needing a capability the plugin does not declare, or an optional\n"
        "op it lacks, is skipped, with the reason. The checks create and\n"
        "remove their own queues (conf-<pid>-...), fork child processes\n"
        "and signal their own threads (SIGUSR2).\n\n"
        "Options:\n"
        "  --json   {\"transport\", \"plugin\", \"passed\", \"failed\", "
        "\"skipped\",\n"
        "           \"checks\": [{name, summary, result, reason}]}\n\n"
        "Examples:\n"
        "  $ sage-queue check-plugin shm\n"
        "  $ sage-queue check-plugin ./build/plugin/.libs/sage-mine.so\n\n"
        "Exit status: 0 if no check failed, 1 if one failed or the plugin\n"
        "cannot be loaded, 2 usage.\n",
    .run = run,
};
