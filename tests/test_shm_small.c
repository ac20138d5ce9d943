/* Small payloads live in their slot (plugin/shm/layout.h): a payload of up
 * to slot_size - 24 bytes takes no ring bytes. Every put and get form must
 * carry them intact, mixed with ring records, at each slot size; the
 * slot_size option and a corrupt small record get clear errors. */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sage/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "test_util.h"

static char qname[64];

static void remove_queue(void) {
  if (qname[0] != '\0')
    sage_queue_unlink("shm", qname, NULL);
}

TestSuite(small, .fini = remove_queue);

static sage_queue *create(const char *slot_size, const char *slots) {
  snprintf(qname, sizeof qname, "small-%d", (int)getpid());
  const char *opts[] = {"create", "always",    "capacity", "4096", "slots",
                        slots,    "slot_size", slot_size,  NULL};
  sage_queue *q;
  cr_assert_eq(sage_queue_open("shm", qname, opts, &q), 0, "%s",
               sage_last_error());
  return q;
}

/* Message i of length len: bytes that differ per message and position. */
static void fill(unsigned char *p, size_t len, unsigned i) {
  for (size_t k = 0; k < len; k++)
    p[k] = (unsigned char)(i * 131u + k * 7u + 1u);
}

static void expect_message(const unsigned char *p, size_t got, size_t len,
                           unsigned i) {
  unsigned char want[512];
  fill(want, len, i);
  cr_assert_eq(got, len, "message %u: %zu bytes, expected %zu", i, got, len);
  cr_assert(memcmp(p, want, len) == 0, "message %u: wrong bytes", i);
}

/* Ring bytes a message of len takes at this slot size. */
static uint64_t ring_bytes(size_t len, size_t slot_size) {
  return len <= slot_size - SHM_SLOT_BODY ? 0 : (len + 7) / 8 * 8;
}

Test(small, payloads_up_to_the_slot_body_take_no_ring_bytes) {
  sage_queue *q = create("32", "1024");
  unsigned char m[16];
  /* 1000 messages of 8 bytes: twice what the 4 KiB ring could hold. */
  for (unsigned i = 0; i < 1000; i++) {
    fill(m, 8, i);
    cr_assert_eq(sage_queue_put(q, m, 8, 0), 0, "put %u: %s", i,
                 sage_last_error());
  }
  struct sage_stats st = stats_of(q);
  cr_assert_eq(st.items, 1000);
  cr_assert_eq(st.bytes_used, 0, "bytes_used %llu",
               (unsigned long long)st.bytes_used);
  fill(m, 9, 1000);
  cr_assert_eq(sage_queue_put(q, m, 9, 0), 0, "%s", sage_last_error());
  cr_assert_eq(stats_of(q).bytes_used, 16, "a 9-byte message is in the ring");
  for (unsigned i = 0; i <= 1000; i++) {
    size_t len;
    cr_assert_eq(sage_queue_get(q, m, sizeof m, &len, 0), 0, "get %u: %s", i,
                 sage_last_error());
    expect_message(m, len, i < 1000 ? 8 : 9, i);
  }
  st = stats_of(q);
  cr_assert(st.items == 0 && st.bytes_used == 0);
  sage_queue_destroy(q);
}

/* Lengths around the slot body's size, then the forms that carry them. */
#define NLENS 7
static void lengths_for(size_t slot_size, size_t *lens) {
  size_t body = slot_size - SHM_SLOT_BODY;
  size_t all[NLENS] = {0, 1, body - 1, body, body + 1, 2 * body + 3, 300};
  memcpy(lens, all, sizeof all);
}

/* Each put: a small message leaves bytes_used as it was; a ring record
 * adds its size (and the padding to the ring's start when it wraps). */
static void single_calls(sage_queue *q, size_t slot_size) {
  size_t lens[NLENS];
  lengths_for(slot_size, lens);
  unsigned char m[512];
  for (unsigned i = 0; i < NLENS; i++) {
    uint64_t before = stats_of(q).bytes_used;
    fill(m, lens[i], i);
    cr_assert_eq(sage_queue_put(q, m, lens[i], 0), 0, "%s", sage_last_error());
    uint64_t added = stats_of(q).bytes_used - before,
             want = ring_bytes(lens[i], slot_size);
    cr_assert(want == 0 ? added == 0 : added >= want && added < want + 4096,
              "slot size %zu, %zu bytes: bytes_used grew by %llu", slot_size,
              lens[i], (unsigned long long)added);
  }
  for (unsigned i = 0; i < NLENS; i++) {
    size_t len;
    cr_assert_eq(sage_queue_get(q, m, sizeof m, &len, 0), 0, "%s",
                 sage_last_error());
    expect_message(m, len, lens[i], i);
  }
}

