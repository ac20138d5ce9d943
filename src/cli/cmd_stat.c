/* sage-queue stat: every shared stat of one queue, once or refreshed in
 * place with rates (--watch). Stats are read by name, so fields added to
 * struct sage_stats show up here without a change. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_PIDS 64

enum { OPT_WATCH = 1, OPT_COUNT, OPT_UID };

static const struct cli_option options[] = {
    {"watch", 'w', CLI_OPT_NUMBER, OPT_WATCH},
    {"count", 'n', CLI_VALUE, OPT_COUNT},
    {"uid", 'u', CLI_VALUE, OPT_UID},
};

struct stat_args {
  const char *name;
  uint32_t uid;
  int watch;
  double interval_s;
  uint64_t count; /* frames to show when watching; 0: until stopped */
  int observing;  /* see queue_open_observer */
};

/* One reading of the queue: the view `ls` has of it (so that --json has
 * the one shape of ls --json), and when it was taken. */
struct sample {
  struct queue_view v;
  uint64_t mono_ns;
};

#define rates cli_rates

volatile sig_atomic_t cli_stop_requested;
#define stop_requested cli_stop_requested

static void on_stop_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

/* Without SA_RESTART, so the sleep between frames ends at once. */
void cli_catch_stop_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

void cli_sleep(double s) {
  struct timespec ts = {.tv_sec = (time_t)s,
                        .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
  while (!stop_requested && nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}
#define catch_stop_signals cli_catch_stop_signals
#define sleep_seconds cli_sleep

struct cli_rates cli_rates_between(const struct sage_stats *a, uint64_t a_ns,
                                   const struct sage_stats *b, uint64_t b_ns) {
  struct cli_rates r = {0};
  if (a == NULL || b_ns <= a_ns)
    return r;
  r.valid = 1;
  r.interval_s = (double)(b_ns - a_ns) / 1e9;
  r.put_msgs = (double)(b->total_put - a->total_put) / r.interval_s;
  r.got_msgs = (double)(b->total_got - a->total_got) / r.interval_s;
  r.put_mb = (double)(b->bytes_put - a->bytes_put) / r.interval_s / 1e6;
  r.got_mb = (double)(b->bytes_got - a->bytes_got) / r.interval_s / 1e6;
  return r;
}

static int take_sample(sage_queue *q, const struct stat_args *a,
                       struct sample *s) {
  struct queue_view *v = &s->v;
  memset(v, 0, sizeof *v);
  snprintf(v->name, sizeof v->name, "%s", a->name);
  v->transport = sage_queue_transport_name(q);
  v->owner_uid = a->uid;
  v->observing = a->observing;
  int rc = queue_view_read(q, v);
  s->mono_ns = now_monotonic_ns();
  return rc;
}

static struct rates rates_between(const struct sample *a,
                                  const struct sample *b) {
  return a == NULL
             ? (struct rates){0}
             : cli_rates_between(&a->v.st, a->mono_ns, &b->v.st, b->mono_ns);
}

/* ---- JSON: one object per line, so --watch output is JSON Lines ---- */

/* The members of `ls --json` (every stat, as `ls --json --stats` has
 * them), then "rates". */
static void print_json(const struct sample *s, const struct rates *r) {
  printf("{");
  queue_json_members(stdout, &s->v, now_realtime_ns(), 1);
  printf(", \"rates\": ");
  if (r->valid)
    printf("{\"interval_s\": %.3f, \"put_msgs_per_s\": %.1f, "
           "\"got_msgs_per_s\": %.1f, \"put_mb_per_s\": %.3f, "
           "\"got_mb_per_s\": %.3f}",
           r->interval_s, r->put_msgs, r->got_msgs, r->put_mb, r->got_mb);
  else
    printf("null");
  printf("}\n");
}

/* ---- human output ---- */

static int is_byte_stat(const char *name) {
  static const char *const byte_stats[] = {"capacity",   "max_message",
                                           "bytes_used", "bytes_put",
                                           "bytes_got",  "high_water"};
  for (size_t i = 0; i < sizeof byte_stats / sizeof byte_stats[0]; i++)
    if (strcmp(name, byte_stats[i]) == 0)
      return 1;
  return 0;
}

static void stat_note(const char *name, uint64_t value, char *buf, size_t cap) {
  buf[0] = '\0';
  if (is_byte_stat(name) && value >= 1024)
    fmt_bytes(value, buf, cap);
  else if (strcmp(name, "created_ns") == 0 && value != 0)
    fmt_time(value, buf, cap);
  else if (strcmp(name, "owner_uid") == 0)
    fmt_user((uint32_t)value, buf, cap);
}

/* What a heading says of a queue: owner, creation time and age, pids. */
struct heading {
  char owner[64], created[64], age[32], pids[512];
};

static void heading_of(const struct sample *s, const char *pid_sep,
                       struct heading *h) {
  fmt_user((uint32_t)s->v.st.owner_uid, h->owner, sizeof h->owner);
  fmt_time(s->v.st.created_ns, h->created, sizeof h->created);
  uint64_t now = now_realtime_ns();
  fmt_duration(
      now > s->v.st.created_ns ? (double)(now - s->v.st.created_ns) / 1e9 : 0,
      h->age, sizeof h->age);
  h->pids[0] = '\0';
  for (int i = 0, used = 0; s->v.pids_known && i < s->v.npids && i < MAX_PIDS;
       i++)
    used += snprintf(h->pids + used, sizeof h->pids - (size_t)used, "%s%d",
                     i ? pid_sep : "", (int)s->v.pids[i]);
}

static void print_heading(const char *transport, const struct stat_args *a,
                          const struct sample *s) {
  struct heading h;
  heading_of(s, ", ", &h);
  printf("queue %s (transport %s), owner %s, created %s (%s ago)\n", a->name,
         transport, h.owner, h.created, h.age);
  printf("state %s: %llu attached%s%s%s, %llu dead\n",
         queue_state_name(queue_stats_state(&s->v.st)),
         (unsigned long long)s->v.st.attached, h.pids[0] ? " (pids " : "",
         h.pids, h.pids[0] ? ")" : "",
         (unsigned long long)s->v.st.stale_attached);
  if (!a->observing) {
    char note[256];
    queue_observe_note(transport, note, sizeof note);
    printf("note: %s\n", note);
  }
}

static void print_rates(const struct rates *r) {
  if (!r->valid) {
    printf("rates: (after the next refresh)\n");
    return;
  }
  printf("rates: put %.0f msg/s %.2f MB/s, got %.0f msg/s %.2f MB/s "
         "(over %.1fs)\n",
         r->put_msgs, r->put_mb, r->got_msgs, r->got_mb, r->interval_s);
}

static void print_human(const char *transport, const struct stat_args *a,
                        const struct sample *s, const struct rates *r) {
  static const char *const headers[] = {"STAT", "VALUE", ""};
  print_heading(transport, a, s);
  if (a->watch)
    print_rates(r);
  putchar('\n');
  struct table *t = table_new(3, headers);
  for (size_t i = 0; i < s->v.nvalues; i++) {
    char value[32], note[64];
    snprintf(value, sizeof value, "%llu", (unsigned long long)s->v.values[i]);
    stat_note(sage_stats_name(i), s->v.values[i], note, sizeof note);
    const char *row[] = {sage_stats_name(i), value, note};
    table_add(t, row);
  }
  table_print(t, stdout);
  table_free(t);
}

/* ---- --watch on a terminal: one screen, two columns of stats ---- */

/* A stat's value as shown in the compact layout: human units where they
 * help, the number otherwise. */
static void compact_value(const char *name, uint64_t value, char *buf,
                          size_t cap) {
  stat_note(name, value, buf, cap);
  if (buf[0] == '\0' || strcmp(name, "created_ns") == 0)
    snprintf(buf, cap, "%llu", (unsigned long long)value);
}

static void print_compact(FILE *out, const char *transport,
                          const struct stat_args *a, const struct sample *s,
                          const struct rates *r, int cols) {
  struct heading h;
  heading_of(s, " ", &h);
  fprintf(out, "sage-queue stat %s: every %.1fs, Ctrl-C stops\n", a->name,
          a->interval_s);
  fprintf(out, "transport %s, owner %s, created %s (%s ago)\n", transport,
          h.owner, h.created, h.age);
  fprintf(out, "state %s: %llu attached, %llu dead%s%s\n",
          queue_state_name(queue_stats_state(&s->v.st)),
          (unsigned long long)s->v.st.attached,
          (unsigned long long)s->v.st.stale_attached,
          h.pids[0] ? "; pids " : "", h.pids);
  if (!a->observing) {
    char note[256];
    queue_observe_note(transport, note, sizeof note);
    fprintf(out, "note: %s\n", note);
  }
  if (r->valid)
    fprintf(out, "rates: put %.0f msg/s %.2f MB/s, got %.0f msg/s %.2f MB/s\n",
            r->put_msgs, r->put_mb, r->got_msgs, r->got_mb);
  else
    fprintf(out, "rates: (after the next refresh)\n");
  /* two columns of 39 when 80 fit, else one */
  int ncol = cols >= 80 ? 2 : 1;
  size_t per = (s->v.nvalues + (size_t)ncol - 1) / (size_t)ncol;
  for (int c = 0; c < ncol; c++)
    fprintf(out, "%s%-16s %21s", c ? "  " : "", "STAT", "VALUE");
  fputc('\n', out);
  for (size_t row = 0; row < per; row++) {
    for (int c = 0; c < ncol; c++) {
      size_t i = (size_t)c * per + row;
      if (i >= s->v.nvalues)
        break;
      char value[64];
      compact_value(sage_stats_name(i), s->v.values[i], value, sizeof value);
      fprintf(out, "%s%-16s %21s", c ? "  " : "", sage_stats_name(i), value);
    }
    fputc('\n', out);
  }
}

struct compact {
  const char *transport;
  const struct stat_args *a;
  const struct sample *s;
  const struct rates *r;
};

static void render_compact(FILE *out, int cols, const void *ctx) {
  const struct compact *c = ctx;
  print_compact(out, c->transport, c->a, c->s, c->r, cols);
}

static void show_in_place(const char *transport, const struct stat_args *a,
                          const struct sample *s, const struct rates *r) {
  struct compact c = {transport, a, s, r};
  frame_show(render_compact, &c, 1);
}

/* ---- the loop ---- */

static void show(const char *transport, const struct stat_args *a,
                 const struct cli_opts *opts, const struct sample *s,
                 const struct rates *r, int tty) {
  if (opts->json) {
    print_json(s, r);
  } else if (a->watch && tty) {
    show_in_place(transport, a, s, r);
  } else {
    if (a->watch && r->valid)
      putchar('\n');
    if (a->watch)
      printf("every %.1fs; Ctrl-C to stop\n", a->interval_s);
    print_human(transport, a, s, r);
  }
  fflush(stdout);
}

/* Whether the queue's name still names the queue being watched (not
 * removed, not re-created since): the open handle keeps a removed queue
 * readable, with numbers that no longer change. */
static int still_named(const char *transport, const struct stat_args *a,
                       const struct sage_stats *watched) {
  sage_queue *q;
  int observing;
  if (queue_open_observer(transport, a->name, a->uid, &q, &observing) != 0)
    return 0;
  struct sage_stats st = {.size = sizeof st};
  int same = sage_queue_stats(q, &st) == 0 &&
             st.created_ns == watched->created_ns &&
             st.creator_pid == watched->creator_pid;
  sage_queue_close(q);
  return same;
}

static int watch_queue(sage_queue *q, const struct stat_args *a,
                       const struct cli_opts *opts) {
  const char *transport = sage_queue_transport_name(q);
  struct sample samples[2];
  struct sample *prev = NULL, *cur = &samples[0];
  int tty = isatty(STDOUT_FILENO);
  if (a->watch)
    catch_stop_signals();
  int rc = EXIT_OK;
  for (uint64_t frame = 0;; frame++) {
    rc = take_sample(q, a, cur);
    if (rc != 0) {
      rc = cli_error_in("stat", a->name, rc);
      break;
    }
    struct rates r = rates_between(prev, cur);
    show(transport, a, opts, cur, &r, tty);
    if (!a->watch || (a->count != 0 && frame + 1 >= a->count))
      break;
    sleep_seconds(a->interval_s);
    if (stop_requested)
      break;
    if (!still_named(transport, a, &cur->v.st)) {
      rc = cli_fail_code("ENOENT", "stat %s: the queue was removed", a->name);
      break;
    }
    prev = cur;
    cur = cur == &samples[0] ? &samples[1] : &samples[0];
  }
  if (a->watch && tty && !opts->json) { /* the prompt below the frame */
    putchar('\n');
    fflush(stdout);
  }
  return rc;
}

static int parse_args(int argc, char **argv, struct cli_opts *opts,
                      struct stat_args *a) {
  struct cli_parser p;
  const char *value;
  int id, npos;
  *a = (struct stat_args){.uid = (uint32_t)geteuid(), .interval_s = 1};
  cli_parser_init(&p, &cmd_stat, argc, argv, options, 3, opts);
  p.queue_options = 1;
  while ((id = cli_next_option(&p, &value)) > 0) {
    if (id == OPT_WATCH) {
      a->watch = 1;
      if (value != NULL && cli_parse_seconds(value, &a->interval_s) != 0)
        return cli_usage(&cmd_stat,
                         "--watch: '%s' is not a number of "
                         "seconds in (0, 86400]",
                         value);
    } else if (id == OPT_COUNT) {
      a->watch = 1;
      if (cli_parse_count(value, &a->count) != 0 || a->count == 0)
        return cli_usage(&cmd_stat, "--count: '%s' is not a positive count",
                         value);
    } else if (id == OPT_UID && cli_parse_uid(value, &a->uid) != 0) {
      return cli_usage(&cmd_stat, "--uid: no user '%s'", value);
    }
  }
  if (id < 0)
    return EXIT_USAGE;
  char **pos = cli_positional(&p, &npos);
  if (npos == 0)
    return cli_usage(&cmd_stat, "missing queue NAME");
  if (npos > 1)
    return cli_usage(&cmd_stat, "one queue NAME only, got '%s'", pos[1]);
  a->name = pos[0];
  return EXIT_OK;
}

static int run(int argc, char **argv, const struct cli_opts *global) {
  struct cli_opts opts = *global;
  struct stat_args a;
  int rc = parse_args(argc, argv, &opts, &a);
  if (rc != EXIT_OK)
    return rc;
  struct cli_target t;
  rc = cli_target(&cmd_stat, a.name, opts.transport, &t);
  if (rc != EXIT_OK)
    return rc;
  opts.transport = t.transport;
  a.name = t.name;
  sage_queue *q;
  rc = queue_open_observer(opts.transport, a.name, a.uid, &q, &a.observing);
  if (rc != 0)
    return cli_error_in("stat", a.name, rc);
  rc = watch_queue(q, &a, &opts);
  sage_queue_close(q);
  return rc;
}

const struct cli_command cmd_stat = {
    .name = "stat",
    .summary = "every shared stat of one queue; --watch for live rates",
    .usage =
        "usage: sage-queue stat NAME [--watch [SECONDS]] [--count N]\n"
        "                       [--uid USER] [--transport NAME] [--json]\n\n"
        "Shows every shared stat of queue NAME (counters, depth, high water,\n"
        "attachments with their pids) without attaching to it.\n\n"
        "Options:\n"
        "  -w, --watch [SECONDS]  redraw every SECONDS (default 1) like top,\n"
        "                         with put/get rates in msg/s and MB/s;\n"
        "                         Ctrl-C stops. A number right after --watch\n"
        "                         is its interval (or write --watch=SECONDS)\n"
        "  -n, --count N          stop after N refreshes (implies --watch)\n"
        "  -u, --uid USER         another user's queue (name or uid)\n"
        "  -t, --transport NAME   transport of the queue\n"
        "  --json                 one JSON object, the queue's object of\n"
        "                         `ls --json --stats` (name, transport, "
        "owner,\n"
        "                         owner_uid, state, stale, observed, pids,\n"
        "                         age_s, memory_bytes, mode, stats {every\n"
        "                         stat}, error) plus \"rates\"; with --watch\n"
        "                         one per line (JSON Lines), rates null in\n"
        "                         the first\n\n"
        "A NAME may be a queue URI, shm://jobs?maxsize=1M: its transport\n"
        "replaces --transport (docs/CONFIG.md).\n\n"
        "Examples:\n"
        "  $ sage-queue stat jobs\n"
        "  $ sage-queue stat jobs --watch 0.5\n"
        "  $ sage-queue stat jobs --json --count 2 --watch 1\n\n"
        "Exit status: 0 ok (also when Ctrl-C ends --watch), 1 error,\n"
        "2 usage.\n",
    .run = run,
};
