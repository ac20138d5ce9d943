/* Queue URIs: the parser (src/uri.c) and sage_queue_open_uri over shm. */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <sage/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uri.h"

static const char *option(const struct sage_uri *u, const char *key) {
  for (size_t i = 0; i < u->n_options; i++)
    if (strcmp(u->options[2 * i], key) == 0)
      return u->options[2 * i + 1];
  return NULL;
}

Test(uri_parse, transport_name_and_options) {
  struct sage_uri u;
  cr_assert_eq(sage__uri_parse("shm://jobs?maxsize=8MiB&max_items=100&"
                               "auto_cleanup=true&spin_ns=0",
                               &u),
               0, "%s", u.error);
  cr_assert_str_eq(u.transport, "shm");
  cr_assert_str_eq(u.name, "jobs");
  cr_assert_eq(u.n_options, 4);
  cr_assert_str_eq(option(&u, "capacity"), "8MiB"); /* maxsize maps */
  cr_assert_str_eq(option(&u, "max_items"), "100");
  cr_assert_str_eq(option(&u, "auto_cleanup"), "1");
  cr_assert_str_eq(option(&u, "spin_ns"), "0");
  cr_assert_null(u.options[8]);
}

Test(uri_parse, plain_and_escaped) {
  struct sage_uri u;
  cr_assert_eq(sage__uri_parse("posixmq://a.b-c", &u), 0);
  cr_assert_str_eq(u.transport, "posixmq");
  cr_assert_str_eq(u.name, "a.b-c");
  cr_assert_eq(u.n_options, 0);
  cr_assert_eq(sage__uri_parse("shm://q?x-note=a%20b&&", &u), 0, "%s", u.error);
  cr_assert_str_eq(option(&u, "x-note"), "a b");
  cr_assert(sage__is_uri("shm://q") && !sage__is_uri("jobs"));
}

static void refused(const char *uri, const char *part) {
  struct sage_uri u;
  cr_assert_eq(sage__uri_parse(uri, &u), -EINVAL, "%s accepted", uri);
  cr_assert(strstr(u.error, part) != NULL, "%s: '%s' lacks '%s'", uri, u.error,
            part);
}

Test(uri_parse, bad_uris_name_the_part) {
  refused("jobs", "expected <transport>://<name>");
  refused("://jobs", "no transport");
  refused("shm://", "empty queue name");
  refused("shm://?maxsize=1K", "empty queue name");
  refused("shm://q?maxsize=8XB", "bad size '8XB' for 'maxsize'");
  refused("shm://q?capacity=K", "bad size 'K' for 'capacity'");
  refused("shm://q?auto_cleanup=maybe", "bad value 'maybe' for 'auto_cleanup'");
  refused("shm://q?max_items", "has no value");
  refused("shm://q?Bad=1", "bad key 'Bad'");
  refused("shm://q?maxsize=1K&capacity=2K", "'capacity' given twice");
  refused("shm://q?x-a=%zz", "bad %-escape");
}

Test(open_uri, opens_with_the_uri_options) {
  char uri[128];
  snprintf(uri, sizeof uri, "shm://uri-%d?maxsize=8KiB&max_items=5",
           (int)getpid());
  sage_queue *q = NULL;
  cr_assert_eq(sage_queue_open_uri(uri, NULL, &q), 0, "%s", sage_last_error());
  struct sage_stats st = {.size = sizeof st};
  cr_assert_eq(sage_queue_stats(q, &st), 0);
  cr_assert_eq(st.capacity, 8192);
  cr_assert_eq(st.max_items, 5);
  cr_assert_str_eq(sage_queue_transport_name(q), "shm");
  cr_assert_eq(sage_queue_destroy(q), 0);
}

Test(open_uri, extra_options_replace_the_uris) {
  char uri[128];
  snprintf(uri, sizeof uri, "shm://uri-x-%d?maxsize=8KiB", (int)getpid());
  const char *extra[] = {"capacity", "16K", NULL};
  sage_queue *q = NULL;
  cr_assert_eq(sage_queue_open_uri(uri, extra, &q), 0, "%s", sage_last_error());
  struct sage_stats st = {.size = sizeof st};
  cr_assert_eq(sage_queue_stats(q, &st), 0);
  cr_assert_eq(st.capacity, 16384);
  cr_assert_eq(sage_queue_destroy(q), 0);
}

