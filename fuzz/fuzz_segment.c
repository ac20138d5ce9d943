/* libFuzzer harness: attach to a shm segment whose bytes the fuzzer controls,
 * then run queue operations on it. The shm transport's sources are linked
 * in directly, so the harness drives the same code an attacher runs after
 * mapping a segment: shm_header_validate, then (if it passes) the views,
 * the attachment table, and put/get/peek/stats/... on whatever the header,
 * slots, attachments and ring hold.
 *
 * Input:
 *   byte 0         mode: bit 0 set = raw (the rest after the ops is the
 *                  whole segment), clear = structured (a valid header for a
 *                  geometry picked by bytes 1-4, patched by the patch list,
 *                  with every byte from `unlinked` on taken from the input)
 *   bytes 1-4      structured: capacity, slots, attach_max (low 2 bits;
 *                  the slot size from the next bits), max_items
 *   byte 5         structured: number of header patches (low 2 bits), each
 *                  2 bytes (offset into the identity fields, value)
 *   OPS bytes      op codes, two bytes each (op, parameter)
 *   rest           segment image
 *
 * Every call is non-blocking (timeout 0), so "no hang" must hold whatever
 * the segment says; libFuzzer's -timeout catches a hang. The segment lives
 * in a memfd so the OFD liveness locks work: every attachment but ours looks
 * dead, which lets the recovery paths run on forged records. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm.h"

#define OPS 24
#define BUF_CAP (1u << 16)
#define MAX_SEGMENT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int shm_ready(shm_queue *q); /* transport.c */

static unsigned char buf[BUF_CAP], payload[BUF_CAP];

struct input {
  const uint8_t *p;
  size_t n;
};

static uint8_t take(struct input *in) {
  if (in->n == 0)
    return 0;
  in->n--;
  return *in->p++;
}

/* A valid header for a small geometry, as create_segment would write it. */
static size_t build_header(struct input *in, unsigned char *seg,
                           size_t seg_cap) {
  struct shm_geometry g;
  uint64_t capacity = 4096ull << (take(in) % 3);
  uint32_t slots = 64u << (take(in) % 3);
  uint8_t attach_byte = take(in);
  uint32_t attach = 1 + attach_byte % 4;
  uint32_t slot_size = SHM_MIN_SLOT_SIZE << ((attach_byte >> 2) % 3);
  uint32_t max_items = take(in) % 2 ? slots / 2 : 0;
  uint64_t total = shm_layout_size(capacity, slots, slot_size, attach, &g);
  if (total > seg_cap)
    return 0;
  memset(seg, 0, (size_t)total); /* fresh tmpfs pages are zero */
  struct shm_header *h = (struct shm_header *)(void *)seg;
  h->magic = SHM_MAGIC;
  h->layout_version = SHM_LAYOUT_VERSION;
  h->header_size = sizeof *h;
  h->total_size = total;
  h->capacity = capacity;
  h->slot_count = slots;
  h->slot_size = slot_size;
  h->max_items = max_items;
  h->attach_max = attach;
  h->lanes_per_attach = SHM_LANES;
  h->attach_size = sizeof(struct shm_attach);
  h->slots_off = g.slots_off;
  h->attach_off = g.attach_off;
  h->ring_off = g.ring_off;
  h->mode = 0600;
  return (size_t)total;
}

static void patch_header(struct input *in, unsigned char *seg) {
  unsigned patches = take(in) % 4;
  for (unsigned i = 0; i < patches; i++) {
    size_t off = take(in) % offsetof(struct shm_header, unlinked);
    seg[off] = take(in);
  }
}

/* Lays out the segment image; returns its size (0: nothing to try). */
static size_t build_segment(struct input *in, const uint8_t *ops,
                            unsigned char *seg, size_t seg_cap) {
  int raw = take(in) & 1;
  struct input geo = *in;
  for (int i = 0; i < 4; i++)
    take(in);
  size_t total = 0;
  if (raw) {
    take(in);
  } else {
    total = build_header(&geo, seg, seg_cap);
    if (total == 0)
      return 0;
    patch_header(in, seg);
  }
  for (size_t i = 0; i < 2 * OPS; i++)
    ((uint8_t *)ops)[i] = take(in);
  if (raw) {
    total = in->n < seg_cap ? in->n : seg_cap;
    memcpy(seg, in->p, total);
    return total;
  }
  size_t from = offsetof(struct shm_header, unlinked);
  size_t n = in->n < total - from ? in->n : total - from;
  memcpy(seg + from, in->p, n);
  return total;
}

/* ---- operations, all non-blocking ---- */

static void op_get(shm_queue *q, uint8_t param) {
  size_t len, cap = param & 0x80 ? param & 0x7f : sizeof buf;
  shm_get(q, buf, cap, &len, 0);
}

