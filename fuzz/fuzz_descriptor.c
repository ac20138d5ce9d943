/* libFuzzer harness: the registry's load gates (sage__descriptor_check in
 * src/loader.c) on descriptors and ops tables built from fuzzer bytes, plus
 * the optional-op check (SAGE__HAS_OP) the flat API uses afterwards and the
 * file-name rules (sage__plugin_stem).
 *
 * The descriptor and the ops table are heap blocks of exactly the size they
 * declare (at least their leading size fields, at most the struct plus a
 * tail), so ASan reports any read past what a plugin says it provides.
 *
 * Input: a fixed-size header (struct shape below) followed by three
 * NUL-separated strings: descriptor name, file stem, file path. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct shape {
  uint32_t abi_version, desc_size;
  uint64_t ops_size;
  uint32_t ops_present; /* bit i: function pointer i is non-NULL */
  uint8_t flags;        /* 1: no ops table, 2: NULL name, 4: NULL desc */
  uint8_t why_cap;
};

#define FN_SLOTS                                                               \
  ((sizeof(struct sage_transport_ops) - sizeof(size_t)) /                      \
   sizeof(void (*)(void)))
#define TAIL 64 /* a newer plugin's fields past what this host knows */

static int dummy_op(void) {
  return 0;
}

/* Splits the rest of the input into up to n NUL-terminated strings. */
static void split(const uint8_t *p, size_t n, char **out, int count) {
  for (int i = 0; i < count; i++) {
    const uint8_t *end = memchr(p, 0, n);
    size_t len = end != NULL ? (size_t)(end - p) : n;
    out[i] = malloc(len + 1);
    memcpy(out[i], p, len);
    out[i][len] = '\0';
    p += len + (end != NULL);
    n -= len + (end != NULL);
  }
}

static size_t clamp(uint64_t declared, size_t floor, size_t full) {
  if (declared < floor)
    return floor;
  return declared > full + TAIL ? full + TAIL : (size_t)declared;
}

static struct sage_transport_ops *build_ops(const struct shape *s,
                                            size_t *alloc) {
  *alloc =
      clamp(s->ops_size, sizeof(size_t), sizeof(struct sage_transport_ops));
  unsigned char *block = calloc(1, *alloc);
  size_t declared = (size_t)s->ops_size;
  memcpy(block, &declared, sizeof declared);
  int (*fn)(void) = dummy_op;
  for (size_t i = 0; i < FN_SLOTS; i++) {
    size_t off = sizeof(size_t) + i * sizeof fn;
    if (off + sizeof fn <= *alloc && (s->ops_present >> (i % 32) & 1))
      memcpy(block + off, &fn, sizeof fn);
  }
  return (struct sage_transport_ops *)(void *)block;
}

static struct sage_transport_descriptor *
build_desc(const struct shape *s, const char *name,
           const struct sage_transport_ops *ops) {
  size_t full = sizeof(struct sage_transport_descriptor);
  size_t alloc = clamp(s->desc_size, 2 * sizeof(uint32_t), full);
  struct sage_transport_descriptor d = {
      .abi_version = s->abi_version,
      .size = s->desc_size,
      .name = (s->flags & 2) ? NULL : name,
      .version = "1",
      .description = "fuzz",
      .capabilities = s->ops_present,
      .ops = (s->flags & 1) ? NULL : ops,
  };
  unsigned char *block = calloc(1, alloc);
  memcpy(block, &d, alloc < full ? alloc : full);
  return (struct sage_transport_descriptor *)(void *)block;
}

#define CHECK(cond)                                                            \
  do                                                                           \
    if (!(cond)) {                                                             \
      fprintf(stderr, "invariant failed: %s\n", #cond);                        \
      abort();                                                                 \
    }                                                                          \
  while (0)

/* What an accepted descriptor must satisfy. */
static void check_accepted(const struct sage_transport_descriptor *d,
                           const char *stem) {
  CHECK(SAGE_ABI_MAJOR_OF(d->abi_version) == SAGE_TRANSPORT_ABI_MAJOR);
  CHECK(SAGE_ABI_MINOR_OF(d->abi_version) <= SAGE_TRANSPORT_ABI_MINOR);
  CHECK(d->name != NULL && strcmp(d->name, stem) == 0);
  CHECK(d->ops != NULL && d->ops->open != NULL && d->ops->put != NULL &&
        d->ops->get != NULL && d->ops->stats != NULL && d->ops->close != NULL &&
        d->ops->destroy != NULL);
}

/* The flat API's optional-op test must stay inside the declared table. */
static unsigned optional_ops(const struct sage_transport_descriptor *d) {
  struct sage__plugin p = {.desc = d, .ops = d->ops};
  const struct sage__plugin *plugin = &p;
  return (unsigned)SAGE__HAS_OP(plugin, put_batch) +
         SAGE__HAS_OP(plugin, get_batch) + SAGE__HAS_OP(plugin, reserve) +
         SAGE__HAS_OP(plugin, commit) + SAGE__HAS_OP(plugin, cancel) +
         SAGE__HAS_OP(plugin, peek) + SAGE__HAS_OP(plugin, release) +
         SAGE__HAS_OP(plugin, list) + SAGE__HAS_OP(plugin, unlink) +
         SAGE__HAS_OP(plugin, attachments) + SAGE__HAS_OP(plugin, depth) +
         SAGE__HAS_OP(plugin, task_done) + SAGE__HAS_OP(plugin, join);
}

static void check_stem(const char *path) {
  char stem[SAGE_NAME_MAX + 1];
  if (sage__plugin_stem(path, stem, sizeof stem) == 0)
    CHECK(sage__transport_name_ok(stem));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct shape s;
  if (size < sizeof s)
    return 0;
  memcpy(&s, data, sizeof s);
  char *str[3];
  split(data + sizeof s, size - sizeof s, str, 3);
  size_t ops_alloc;
  struct sage_transport_ops *ops = build_ops(&s, &ops_alloc);
  struct sage_transport_descriptor *desc = build_desc(&s, str[0], ops);
  size_t why_cap = 1 + s.why_cap % 200;
  char *why = malloc(why_cap);
  int rc =
      sage__descriptor_check((s.flags & 4) ? NULL : desc, str[1], why, why_cap);
  if (rc == 0) {
    check_accepted(desc, str[1]);
    (void)optional_ops(desc);
  } else {
    CHECK(rc == SAGE_EBADABI || rc == SAGE_EBADPLUGIN);
    CHECK(memchr(why, '\0', why_cap) != NULL);
  }
  check_stem(str[2]);
  free(why);
  free(desc);
  free(ops);
  for (int i = 0; i < 3; i++)
    free(str[i]);
  return 0;
}