Test(open_uri, errors_say_what_is_wrong) {
  sage_queue *q = NULL;
  cr_assert_eq(sage_queue_open_uri("shm://q?maxsize=big", NULL, &q), -EINVAL);
  cr_assert_null(q);
  cr_assert(strstr(sage_last_error(), "bad size 'big' for 'maxsize'") != NULL,
            "%s", sage_last_error());
  cr_assert_eq(sage_queue_open_uri("nosuch://q", NULL, &q), SAGE_ENOPLUGIN);
  cr_assert(strstr(sage_last_error(), "nosuch") != NULL, "%s",
            sage_last_error());
  cr_assert_eq(sage_queue_open_uri("shm://q?colour=red", NULL, &q), -EINVAL);
  cr_assert(strstr(sage_last_error(), "unknown option 'colour'") != NULL, "%s",
            sage_last_error());
  cr_assert_eq(sage_queue_open_uri("shm://bad name", NULL, &q), SAGE_EBADNAME);
}

/* ---- the cases the Python parser shares (tests/uri_cases.txt) ---- */

static unsigned long long size_bytes(const char *v) {
  char *end;
  unsigned long long n = strtoull(v, &end, 10);
  switch (*end | 0x20) {
  case 'k':
    return n << 10;
  case 'm':
    return n << 20;
  case 'g':
    return n << 30;
  default:
    return n;
  }
}

/* key=value of an "ok" line, value %-decoded, compared with what the
 * parser gave (sizes in bytes). */
static void check_pair(const struct sage_uri *u, const char *uri, char *pair) {
  char *eq = strchr(pair, '=');
  cr_assert_not_null(eq, "%s: bad case '%s'", uri, pair);
  *eq = '\0';
  const char *got = option(u, pair), *want = eq + 1;
  cr_assert_not_null(got, "%s: no '%s'", uri, pair);
  if (strcmp(pair, "capacity") == 0 || strcmp(pair, "msgsize") == 0) {
    cr_assert_eq(size_bytes(got), strtoull(want, NULL, 10), "%s: %s=%s", uri,
                 pair, got);
    return;
  }
  char decoded[128];
  size_t n = 0;
  for (const char *c = want; *c != '\0' && n + 1 < sizeof decoded; c++) {
    unsigned hex;
    if (*c == '%' && sscanf(c + 1, "%2x", &hex) == 1) {
      decoded[n++] = (char)hex;
      c += 2;
    } else {
      decoded[n++] = *c;
    }
  }
  decoded[n] = '\0';
  cr_assert_str_eq(got, decoded, "%s: %s", uri, pair);
}

static void check_case(char *line) {
  char *save, *kind = strtok_r(line, " \t\n", &save);
  char *uri = strtok_r(NULL, " \t\n", &save);
  struct sage_uri u;
  if (strcmp(kind, "bad") == 0) {
    char *text = save + strspn(save, " \t");
    text[strcspn(text, "\n")] = '\0';
    refused(uri, text);
    return;
  }
  cr_assert_eq(sage__uri_parse(uri, &u), 0, "%s: %s", uri, u.error);
  cr_assert_str_eq(u.transport, strtok_r(NULL, " \t\n", &save), "%s", uri);
  cr_assert_str_eq(u.name, strtok_r(NULL, " \t\n", &save), "%s", uri);
  size_t pairs = 0;
  for (char *p; (p = strtok_r(NULL, " \t\n", &save)) != NULL; pairs++)
    check_pair(&u, uri, p);
  cr_assert_eq(u.n_options, pairs, "%s: %zu options", uri, u.n_options);
}

Test(uri_parse, the_shared_cases) {
  const char *srcdir = getenv("SAGE_TEST_SRCDIR");
  cr_assert_not_null(srcdir, "SAGE_TEST_SRCDIR unset");
  char path[1024], line[512];
  snprintf(path, sizeof path, "%s/tests/uri_cases.txt", srcdir);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s", path);
  int cases = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    if (line[0] == '#' || strspn(line, " \t\n") == strlen(line))
      continue;
    check_case(line);
    cases++;
  }
  fclose(f);
  cr_assert_gt(cases, 10);
}
