/* Queue arguments: a NAME on --transport, or a URI (docs/CONFIG.md) whose
 * transport and name replace them; the URI's options are for opening and
 * are ignored by commands that look from outside. */
#include "config.h"

#include "cli.h"
#include "uri.h"

int cli_target(const struct cli_command *cmd, const char *arg,
               const char *transport, struct cli_target *t) {
  t->transport = transport;
  t->name = arg;
  if (!sage__is_uri(arg))
    return EXIT_OK;
  if (sage__uri_parse(arg, &t->uri) != 0)
    return cli_usage(cmd, "%s", t->uri.error);
  t->transport = t->uri.transport;
  t->name = t->uri.name;
  return EXIT_OK;
}
