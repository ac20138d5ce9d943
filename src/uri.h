/* Queue URIs: <transport>://<name>[?key=value&...] (docs/CONFIG.md).
 * Parsing only: no registry, no plugin; the CLI compiles it too. */
#ifndef SAGE_URI_H
#define SAGE_URI_H

#include <stddef.h>

#define SAGE_URI_MAX_OPTIONS 32

struct sage_uri {
  const char *transport; /* points into text */
  const char *name;
  /* NULL-terminated key, value pairs (keys as transports take them:
   * maxsize -> capacity, booleans "1"/"0"), pointing into text. */
  const char *options[2 * SAGE_URI_MAX_OPTIONS + 1];
  size_t n_options;
  char text[1024];
  char error[320]; /* why it was refused, naming the part */
};

/* Whether s looks like a queue URI (has "://"): a plain name does not. */
int sage__is_uri(const char *s);

/* Parses uri into u: 0, or -EINVAL with u->error set. */
int sage__uri_parse(const char *uri, struct sage_uri *u);

#endif
