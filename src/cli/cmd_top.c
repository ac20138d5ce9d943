/* sage-queue top: every queue of the transports that can list them, with
 * depth, state and put/get rates, redrawn in place to fit the terminal
 * (like top). Rates come from cmd_stat.c's cli_rates_between. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

enum { OPT_COUNT = 1, OPT_INTERVAL, OPT_ALL };

static const struct cli_option options[] = {
    {"count", 'n', CLI_VALUE, OPT_COUNT},
    {"interval", 'i', CLI_VALUE, OPT_INTERVAL},
    {"watch", 'w', CLI_OPT_NUMBER, OPT_INTERVAL},
    {"all", 'a', CLI_FLAG, OPT_ALL},
};

/* One queue's reading; kept one refresh for the rates. */
struct row {
  struct queue_view v;
  uint64_t mono_ns;
  struct cli_rates r;
};

struct frame {
  struct row *rows;
  size_t count;
};

struct top_args {
  uint64_t count;
  double interval_s;
  int all_users;
  const char *transports[32];
  size_t ntransports;
  char names[32][64];
};

/* --transport NAME, else every usable plugin that lists queues. */
static int pick_transports(const struct cli_opts *opts, struct top_args *a) {
  if (opts->transport != NULL) {
    a->transports[a->ntransports++] = opts->transport;
    return 0;
  }
  sage_plugin_list *l;
  int rc = sage_plugins_scan(&l);
  if (rc != 0)
    return rc;
  for (size_t i = 0; i < sage_plugins_count(l) && a->ntransports < 32; i++) {
    if (sage_plugins_status(l, i) != 0 ||
        !(sage_plugins_capabilities(l, i) & SAGE_CAP_LIST))
      continue;
    snprintf(a->names[a->ntransports], sizeof a->names[0], "%s",
             sage_plugins_name(l, i));
    a->transports[a->ntransports] = a->names[a->ntransports];
    a->ntransports++;
  }
  sage_plugins_free(l);
  return 0;
}

static const struct row *find_prev(const struct frame *prev,
                                   const struct queue_view *v) {
  for (size_t i = 0; prev != NULL && i < prev->count; i++)
    if (prev->rows[i].v.owner_uid == v->owner_uid &&
        strcmp(prev->rows[i].v.name, v->name) == 0 &&
        strcmp(prev->rows[i].v.transport, v->transport) == 0)
      return &prev->rows[i];
  return NULL;
}

static int take_frame(const struct top_args *a, const struct frame *prev,
                      struct frame *f) {
  *f = (struct frame){0};
  for (size_t t = 0; t < a->ntransports; t++) {
    struct queue_listing l;
    int rc = queue_list(a->transports[t], a->all_users, &l);
    if (rc == -ENOTSUP && a->ntransports > 1)
      continue;
    if (rc != 0) {
      free(f->rows);
      f->rows = NULL;
      f->count = 0;
      return cli_error(a->transports[t], rc);
    }
    struct row *grown =
        realloc(f->rows, (f->count + l.count + 1) * sizeof *f->rows);
    if (grown == NULL) {
      queue_listing_free(&l);
      free(f->rows);
      f->rows = NULL;
      f->count = 0;
      return cli_fail("top: out of memory");
    }
    f->rows = grown;
    for (size_t i = 0; i < l.count; i++) {
      struct row *r = &f->rows[f->count++];
      memset(r, 0, sizeof *r);
      queue_observe(a->transports[t], l.entries[i].name, l.entries[i].uid,
                    &r->v);
      r->v.transport = a->transports[t];
      r->mono_ns = now_monotonic_ns();
      const struct row *p = find_prev(prev, &r->v);
      if (p != NULL && p->v.rc == 0 && r->v.rc == 0)
        r->r = cli_rates_between(&p->v.st, p->mono_ns, &r->v.st, r->mono_ns);
    }
    queue_listing_free(&l);
  }
  return EXIT_OK;
}