static void batch_calls(sage_queue *q, size_t slot_size) {
  size_t lens[NLENS], got[NLENS], done, count;
  lengths_for(slot_size, lens);
  static unsigned char in[NLENS][512], out[NLENS * 512];
  const void *datas[NLENS];
  for (unsigned i = 0; i < NLENS; i++) {
    fill(in[i], lens[i], 100 + i);
    datas[i] = in[i];
  }
  cr_assert_eq(sage_queue_put_batch(q, datas, lens, NLENS, &done, 0), 0, "%s",
               sage_last_error());
  cr_assert_eq(done, NLENS);
  cr_assert_eq(sage_queue_get_batch(q, out, sizeof out, got, NLENS, &count, 0),
               0, "%s", sage_last_error());
  cr_assert_eq(count, NLENS);
  size_t off = 0;
  for (unsigned i = 0; i < NLENS; i++) {
    expect_message(out + off, got[i], lens[i], 100 + i);
    off += got[i];
  }
}

static void zero_copy_calls(sage_queue *q, size_t slot_size) {
  size_t lens[NLENS];
  lengths_for(slot_size, lens);
  for (unsigned i = 0; i < NLENS; i++) {
    void *to;
    uint64_t token;
    cr_assert_eq(sage_queue_reserve(q, lens[i], &to, &token, 0), 0, "%s",
                 sage_last_error());
    fill(to, lens[i], 200 + i);
    cr_assert_eq(sage_queue_commit(q, token), 0, "%s", sage_last_error());
  }
  for (unsigned i = 0; i < NLENS; i++) {
    const void *from;
    size_t len;
    uint64_t token;
    cr_assert_eq(sage_queue_peek(q, &from, &len, &token, 0), 0, "%s",
                 sage_last_error());
    expect_message(from, len, lens[i], 200 + i);
    cr_assert_eq(sage_queue_release(q, token), 0, "%s", sage_last_error());
  }
}

static void every_form_at(const char *slot_size) {
  sage_queue *q = create(slot_size, "64");
  size_t size = (size_t)atoi(slot_size);
  for (int lap = 0; lap < 20; lap++) { /* wrap the ring and slots often */
    single_calls(q, size);
    batch_calls(q, size);
    zero_copy_calls(q, size);
  }
  struct sage_stats st = stats_of(q);
  cr_assert(st.items == 0 && st.bytes_used == 0);
  cr_assert_eq(st.total_put, 20 * 3 * NLENS);
  sage_queue_destroy(q);
}

Test(small, every_form_carries_small_and_ring_records_at_32_bytes) {
  every_form_at("32");
}
Test(small, every_form_carries_small_and_ring_records_at_64_bytes) {
  every_form_at("64");
}
Test(small, every_form_carries_small_and_ring_records_at_128_bytes) {
  every_form_at("128");
}

Test(small, slot_size_option_is_checked) {
  snprintf(qname, sizeof qname, "small-%d", (int)getpid());
  const char *bad[] = {"16", "48", "256", "big"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *opts[] = {"create", "always", "slot_size", bad[i], NULL};
    sage_queue *q = NULL;
    cr_assert_eq(sage_queue_open("shm", qname, opts, &q), -EINVAL,
                 "slot_size %s", bad[i]);
    cr_assert_null(q);
    cr_assert(strstr(sage_last_error(), "slot_size") != NULL, "%s",
              sage_last_error());
  }
}

/* An attacher uses the creator's slot size, whatever it asked for. */
Test(small, attachers_use_the_creators_slot_size) {
  sage_queue *a = create("128", "64");
  const char *opts[] = {"create", "never", "slot_size", "32", NULL};
  sage_queue *b;
  cr_assert_eq(sage_queue_open("shm", qname, opts, &b), 0, "%s",
               sage_last_error());
  unsigned char m[128];
  fill(m, 104, 7);
  cr_assert_eq(sage_queue_put(b, m, 104, 0), 0, "%s", sage_last_error());
  cr_assert_eq(stats_of(a).bytes_used, 0, "104 bytes fit a 128-byte slot");
  size_t len;
  memset(m, 0, sizeof m);
  cr_assert_eq(sage_queue_get(a, m, sizeof m, &len, 0), 0, "%s",
               sage_last_error());
  expect_message(m, len, 104, 7);
  sage_queue_close(b);
  sage_queue_destroy(a);
}

/* A small record whose length grew past its slot's body is refused. */
Test(small, corrupt_small_record_is_refused) {
  sage_queue *q = create("32", "64");
  cr_assert_eq(sage_queue_put(q, "12345678", 8, 0), 0);
  char path[128];
  snprintf(path, sizeof path, "/dev/shm/sageq-%u-%s", (unsigned)geteuid(),
           qname);
  int fd = open(path, O_RDWR);
  cr_assert(fd >= 0);
  struct shm_header h;
  cr_assert_eq(pread(fd, &h, sizeof h, 0), (ssize_t)sizeof h);
  uint32_t ticket = (uint32_t)(h.tail >> 32) - 1, len = 9;
  off_t at = (off_t)(h.slots_off + (ticket & (h.slot_count - 1)) * 32u +
                     offsetof(struct shm_slot, len));
  cr_assert_eq(pwrite(fd, &len, sizeof len, at), (ssize_t)sizeof len);
  close(fd);
  char buf[64];
  size_t got;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &got, 0), -EBADMSG);
  cr_assert(strstr(sage_last_error(), "outside the ring or its slot") != NULL,
            "%s", sage_last_error());
  sage_queue_destroy(q);
}