static void op_get_batch(shm_queue *q, uint8_t param) {
  size_t lens[16], count;
  shm_get_batch(q, buf, sizeof buf, lens, 1 + param % 16, &count, 0);
}

static void op_peek(shm_queue *q, uint8_t param) {
  const void *ptr;
  size_t len;
  uint64_t token;
  if (shm_peek(q, &ptr, &len, &token, 0) != 0)
    return;
  if (len > 0) /* the view must lie inside the ring */
    memcpy(buf, ptr, len < sizeof buf ? len : sizeof buf);
  shm_release(q, param & 1 ? token : token ^ 1);
  shm_release(q, token);
}

static void op_put(shm_queue *q, uint8_t param) {
  shm_put(q, payload, (size_t)param * 37, 0);
}

static void op_put_batch(shm_queue *q, uint8_t param) {
  struct sage_msg msgs[4];
  for (unsigned i = 0; i < 4; i++)
    msgs[i] = (struct sage_msg){payload, (size_t)((param >> i) & 3) * 100};
  size_t done;
  shm_put_batch(q, msgs, 1 + param % 4, &done, 0);
}

static void op_reserve(shm_queue *q, uint8_t param) {
  void *ptr;
  uint64_t token;
  size_t len = (size_t)(param & 0x7f) * 16;
  if (shm_reserve(q, len, &ptr, &token, 0) != 0)
    return;
  memset(ptr, 0xa5, len); /* the reservation must lie inside the ring */
  if (param & 0x80)
    shm_cancel(q, token);
  else
    shm_commit(q, token);
}

static void op_admin(shm_queue *q, uint8_t op, uint8_t param) {
  struct sage_stats st = {.size = sizeof st};
  uint64_t items, bytes;
  int32_t pids[4];
  uint32_t live, dead;
  switch (op) {
  case 0:
    shm_stats(q, &st);
    break;
  case 1:
    shm_depth(q, &items, &bytes);
    break;
  case 2:
    shm_task_done(q, 1 + param % 3);
    break;
  case 3:
    shm_join(q, 0);
    break;
  case 4:
    shm_attach_census(q, &live, &dead, pids, 4);
    break;
  }
}

/* What a waiter stuck on `read` or on `head` would run after a stall. */
static void op_recover(shm_queue *q, uint8_t param) {
  if (param & 1)
    shm_recover_producer(q, atomic_load(&q->hdr->read));
  else
    shm_recover_head(q);
}

static void run_op(shm_queue *q, uint8_t op, uint8_t param) {
  switch (op % 12) {
  case 0:
    op_get(q, param);
    break;
  case 1:
    op_get_batch(q, param);
    break;
  case 2:
    op_peek(q, param);
    break;
  case 3:
    op_put(q, param);
    break;
  case 4:
    op_put_batch(q, param);
    break;
  case 5:
    op_reserve(q, param);
    break;
  case 6:
    op_recover(q, param);
    break;
  default:
    op_admin(q, (uint8_t)(op % 12 - 7), param);
    break;
  }
}

/* ---- the segment in a memfd, attached like shm_segment_open does ---- */

static int map_segment(const unsigned char *image, size_t size, int *fd_out,
                       void **base_out) {
  int fd = memfd_create("sage-fuzz", MFD_CLOEXEC);
  if (fd < 0)
    return -1;
  void *base = MAP_FAILED;
  if (ftruncate(fd, (off_t)size) == 0)
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    close(fd);
    return -1;
  }
  memcpy(base, image, size);
  *fd_out = fd;
  *base_out = base;
  return 0;
}

static void exercise(unsigned char *image, size_t size, const uint8_t *ops) {
  char why[256];
  shm_queue *q = calloc(1, sizeof *q);
  if (q == NULL || map_segment(image, size, &q->fd, (void **)&q->hdr) != 0) {
    free(q);
    return;
  }
  q->index = -1;
  q->map_size = size;
  snprintf(q->name, sizeof q->name, "fuzz");
  int ok = shm_header_validate(q->hdr, size, &q->geo, why, sizeof why) == 0;
  if (ok) {
    shm_segment_views(q, q->hdr);
    ok = shm_attach_register(q, 1) == 0;
  }
  for (unsigned i = 0; ok && i < OPS; i++)
    run_op(q, ops[2 * i], ops[2 * i + 1]);
  if (ok)
    shm_attach_release(q);
  shm_segment_unmap(q);
  free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static unsigned char *segment;
  if (segment == NULL) {
    segment = malloc(MAX_SEGMENT);
    if (segment == NULL)
      return 0;
    for (size_t i = 0; i < sizeof payload; i++)
      payload[i] = (unsigned char)(i * 31 + 7);
  }
  struct input in = {data, size};
  uint8_t ops[2 * OPS];
  size_t total = build_segment(&in, ops, segment, MAX_SEGMENT);
  if (total >= sizeof(struct shm_header))
    exercise(segment, total, ops);
  return 0;
}