static void print_json(const struct frame *f) {
  uint64_t now = now_realtime_ns();
  printf("{\"time_ns\": %llu, \"queues\": [", (unsigned long long)now);
  for (size_t i = 0; i < f->count; i++) {
    const struct row *r = &f->rows[i];
    printf("%s{", i ? ", " : ""); /* the queue as ls --json --stats shows it */
    queue_json_members(stdout, &r->v, now, 1);
    printf(", \"rates\": ");
    if (r->r.valid)
      printf("{\"interval_s\": %.3f, \"put_msgs_per_s\": %.1f, "
             "\"got_msgs_per_s\": %.1f, \"put_mb_per_s\": %.3f, "
             "\"got_mb_per_s\": %.3f}",
             r->r.interval_s, r->r.put_msgs, r->r.got_msgs, r->r.put_mb,
             r->r.got_mb);
    else
      printf("null");
    printf("}");
  }
  printf("]}\n");
  fflush(stdout);
}

/* "12.3k" style rates that fit 7 columns. */
static void fmt_rate(double v, int valid, char *buf, size_t cap) {
  if (!valid)
    snprintf(buf, cap, "-");
  else if (v < 10000)
    snprintf(buf, cap, "%.0f", v);
  else if (v < 1e7)
    snprintf(buf, cap, "%.1fk", v / 1e3);
  else
    snprintf(buf, cap, "%.1fM", v / 1e6);
}

#define FIXED_COLS 57 /* every column but NAME, with the spaces */

static void render(FILE *out, const struct top_args *a, const struct frame *f,
                   int cols) {
  double put = 0, got = 0, putmb = 0, gotmb = 0;
  uint64_t items = 0;
  for (size_t i = 0; i < f->count; i++) {
    items += f->rows[i].v.rc == 0 ? f->rows[i].v.st.items : 0;
    put += f->rows[i].r.valid ? f->rows[i].r.put_msgs : 0;
    got += f->rows[i].r.valid ? f->rows[i].r.got_msgs : 0;
    putmb += f->rows[i].r.valid ? f->rows[i].r.put_mb : 0;
    gotmb += f->rows[i].r.valid ? f->rows[i].r.got_mb : 0;
  }
  char when[64];
  fmt_time(now_realtime_ns(), when, sizeof when);
  fprintf(out, "sage-queue top - %s, every %.1fs, Ctrl-C stops\n", when,
          a->interval_s);
  fprintf(out,
          "%zu queue%s, %llu messages; put %.0f msg/s %.2f MB/s, "
          "got %.0f msg/s %.2f MB/s\n\n",
          f->count, f->count == 1 ? "" : "s", (unsigned long long)items, put,
          putmb, got, gotmb);
  int namew = cols - FIXED_COLS;
  if (namew < 8)
    namew = 8;
  fprintf(out, "%-*s %-6s %-7s %7s %7s %7s %8s %8s\n", namew, "NAME", "TRANSP",
          "STATE", "DEPTH", "PUT/s", "GET/s", "PUT MB/s", "GET MB/s");
  for (size_t i = 0; i < f->count; i++) {
    const struct row *r = &f->rows[i];
    char name[256], transport[16], depth[32], p[16], g[16], pm[16], gm[16];
    fmt_ellipsize(r->v.name, namew, name, sizeof name);
    fmt_ellipsize(r->v.transport, 6, transport, sizeof transport);
    if (r->v.rc == 0)
      snprintf(depth, sizeof depth, "%llu", (unsigned long long)r->v.st.items);
    else
      snprintf(depth, sizeof depth, "?");
    fmt_rate(r->r.put_msgs, r->r.valid, p, sizeof p);
    fmt_rate(r->r.got_msgs, r->r.valid, g, sizeof g);
    snprintf(pm, sizeof pm, r->r.valid ? "%.2f" : "-", r->r.put_mb);
    snprintf(gm, sizeof gm, r->r.valid ? "%.2f" : "-", r->r.got_mb);
    /* names are padded by columns, not bytes */
    int width = 0;
    for (const char *c = name; *c; c++)
      width += ((unsigned char)*c & 0xC0) != 0x80;
    fprintf(out, "%s%*s %-6s %-7s %7s %7s %7s %8s %8s\n", name, namew - width,
            "", transport, queue_state_name(queue_state_of(&r->v)), depth, p, g,
            pm, gm);
  }
  if (f->count == 0)
    fprintf(out, "(no queues)\n");
}

struct view {
  const struct top_args *a;
  const struct frame *f;
};

static void render_view(FILE *out, int cols, const void *ctx) {
  const struct view *v = ctx;
  render(out, v->a, v->f, cols);
}

