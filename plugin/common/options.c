/* Key/value open-option parsing for in-tree transports. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "options.h"

#define MAX_KEYS 64

int sage_opts_parse_size(const char *text, uint64_t *out) {
  if (text == NULL || *text < '0' || *text > '9')
    return -EINVAL;
  uint64_t value = 0;
  const char *c = text;
  for (; *c >= '0' && *c <= '9'; c++) {
    if (value > (UINT64_MAX - 9) / 10)
      return -EINVAL;
    value = value * 10 + (uint64_t)(*c - '0');
  }
  unsigned shift = 0;
  switch (*c) {
  case '\0':
    break;
  case 'k':
  case 'K':
    shift = 10, c++;
    break;
  case 'm':
  case 'M':
    shift = 20, c++;
    break;
  case 'g':
  case 'G':
    shift = 30, c++;
    break;
  default:
    return -EINVAL;
  }
  if (*c == 'i' || *c == 'I') /* accept "KiB"-style */
    c++;
  if (*c == 'b' || *c == 'B')
    c++;
  if (*c != '\0' || (shift && value > (UINT64_MAX >> shift)))
    return -EINVAL;
  *out = value << shift;
  return 0;
}

static int parse_bool(const char *text, uint64_t *out) {
  static const char *const yes[] = {"1", "true", "yes", "on"};
  static const char *const no[] = {"0", "false", "no", "off"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(text, yes[i]) == 0)
      return *out = 1, 0;
    if (strcasecmp(text, no[i]) == 0)
      return *out = 0, 0;
  }
  return -EINVAL;
}

static int parse_mode(const char *text, uint64_t *out) {
  uint64_t mode = 0;
  if (*text == '\0')
    return -EINVAL;
  for (const char *c = text; *c != '\0'; c++) {
    if (*c < '0' || *c > '7' || mode > 0777)
      return -EINVAL;
    mode = mode * 8 + (uint64_t)(*c - '0');
  }
  if (mode > 0777)
    return -EINVAL;
  *out = mode;
  return 0;
}

static int parse_enum(const char *text, const char *const *choices,
                      uint64_t *out) {
  for (uint64_t i = 0; choices != NULL && choices[i] != NULL; i++)
    if (strcmp(text, choices[i]) == 0)
      return *out = i, 0;
  return -EINVAL;
}

static const char *type_hint(enum sage_opt_type type) {
  switch (type) {
  case SAGE_OPT_SIZE:
    return "a size such as 4096 or 64K";
  case SAGE_OPT_BOOL:
    return "true or false";
  case SAGE_OPT_MODE:
    return "octal permission bits such as 0600";
  case SAGE_OPT_ENUM:
    return "one of the listed choices";
  }
  return "a value";
}

static int parse_value(const struct sage_opt_spec *spec, const char *text,
                       uint64_t *out) {
  switch (spec->type) {
  case SAGE_OPT_SIZE:
    if (sage_opts_parse_size(text, out) != 0)
      return -EINVAL;
    return (*out < spec->min || *out > spec->max) ? -ERANGE : 0;
  case SAGE_OPT_BOOL:
    return parse_bool(text, out);
  case SAGE_OPT_MODE:
    return parse_mode(text, out);
  case SAGE_OPT_ENUM:
    return parse_enum(text, spec->choices, out);
  }
  return -EINVAL;
}

static const struct sage_opt_spec *find_spec(const struct sage_opt_spec *specs,
                                             size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(specs[i].key, key) == 0)
      return &specs[i];
  return NULL;
}

static void list_keys(const struct sage_opt_spec *specs, size_t n, char *buf,
                      size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "",
                             specs[i].key);
}

static int unknown_key(const struct sage_opt_spec *specs, size_t n,
                       const char *key, char *why, size_t cap) {
  char known[512];
  list_keys(specs, n, known, sizeof known);
  snprintf(why, cap,
           "unknown option '%.64s' (known: %s; prefix custom keys "
           "with x-)",
           key, known);
  return -EINVAL;
}

static int bad_value(const struct sage_opt_spec *spec, const char *value,
                     int rc, char *why, size_t cap) {
  if (rc == -ERANGE)
    snprintf(why, cap, "option '%s': %.64s is outside %llu..%llu", spec->key,
             value, (unsigned long long)spec->min,
             (unsigned long long)spec->max);
  else
    snprintf(why, cap, "option '%s': '%.64s' is not %s", spec->key, value,
             type_hint(spec->type));
  return -EINVAL;
}

int sage_opts_parse(const char *const *options,
                    const struct sage_opt_spec *specs, size_t nspecs, void *out,
                    char *why, size_t cap) {
  const char *seen[MAX_KEYS];
  size_t nseen = 0;
  for (size_t i = 0; options != NULL && options[i] != NULL; i += 2) {
    const char *key = options[i], *value = options[i + 1];
    if (value == NULL) {
      snprintf(why, cap, "option '%.64s' has no value", key);
      return -EINVAL;
    }
    for (size_t k = 0; k < nseen; k++)
      if (strcmp(seen[k], key) == 0) {
        snprintf(why, cap, "option '%.64s' given twice", key);
        return -EINVAL;
      }
    if (nseen == MAX_KEYS) {
      snprintf(why, cap, "more than %d options", MAX_KEYS);
      return -EINVAL;
    }
    seen[nseen++] = key;
    if (strncmp(key, "x-", 2) == 0)
      continue;
    const struct sage_opt_spec *spec = find_spec(specs, nspecs, key);
    if (spec == NULL)
      return unknown_key(specs, nspecs, key, why, cap);
    uint64_t v;
    int rc = parse_value(spec, value, &v);
    if (rc != 0)
      return bad_value(spec, value, rc, why, cap);
    memcpy((char *)out + spec->offset, &v, sizeof v);
  }
  return 0;
}
