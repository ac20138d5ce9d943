/* sage-queue command: shared declarations. Exit codes: 0 ok, 1 error,
 * 2 usage. */
#ifndef SAGE_CLI_H
#define SAGE_CLI_H

#include <sage/queue.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "uri.h"

#define EXIT_OK 0
#define EXIT_ERROR 1
#define EXIT_USAGE 2

/* Options common to every subcommand. */
struct cli_opts {
  int json;
  const char *transport; /* --transport; NULL: $SAGE_TRANSPORT or shm */
};

/* A subcommand: argv[0] is its name. */
struct cli_command {
  const char *name;
  const char *summary;
  const char *usage; /* full --help text */
  int (*run)(int argc, char **argv, const struct cli_opts *opts);
};

extern const struct cli_command cmd_plugins;
extern const struct cli_command cmd_ls;
extern const struct cli_command cmd_stat;
extern const struct cli_command cmd_top;
extern const struct cli_command cmd_peek;
extern const struct cli_command cmd_put;
extern const struct cli_command cmd_drain;
extern const struct cli_command cmd_rm;
extern const struct cli_command cmd_gc;
extern const struct cli_command cmd_bench;
extern const struct cli_command cmd_check_plugin;
extern const struct cli_command cmd_metrics;

/* Prints "sage-queue: <what>: <last error detail or strerror>" to stderr and
 * returns EXIT_ERROR. */
