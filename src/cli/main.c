/* sage-queue: inspect transports and queues. Dispatches to subcommands. */
#include "config.h"

#include <sage/queue.h>
#include <stdarg.h>
#include <string.h>

#include "cli.h"

static const struct cli_command *const commands[] = {
    &cmd_plugins,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
  fprintf(out, "usage: sage-queue [--json] COMMAND [ARGS...]\n\n"
               "Commands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
  fprintf(out,
          "\nOptions:\n"
          "  --json     machine-readable output\n"
          "  --version  print the version and ABI\n"
          "  -h, --help this text; COMMAND --help for a command's\n\n"
          "Exit codes: 0 ok, 1 error, 2 usage.\n"
          "Plugins are searched in $SAGE_PLUGIN_PATH, then %s.\n",
          sage_plugin_dir());
}

int cli_error(const char *what, int code) {
  const char *detail = sage_last_error();
  fprintf(stderr, "sage-queue: %s: %s\n", what,
          detail[0] != '\0' ? detail : sage_strerror(code));
  return EXIT_ERROR;
}

int cli_usage(const struct cli_command *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "sage-queue %s: ", cmd->name);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n%s", cmd->usage);
  va_end(ap);
  return EXIT_USAGE;
}

int cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
      return 1;
  return 0;
}

/* Removes global options wherever they appear; returns the new argc. */
static int take_global_opts(int argc, char **argv, struct cli_opts *opts) {
  int out = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0)
      opts->json = 1;
    else
      argv[out++] = argv[i];
  }
  return out;
}

int main(int argc, char **argv) {
  struct cli_opts opts = {0};
  argc = take_global_opts(argc, argv, &opts);
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    uint32_t abi = sage_abi_version();
    printf("sage-queue %s (plugin ABI %u.%u)\n", sage_version(),
           SAGE_ABI_MAJOR_OF(abi), SAGE_ABI_MINOR_OF(abi));
    return EXIT_OK;
  }
  for (size_t i = 0; i < NCOMMANDS; i++) {
    if (strcmp(argv[1], commands[i]->name) != 0)
      continue;
    if (cli_wants_help(argc - 1, argv + 1)) {
      fputs(commands[i]->usage, stdout);
      return EXIT_OK;
    }
    return commands[i]->run(argc - 1, argv + 1, &opts);
  }
  fprintf(stderr, "sage-queue: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return EXIT_USAGE;
}
