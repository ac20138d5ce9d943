/* A minimal check macro for the ABI test programs, which are plain C (no
 * Criterion) so they also run in ThreadSanitizer builds. */
#ifndef SAGE_ABI_CHECK_H
#define SAGE_ABI_CHECK_H

#include <stdio.h>

static int abi_failures;

#define ABI_CHECK(cond, ...)                                                   \
  do {                                                                         \
    if (cond) {                                                                \
      printf("ok   ");                                                         \
    } else {                                                                   \
      printf("FAIL ");                                                         \
      abi_failures++;                                                          \
    }                                                                          \
    printf(__VA_ARGS__);                                                       \
    printf("\n");                                                              \
  } while (0)

#endif
