/* Option parsing for sage-queue subcommands: long and short options
 * anywhere on the line, "--" to end them, positional arguments kept in
 * order. Small enough to avoid getopt_long's permutation and messages. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { ID_JSON = -100, ID_TRANSPORT = -101 };

static const struct cli_option common_options[] = {
    {"json", 0, CLI_FLAG, ID_JSON},
};
static const struct cli_option queue_options[] = {
    {"transport", 't', CLI_VALUE, ID_TRANSPORT},
};

void cli_parser_init(struct cli_parser *p, const struct cli_command *cmd,
                     int argc, char **argv, const struct cli_option *options,
                     size_t noptions, struct cli_opts *opts) {
  *p = (struct cli_parser){.cmd = cmd,
                           .options = options,
                           .noptions = noptions,
                           .opts = opts,
                           .argc = argc,
                           .argv = argv,
                           .next = 1};
}

static const struct cli_option *find_in(const struct cli_option *table,
                                        size_t n, const char *name, size_t len,
                                        char short_name) {
  for (size_t i = 0; i < n; i++) {
    if (short_name != 0 ? table[i].short_name == short_name
                        : strlen(table[i].name) == len &&
                              strncmp(table[i].name, name, len) == 0)
      return &table[i];
  }
  return NULL;
}

static const struct cli_option *find(const struct cli_parser *p,
                                     const char *name, size_t len,
                                     char short_name) {
  const struct cli_option *o =
      find_in(p->options, p->noptions, name, len, short_name);
  if (o == NULL)
    o = find_in(common_options, 1, name, len, short_name);
  if (o == NULL && p->queue_options)
    o = find_in(queue_options, 1, name, len, short_name);
  return o;
}

static int is_number(const char *s) {
  char *end;
  errno = 0;
  double d = strtod(s, &end);
  return s[0] != '\0' && *end == '\0' && errno == 0 && isfinite(d);
}

/* Takes the value of option o, whose own argument was `arg`; `inline_value`
 * is the text after '=' (or NULL). */
static int take_value(struct cli_parser *p, const struct cli_option *o,
                      const char *arg, const char *inline_value,
                      const char **value) {
  *value = inline_value;
  switch (o->kind) {
  case CLI_FLAG:
    if (inline_value != NULL) {
      cli_usage(p->cmd, "option '%s' takes no value", arg);
      return -1;
    }
    return 0;
  case CLI_VALUE:
    if (inline_value == NULL) {
      if (p->next >= p->argc) {
        cli_usage(p->cmd, "option '%s' needs a value", arg);
        return -1;
      }
      *value = p->argv[p->next++];
    }
    return 0;
  case CLI_OPT_NUMBER:
    if (inline_value == NULL && p->next < p->argc &&
        is_number(p->argv[p->next]))
      *value = p->argv[p->next++];
    return 0;
  }
  return 0;
}

static int handle_common(struct cli_parser *p, int id, const char *value) {
  if (id == ID_JSON) {
    p->opts->json = 1;
    cli_set_json(1);
  } else if (id == ID_TRANSPORT)
    p->opts->transport = value;
  return id;
}

int cli_next_option(struct cli_parser *p, const char **value) {
  *value = NULL;
  while (p->next < p->argc) {
    char *arg = p->argv[p->next++];
    if (p->only_positional || arg[0] != '-' || arg[1] == '\0') {
      p->argv[1 + p->npos++] = arg; /* write index never passes read */
      continue;
    }
    if (strcmp(arg, "--") == 0) {
      p->only_positional = 1;
      continue;
    }
    const struct cli_option *o;
    const char *inline_value = NULL;
    if (arg[1] == '-') {
      const char *eq = strchr(arg + 2, '=');
      size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
      o = find(p, arg + 2, len, 0);
      inline_value = eq ? eq + 1 : NULL;
    } else {
      o = arg[2] == '\0' ? find(p, NULL, 0, arg[1]) : NULL;
    }
    if (o == NULL) {
      cli_usage(p->cmd, "unknown option '%s'", arg);
      return -1;
    }
    if (take_value(p, o, arg, inline_value, value) != 0)
      return -1;
    if (o->id < 0) {
      handle_common(p, o->id, *value);
      continue;
    }
    return o->id;
  }
  return 0;
}

char **cli_positional(const struct cli_parser *p, int *count) {
  *count = p->npos;
  return p->argv + 1;
}

int cli_parse_seconds(const char *text, double *out) {
  char *end;
  errno = 0;
  double d = strtod(text, &end);
  if (text[0] == '\0' || *end != '\0' || errno != 0 || !(d > 0) || d > 86400)
    return -1;
  *out = d;
  return 0;
}

int cli_parse_count(const char *text, uint64_t *out) {
  char *end;
  errno = 0;
  if (text[0] < '0' || text[0] > '9')
    return -1;
  unsigned long long v = strtoull(text, &end, 10);
  if (*end != '\0' || errno != 0)
    return -1;
  *out = v;
  return 0;
}

int cli_parse_uid(const char *text, uint32_t *out) {
  uint64_t v;
  if (cli_parse_count(text, &v) == 0) {
    if (v > UINT32_MAX)
      return -1;
    *out = (uint32_t)v;
    return 0;
  }
  struct passwd pw, *found = NULL;
  char scratch[1024];
  if (getpwnam_r(text, &pw, scratch, sizeof scratch, &found) != 0 ||
      found == NULL)
    return -1;
  *out = (uint32_t)found->pw_uid;
  return 0;
}
