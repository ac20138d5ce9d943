/* sage-queue bench: runs the C benchmark program, sage-queue-bench, with
 * the user's arguments. It is a separate program so that its pinning and
 * timing code stays out of this tool. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#ifndef SAGE_BENCH_PATH
#error "SAGE_BENCH_PATH must name the installed sage-queue-bench"
#endif

/* $SAGE_BENCH, else the installed program. */
static const char *bench_path(void) {
  const char *env = getenv("SAGE_BENCH");
  return env != NULL && env[0] != '\0' ? env : SAGE_BENCH_PATH;
}

static int run(int argc, char **argv, const struct cli_opts *opts) {
  const char *path = bench_path();
  if (access(path, X_OK) != 0)
    return cli_fail("bench: benchmark program %s not found or not "
                    "executable (%s); install sage-queue-bench or set "
                    "$SAGE_BENCH to its path",
                    path, strerror(errno));
  /* path, the global options that mean something to it, the arguments
   * after `bench` (less a leading "--", which only hid them from --help
   * here), NULL */
  char **args = calloc((size_t)argc + 5, sizeof *args);
  if (args == NULL)
    return cli_fail("bench: out of memory");
  size_t n = 0;
  args[n++] = (char *)path;
  if (opts->json)
    args[n++] = "--json";
  if (opts->transport != NULL) {
    args[n++] = "--transport";
    args[n++] = (char *)opts->transport;
  }
  int first = argc > 1 && strcmp(argv[1], "--") == 0 ? 2 : 1;
  for (int i = first; i < argc; i++)
    args[n++] = argv[i];
  args[n] = NULL;
  fflush(NULL);
  execv(path, args);
  int err = errno;
  free(args);
  return cli_fail("bench: cannot run %s: %s", path, strerror(err));
}

const struct cli_command cmd_bench = {
    .name = "bench",
    .summary = "run the benchmark (sage-queue-bench) and print its ratios",
    .usage =
        "usage: sage-queue bench [ARGS...]\n\n"
        "Runs the C benchmark, sage-queue-bench, with ARGS passed through\n"
        "unchanged: with none it uses its own defaults (the shm transport\n"
        "against a reference SPSC ring on pinned cores) and prints the\n"
        "ratio table. Global options given before `bench` are passed on:\n"
        "--json as --json, --transport NAME as --transport NAME.\n"
        "`sage-queue bench -- --help` shows the benchmark's own options.\n\n"
        "The program run is $SAGE_BENCH if set, else the installed\n"
        "  " SAGE_BENCH_PATH "\n\n"
        "Examples:\n"
        "  $ sage-queue bench\n"
        "  $ sage-queue --json bench > results.json\n\n"
        "Exit status: the benchmark's own; 1 if it cannot be run, 2 usage.\n",
    .run = run,
};
