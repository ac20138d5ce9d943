/* Standalone conformance runner: runs every check against one transport and
 * prints a PASS/FAIL/SKIP table. Used in TSan builds (where Criterion cannot
 * start) and as the model for `sage-queue check-plugin`.
 * usage: run_conformance [TRANSPORT]   (default: $SAGE_CONFORMANCE_TRANSPORT
 * or shm). Exit 0 if nothing failed. */
#include "config.h"

#include <sage/queue.h>
#include <stdio.h>
#include <stdlib.h>

#include "conformance/conformance.h"

int main(int argc, char **argv) {
  const char *transport =
      argc > 1 ? argv[1] : getenv("SAGE_CONFORMANCE_TRANSPORT");
  if (transport == NULL || *transport == '\0')
    transport = "shm";
  struct conf_ctx ctx;
  int rc = sage_conformance_init(&ctx, transport);
  if (rc != 0) {
    fprintf(stderr, "cannot load transport '%s': %s\n", transport,
            sage_last_error());
    return 1;
  }
  int failed = 0;
  for (size_t i = 0; i < sage_conformance_count; i++) {
    const struct conf_check *check = &sage_conformance_checks[i];
    enum conf_result res = sage_conformance_run(&ctx, check);
    const char *word = res == CONF_PASS   ? "PASS"
                       : res == CONF_SKIP ? "SKIP"
                                          : "FAIL";
    printf("%-4s %-16s %s%s%s\n", word, check->name, check->summary,
           ctx.why[0] ? ": " : "", ctx.why);
    failed += res == CONF_FAIL;
  }
  printf("%s: %d of %zu checks failed\n", transport, failed,
         sage_conformance_count);
  return failed ? 1 : 0;
}
