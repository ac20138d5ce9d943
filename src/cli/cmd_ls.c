/* sage-queue ls: every live queue of a transport, with its owner, size,
 * depth, attachments and state. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

enum { OPT_ALL = 1, OPT_STATS, OPT_WIDE, OPT_LONG };

static const struct cli_option options[] = {
    {"all", 'a', CLI_FLAG, OPT_ALL},
    {"stats", 's', CLI_FLAG, OPT_STATS},
    {"wide", 'w', CLI_FLAG, OPT_WIDE},
    {"long", 'l', CLI_FLAG, OPT_LONG},
};

/* The table fits the terminal's width, or 80 columns when the output is
 * not a terminal: the default view has the columns that matter most
 * (--long has them all), drops AGE then ATTACHED when even those do not
 * fit, and shortens long names (never in --json) so that one long name
 * does not widen every row; --wide keeps names whole. */
#define NAME_COLUMN_MIN 12
#define NAME_COLUMN_LONG 32
#define OWNER_COLUMN_MAX 12
#define NCOLS 12

struct ls_args {
  int all, stats, wide, longer;
};

enum column {
  C_NAME,
  C_TRANSPORT,
  C_OWNER,
  C_MODE,
  C_MEMORY,
  C_CAPACITY,
  C_USED,
  C_ITEMS,
  C_ATTACHED,
  C_DEAD,
  C_AGE,
  C_STATE
};

static const char *const headers[NCOLS] = {
    "NAME", "TRANSPORT", "OWNER",    "MODE", "MEMORY", "CAPACITY",
    "USED", "ITEMS",     "ATTACHED", "DEAD", "AGE",    "STATE"};

/* The default view's columns, in order; the ones dropped first when they
 * do not fit, in order. */
static const enum column brief_columns[] = {
    C_NAME, C_OWNER, C_MODE, C_MEMORY, C_ITEMS, C_ATTACHED, C_AGE, C_STATE};
static const enum column droppable[] = {C_AGE, C_ATTACHED};

struct row {
  char cells[NCOLS][168]; /* a whole queue name fits */
};

/* "first-part...last-part": both ends, as names often differ at the end. */
static void short_name(const char *name, size_t max, char *buf, size_t cap) {
  size_t len = strlen(name);
  if (len <= max || max < 8) {
    snprintf(buf, cap, "%s", name);
    return;
  }
  size_t tail = (max - 3) / 2, head = max - 3 - tail;
  snprintf(buf, cap, "%.*s...%s", (int)head, name, name + len - tail);
}

/* Every column but NAME (cells[0], filled later). */
static void fill_row(struct row *r, const struct queue_view *v, uint64_t now,
                     int longer) {
  char(*c)[168] = r->cells;
  for (size_t i = 0; i < NCOLS; i++)
    snprintf(c[i], sizeof c[i], "-");
  snprintf(c[C_TRANSPORT], sizeof c[C_TRANSPORT], "%s", v->transport);
  char owner[168];
  fmt_user(v->owner_uid, owner, sizeof owner);
  if (longer)
    snprintf(c[C_OWNER], sizeof c[C_OWNER], "%s", owner);
  else
    fmt_ellipsize(owner, OWNER_COLUMN_MAX, c[C_OWNER], sizeof c[C_OWNER]);
  if (v->mode >= 0)
    snprintf(c[C_MODE], sizeof c[C_MODE], "%04o", (unsigned)v->mode);
  if (v->memory >= 0)
    fmt_bytes((uint64_t)v->memory, c[C_MEMORY], sizeof c[C_MEMORY]);
  if (v->rc == 0) {
    fmt_bytes(v->st.capacity, c[C_CAPACITY], sizeof c[C_CAPACITY]);
    fmt_bytes(v->st.bytes_used, c[C_USED], sizeof c[C_USED]);
    snprintf(c[C_ITEMS], sizeof c[C_ITEMS], "%llu",
             (unsigned long long)v->st.items);
    snprintf(c[C_ATTACHED], sizeof c[C_ATTACHED], "%llu",
             (unsigned long long)v->st.attached);
    snprintf(c[C_DEAD], sizeof c[C_DEAD], "%llu",
             (unsigned long long)v->st.stale_attached);
    fmt_duration(queue_age_seconds(v, now), c[C_AGE], sizeof c[C_AGE]);
  }
  snprintf(c[C_STATE], sizeof c[C_STATE], "%s",
           queue_state_name(queue_state_of(v)));
}

