/* Validating a segment's header against the mapping (pure: the segment
 * fuzzer feeds it arbitrary bytes), the layout every size implies, and the
 * section views of a validated mapping. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shm.h"

_Static_assert(sizeof(struct shm_header) % SHM_LINE == 0, "header padding");
_Static_assert(sizeof(struct shm_lane) == SHM_LINE, "lane padding");
_Static_assert(sizeof(struct shm_slot) == SHM_MIN_SLOT_SIZE, "slot size");

#define ALIGN_UP(x, a) (((x) + (a)-1) / (a) * (a))
#define PAGE 4096u

static uint32_t log2_of(uint32_t x) {
  uint32_t n = 0;
  while ((1u << n) < x)
    n++;
  return n;
}

uint64_t shm_layout_size(uint64_t capacity, uint32_t slots, uint32_t slot_size,
                         uint32_t attach, struct shm_geometry *geo) {
  geo->capacity = capacity;
  geo->slot_count = slots;
  geo->slot_shift = log2_of(slot_size);
  geo->inline_max = slot_size - (uint32_t)SHM_SLOT_BODY;
  geo->attach_max = attach;
  geo->cap_units = (uint32_t)(capacity / SHM_UNIT);
  geo->slots_off = ALIGN_UP(sizeof(struct shm_header), SHM_LINE);
  geo->attach_off =
      ALIGN_UP(geo->slots_off + (uint64_t)slots * slot_size, SHM_LINE);
  geo->ring_off = ALIGN_UP(
      geo->attach_off + (uint64_t)attach * sizeof(struct shm_attach), PAGE);
  geo->total_size = geo->ring_off + capacity;
  return geo->total_size;
}

static int pow2(uint64_t x) {
  return x != 0 && (x & (x - 1)) == 0;
}

#define BAD(...) (snprintf(why, cap, __VA_ARGS__), -EBADMSG)

static int check_geometry(const struct shm_header *h, char *why, size_t cap) {
  if (!pow2(h->capacity) || h->capacity < SHM_MIN_CAPACITY ||
      h->capacity > SHM_MAX_CAPACITY)
    return BAD("capacity %llu is not a power of two in %llu..%llu",
               (unsigned long long)h->capacity,
               (unsigned long long)SHM_MIN_CAPACITY,
               (unsigned long long)SHM_MAX_CAPACITY);
  if (!pow2(h->slot_count) || h->slot_count < SHM_MIN_SLOTS ||
      h->slot_count > SHM_MAX_SLOTS)
    return BAD("slot count %u is out of range", h->slot_count);
  if (!pow2(h->slot_size) || h->slot_size < SHM_MIN_SLOT_SIZE ||
      h->slot_size > SHM_MAX_SLOT_SIZE)
    return BAD("slot size %u is not a power of two in %u..%u", h->slot_size,
               SHM_MIN_SLOT_SIZE, SHM_MAX_SLOT_SIZE);
  if (h->attach_size != sizeof(struct shm_attach) ||
      h->lanes_per_attach != SHM_LANES)
    return BAD("record sizes differ from this plugin's layout");
  if (h->attach_max == 0 || h->attach_max > SHM_MAX_ATTACH)
    return BAD("attachment table size %u is out of range", h->attach_max);
  if (h->max_items > h->slot_count)
    return BAD("max_items %u exceeds slot count %u", h->max_items,
               h->slot_count);
  if (h->stall_timeout_ns > SHM_MAX_STALL_TIMEOUT_NS)
    return BAD("stall timeout %llu ns is out of range",
               (unsigned long long)h->stall_timeout_ns);
  return 0;
}

int shm_header_validate(const struct shm_header *src, uint64_t mapped_size,
                        struct shm_geometry *geo, char *why, size_t cap) {
  struct shm_header h;
  if (mapped_size < sizeof h)
    return BAD("segment is %llu bytes, smaller than a queue header "
               "(empty or truncated; was its creator killed?)",
               (unsigned long long)mapped_size);
  memcpy(&h, src, sizeof h); /* validate a private copy: no TOCTOU */
  if (h.magic != SHM_MAGIC)
    return BAD("not a SAGE shm queue (bad magic)");
  if (h.layout_version != SHM_LAYOUT_VERSION)
    return BAD("layout version %u; this plugin reads version %u",
               h.layout_version, SHM_LAYOUT_VERSION);
  if (h.header_size != sizeof h)
    return BAD("header size %u differs from %zu", h.header_size, sizeof h);
  int rc = check_geometry(&h, why, cap);
  if (rc != 0)
    return rc;
  uint64_t total =
      shm_layout_size(h.capacity, h.slot_count, h.slot_size, h.attach_max, geo);
  if (h.slots_off != geo->slots_off || h.attach_off != geo->attach_off ||
      h.ring_off != geo->ring_off || h.total_size != total)
    return BAD("section offsets do not match the declared sizes");
  if (total > mapped_size)
    return BAD("segment is %llu bytes but its header needs %llu",
               (unsigned long long)mapped_size, (unsigned long long)total);
  geo->max_items = h.max_items;
  geo->item_bound = h.max_items ? h.max_items : h.slot_count;
  geo->stall_timeout_ns = (int64_t)h.stall_timeout_ns;
  return 0;
}

void shm_segment_views(shm_queue *q, void *base) {
  q->hdr = base;
  q->slots = (struct shm_slot *)((char *)base + q->geo.slots_off);
  q->attach = (struct shm_attach *)((char *)base + q->geo.attach_off);
  q->ring = (unsigned char *)base + q->geo.ring_off;
}
