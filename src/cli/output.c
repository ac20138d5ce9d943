/* Output helpers for sage-queue: aligned text tables, JSON strings and
 * human-readable units. */
#include "config.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "cli.h"

struct table {
  size_t ncols, nrows, cap;
  char **cells; /* nrows * ncols, row 0 = headers */
};

static void push_row(struct table *t, const char *const *cells) {
  if (t->nrows == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 16;
    t->cells = realloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
    if (t->cells == NULL)
      abort();
  }
  for (size_t c = 0; c < t->ncols; c++)
    t->cells[t->nrows * t->ncols + c] = strdup(cells[c] ? cells[c] : "");
  t->nrows++;
}

struct table *table_new(size_t ncols, const char *const *headers) {
  struct table *t = calloc(1, sizeof *t);
  if (t == NULL)
    abort();
  t->ncols = ncols;
  push_row(t, headers);
  return t;
}

void table_add(struct table *t, const char *const *cells) {
  push_row(t, cells);
}

void table_print(const struct table *t, FILE *out) {
  size_t width[32] = {0};
  for (size_t r = 0; r < t->nrows; r++)
    for (size_t c = 0; c < t->ncols && c < 32; c++) {
      size_t n = strlen(t->cells[r * t->ncols + c]);
      if (n > width[c])
        width[c] = n;
    }
  for (size_t r = 0; r < t->nrows; r++) {
    char *const *row = &t->cells[r * t->ncols];
    size_t last = t->ncols; /* no padding after the last non-empty cell */
    while (last > 1 && row[last - 1][0] == '\0')
      last--;
    for (size_t c = 0; c < last; c++) {
      if (c + 1 == last)
        fprintf(out, "%s", row[c]);
      else
        fprintf(out, "%-*s  ", (int)width[c < 32 ? c : 31], row[c]);
    }
    fputc('\n', out);
  }
}

void table_free(struct table *t) {
  if (t == NULL)
    return;
  for (size_t i = 0; i < t->nrows * t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  free(t);
}

void json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
    if (*c == '"' || *c == '\\')
      fprintf(out, "\\%c", *c);
    else if (*c < 0x20)
      fprintf(out, "\\u%04x", *c);
    else
      fputc(*c, out);
  }
  fputc('"', out);
}

void json_key(FILE *out, const char *key, int first) {
  if (!first)
    fputs(", ", out);
  json_string(out, key);
  fputs(": ", out);
}

void fmt_bytes(uint64_t bytes, char *buf, size_t cap) {
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) {
    snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    return;
  }
  double v = (double)bytes / 1024;
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
    v /= 1024;
    u++;
  }
  snprintf(buf, cap, "%.1f %s", v, units[u]);
}

void fmt_duration(double seconds, char *buf, size_t cap) {
  if (seconds < 0)
    seconds = 0;
  unsigned long long s = (unsigned long long)seconds;
  if (s < 60)
    snprintf(buf, cap, "%llus", s);
  else if (s < 3600)
    snprintf(buf, cap, "%llum%02llus", s / 60, s % 60);
  else if (s < 86400)
    snprintf(buf, cap, "%lluh%02llum", s / 3600, s % 3600 / 60);
  else
    snprintf(buf, cap, "%llud%02lluh", s / 86400, s % 86400 / 3600);
}

void fmt_time(uint64_t epoch_ns, char *buf, size_t cap) {
  time_t t = (time_t)(epoch_ns / 1000000000u);
  struct tm tm;
  if (localtime_r(&t, &tm) == NULL || strftime(buf, cap, "%F %T", &tm) == 0)
    snprintf(buf, cap, "%lld", (long long)t);
}

void fmt_user(uint32_t uid, char *buf, size_t cap) {
  struct passwd pw, *found = NULL;
  char scratch[1024];
  if (getpwuid_r((uid_t)uid, &pw, scratch, sizeof scratch, &found) == 0 &&
      found != NULL)
    snprintf(buf, cap, "%s", found->pw_name);
  else
    snprintf(buf, cap, "%u", uid);
}

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t now_realtime_ns(void) {
  return clock_ns(CLOCK_REALTIME);
}

uint64_t now_monotonic_ns(void) {
  return clock_ns(CLOCK_MONOTONIC);
}
