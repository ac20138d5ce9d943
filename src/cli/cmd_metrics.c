/* sage-queue metrics: every queue's stats as a Prometheus text exposition
 * (format 0.0.4), for a scraper or a cron job writing a node_exporter
 * textfile. Stats are read by name, so a stat added to struct sage_stats
 * shows up here (as a gauge) without a change. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

enum { OPT_ALL = 1, OPT_OUTPUT };

static const struct cli_option options[] = {
    {"all", 'a', CLI_FLAG, OPT_ALL},
    {"output", 'o', CLI_VALUE, OPT_OUTPUT},
};

enum family_kind { GAUGE, COUNTER, SKIP };

/* How a stat is exposed; stats not listed are gauges named after them. */
static const struct family {
  const char *stat, *metric, *help;
  enum family_kind kind;
} families[] = {
    {"capacity", "sage_queue_capacity_bytes",
     "Ring size in bytes, per-record overhead included.", GAUGE},
    {"max_message", "sage_queue_max_message_bytes",
     "Largest payload one message may have.", GAUGE},
    {"max_items", "sage_queue_max_items",
     "Most messages queued at once (0: only the capacity bounds).", GAUGE},
    {"bytes_used", "sage_queue_used_bytes",
     "Ring bytes held by records (small shm payloads hold none).", GAUGE},
    {"items", "sage_queue_items", "Messages queued and not yet taken.", GAUGE},
    {"total_put", "sage_queue_put_total", "Messages put since creation.",
     COUNTER},
    {"total_got", "sage_queue_got_total", "Messages taken since creation.",
     COUNTER},
    {"bytes_put", "sage_queue_put_bytes_total",
     "Payload bytes put since creation.", COUNTER},
    {"bytes_got", "sage_queue_got_bytes_total",
     "Payload bytes taken since creation.", COUNTER},
    {"high_water", "sage_queue_high_water_bytes", "Largest bytes used seen.",
     GAUGE},
    {"blocked_puts", "sage_queue_blocked_puts_total",
     "Puts that had to wait for space.", COUNTER},
    {"blocked_gets", "sage_queue_blocked_gets_total",
     "Gets that had to wait for data.", COUNTER},
    {"timeouts", "sage_queue_timeouts_total", "Puts and gets that timed out.",
     COUNTER},
    {"abandoned", "sage_queue_abandoned_total",
     "Records given up because their owner died.", COUNTER},
    {"attached", "sage_queue_attached",
     "Live attachments (open handles) of processes.", GAUGE},
    {"waiting_readers", "sage_queue_waiting_readers",
     "Gets sleeping right now.", GAUGE},
    {"waiting_writers", "sage_queue_waiting_writers",
     "Puts sleeping right now.", GAUGE},
    {"stale_attached", "sage_queue_stale_attached",
     "Attachments whose process died.", GAUGE},
    {"unfinished", "sage_queue_unfinished",
     "Messages put but not yet marked done (task_done).", GAUGE},
    {"created_ns", "sage_queue_created_timestamp_seconds",
     "Creation time, seconds since the Unix epoch.", GAUGE},
    {"owner_uid", NULL, NULL, SKIP},   /* a label */
    {"creator_pid", NULL, NULL, SKIP}, /* not a measurement */
};

static const struct family *family_of(const char *stat) {
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
    if (strcmp(families[i].stat, stat) == 0)
      return &families[i];
  return NULL;
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '\\' || *s == '"')
      fprintf(out, "\\%c", *s);
    else if (*s == '\n')
      fputs("\\n", out);
    else
      fputc(*s, out);
  }
  fputc('"', out);
}

/* {queue, transport, owner}, and with `info` the state and mode too. */
static void labels(FILE *out, const struct queue_view *v, int info) {
  char owner[64];
  fmt_user(v->owner_uid, owner, sizeof owner);
  fputs("{queue=", out);
  label_value(out, v->name);
  fputs(",transport=", out);
  label_value(out, v->transport);
  fputs(",owner=", out);
  label_value(out, owner);
  if (info) {
    char mode[16] = "";
    if (v->mode >= 0)
      snprintf(mode, sizeof mode, "%04o", (unsigned)v->mode);
    fputs(",state=", out);
    label_value(out, queue_state_name(queue_state_of(v)));
    fputs(",mode=", out);
    label_value(out, mode);
  }
  fputc('}', out);
}