/* The widest cell of column c, header included. */
static size_t column_width(const struct row *rows, size_t n, enum column c) {
  size_t w = strlen(headers[c]);
  for (size_t i = 0; i < n; i++)
    if (strlen(rows[i].cells[c]) > w)
      w = strlen(rows[i].cells[c]);
  return w;
}

/* Columns and separators but NAME. */
static size_t others_width(const struct row *rows, size_t n,
                           const enum column *cols, size_t ncols) {
  size_t w = 0;
  for (size_t i = 0; i < ncols; i++)
    if (cols[i] != C_NAME)
      w += column_width(rows, n, cols[i]) + 2;
  return w;
}

static void drop_column(enum column *cols, size_t *ncols, enum column c) {
  size_t k = 0;
  for (size_t i = 0; i < *ncols; i++)
    if (cols[i] != c)
      cols[k++] = cols[i];
  *ncols = k;
}

static int print_table(const struct queue_view *views, size_t n, uint64_t now,
                       const struct ls_args *a) {
  struct row *rows = calloc(n, sizeof *rows);
  if (rows == NULL)
    return cli_fail("ls: out of memory");
  for (size_t i = 0; i < n; i++)
    fill_row(&rows[i], &views[i], now, a->longer);
  enum column cols[NCOLS];
  size_t ncols = 0;
  if (a->longer)
    for (size_t c = 0; c < NCOLS; c++)
      cols[ncols++] = (enum column)c;
  else
    for (size_t c = 0; c < sizeof brief_columns / sizeof *brief_columns; c++)
      cols[ncols++] = brief_columns[c];
  int rows_unused, width;
  term_size(STDOUT_FILENO, &rows_unused, &width); /* 80 when not a tty */
  size_t others = others_width(rows, n, cols, ncols);
  for (size_t d = 0; !a->longer && d < sizeof droppable / sizeof *droppable &&
                     others + NAME_COLUMN_MIN > (size_t)width;
       d++) {
    drop_column(cols, &ncols, droppable[d]);
    others = others_width(rows, n, cols, ncols);
  }
  /* --long is wider than 80 columns anyway: names keep 32 there */
  size_t least = a->longer ? NAME_COLUMN_LONG : NAME_COLUMN_MIN;
  size_t max = sizeof rows[0].cells[0];
  if (!a->wide)
    max = others + least < (size_t)width ? (size_t)width - others : least;
  const char *names[NCOLS];
  for (size_t c = 0; c < ncols; c++)
    names[c] = headers[cols[c]];
  struct table *t = table_new(ncols, names);
  for (size_t i = 0; i < n; i++) {
    const char *cells[NCOLS];
    short_name(views[i].name, max, rows[i].cells[C_NAME],
               sizeof rows[i].cells[C_NAME]);
    for (size_t c = 0; c < ncols; c++)
      cells[c] = rows[i].cells[cols[c]];
    table_add(t, cells);
  }
  table_print(t, stdout);
  table_free(t);
  free(rows);
  /* Why a queue could not be read, below the table. */
  for (size_t i = 0, first = 1; i < n; i++)
    if (views[i].rc != 0) {
      if (first)
        putchar('\n');
      first = 0;
      printf("%s %s: %s\n", queue_state_name(queue_state_of(&views[i])),
             views[i].name, views[i].error);
    }
  return EXIT_OK;
}

static int list_queues(const struct cli_opts *opts, const struct ls_args *a) {
  struct queue_view *views;
  size_t n;
  int rc = queue_observe_all(opts->transport, a->all, &views, &n);
  if (rc != 0)
    return rc == -ENOMEM ? cli_fail("ls: out of memory") : cli_error("ls", rc);
  uint64_t now = now_realtime_ns();
  rc = EXIT_OK;
  if (opts->json) {
    printf("[");
    for (size_t i = 0; i < n; i++) {
      printf("%s\n  {", i == 0 ? "" : ",");
      queue_json_members(stdout, &views[i], now, a->stats);
      printf("}");
    }
    printf("\n]\n");
  } else if (n == 0) {
    printf("no %squeues on transport %s\n", a->all ? "" : "own ",
           sage_transport_choose(opts->transport));
  } else {
    rc = print_table(views, n, now, a);
  }
  free(views);
  return rc;
}

