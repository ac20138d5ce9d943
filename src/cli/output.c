/* Output helpers for sage-queue: aligned text tables and JSON strings. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

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
    for (size_t c = 0; c < t->ncols; c++) {
      const char *cell = t->cells[r * t->ncols + c];
      if (c + 1 == t->ncols)
        fprintf(out, "%s", cell);
      else
        fprintf(out, "%-*s  ", (int)width[c < 32 ? c : 31], cell);
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
