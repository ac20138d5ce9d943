/* sage-queue bench: runs the C benchmark program, sage-queue-bench, with
 * the user's arguments. It is a separate program so that its pinning and
 * timing code stays out of this tool. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
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

/* The value of `--json-file FILE`, `--json-file=FILE` (or --output);
 * NULL if argv[*i] is not one. A value that looks like an option is a
 * usage error (*bad set), so a missing FILE cannot eat the next flag. */
static const char *json_file_arg(int argc, char **argv, int *i, int *bad) {
  static const char *const names[] = {"--json-file", "--output", "-o"};
  const char *a = argv[*i];
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    size_t len = strlen(names[k]);
    if (strncmp(a, names[k], len) == 0 && a[len] == '=')
      return a + len + 1;
    if (strcmp(a, names[k]) != 0)
      continue;
    if (*i + 1 >= argc || argv[*i + 1][0] == '-' || argv[*i + 1][0] == 0) {
      *bad = 1;
      return a;
    }
    return argv[++*i];
  }
  return NULL;
}

static int run(int argc, char **argv, const struct cli_opts *opts) {
  const char *path = bench_path();
  if (access(path, X_OK) != 0)
    return cli_fail("bench: benchmark program %s not found or not "
                    "executable (%s); install sage-queue-bench or set "
                    "$SAGE_BENCH to its path",
                    path, strerror(errno));
  /* path, the JSON report (--json FILE), the transport, the arguments
   * after `bench` less our own (--json, --json-file FILE) and a "--",
   * which only hid them from --help here, NULL */
  char **args = calloc((size_t)argc + 7, sizeof *args);
  if (args == NULL)
    return cli_fail("bench: out of memory");
  size_t n = 0;
  int json_stdout = opts->json, passthrough = 0;
  const char *json_file = NULL;
  args[n++] = (char *)path;
  size_t json_at = n;
  n += 2; /* room for --json FILE */
  if (opts->transport != NULL) {
    args[n++] = "--transport";
    args[n++] = (char *)opts->transport;
  }
  for (int i = 1; i < argc; i++) {
    int bad = 0;
    const char *file;
    if (passthrough) {
      args[n++] = argv[i];
    } else if (strcmp(argv[i], "--") == 0) {
      passthrough = 1;
    } else if (strcmp(argv[i], "--json") == 0) {
      json_stdout = 1;
    } else if ((file = json_file_arg(argc, argv, &i, &bad)) != NULL) {
      if (bad) {
        free(args);
        return cli_usage(&cmd_bench, "option '%s' needs a FILE", file);
      }
      json_file = file;
    } else if (strncmp(argv[i], "--json=", 7) == 0) {
      json_file = argv[i] + 7;
    } else {
      args[n++] = argv[i];
    }
  }
  if (json_stdout && json_file != NULL) {
    free(args);
    return cli_usage(&cmd_bench,
                     "--json (JSON on stdout) and --json-file "
                     "%s: choose one",
                     json_file);
  }
  /* JSON on stdout: the report goes to our stdout (as /dev/fd/N), the
   * benchmark's tables to stderr, so `> results.json` holds JSON only. */
  char fd_path[32];
  int saved = -1;
  if (json_stdout) {
    fflush(stdout);
    saved = fcntl(STDOUT_FILENO, F_DUPFD, 3);
    if (saved < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
      free(args);
      return cli_fail("bench: cannot redirect output: %s", strerror(errno));
    }
    snprintf(fd_path, sizeof fd_path, "/dev/fd/%d", saved);
    json_file = fd_path;
  }
  if (json_file != NULL) {
    args[json_at] = "--json";
    args[json_at + 1] = (char *)json_file;
  } else { /* close the gap */
    memmove(args + json_at, args + json_at + 2,
            (n - json_at - 2) * sizeof *args);
    n -= 2;
  }
  args[n] = NULL;
  fflush(NULL);
  execv(path, args);
  int err = errno;
  free(args);
  if (saved >= 0) {
    dup2(saved, STDOUT_FILENO);
    close(saved);
  }
  return cli_fail("bench: cannot run %s: %s", path, strerror(err));
}

const struct cli_command cmd_bench = {
    .name = "bench",
    .summary = "run the benchmark (sage-queue-bench) and print its ratios",
    .usage =
        "usage: sage-queue bench [--json | --json-file FILE] [ARGS...]\n\n"
        "Runs the C benchmark, sage-queue-bench, with ARGS passed through\n"
        "unchanged: with none it uses its own defaults (the shm transport\n"
        "against a reference SPSC ring on pinned cores) and prints the\n"
        "ratio table. --transport NAME (before or after `bench`) is passed\n"
        "on. `sage-queue bench -- --help` shows the benchmark's own\n"
        "options; arguments after \"--\" are passed on as they are.\n\n"
        "Options:\n"
        "  --json                 the JSON report on stdout (the tables go\n"
        "                         to stderr); a flag, before or after bench\n"
        "  --json-file FILE       the JSON report into FILE, which must not\n"
        "                         start with '-'\n"
        "  -o, --output FILE      the same as --json-file FILE\n"
        "  -t, --transport NAME   the transport to measure\n\n"
        "The program run is $SAGE_BENCH if set, else the installed\n"
        "  " SAGE_BENCH_PATH "\n\n"
        "Examples:\n"
        "  $ sage-queue bench\n"
        "  $ sage-queue --json bench > results.json\n"
        "  $ sage-queue bench --quick --json-file results.json\n\n"
        "Exit status: the benchmark's own; 1 if it cannot be run, 2 usage.\n",
    .run = run,
};