static int run(int argc, char **argv, const struct cli_opts *global) {
  struct cli_opts opts = *global;
  struct ls_args a = {0};
  struct cli_parser p;
  const char *value;
  int id, npos;
  cli_parser_init(&p, &cmd_ls, argc, argv, options,
                  sizeof options / sizeof options[0], &opts);
  p.queue_options = 1;
  while ((id = cli_next_option(&p, &value)) > 0) {
    a.all |= id == OPT_ALL;
    a.stats |= id == OPT_STATS;
    a.wide |= id == OPT_WIDE;
    a.longer |= id == OPT_LONG;
  }
  if (id < 0)
    return EXIT_USAGE;
  char **pos = cli_positional(&p, &npos);
  if (npos > 0)
    return cli_usage(&cmd_ls, "unexpected argument '%s'", pos[0]);
  if (a.stats && !opts.json)
    return cli_usage(&cmd_ls, "--stats goes with --json (every counter as "
                              "a table: `sage-queue metrics`)");
  return list_queues(&opts, &a);
}

const struct cli_command cmd_ls = {
    .name = "ls",
    .summary = "list live queues: owner, mode, memory, items, state",
    .usage =
        "usage: sage-queue ls [--all] [--long] [--wide] [--transport NAME]\n"
        "                     [--json [--stats]]\n\n"
        "Lists the queues of a transport (default: $SAGE_TRANSPORT or shm)\n"
        "without attaching to them, in a table that fits the terminal (80\n"
        "columns when not writing to one): name, owner and MODE (permission\n"
        "bits) like ipcs, MEMORY (what the queue really holds: for shm its\n"
        "/dev/shm file, header and slots included; '-' where the transport\n"
        "cannot tell), items queued, ATTACHED (live processes), age, and\n"
        "STATE:\n"
        "  live     someone is attached\n"
        "  idle     nobody attached, every handle closed cleanly (kept;\n"
        "           `sage-queue gc --idle` removes it)\n"
        "  stale    every attachment died: `sage-queue gc` removes it\n"
        "  corrupt  the segment fails validation: `rm --force` removes it\n"
        "--long adds TRANSPORT, CAPACITY, USED (bytes) and DEAD (attachments\n"
        "whose process died). Long names are shortened in the middle\n"
        "(first...last) to fit.\n\n"
        "Options:\n"
        "  -a, --all             every user's queues (as far as permissions\n"
        "                        allow), not just your own\n"
        "  -l, --long            every column (wider than 80 columns;\n"
        "                        names kept to 32 characters or more)\n"
        "  -w, --wide            never shorten names\n"
        "  -t, --transport NAME  transport to list\n"
        "  --json                a JSON array, one object per queue, shaped\n"
        "                        like `stat --json` (without rates): name,\n"
        "                        transport, owner, owner_uid, state, stale,\n"
        "                        observed, pids, age_s, memory_bytes, mode,\n"
        "                        stats {capacity, bytes_used, items,\n"
        "                        attached, stale_attached, created_ns},\n"
        "                        error (null; when unreadable stats null\n"
        "                        and error {\"message\", \"code\"})\n"
        "  -s, --stats           with --json: every stat in stats, as\n"
        "                        `stat --json` has them\n\n"
        "Examples:\n"
        "  $ sage-queue ls\n"
        "  NAME  OWNER  MODE  MEMORY   ITEMS  ATTACHED  AGE    STATE\n"
        "  jobs  alice  0600  1.6 MiB  32     2         5m03s  live\n"
        "  $ sage-queue ls -l\n"
        "  $ sage-queue ls --json --stats | jq '.[] | {name, put: "
        ".stats.total_put}'\n\n"
        "Exit status: 0 ok, 1 error, 2 usage.\n",
    .run = run,
};