int cli_error(const char *what, int code);
/* Prints "sage-queue: <message>" to stderr and returns EXIT_ERROR. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cli_fail with the code given in --json ("ENOTSUP", ...). */
/* cli_error for a command's queue: "COMMAND NAME: detail". */
int cli_error_in(const char *command, const char *name, int code);
int cli_fail_code(const char *code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* With --json given (main and the option parser call this), cli_error,
 * cli_fail and cli_usage also write {"error": {"message": M, "code": C}}
 * to stdout: C is an errno name ("ENOENT"), "usage" or "error". */
void cli_set_json(int on);
/* "ENOENT" for -ENOENT (or ENOENT); "error" when unknown. */
const char *cli_code_name(int code);
/* A queue argument: NAME (on `transport`) or a URI, whose transport and
 * name win (the strings point into arg, or into uri). */
struct cli_target {
  const char *transport;
  const char *name;
  struct sage_uri uri;
};
int cli_target(const struct cli_command *cmd, const char *arg,
               const char *transport, struct cli_target *t);

/* Prints a one-line usage error pointing at --help ("sage-queue: stat:
 * missing queue NAME (see 'sage-queue stat --help')") and returns
 * EXIT_USAGE. */
int cli_usage(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* True if argv holds -h/--help before any "--". */
int cli_wants_help(int argc, char **argv);

/* ---- args.c: option parsing ---- */

enum cli_arg_kind {
  CLI_FLAG,      /* --name */
  CLI_VALUE,     /* --name VALUE or --name=VALUE */
  CLI_OPT_NUMBER /* --name, --name=N, or --name N when N is a number */
};

struct cli_option {
  const char *name; /* long name without the dashes */
  char short_name;  /* 0: none */
  enum cli_arg_kind kind;
  int id; /* returned by cli_next_option; > 0 */
};

/* Walks a subcommand's argv. Options may come anywhere; "--" ends them.
 * --json (every command) and, with `queue_options`, --transport NAME are
 * handled here, writing into *opts. Positional arguments are gathered in
 * order at argv[1..npos]. */
struct cli_parser {
  const struct cli_command *cmd;
  const struct cli_option *options;
  size_t noptions;
  int queue_options;
  struct cli_opts *opts;
  int argc;
  char **argv;
  int next;
  int npos;
  int only_positional;
};

void cli_parser_init(struct cli_parser *p, const struct cli_command *cmd,
                     int argc, char **argv, const struct cli_option *options,
                     size_t noptions, struct cli_opts *opts);
/* Returns the next option's id (its value, or NULL, in *value), 0 when
 * the arguments are used up, or -1 after printing a usage error (return
 * EXIT_USAGE). */
int cli_next_option(struct cli_parser *p, const char **value);
/* The positional arguments, valid once cli_next_option returned 0. */
char **cli_positional(const struct cli_parser *p, int *count);

/* Number parsing for option values: 0 on success. */
int cli_parse_seconds(const char *text, double *out);
int cli_parse_count(const char *text, uint64_t *out);
/* A user name or numeric uid. */
int cli_parse_uid(const char *text, uint32_t *out);

/* ---- output.c: aligned tables, JSON, human units ---- */

struct table;
struct table *table_new(size_t ncols, const char *const *headers);
void table_add(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *out);
void table_free(struct table *t);

/* Writes s as a JSON string literal (with quotes). */
void json_string(FILE *out, const char *s);
/* Writes `"key": ` (preceded by ", " unless first). */
void json_key(FILE *out, const char *key, int first);
/* Writes an error in the one shape every --json error has,
 * {"message": M, "code": C} (C from cli_code_name, or "usage"/"error"),
 * or null when message is NULL. */
void json_error_object(FILE *out, const char *message, const char *code);

/* "512 B", "64.0 KiB", "1.5 MiB", ... */
void fmt_bytes(uint64_t bytes, char *buf, size_t cap);
/* "42s", "5m03s", "3h12m", "4d05h" */
void fmt_duration(double seconds, char *buf, size_t cap);
/* Local time, "2026-11-26 12:02:26". */
void fmt_time(uint64_t epoch_ns, char *buf, size_t cap);
/* The user name of uid, or its number. */
void fmt_user(uint32_t uid, char *buf, size_t cap);
/* The terminal's size on fd (TIOCGWINSZ); 24 rows x 80 columns when fd
 * is not a terminal. */
void term_size(int fd, int *rows, int *cols);
/* Prints text ('\n'-separated lines) fitting rows x cols: lines cut at
 * cols, at most rows lines (the last a "+N more" when some are cut).
 * in_place: cursor home first, each line cleared to its end, the rest of
 * the screen cleared, and no newline after the last line, so frames
 * replace each other instead of piling up in the scrollback. */
void frame_print(FILE *out, const char *text, int rows, int cols, int in_place);
/* Renders a frame with render(out, cols, ctx) at the terminal's size (80x24
 * without one) and prints it with frame_print. */
void frame_show(void (*render)(FILE *out, int cols, const void *ctx),
                const void *ctx, int in_place);
/* s cut to cols columns, ending in "..." when cut. */
void fmt_ellipsize(const char *s, int cols, char *buf, size_t cap);
/* Nanoseconds on CLOCK_REALTIME / CLOCK_MONOTONIC. */
uint64_t now_realtime_ns(void);
uint64_t now_monotonic_ns(void);

/* ---- cmd_stat.c: rates and refresh loops (stat --watch, top) ---- */

struct cli_rates {
  int valid; /* 0: no earlier sample */
  double interval_s, put_msgs, got_msgs, put_mb, got_mb;
};
/* Rates between two readings taken at monotonic a_ns and b_ns (a NULL:
 * invalid rates). */
struct cli_rates cli_rates_between(const struct sage_stats *a, uint64_t a_ns,
                                   const struct sage_stats *b, uint64_t b_ns);
/* SIGINT, SIGTERM and SIGHUP set cli_stop_requested (and end cli_sleep)
 * instead of killing, so a refresh loop exits 0 cleanly. */
void cli_catch_stop_signals(void);
void cli_sleep(double seconds);
extern volatile sig_atomic_t cli_stop_requested;

/* ---- observe.c: looking at queues without attaching ---- */

/* One queue as seen by an observer. */
struct queue_view {
  char name[160];
  const char *transport;
  uint32_t owner_uid; /* from the listing, or ours for a named queue */
  int rc;             /* 0, or why it could not be read (-EBADMSG: corrupt) */
  char error[512];    /* detail when rc != 0 */
  struct sage_stats st;
  int32_t pids[64]; /* live attached pids (first 64) */
  int npids;        /* live attachment count (may exceed 64) */
  int pids_known;   /* 0: the transport counts attachments, names none */
  int observing;    /* 1: read in observe mode; 0: through a normal handle */
  /* Every stat, in sage_stats_name order (when rc == 0). */
  uint64_t values[64];
  size_t nvalues;
  /* The bytes the queue holds (shm: its file's size) and its segment's
   * permission bits; -1 when the transport cannot tell. Known even for a
   * corrupt queue. */
  int64_t memory;
  int mode;
};

enum queue_state {
  QUEUE_LIVE,      /* someone is attached */
  QUEUE_IDLE,      /* nobody attached; closed cleanly (kept by gc) */
  QUEUE_STALE,     /* every attachment's process died */
  QUEUE_CORRUPT,   /* segment failed validation */
  QUEUE_UNREADABLE /* permission or another error */
};

/* Opens queue `name` of user `uid` to observe only: read-only, not counted
 * as an attachment; put/get on it fail with -EPERM. A transport without
 * SAGE_CAP_OBSERVE is opened as a normal handle (create=never) instead:
 * *observing says which. */
int queue_open_observer(const char *transport, const char *name, uint32_t uid,
                        sage_queue **q, int *observing);
/* The line to show when a queue could not be read in observe mode. */
void queue_observe_note(const char *transport, char *buf, size_t cap);
/* Opens `name` of user `uid` to observe only (attach=0), reads stats and
 * attachments, closes it. Fills v (v->rc and v->error on failure) and
 * returns v->rc. */
int queue_observe(const char *transport, const char *name, uint32_t uid,
                  struct queue_view *v);
enum queue_state queue_state_of(const struct queue_view *v);
/* A readable queue's state from its stats: a queue is stale when nobody
 * is attached but some attachment's process died without detaching. */
enum queue_state queue_stats_state(const struct sage_stats *st);
const char *queue_state_name(enum queue_state s);
/* Seconds since the queue was created (0 when unknown). */
double queue_age_seconds(const struct queue_view *v, uint64_t now_ns);
/* Writes a queue's JSON members, without the braces, in the one shape that
 * `ls --json` and `stat --json` share: name, transport, owner, owner_uid,
 * state, stale, observed, pids, age_s, memory_bytes, mode, stats, error.
 * `stats` holds every stat with all_stats, else the ones ls shows; null
 * (and `error` {"message", "code"}) when the queue could not be read. */
void queue_json_members(FILE *out, const struct queue_view *v, uint64_t now_ns,
                        int all_stats);
/* Reads stats, every stat value, attachments and the segment's memory and
 * mode of the open queue q into v (whose name, transport, owner_uid and
 * observing the caller sets). Sets v->rc (and v->error) and returns it. */
int queue_view_read(sage_queue *q, struct queue_view *v);
/* "pid 1234", "pids 1234, 5678" (with "and N more" past the recorded
 * ones), or "pids not reported" when the transport cannot name them. */
void queue_pids_text(const struct queue_view *v, char *buf, size_t cap);

/* Every queue listed by transport (all users with `all_users`), sorted by
 * name then owner. Returns 0 or a negative code (detail set). */
struct queue_listing {
  size_t count;
  struct queue_entry {
    char name[160];
    uint32_t uid;
  } * entries;
};
int queue_list(const char *transport, int all_users, struct queue_listing *l);
void queue_listing_free(struct queue_listing *l);
/* queue_list, then queue_observe of each: *views (free() it) gets *count
 * entries. Returns 0, a listing error (detail set), or -ENOMEM. */
int queue_observe_all(const char *transport, int all_users,
                      struct queue_view **views, size_t *count);

#endif
