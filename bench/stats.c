/* Per-repetition series (min / median / max) and latency percentiles. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

void bench_series_add(struct bench_series *s, double x) {
  if (s->n < BENCH_MAX_REPS)
    s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

struct bench_summary bench_summarize(const struct bench_series *s) {
  if (s->n == 0)
    return (struct bench_summary){0, 0, 0};
  double v[BENCH_MAX_REPS];
  memcpy(v, s->v, (size_t)s->n * sizeof v[0]);
  qsort(v, (size_t)s->n, sizeof v[0], cmp_double);
  double median = s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
  return (struct bench_summary){v[0], median, v[s->n - 1]};
}

void bench_samples_add(struct bench_samples *s, const int64_t *v, size_t n) {
  if (s->n + n > s->cap) {
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < s->n + n)
      cap *= 2;
    int64_t *grown = realloc(s->v, cap * sizeof *grown);
    if (grown == NULL) {
      fprintf(stderr, "sage-queue-bench: out of memory for samples\n");
      exit(1);
    }
    s->v = grown;
    s->cap = cap;
  }
  memcpy(s->v + s->n, v, n * sizeof *v);
  s->n += n;
}

void bench_samples_free(struct bench_samples *s) {
  free(s->v);
  *s = (struct bench_samples){NULL, 0, 0};
}

/* Nearest-rank percentile of sorted v: the smallest sample with at least
 * p of the samples at or below it. */
static double rank(const int64_t *v, size_t n, double p) {
  double want = p * (double)n;
  size_t k = (size_t)want;
  if ((double)k < want)
    k++; /* ceil without libm */
  return (double)v[k > 0 ? k - 1 : 0];
}

struct bench_dist bench_dist_of(const int64_t *v, size_t n) {
  if (n == 0)
    return (struct bench_dist){0, 0, 0, 0};
  int64_t *sorted = malloc(n * sizeof *sorted);
  if (sorted == NULL) {
    fprintf(stderr, "sage-queue-bench: out of memory for samples\n");
    exit(1);
  }
  memcpy(sorted, v, n * sizeof *v);
  qsort(sorted, n, sizeof *sorted, cmp_i64);
  struct bench_dist d = {rank(sorted, n, 0.5), rank(sorted, n, 0.99),
                         rank(sorted, n, 0.999), n};
  free(sorted);
  return d;
}
