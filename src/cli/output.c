/* Output helpers for sage-queue: aligned text tables, JSON strings and
 * human-readable units. */
#include "config.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

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

void json_error_object(FILE *out, const char *message, const char *code) {
  if (message == NULL) {
    fputs("null", out);
    return;
  }
  fputs("{\"message\": ", out);
  json_string(out, message);
  fputs(", \"code\": ", out);
  json_string(out, code != NULL ? code : "error");
  fputc('}', out);
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

/* ---- frames redrawn in place (stat --watch, top) ---- */

void term_size(int fd, int *rows, int *cols) {
  struct winsize ws;
  *rows = 24;
  *cols = 80;
  if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
      ws.ws_col > 0) {
    *rows = ws.ws_row;
    *cols = ws.ws_col;
  }
}

/* Bytes of s that fit in `cols` columns (UTF-8 continuation bytes take
 * none); *width gets the columns used. */
static size_t fit_bytes(const char *s, size_t len, int cols, int *width) {
  size_t i = 0;
  int w = 0;
  while (i < len) {
    if (((unsigned char)s[i] & 0xC0) != 0x80) {
      if (w == cols)
        break;
      w++;
    }
    i++;
  }
  *width = w;
  return i;
}

void frame_print(FILE *out, const char *text, int rows, int cols,
                 int in_place) {
  size_t nlines = 0;
  for (const char *p = text; *p; p++)
    if (*p == '\n' || p[1] == '\0')
      nlines++;
  if (rows < 2)
    rows = 2;
  size_t shown = nlines <= (size_t)rows ? nlines : (size_t)rows - 1;
  if (in_place)
    fputs("\033[H", out); /* cursor home: the frame replaces the last */
  const char *p = text;
  for (size_t i = 0; i < shown; i++) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    int width;
    fwrite(p, 1, fit_bytes(p, len, cols, &width), out);
    if (in_place)
      fputs("\033[K", out); /* clear what the last frame left */
    /* no newline after the last line of a full screen: it would scroll */
    if (!in_place || i + 1 < shown || shown < nlines)
      fputc('\n', out);
    p = nl ? nl + 1 : p + len;
  }
  if (shown < nlines) {
    char more[64];
    int width;
    snprintf(more, sizeof more, "+%zu more", nlines - shown);
    fwrite(more, 1, fit_bytes(more, strlen(more), cols, &width), out);
    if (in_place)
      fputs("\033[K", out);
    else
      fputc('\n', out);
  }
  if (in_place)
    fputs("\033[J", out); /* clear below */
  fflush(out);
}

void fmt_ellipsize(const char *s, int cols, char *buf, size_t cap) {
  int width;
  size_t len = strlen(s);
  size_t n = fit_bytes(s, len, cols, &width);
  if (n == len || cols < 4) {
    snprintf(buf, cap, "%.*s", (int)n, s);
    return;
  }
  /* room for "..." */
  n = fit_bytes(s, len, cols - 3, &width);
  snprintf(buf, cap, "%.*s...", (int)n, s);
}

void frame_show(void (*render)(FILE *out, int cols, const void *ctx),
                const void *ctx, int in_place) {
  int rows, cols;
  char *text = NULL;
  size_t len = 0;
  term_size(STDOUT_FILENO, &rows, &cols);
  FILE *mem = open_memstream(&text, &len);
  if (mem == NULL)
    return;
  render(mem, cols, ctx);
  fclose(mem);
  frame_print(stdout, text, rows, cols, in_place);
  free(text);
}
