/* Queue URIs: <transport>://<name>[?key=value&...].
 *
 * The transport and name are taken as written (the registry checks them);
 * keys are [a-z0-9_-]+ (or x-...), each at most once; values may use %XX.
 * Python's keyword names map to the standard options (maxsize ->
 * capacity); sizes take K/M/G and KiB/MiB/GiB (powers of 1024) and are
 * checked here, so a bad one names its key; booleans take 1/0, true/false,
 * yes/no, on/off. Other keys go to the transport, which refuses unknown
 * ones naming them and the keys it knows. */
#include "config.h"

#include "uri.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int refuse(struct sage_uri *u, const char *uri, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(struct sage_uri *u, const char *uri, const char *fmt, ...) {
  char why[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  snprintf(u->error, sizeof u->error, "bad queue URI '%.60s': %s", uri, why);
  return -EINVAL;
}

int sage__is_uri(const char *s) {
  return s != NULL && strstr(s, "://") != NULL;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes %XX in place; 0, or -1 on a bad escape. */
static int percent_decode(char *s) {
  char *out = s;
  for (const char *in = s; *in != '\0'; in++) {
    if (*in == '%') {
      int hi = hex_value(in[1]), lo = hi < 0 ? -1 : hex_value(in[2]);
      if (lo < 0)
        return -1;
      *out++ = (char)(hi * 16 + lo);
      in += 2;
    } else {
      *out++ = *in;
    }
  }
  *out = '\0';
  return 0;
}

static int key_ok(const char *k) {
  if (*k == '\0')
    return 0;
  for (; *k != '\0'; k++)
    if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_' ||
          *k == '-'))
      return 0;
  return 1;
}

/* A size: digits, then nothing or one of K M G KiB MiB GiB (any case). */
static int size_ok(const char *v) {
  const char *p = v;
  while (*p >= '0' && *p <= '9')
    p++;
  if (p == v)
    return 0;
  static const char *const suffixes[] = {"",    "k",   "m",  "g",
                                         "kib", "mib", "gib"};
  for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++)
    if (strcasecmp(p, suffixes[i]) == 0)
      return 1;
  return 0;
}

static const char *boolean(const char *v) {
  static const char *const yes[] = {"1", "true", "yes", "on"};
  static const char *const no[] = {"0", "false", "no", "off"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(v, yes[i]) == 0)
      return "1";
    if (strcasecmp(v, no[i]) == 0)
      return "0";
  }
  return NULL;
}

static int is_size_key(const char *k) {
  return strcmp(k, "capacity") == 0 || strcmp(k, "msgsize") == 0;
}

/* Adds key=value (decoded, mapped, checked) to u. */
static int add_option(struct sage_uri *u, const char *uri, char *key,
                      char *value) {
  if (!key_ok(key))
    return refuse(u, uri, "bad key '%.40s' (use a-z 0-9 _ -)", key);
  if (percent_decode(value) != 0)
    return refuse(u, uri, "bad %%-escape in the value of '%.40s'", key);
  const char *given = key;
  if (strcmp(key, "maxsize") == 0)
    key = "capacity";
  for (size_t i = 0; i < u->n_options; i++)
    if (strcmp(u->options[2 * i], key) == 0)
      return refuse(u, uri, "'%.40s' given twice", given);
  if (is_size_key(key) && !size_ok(value))
    return refuse(u, uri,
                  "bad size '%.40s' for '%.40s' (a number with an optional "
                  "K, M, G, KiB, MiB or GiB suffix)",
                  value, given);
  if (strcmp(key, "auto_cleanup") == 0) {
    const char *b = boolean(value);
    if (b == NULL)
      return refuse(u, uri, "bad value '%.40s' for '%.40s' (true or false)",
                    value, given);
    strcpy(value, b); /* "1"/"0" fit where any accepted word was */
  }
  if (u->n_options == SAGE_URI_MAX_OPTIONS)
    return refuse(u, uri, "more than %d options", SAGE_URI_MAX_OPTIONS);
  u->options[2 * u->n_options] = key;
  u->options[2 * u->n_options + 1] = value;
  u->n_options++;
  u->options[2 * u->n_options] = NULL;
  return 0;
}

static int parse_query(struct sage_uri *u, const char *uri, char *query) {
  for (char *next, *pair = query; pair != NULL; pair = next) {
    next = strchr(pair, '&');
    if (next != NULL)
      *next++ = '\0';
    if (*pair == '\0')
      continue; /* "a=1&&b=2", a trailing '&' */
    char *eq = strchr(pair, '=');
    if (eq == NULL)
      return refuse(u, uri, "option '%.40s' has no value (key=value)", pair);
    *eq = '\0';
    int rc = add_option(u, uri, pair, eq + 1);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int sage__uri_parse(const char *uri, struct sage_uri *u) {
  memset(u, 0, sizeof *u);
  if (uri == NULL)
    return refuse(u, "(null)", "no URI");
  if (strlen(uri) >= sizeof u->text)
    return refuse(u, uri, "longer than %zu bytes", sizeof u->text - 1);
  strcpy(u->text, uri);
  char *sep = strstr(u->text, "://");
  if (sep == NULL)
    return refuse(u, uri, "expected <transport>://<name>[?key=value&...]");
  *sep = '\0';
  u->transport = u->text;
  if (*u->transport == '\0')
    return refuse(u, uri, "no transport before '://'");
  char *name = sep + 3, *query = strchr(name, '?');
  if (query != NULL)
    *query++ = '\0';
  if (percent_decode(name) != 0)
    return refuse(u, uri, "bad %%-escape in the name");
  if (*name == '\0')
    return refuse(u, uri, "empty queue name after '://'");
  u->name = name;
  return query != NULL ? parse_query(u, uri, query) : 0;
}
