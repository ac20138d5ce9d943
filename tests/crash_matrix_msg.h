/* Self-checking messages of the crash-point matrix: producer id, sequence
 * number, total length and a checksum of the payload, so a consumer can tell
 * a torn or misdelivered message on its own. */
#ifndef CRASH_MATRIX_MSG_H
#define CRASH_MATRIX_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CM_MSG_MAX 2048 /* largest message, header included */

struct cm_msg_hdr {
  uint32_t producer, seq, len, sum; /* len: the whole message */
};

static inline uint32_t cm_hash(const unsigned char *p, size_t n, uint32_t h) {
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

static inline uint32_t cm_seed(uint32_t producer, uint32_t seq, size_t len) {
  return 2166136261u ^ producer ^ seq * 31u ^ (uint32_t)len * 977u;
}

/* Builds message (producer, seq) of len bytes (at least the header) into
 * buf; returns len. */
static inline size_t cm_msg_build(unsigned char *buf, uint32_t producer,
                                  uint32_t seq, size_t len) {
  struct cm_msg_hdr h = {producer, seq, (uint32_t)len, 0};
  uint32_t x = cm_seed(producer, seq, len);
  for (size_t i = sizeof h; i < len; i++) {
    x = x * 1103515245u + 12345u;
    buf[i] = (unsigned char)(x >> 16);
  }
  h.sum = cm_hash(buf + sizeof h, len - sizeof h, cm_seed(producer, seq, len));
  memcpy(buf, &h, sizeof h);
  return len;
}

/* 1 if buf (n bytes) is a whole, intact message; fills *h either way. */
static inline int cm_msg_check(const unsigned char *buf, size_t n,
                               struct cm_msg_hdr *h) {
  memset(h, 0, sizeof *h);
  if (n < sizeof *h)
    return 0;
  memcpy(h, buf, sizeof *h);
  return h->len == n && cm_hash(buf + sizeof *h, n - sizeof *h,
                                cm_seed(h->producer, h->seq, n)) == h->sum;
}

#endif
