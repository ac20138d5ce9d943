/* docs/C.md: takes messages until the empty end marker, prints the count.
 *   consumer URI          e.g. consumer shm://jobs */
#include <errno.h>
#include <sage/queue.h>
#include <stdio.h>

#define SECOND 1000000000ll

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: consumer URI   (e.g. consumer shm://jobs)\n");
    return 2;
  }
  const char *uri = argv[1];
  sage_queue *q;
  if (sage_queue_open_uri(uri, NULL, &q) != 0) {
    fprintf(stderr, "consumer: %s\n", sage_last_error());
    return 1;
  }
  char buf[256];
  size_t len;
  long count = 0;
  int rc;
  while ((rc = sage_queue_get(q, buf, sizeof buf, &len, 10 * SECOND)) == 0 &&
         len > 0)
    count++;
  if (rc != 0) {
    fprintf(stderr, "consumer: get: %s\n", sage_last_error());
    return 1;
  }
  printf("consumer: %ld messages\n", count);
  sage_queue_destroy(q); /* removes the queue: the last user is done */
  return 0;
}
