/* sage-queue plugins: every transport on the search path. */
#include "config.h"

#include <sage/queue.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void caps_text(uint64_t caps, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (unsigned bit = 0; bit < 64 && used < cap; bit++) {
    const char *name = sage_capability_name(bit);
    if ((caps >> bit & 1) && name != NULL)
      used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? "," : "",
                               name);
  }
}

static void abi_text(uint32_t abi, char *buf, size_t cap) {
  snprintf(buf, cap, "%u.%u", SAGE_ABI_MAJOR_OF(abi), SAGE_ABI_MINOR_OF(abi));
}

static void print_json(const sage_plugin_list *l) {
  printf("[");
  for (size_t i = 0; i < sage_plugins_count(l); i++) {
    char abi[32], caps[512];
    abi_text(sage_plugins_abi(l, i), abi, sizeof abi);
    caps_text(sage_plugins_capabilities(l, i), caps, sizeof caps);
    printf("%s\n  {\"name\": ", i ? "," : "");
    json_string(stdout, sage_plugins_name(l, i));
    printf(", \"ok\": %s, \"version\": ",
           sage_plugins_status(l, i) == 0 ? "true" : "false");
    json_string(stdout, sage_plugins_version(l, i));
    printf(", \"abi\": ");
    json_string(stdout, sage_plugins_status(l, i) == 0 ? abi : "");
    printf(", \"capabilities\": [");
    for (char *tok = strtok(caps, ","), *first = tok; tok != NULL;
         tok = strtok(NULL, ",")) {
      printf("%s", tok == first ? "" : ", ");
      json_string(stdout, tok);
    }
    printf("], \"path\": ");
    json_string(stdout, sage_plugins_path(l, i));
    printf(", \"description\": ");
    json_string(stdout, sage_plugins_description(l, i));
    printf(", \"error\": ");
    json_string(stdout, sage_plugins_error(l, i));
    printf("}");
  }
  printf("\n]\n");
}

static void print_table(const sage_plugin_list *l) {
  static const char *const headers[] = {"NAME", "VERSION", "ABI",
                                        "CAPABILITIES", "FILE"};
  struct table *t = table_new(5, headers);
  for (size_t i = 0; i < sage_plugins_count(l); i++) {
    char abi[32], caps[512];
    int ok = sage_plugins_status(l, i) == 0;
    abi_text(sage_plugins_abi(l, i), abi, sizeof abi);
    caps_text(sage_plugins_capabilities(l, i), caps, sizeof caps);
    const char *row[] = {sage_plugins_name(l, i),
                         ok ? sage_plugins_version(l, i) : "-", ok ? abi : "-",
                         ok ? caps : "REFUSED", sage_plugins_path(l, i)};
    table_add(t, row);
  }
  table_print(t, stdout);
  table_free(t);
  for (size_t i = 0; i < sage_plugins_count(l); i++)
    if (sage_plugins_status(l, i) != 0)
      printf("refused %s: %s\n", sage_plugins_name(l, i),
             sage_plugins_error(l, i));
}

static int run(int argc, char **argv, const struct cli_opts *global) {
  struct cli_opts o = *global, *opts = &o;
  struct cli_parser p;
  const char *value;
  int npos;
  cli_parser_init(&p, &cmd_plugins, argc, argv, NULL, 0, opts);
  if (cli_next_option(&p, &value) != 0)
    return EXIT_USAGE; /* plugins has no options of its own */
  char **pos = cli_positional(&p, &npos);
  if (npos > 0)
    return cli_usage(&cmd_plugins, "unexpected argument '%s'", pos[0]);
  sage_plugin_list *l;
  int rc = sage_plugins_scan(&l);
  if (rc != 0)
    return cli_error("listing plugins", rc);
  if (opts->json)
    print_json(l);
  else if (sage_plugins_count(l) == 0)
    printf("no plugins found in %s\n", sage_plugin_dir());
  else
    print_table(l);
  sage_plugins_free(l);
  return EXIT_OK;
}

const struct cli_command cmd_plugins = {
    .name = "plugins",
    .summary = "list transport plugins on the search path",
    .usage =
        "usage: sage-queue plugins [--json]\n\n"
        "Lists every sage-<name>.so in $SAGE_PLUGIN_PATH and the installed\n"
        "plugin dir: name, version, ABI, capabilities and file. Plugins\n"
        "that fail a load gate are listed with the reason.\n\n"
        "Example:\n"
        "  $ sage-queue plugins\n"
        "  NAME  VERSION  ABI  CAPABILITIES               FILE\n"
        "  shm   0.1.0    1.0  mpmc,blocking,...          /usr/lib/...\n",
    .run = run,
};
