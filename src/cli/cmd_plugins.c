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
    printf(", \"error\": "); /* null, or why the plugin was refused */
    int status = sage_plugins_status(l, i);
    const char *why = sage_plugins_error(l, i);
    json_error_object(stdout,
                      status == 0                     ? NULL
                      : why != NULL && why[0] != '\0' ? why
                                                      : sage_strerror(status),
                      cli_code_name(status));
    printf("}");
  }
  printf("\n]\n");
}

/* Next line of a comma list wrapped at `width`: its length in *n (breaking
 * after a comma); returns the rest. */
static const char *wrap_caps(const char *s, size_t width, size_t *n) {
  size_t len = strlen(s);
  if (len <= width) {
    *n = len;
    return s + len;
  }
  size_t cut = 0;
  for (size_t i = 0; i < width; i++)
    if (s[i] == ',')
      cut = i + 1;
  if (cut == 0) /* one capability longer than the column */
    cut = width;
  *n = cut;
  return s + cut;
}

/* The file's path cut from the left to `width` columns ("...s/sage-x.so"). */
static void fit_path(const char *path, size_t width, char *buf, size_t cap) {
  size_t len = strlen(path);
  if (len <= width || width < 8)
    snprintf(buf, cap, "%s", path);
  else
    snprintf(buf, cap, "...%s", path + len - (width - 3));
}

#define WIDTH 80
#define CAPS_MAX 26 /* capabilities wrap past this many columns */

/* Fits 80 columns: capabilities wrap onto continuation lines, the file's
 * path is cut from the left. */
static void print_table(const sage_plugin_list *l) {
  size_t n = sage_plugins_count(l);
  size_t wname = 4, wver = 7, wabi = 3, wcaps = 12;
  for (size_t i = 0; i < n; i++) {
    char caps[512];
    int ok = sage_plugins_status(l, i) == 0;
    caps_text(sage_plugins_capabilities(l, i), caps, sizeof caps);
    size_t len = strlen(sage_plugins_name(l, i));
    wname = len > wname ? len : wname;
    len = ok ? strlen(sage_plugins_version(l, i)) : 1;
    wver = len > wver ? len : wver;
    len = ok ? strlen(caps) : 7;
    wcaps = len > wcaps ? len : wcaps;
  }
  if (wcaps > CAPS_MAX)
    wcaps = CAPS_MAX;
  size_t used = wname + wver + wabi + wcaps + 8;
  size_t wfile = used + 20 < WIDTH ? WIDTH - used : 20;
  printf("%-*s  %-*s  %-*s  %-*s  %s\n", (int)wname, "NAME", (int)wver,
         "VERSION", (int)wabi, "ABI", (int)wcaps, "CAPABILITIES", "FILE");
  for (size_t i = 0; i < n; i++) {
    char abi[32], caps[512], file[512];
    int ok = sage_plugins_status(l, i) == 0;
    abi_text(sage_plugins_abi(l, i), abi, sizeof abi);
    caps_text(sage_plugins_capabilities(l, i), caps, sizeof caps);
    fit_path(sage_plugins_path(l, i), wfile, file, sizeof file);
    size_t len;
    const char *rest = wrap_caps(ok ? caps : "REFUSED", wcaps, &len);
    const char *line = ok ? caps : "REFUSED";
    printf("%-*s  %-*s  %-*s  %-*.*s  %s\n", (int)wname,
           sage_plugins_name(l, i), (int)wver,
           ok ? sage_plugins_version(l, i) : "-", (int)wabi, ok ? abi : "-",
           (int)wcaps, (int)len, line, file);
    while (*rest != '\0') {
      line = rest;
      rest = wrap_caps(line, wcaps, &len);
      printf("%*s%.*s\n", (int)(wname + wver + wabi + 6), "", (int)len, line);
    }
  }
  for (size_t i = 0; i < n; i++)
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
        "  NAME  VERSION  ABI  CAPABILITIES     FILE\n"
        "  shm   0.1.0    1.0  mpmc,blocking,   /usr/lib/.../sage-shm.so\n"
        "                      cross_process,...\n\n"
        "The table fits 80 columns: capabilities wrap onto the next lines,\n"
        "a long FILE loses its start; --json has everything in full.\n",
    .run = run,
};
