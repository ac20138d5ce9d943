/* docs/C.md: puts N text messages on a queue, then an empty end marker.
 *   producer URI [N]      e.g. producer "shm://jobs?maxsize=1MiB" 1000 */
#include <sage/queue.h>
#include <stdio.h>
#include <stdlib.h>

#define SECOND 1000000000ll

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: producer URI [N]   (e.g. producer shm://jobs 1000)\n");
    return 2;
  }
  const char *uri = argv[1];
  long n = argc > 2 ? atol(argv[2]) : 1000;
  sage_queue *q;
  if (sage_queue_open_uri(uri, NULL, &q) != 0) {
    fprintf(stderr, "producer: %s\n", sage_last_error());
    return 1;
  }
  char text[64];
  for (long i = 0; i < n; i++) {
    int len = snprintf(text, sizeof text, "job %ld", i);
    if (sage_queue_put(q, text, (size_t)len, 10 * SECOND) != 0) {
      fprintf(stderr, "producer: put: %s\n", sage_last_error());
      return 1;
    }
  }
  sage_queue_put(q, "", 0, 10 * SECOND); /* the end marker */
  sage_queue_close(q);                   /* the queue stays for the consumer */
  return 0;
}
