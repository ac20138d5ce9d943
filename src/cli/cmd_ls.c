/* sage-queue ls: every live queue of a transport, with its owner, size,
 * depth, attachments and state. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { OPT_ALL = 1 };

static const struct cli_option options[] = {
    {"all", 'a', CLI_FLAG, OPT_ALL},
};

static double age_seconds(const struct queue_view *v, uint64_t now) {
  if (v->rc != 0 || v->st.created_ns == 0 || v->st.created_ns > now)
    return 0;
  return (double)(now - v->st.created_ns) / 1e9;
}

static void print_json_row(const struct queue_view *v, uint64_t now,
                           int first) {
  enum queue_state s = queue_state_of(v);
  char owner[64];
  fmt_user(v->owner_uid, owner, sizeof owner);
  printf("%s\n  {", first ? "" : ",");
  json_key(stdout, "name", 1);
  json_string(stdout, v->name);
  json_key(stdout, "transport", 0);
  json_string(stdout, v->transport);
  json_key(stdout, "owner", 0);
  json_string(stdout, owner);
  printf(", \"owner_uid\": %u, \"state\": ", v->owner_uid);
  json_string(stdout, queue_state_name(s));
  printf(", \"stale\": %s", s == QUEUE_STALE ? "true" : "false");
  if (v->rc == 0) {
    printf(", \"capacity\": %llu, \"bytes_used\": %llu, \"items\": %llu, "
           "\"attached\": %llu, \"stale_attached\": %llu, "
           "\"created_ns\": %llu, \"age_s\": %.3f, \"error\": null}",
           (unsigned long long)v->st.capacity,
           (unsigned long long)v->st.bytes_used,
           (unsigned long long)v->st.items, (unsigned long long)v->st.attached,
           (unsigned long long)v->st.stale_attached,
           (unsigned long long)v->st.created_ns, age_seconds(v, now));
    return;
  }
  /* The same keys either way, so scripts need not test for them. */
  printf(", \"capacity\": null, \"bytes_used\": null, \"items\": null, "
         "\"attached\": null, \"stale_attached\": null, "
         "\"created_ns\": null, \"age_s\": null, \"error\": ");
  json_string(stdout, v->error);
  printf("}");
}

static void add_table_row(struct table *t, const struct queue_view *v,
                          uint64_t now) {
  char owner[64], cap[32] = "-", used[32] = "-", items[32] = "-",
                  live[32] = "-", dead[32] = "-", age[32] = "-";
  fmt_user(v->owner_uid, owner, sizeof owner);
  if (v->rc == 0) {
    fmt_bytes(v->st.capacity, cap, sizeof cap);
    fmt_bytes(v->st.bytes_used, used, sizeof used);
    snprintf(items, sizeof items, "%llu", (unsigned long long)v->st.items);
    snprintf(live, sizeof live, "%llu", (unsigned long long)v->st.attached);
    snprintf(dead, sizeof dead, "%llu",
             (unsigned long long)v->st.stale_attached);
    fmt_duration(age_seconds(v, now), age, sizeof age);
  }
  const char *row[] = {
      v->name, v->transport, owner, cap, used,
      items,   live,         dead,  age, queue_state_name(queue_state_of(v))};
  table_add(t, row);
}

static void print_table(const struct queue_view *views, size_t n,
                        uint64_t now) {
  static const char *const headers[] = {
      "NAME",  "TRANSPORT", "OWNER", "CAPACITY", "USED",
      "ITEMS", "ATTACHED",  "DEAD",  "AGE",      "STATE"};
  struct table *t = table_new(10, headers);
  for (size_t i = 0; i < n; i++)
    add_table_row(t, &views[i], now);
  table_print(t, stdout);
  table_free(t);
  for (size_t i = 0; i < n; i++)
    if (views[i].rc != 0)
      printf("%s %s: %s\n", queue_state_name(queue_state_of(&views[i])),
             views[i].name, views[i].error);
}

static int list_queues(const struct cli_opts *opts, int all) {
  struct queue_listing l;
  int rc = queue_list(opts->transport, all, &l);
  if (rc != 0)
    return cli_error("ls", rc);
  struct queue_view *views = calloc(l.count ? l.count : 1, sizeof *views);
  if (views == NULL) {
    queue_listing_free(&l);
    return cli_fail("ls: out of memory");
  }
  for (size_t i = 0; i < l.count; i++)
    queue_observe(opts->transport, l.entries[i].name, l.entries[i].uid,
                  &views[i]);
  uint64_t now = now_realtime_ns();
  if (opts->json) {
    printf("[");
    for (size_t i = 0; i < l.count; i++)
      print_json_row(&views[i], now, i == 0);
    printf("\n]\n");
  } else if (l.count == 0) {
    printf("no %squeues on transport %s\n", all ? "" : "own ",
           sage_transport_choose(opts->transport));
  } else {
    print_table(views, l.count, now);
  }
  free(views);
  queue_listing_free(&l);
  return EXIT_OK;
}

static int run(int argc, char **argv, const struct cli_opts *global) {
  struct cli_opts opts = *global;
  struct cli_parser p;
  const char *value;
  int all = 0, id, npos;
  cli_parser_init(&p, &cmd_ls, argc, argv, options, 1, &opts);
  p.queue_options = 1;
  while ((id = cli_next_option(&p, &value)) > 0)
    all |= id == OPT_ALL;
  if (id < 0)
    return EXIT_USAGE;
  char **pos = cli_positional(&p, &npos);
  if (npos > 0)
    return cli_usage(&cmd_ls, "unexpected argument '%s'", pos[0]);
  return list_queues(&opts, all);
}

const struct cli_command cmd_ls = {
    .name = "ls",
    .summary = "list live queues: owner, size, items, attachments, state",
    .usage =
        "usage: sage-queue ls [--all] [--transport NAME] [--json]\n\n"
        "Lists the queues of a transport (default: $SAGE_TRANSPORT or shm)\n"
        "without attaching to them. Columns: capacity and bytes used, items\n"
        "queued, ATTACHED (live processes), DEAD (attachments whose process\n"
        "died), age, and STATE:\n"
        "  live     someone is attached\n"
        "  idle     nobody attached, every handle closed cleanly (kept)\n"
        "  stale    every attachment died: `sage-queue gc` removes it\n"
        "  corrupt  the segment fails validation: `rm --force` removes it\n\n"
        "Options:\n"
        "  -a, --all             every user's queues (as far as permissions\n"
        "                        allow), not just your own\n"
        "  -t, --transport NAME  transport to list\n"
        "  --json                a JSON array, one object per queue\n\n"
        "Example:\n"
        "  $ sage-queue ls\n"
        "  NAME  TRANSPORT  OWNER  CAPACITY  USED     ITEMS  ATTACHED  DEAD"
        "  AGE    STATE\n"
        "  jobs  shm        alice  1.0 MiB   4.0 KiB  32     2         0"
        "     5m03s  live\n\n"
        "Exit status: 0 ok, 1 error, 2 usage.\n",
    .run = run,
};
