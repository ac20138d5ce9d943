/* Self-checking test messages: producer id, sequence number, payload and a
 * checksum over all of it, so a consumer can verify every message alone. */
#ifndef SAGE_TEST_MSG_H
#define SAGE_TEST_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct test_msg_header {
  uint32_t producer, seq, len, checksum;
};

static inline uint32_t test_msg_hash(const unsigned char *p, size_t n,
                                     uint32_t h) {
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

/* xorshift: deterministic payload sizes and bytes per (producer, seq). */
static inline uint32_t test_msg_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return (uint32_t)*s;
}

/* Builds message (producer, seq) with a payload of `len` bytes into buf;
 * returns its total size. */
static inline size_t test_msg_build(unsigned char *buf, uint32_t producer,
                                    uint32_t seq, uint32_t len) {
  struct test_msg_header h = {producer, seq, len, 0};
  uint64_t s = ((uint64_t)producer << 32 | seq) * 0x9E3779B97F4A7C15ull + 1;
  unsigned char *body = buf + sizeof h;
  for (uint32_t i = 0; i < len; i++)
    body[i] = (unsigned char)test_msg_rand(&s);
  h.checksum = test_msg_hash(body, len, 2166136261u ^ producer ^ seq * 31u);
  memcpy(buf, &h, sizeof h);
  return sizeof h + len;
}

/* 1 if buf (n bytes) is a well-formed message; fills *h. */
static inline int test_msg_check(const unsigned char *buf, size_t n,
                                 struct test_msg_header *h) {
  if (n < sizeof *h)
    return 0;
  memcpy(h, buf, sizeof *h);
  if (sizeof *h + h->len != n)
    return 0;
  return test_msg_hash(buf + sizeof *h, h->len,
                       2166136261u ^ h->producer ^ h->seq * 31u) == h->checksum;
}

#endif