static void show(const struct top_args *a, const struct frame *f, int tty) {
  struct view v = {a, f};
  frame_show(render_view, &v, tty);
  if (!tty)
    putchar('\n'); /* a blank line between frames */
  fflush(stdout);
}

static int parse_args(int argc, char **argv, struct cli_opts *opts,
                      struct top_args *a) {
  struct cli_parser p;
  const char *value;
  int id, npos;
  a->interval_s = 1;
  cli_parser_init(&p, &cmd_top, argc, argv, options,
                  sizeof options / sizeof options[0], opts);
  p.queue_options = 1;
  while ((id = cli_next_option(&p, &value)) > 0) {
    if (id == OPT_COUNT) {
      if (cli_parse_count(value, &a->count) != 0 || a->count == 0)
        return cli_usage(&cmd_top, "--count: '%s' is not a positive count",
                         value);
    } else if (id == OPT_INTERVAL) {
      if (value != NULL && cli_parse_seconds(value, &a->interval_s) != 0)
        return cli_usage(&cmd_top,
                         "--interval: '%s' is not a number of seconds in "
                         "(0, 86400]",
                         value);
    } else if (id == OPT_ALL) {
      a->all_users = 1;
    }
  }
  if (id < 0)
    return EXIT_USAGE;
  char **pos = cli_positional(&p, &npos);
  if (npos > 0)
    return cli_usage(&cmd_top, "unexpected argument '%s'", pos[0]);
  return EXIT_OK;
}

static int run(int argc, char **argv, const struct cli_opts *global) {
  struct cli_opts opts = *global;
  struct top_args a = {0};
  int rc = parse_args(argc, argv, &opts, &a);
  if (rc != EXIT_OK)
    return rc;
  rc = pick_transports(&opts, &a);
  if (rc != 0)
    return cli_error("top: listing plugins", rc);
  if (a.ntransports == 0)
    return cli_fail("top: no transport here can list its queues");
  int tty = !opts.json && isatty(STDOUT_FILENO);
  struct frame frames[2] = {{0}}, *prev = NULL, *cur = &frames[0];
  cli_catch_stop_signals();
  for (uint64_t n = 0;; n++) {
    rc = take_frame(&a, prev, cur);
    if (rc != EXIT_OK)
      break;
    if (opts.json)
      print_json(cur);
    else
      show(&a, cur, tty);
    if ((a.count != 0 && n + 1 >= a.count) || cli_stop_requested)
      break;
    cli_sleep(a.interval_s);
    if (cli_stop_requested)
      break;
    if (prev != NULL)
      free(prev->rows);
    prev = cur;
    cur = cur == &frames[0] ? &frames[1] : &frames[0];
  }
  free(frames[0].rows);
  free(frames[1].rows);
  if (tty) {
    putchar('\n');
    fflush(stdout);
  }
  return rc;
}

const struct cli_command cmd_top = {
    .name = "top",
    .summary = "every queue with depth and put/get rates, redrawn like top",
    .usage =
        "usage: sage-queue top [--interval SECONDS] [--count N] [--all]\n"
        "                      [--transport NAME] [--json]\n\n"
        "Shows every queue of the transports that can list theirs (or of\n"
        "--transport NAME): state, depth and put/get rates in msg/s and\n"
        "MB/s, redrawn in place every SECONDS to fit the terminal (80x24\n"
        "when not a terminal). Rows past the height end in a \"+N more\"\n"
        "line; long names are cut with \"...\". Ctrl-C stops (exit 0).\n\n"
        "Options:\n"
        "  -i, --interval SECONDS  refresh every SECONDS (default 1; also\n"
        "                          -w, --watch SECONDS)\n"
        "  -n, --count N           stop after N refreshes\n"
        "  -a, --all               every user's queues, not only ours\n"
        "  -t, --transport NAME    only this transport's queues\n"
        "  --json                  one JSON document per refresh (JSON\n"
        "                          Lines): {\"time_ns\", \"queues\": [...]},\n"
        "                          each queue as ls --json --stats shows\n"
        "                          it, plus \"rates\"\n\n"
        "Examples:\n"
        "  $ sage-queue top\n"
        "  $ sage-queue top --json --count 2 --interval 0.5\n\n"
        "Exit status: 0 ok (also when Ctrl-C ends it), 1 error, 2 usage.\n",
    .run = run,
};