static void header(FILE *out, const char *metric, const char *help,
                   const char *type) {
  fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

/* The stat named `stat` of v, if v was read and has it. */
static int stat_value(const struct queue_view *v, size_t i, uint64_t *value) {
  if (v->rc != 0 || i >= v->nvalues)
    return 0;
  *value = v->values[i];
  return 1;
}

static void expose_stat(FILE *out, const struct queue_view *views, size_t n,
                        size_t i) {
  const char *stat = sage_stats_name(i);
  const struct family *f = stat ? family_of(stat) : NULL;
  if (stat == NULL || (f != NULL && f->kind == SKIP))
    return;
  char metric[128], help[160];
  if (f != NULL) {
    snprintf(metric, sizeof metric, "%s", f->metric);
    snprintf(help, sizeof help, "%s", f->help);
  } else {
    snprintf(metric, sizeof metric, "sage_queue_%s", stat);
    snprintf(help, sizeof help, "The queue's stat %s.", stat);
  }
  int is_time = strcmp(stat, "created_ns") == 0;
  header(out, metric, help, f && f->kind == COUNTER ? "counter" : "gauge");
  for (size_t q = 0; q < n; q++) {
    uint64_t value;
    if (!stat_value(&views[q], i, &value) || (is_time && value == 0))
      continue;
    fputs(metric, out);
    labels(out, &views[q], 0);
    if (is_time)
      fprintf(out, " %.3f\n", (double)value / 1e9);
    else
      fprintf(out, " %llu\n", (unsigned long long)value);
  }
}

static void expose(FILE *out, const struct queue_view *views, size_t n,
                   const char *transport) {
  header(out, "sage_queue_queues", "Queues listed on the transport.", "gauge");
  fputs("sage_queue_queues{transport=", out);
  label_value(out, transport);
  fprintf(out, "} %zu\n", n);

  header(out, "sage_queue_info",
         "One per queue: its state (live, idle, stale, corrupt, "
         "unreadable) and mode.",
         "gauge");
  for (size_t q = 0; q < n; q++) {
    fputs("sage_queue_info", out);
    labels(out, &views[q], 1);
    fputs(" 1\n", out);
  }

  header(out, "sage_queue_memory_bytes",
         "Memory the queue holds: its whole segment (shm: the /dev/shm "
         "file), header and ring.",
         "gauge");
  for (size_t q = 0; q < n; q++)
    if (views[q].memory >= 0) {
      fputs("sage_queue_memory_bytes", out);
      labels(out, &views[q], 0);
      fprintf(out, " %lld\n", (long long)views[q].memory);
    }

  size_t nstats = sage_stats_count();
  for (size_t i = 0; i < nstats; i++)
    expose_stat(out, views, n, i);
}

static int write_output(const char *path, const struct queue_view *views,
                        size_t n, const char *transport) {
  if (path == NULL || strcmp(path, "-") == 0) {
    expose(stdout, views, n, transport);
    return fflush(stdout) == 0 ? EXIT_OK : cli_fail("metrics: write failed");
  }
  /* Written aside, then renamed: a scraper never reads half a file. */
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
  FILE *out = fopen(tmp, "w");
  if (out == NULL)
    return cli_fail("metrics: cannot write %s: %s", tmp, strerror(errno));
  expose(out, views, n, transport);
  int bad = ferror(out);
  if (fclose(out) != 0 || bad || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return cli_fail("metrics: cannot write %s: %s", path, strerror(e));
  }
  return EXIT_OK;
}

static int run(int argc, char **argv, const struct cli_opts *global) {
  struct cli_opts opts = *global;
  struct cli_parser p;
  const char *value, *output = NULL;
  int all = 0, id, npos;
  cli_parser_init(&p, &cmd_metrics, argc, argv, options,
                  sizeof options / sizeof options[0], &opts);
  p.queue_options = 1;
  while ((id = cli_next_option(&p, &value)) > 0) {
    all |= id == OPT_ALL;
    if (id == OPT_OUTPUT)
      output = value;
  }
  if (id < 0)
    return EXIT_USAGE;
  char **pos = cli_positional(&p, &npos);
  if (npos > 0)
    return cli_usage(&cmd_metrics, "unexpected argument '%s'", pos[0]);
  struct queue_view *views;
  size_t n;
  int rc = queue_observe_all(opts.transport, all, &views, &n);
  if (rc != 0)
    return rc == -ENOMEM ? cli_fail("metrics: out of memory")
                         : cli_error("metrics", rc);
  const char *transport = sage_transport_choose(opts.transport);
  if (opts.json) { /* the same document as `ls --json --stats` */
    uint64_t now = now_realtime_ns();
    printf("[");
    for (size_t i = 0; i < n; i++) {
      printf("%s\n  {", i == 0 ? "" : ",");
      queue_json_members(stdout, &views[i], now, 1);
      printf("}");
    }
    printf("\n]\n");
    rc = EXIT_OK;
  } else {
    rc = write_output(output, views, n, transport);
  }
  free(views);
  return rc;
}

const struct cli_command cmd_metrics = {
    .name = "metrics",
    .summary = "every queue's stats for Prometheus (text exposition)",
    .usage =
        "usage: sage-queue metrics [--all] [--output FILE]\n"
        "                          [--transport NAME] [--json]\n\n"
        "Prints the stats of every queue of a transport in the Prometheus\n"
        "text exposition format, without attaching to the queues: one\n"
        "family per stat (counters end in _total), labelled\n"
        "{queue, transport, owner}, plus sage_queue_info (state, mode),\n"
        "sage_queue_memory_bytes (what the segment really holds) and\n"
        "sage_queue_queues (how many). Unreadable queues have only\n"
        "sage_queue_info.\n\n"
        "Options:\n"
        "  -a, --all             every user's queues (as far as permissions\n"
        "                        allow), not just your own\n"
        "  -o, --output FILE     write FILE atomically (a temporary file\n"
        "                        renamed over it), e.g. for node_exporter's\n"
        "                        textfile collector; '-' is stdout\n"
        "  -t, --transport NAME  transport to read\n"
        "  --json                the `ls --json --stats` document instead\n\n"
        "Examples:\n"
        "  $ sage-queue metrics\n"
        "  # HELP sage_queue_items Messages queued and not yet taken.\n"
        "  # TYPE sage_queue_items gauge\n"
        "  sage_queue_items{queue=\"jobs\",transport=\"shm\",owner=\"alice\"}"
        " 5\n"
        "  ...\n"
        "  $ sage-queue metrics -o /var/lib/node_exporter/sage.prom  # cron\n\n"
        "Exit status: 0 ok, 1 error, 2 usage.\n",
    .run = run,
};
