/* sage-queue command: shared declarations. Exit codes: 0 ok, 1 error,
 * 2 usage. */
#ifndef SAGE_CLI_H
#define SAGE_CLI_H

#include <stdio.h>

#define EXIT_OK 0
#define EXIT_ERROR 1
#define EXIT_USAGE 2

/* Options common to every subcommand. */
struct cli_opts {
  int json;
};

/* A subcommand: argv[0] is its name. */
struct cli_command {
  const char *name;
  const char *summary;
  const char *usage; /* full --help text */
  int (*run)(int argc, char **argv, const struct cli_opts *opts);
};

extern const struct cli_command cmd_plugins;

/* Prints "sage-queue: <what>: <last error detail or strerror>" to stderr and
 * returns EXIT_ERROR. */
int cli_error(const char *what, int code);
/* Prints a usage error and returns EXIT_USAGE. */
int cli_usage(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* True if argv holds -h/--help. */
int cli_wants_help(int argc, char **argv);

/* ---- output.c: aligned tables and JSON ---- */

struct table;
struct table *table_new(size_t ncols, const char *const *headers);
void table_add(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *out);
void table_free(struct table *t);

/* Writes s as a JSON string literal (with quotes). */
void json_string(FILE *out, const char *s);

#endif
