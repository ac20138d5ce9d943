/* sage-queue stat: every shared stat of one queue, once or refreshed in
 * place with rates (--watch). Stats are read by name, so fields added to
 * struct sage_stats show up here without a change. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_STATS 64
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

/* One reading of the queue. */
struct sample {
  uint64_t values[MAX_STATS];
  size_t nvalues;
  struct sage_stats st;
  int32_t pids[MAX_PIDS];
  int npids;
  uint64_t mono_ns;
};

struct rates {
  int valid;
  double interval_s, put_msgs, got_msgs, put_mb, got_mb;
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

/* Without SA_RESTART, so the sleep between frames ends at once. */
static void catch_stop_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

static void sleep_seconds(double s) {
  struct timespec ts = {.tv_sec = (time_t)s,
                        .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
  while (!stop_requested && nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static int take_sample(sage_queue *q, struct sample *s) {
  s->st = (struct sage_stats){.size = sizeof s->st};
  int rc = sage_queue_stats(q, &s->st);
  if (rc == 0)
    rc = sage_queue_stats_values(q, s->values, MAX_STATS);
  if (rc < 0)
    return rc;
  s->nvalues = (size_t)rc;
  rc = sage_queue_attachments(q, s->pids, MAX_PIDS);
  s->npids = rc >= 0 ? rc : (int)s->st.attached;
  s->mono_ns = now_monotonic_ns();
  return rc >= 0 || rc == -ENOTSUP ? 0 : rc;
}

static struct rates rates_between(const struct sample *a,
                                  const struct sample *b) {
  struct rates r = {0};
  if (a == NULL || b->mono_ns <= a->mono_ns)
    return r;
  r.valid = 1;
  r.interval_s = (double)(b->mono_ns - a->mono_ns) / 1e9;
  r.put_msgs = (double)(b->st.total_put - a->st.total_put) / r.interval_s;
  r.got_msgs = (double)(b->st.total_got - a->st.total_got) / r.interval_s;
  r.put_mb = (double)(b->st.bytes_put - a->st.bytes_put) / r.interval_s / 1e6;
  r.got_mb = (double)(b->st.bytes_got - a->st.bytes_got) / r.interval_s / 1e6;
  return r;
}

/* ---- JSON: one object per line, so --watch output is JSON Lines ---- */

static void print_json(const char *transport, const struct stat_args *a,
                       const struct sample *s, const struct rates *r) {
  char owner[64];
  fmt_user((uint32_t)s->st.owner_uid, owner, sizeof owner);
  enum queue_state state = queue_stats_state(&s->st);
  printf("{");
  json_key(stdout, "name", 1);
  json_string(stdout, a->name);
  json_key(stdout, "transport", 0);
  json_string(stdout, transport);
  json_key(stdout, "owner", 0);
  json_string(stdout, owner);
  json_key(stdout, "state", 0);
  json_string(stdout, queue_state_name(state));
  printf(", \"stale\": %s, \"observed\": %s, \"pids\": [",
         state == QUEUE_STALE ? "true" : "false",
         a->observing ? "true" : "false");
  for (int i = 0; i < s->npids && i < MAX_PIDS; i++)
    printf("%s%d", i ? ", " : "", (int)s->pids[i]);
  printf("], \"stats\": {");
  for (size_t i = 0; i < s->nvalues; i++) {
    json_key(stdout, sage_stats_name(i), i == 0);
    printf("%llu", (unsigned long long)s->values[i]);
  }
  printf("}, \"rates\": ");
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

static void print_heading(const char *transport, const struct stat_args *a,
                          const struct sample *s) {
  char owner[64], created[64], age[32], pids[512] = "";
  fmt_user((uint32_t)s->st.owner_uid, owner, sizeof owner);
  fmt_time(s->st.created_ns, created, sizeof created);
  uint64_t now = now_realtime_ns();
  fmt_duration(now > s->st.created_ns ? (double)(now - s->st.created_ns) / 1e9
                                      : 0,
               age, sizeof age);
  for (int i = 0, used = 0; i < s->npids && i < MAX_PIDS; i++)
    used += snprintf(pids + used, sizeof pids - (size_t)used, "%s%d",
                     i ? ", " : "", (int)s->pids[i]);
  printf("queue %s (transport %s), owner %s, created %s (%s ago)\n", a->name,
         transport, owner, created, age);
  printf("state %s: %llu attached%s%s%s, %llu dead\n",
         queue_state_name(queue_stats_state(&s->st)),
         (unsigned long long)s->st.attached, pids[0] ? " (pids " : "", pids,
         pids[0] ? ")" : "", (unsigned long long)s->st.stale_attached);
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
  for (size_t i = 0; i < s->nvalues; i++) {
    char value[32], note[64];
    snprintf(value, sizeof value, "%llu", (unsigned long long)s->values[i]);
    stat_note(sage_stats_name(i), s->values[i], note, sizeof note);
    const char *row[] = {sage_stats_name(i), value, note};
    table_add(t, row);
  }
  table_print(t, stdout);
  table_free(t);
}

/* ---- the loop ---- */

static void show(const char *transport, const struct stat_args *a,
                 const struct cli_opts *opts, const struct sample *s,
                 const struct rates *r, int tty) {
  if (opts->json) {
    print_json(transport, a, s, r);
  } else {
    if (a->watch && tty)
      fputs("\033[H\033[2J", stdout); /* home, clear: redraw in place */
    else if (a->watch && r->valid)
      putchar('\n');
    if (a->watch)
      printf("every %.1fs; Ctrl-C to stop\n", a->interval_s);
    print_human(transport, a, s, r);
  }
  fflush(stdout);
}

static int watch_queue(sage_queue *q, const struct stat_args *a,
                       const struct cli_opts *opts) {
  const char *transport = sage_queue_transport_name(q);
  struct sample samples[2];
  struct sample *prev = NULL, *cur = &samples[0];
  int tty = isatty(STDOUT_FILENO);
  if (a->watch)
    catch_stop_signals();
  for (uint64_t frame = 0;; frame++) {
    int rc = take_sample(q, cur);
    if (rc != 0)
      return cli_error(a->name, rc);
    struct rates r = rates_between(prev, cur);
    show(transport, a, opts, cur, &r, tty);
    if (!a->watch || (a->count != 0 && frame + 1 >= a->count))
      break;
    sleep_seconds(a->interval_s);
    if (stop_requested)
      break;
    prev = cur;
    cur = cur == &samples[0] ? &samples[1] : &samples[0];
  }
  return EXIT_OK;
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
    return cli_error(a.name, rc);
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
        "  --json                 one JSON object; with --watch one per line\n"
        "                         (JSON Lines) with \"rates\" after the "
        "first\n\n"
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
