/* sage-queue: inspect transports and queues. Dispatches to subcommands. */
#include "config.h"

#include <errno.h>
#include <sage/queue.h>
#include <stdarg.h>
#include <string.h>

#include "cli.h"

static const struct cli_command *const commands[] = {
    &cmd_plugins, &cmd_ls,    &cmd_stat,         &cmd_top,
    &cmd_peek,    &cmd_put,   &cmd_drain,        &cmd_rm,
    &cmd_gc,      &cmd_bench, &cmd_check_plugin, &cmd_metrics,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
  fprintf(out, "usage: sage-queue [--json] [--transport NAME] COMMAND "
               "[ARGS...]\n\n"
               "Commands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-13s %s\n", commands[i]->name, commands[i]->summary);
  fprintf(
      out,
      "\nOptions (also accepted after COMMAND):\n"
      "  --json             JSON on stdout (JSON Lines when refreshing);\n"
      "                     errors too: {\"error\": {\"message\", \"code\"}}\n"
      "  --transport NAME   transport of the queues (default: "
      "$SAGE_TRANSPORT or shm)\n"
      "  --version          print the version and ABI\n"
      "  -h, --help         this text; COMMAND --help for a command's\n\n"
      "Examples:\n"
      "  sage-queue ls\n"
      "  sage-queue stat jobs --watch\n"
      "  sage-queue gc --dry-run\n\n"
      "Exit codes: 0 ok, 1 error, 2 usage.\n"
      "Plugin directories, in search order ($SAGE_PLUGIN_PATH first):\n");
  /* one directory a line: a long path list would not fit 80 columns */
  for (const char *dir = sage_plugin_dir(); *dir != '\0';) {
    size_t n = strcspn(dir, ":");
    printf("  %.*s\n", (int)n, dir);
    dir += n + (dir[n] == ':');
  }
}

/* --json anywhere on the line: errors are also written to stdout as
 * {"error": {"message": ..., "code": ...}}. */
static int json_errors;

void cli_set_json(int on) {
  json_errors = on;
}

const char *cli_code_name(int code) {
  static const struct {
    int err;
    const char *name;
  } names[] = {
      {ENOENT, "ENOENT"},       {EACCES, "EACCES"},
      {EPERM, "EPERM"},         {EEXIST, "EEXIST"},
      {EBADMSG, "EBADMSG"},     {ENOTSUP, "ENOTSUP"},
      {EINVAL, "EINVAL"},       {EBUSY, "EBUSY"},
      {ETIMEDOUT, "ETIMEDOUT"}, {EAGAIN, "EAGAIN"},
      {ENOMEM, "ENOMEM"},       {ENOSPC, "ENOSPC"},
      {EMSGSIZE, "EMSGSIZE"},   {ENAMETOOLONG, "ENAMETOOLONG"},
      {EPIPE, "EPIPE"},         {EIO, "EIO"},
      {ESRCH, "ESRCH"},         {ENOEXEC, "ENOEXEC"},
      {EPROTO, "EPROTO"},       {ERANGE, "ERANGE"},
  };
  static const struct {
    int code;
    const char *name;
  } registry[] = {
#define SAGE_XX(name, code, msg) {code, "SAGE_E" #name},
      SAGE_REGISTRY_ERRNO_MAP(SAGE_XX)
#undef SAGE_XX
  };
  for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
    if (registry[i].code == code)
      return registry[i].name;
  int err = code < 0 ? -code : code;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].err == err)
      return names[i].name;
  return "error";
}

/* The JSON error document on stdout, when --json was given. */
static void json_error(const char *message, const char *code) {
  if (!json_errors)
    return;
  fflush(stdout);
  fputs("{\"error\": ", stdout);
  json_error_object(stdout, message, code);
  fputs("}\n", stdout);
  fflush(stdout);
}

static int report(const char *code, int status, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static int report(const char *code, int status, const char *fmt, va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  fprintf(stderr, "sage-queue: %s\n", msg);
  json_error(msg, code);
  return status;
}

static int report_f(const char *code, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int report_f(const char *code, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = report(code, status, fmt, ap);
  va_end(ap);
  return rc;
}

int cli_error(const char *what, int code) {
  const char *detail = sage_last_error();
  return report_f(cli_code_name(code), EXIT_ERROR, "%s: %s", what,
                  detail[0] != '\0' ? detail : sage_strerror(code));
}

int cli_error_in(const char *command, const char *name, int code) {
  char what[320];
  snprintf(what, sizeof what, "%s %s", command, name);
  return cli_error(what, code);
}

int cli_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = report("error", EXIT_ERROR, fmt, ap);
  va_end(ap);
  return rc;
}

int cli_fail_code(const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = report(code, EXIT_ERROR, fmt, ap);
  va_end(ap);
  return rc;
}

/* One line: "sage-queue: stat: missing queue NAME (see 'sage-queue stat
 * --help')", never the whole help. */
int cli_usage(const struct cli_command *cmd, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return report_f("usage", EXIT_USAGE, "%s: %s (see 'sage-queue %s --help')",
                  cmd->name, msg, cmd->name);
}

int cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
      return 1;
  return 0;
}

/* Prints "sage-queue: <what> '<arg>' (see 'sage-queue --help')"; returns
 * EXIT_USAGE. */
static int global_usage(const char *what, const char *arg) {
  return report_f("usage", EXIT_USAGE, "%s '%s' (see 'sage-queue --help')",
                  what, arg);
}

static void print_version(void) {
  uint32_t abi = sage_abi_version();
  printf("sage-queue %s (plugin ABI %u.%u)\n", sage_version(),
         SAGE_ABI_MAJOR_OF(abi), SAGE_ABI_MINOR_OF(abi));
}

/* Reads the options before COMMAND. Returns the index of COMMAND, or
 * -EXIT_OK / -EXIT_USAGE when main should stop with that status. */
static int take_global_opts(int argc, char **argv, struct cli_opts *opts) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--json") == 0) {
      opts->json = 1;
    } else if (strcmp(arg, "--transport") == 0 || strcmp(arg, "-t") == 0) {
      if (++i == argc)
        return -global_usage("a value must follow", arg);
      opts->transport = argv[i];
    } else if (strncmp(arg, "--transport=", 12) == 0) {
      opts->transport = arg + 12;
    } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      usage(stdout);
      return -EXIT_OK;
    } else if (strcmp(arg, "--version") == 0) {
      print_version();
      return -EXIT_OK;
    } else {
      return -global_usage("unknown option", arg);
    }
  }
  if (i == argc) {
    usage(stderr);
    json_error("missing COMMAND", "usage");
    return -EXIT_USAGE;
  }
  return i;
}

static const struct cli_command *find_command(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(name, commands[i]->name) == 0)
      return commands[i];
  return NULL;
}

int main(int argc, char **argv) {
  struct cli_opts opts = {0};
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
    if (strcmp(argv[i], "--json") == 0)
      cli_set_json(1);
  int at = take_global_opts(argc, argv, &opts);
  if (at <= 0)
    return -at;
  if (strcmp(argv[at], "help") == 0) {
    const struct cli_command *cmd =
        at + 1 < argc ? find_command(argv[at + 1]) : NULL;
    if (cmd != NULL)
      fputs(cmd->usage, stdout);
    else
      usage(stdout);
    return EXIT_OK;
  }
  const struct cli_command *cmd = find_command(argv[at]);
  if (cmd == NULL)
    return global_usage("unknown command", argv[at]);
  if (cli_wants_help(argc - at, argv + at)) {
    fputs(cmd->usage, stdout);
    return EXIT_OK;
  }
  return cmd->run(argc - at, argv + at, &opts);
}
