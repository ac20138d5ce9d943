/* The physical reference: a minimal single-producer single-consumer ring in
 * a shared anonymous mapping, the least work that moves a variable-size
 * message between two processes (copy in, publish, copy out, release).
 *
 * It has the shm transport's layout, so the ratio measures software, not
 * layout: payloads 8-byte aligned in a byte ring, never straddling its end,
 * lengths in a separate slot array, positions packed as (message << 32 |
 * 8-byte unit). Both sides compute where a payload goes from the position
 * and its length, so no padding record is needed. Each side owns one
 * position and caches the other's, re-reading it only when the cached value
 * says it would have to wait. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

struct ref_ring {
  _Alignas(BENCH_LINE) _Atomic uint64_t tail; /* written (producer) */
  _Alignas(BENCH_LINE) _Atomic uint64_t head; /* released (consumer) */
  _Alignas(BENCH_LINE) uint64_t cap;          /* ring bytes, power of two */
  uint32_t nslots;                            /* power of two */
};

static uint64_t pos(uint32_t msg, uint32_t unit) {
  return (uint64_t)msg << 32 | unit;
}
static uint32_t pos_msg(uint64_t p) {
  return (uint32_t)(p >> 32);
}
static uint32_t pos_unit(uint64_t p) {
  return (uint32_t)p;
}

static size_t lens_bytes(uint32_t nslots) {
  return ((size_t)nslots * sizeof(uint32_t) + BENCH_LINE - 1) &
         ~(size_t)(BENCH_LINE - 1);
}

static size_t ring_size(uint64_t cap, uint32_t nslots) {
  return sizeof(struct ref_ring) + lens_bytes(nslots) + cap;
}

static uint32_t *ring_lens(struct ref_ring *r) {
  return (uint32_t *)(r + 1);
}

static unsigned char *ring_data(struct ref_ring *r) {
  return (unsigned char *)(r + 1) + lens_bytes(r->nslots);
}

static struct ref_ring *ring_create(uint64_t cap) {
  uint32_t nslots = (uint32_t)(cap / 64); /* the shm default */
  struct ref_ring *r = bench_shared_alloc(ring_size(cap, nslots));
  if (r != NULL) {
    r->cap = cap;
    r->nslots = nslots;
  }
  return r;
}

static void ring_free(struct ref_ring *r) {
  if (r != NULL)
    bench_shared_free(r, ring_size(r->cap, r->nslots));
}

/* Where a payload of `len` bytes goes when the free space starts at unit
 * u: at u, or at the ring start if it would straddle the end. */
struct place {
  uint32_t start, end; /* start: ring offset in units; end: next position */
};

static struct place place(uint32_t u, size_t len, uint32_t cap_units) {
  uint32_t need = (uint32_t)((len + 7) / 8), off = u & (cap_units - 1);
  uint32_t pad = off + need > cap_units ? cap_units - off : 0;
  return (struct place){(u + pad) & (cap_units - 1), u + pad + need};
}

/* ---- producer side ---- */

struct ref_prod {
  struct ref_ring *r;
  uint32_t *lens;
  unsigned char *data;
  uint32_t cap_units, nslots, msg, unit;
  uint64_t published, head_cache;
};

static struct ref_prod prod_init(struct ref_ring *r) {
  uint64_t t = atomic_load(&r->tail);
  return (struct ref_prod){r,
                           ring_lens(r),
                           ring_data(r),
                           (uint32_t)(r->cap / 8),
                           r->nslots,
                           pos_msg(t),
                           pos_unit(t),
                           t,
                           atomic_load(&r->head)};
}

static void publish(struct ref_prod *p) {
  p->published = pos(p->msg, p->unit);
  /* release: the lengths and payloads written above come with the tail */
  atomic_store_explicit(&p->r->tail, p->published, memory_order_release);
}

static int no_room(const struct ref_prod *p, uint32_t end) {
  return p->msg - pos_msg(p->head_cache) >= p->nslots ||
         end - pos_unit(p->head_cache) > p->cap_units;
}

static void wait_room(struct ref_prod *p, uint32_t end) {
  unsigned spins = 0;
  while (no_room(p, end)) {
    if (p->published != pos(p->msg, p->unit))
      publish(p); /* never wait on records the reader cannot see yet */
    /* acquire: the reader is done with everything before head */
    p->head_cache = atomic_load_explicit(&p->r->head, memory_order_acquire);
    if (no_room(p, end))
      bench_spin(&spins);
  }
}

/* Copies one message in; it becomes visible at the next publish(). */
static void ref_write(struct ref_prod *p, const void *src, size_t len) {
  struct place at = place(p->unit, len, p->cap_units);
  wait_room(p, at.end);
  p->lens[p->msg & (p->nslots - 1)] = (uint32_t)len;
  memcpy(p->data + (size_t)at.start * 8, src, len);
  p->msg++;
  p->unit = at.end;
}

/* ---- consumer side ---- */

struct ref_cons {
  struct ref_ring *r;
  const uint32_t *lens;
  const unsigned char *data;
  uint32_t cap_units, nslots, msg, unit;
  uint64_t tail_cache;
};

static struct ref_cons cons_init(struct ref_ring *r) {
  uint64_t h = atomic_load(&r->head);
  return (struct ref_cons){
      r,         ring_lens(r), ring_data(r), (uint32_t)(r->cap / 8),
      r->nslots, pos_msg(h),   pos_unit(h),  atomic_load(&r->tail)};
}

/* The next message's payload (NULL when none is published); consume() then
 * moves past it. */
static const unsigned char *ref_next(struct ref_cons *c, size_t *len,
                                     uint32_t *end) {
  if (c->msg == pos_msg(c->tail_cache)) {
    /* acquire: the lengths and payloads before tail are written */
    c->tail_cache = atomic_load_explicit(&c->r->tail, memory_order_acquire);
    if (c->msg == pos_msg(c->tail_cache))
      return NULL;
  }
  *len = c->lens[c->msg & (c->nslots - 1)];
  struct place at = place(c->unit, *len, c->cap_units);
  *end = at.end;
  return c->data + (size_t)at.start * 8;
}

static void consume(struct ref_cons *c, uint32_t end) {
  c->msg++;
  c->unit = end;
}

static void release(struct ref_cons *c) {
  /* release: we read nothing before head any more */
  atomic_store_explicit(&c->r->head, pos(c->msg, c->unit),
                        memory_order_release);
}

static const unsigned char *wait_next(struct ref_cons *c, size_t *len,
                                      uint32_t *end) {
  unsigned spins = 0;
  const unsigned char *src;
  while ((src = ref_next(c, len, end)) == NULL)
    bench_spin(&spins);
  return src;
}

/* ---- throughput ---- */

struct tput_job {
  struct ref_ring *ring;
  struct bench_tput *t;
};

static void send_range(struct ref_prod *p, const struct bench_tput *t,
                       unsigned char *bufs, uint64_t from, uint64_t to) {
  for (uint64_t i = from; i < to;) {
    uint64_t k = to - i < t->batch ? to - i : t->batch;
    for (uint64_t j = 0; j < k; j++, i++) {
      unsigned char *msg = bufs + j * t->size;
      bench_stamp(msg, i);
      ref_write(p, msg, t->size);
    }
    publish(p);
  }
}

static int tput_producer(void *arg, struct bench_pair_ctl *ctl) {
  struct tput_job *j = arg;
  const struct bench_tput *t = j->t;
  unsigned char *bufs = bench_buffer(t->batch * t->size);
  struct ref_prod p = prod_init(j->ring);
  send_range(&p, t, bufs, 0, t->warm);
  bench_pair_barrier(ctl);
  ctl->t_start = bench_now_ns();
  send_range(&p, t, bufs, t->warm, t->warm + t->count);
  return 0;
}

/* Takes up to `batch` records (at least one), then releases them at once. */
static int take(struct ref_cons *c, const struct bench_tput *t,
                unsigned char *buf, uint64_t *next, uint64_t to) {
  uint64_t k = 0, max = to - *next < t->batch ? to - *next : t->batch;
  size_t len;
  uint32_t end;
  const unsigned char *src = wait_next(c, &len, &end);
  do {
    if (len != t->size || bench_stamp_of(src) != *next)
      return bench_fail(-EBADMSG, "ref ring: message %llu is wrong",
                        (unsigned long long)*next);
    memcpy(buf + k * t->size, src, len);
    consume(c, end);
    ++*next;
  } while (++k < max && (src = ref_next(c, &len, &end)) != NULL);
  release(c);
  return 0;
}

static int recv_range(struct ref_cons *c, const struct bench_tput *t,
                      unsigned char *buf, uint64_t from, uint64_t to) {
  for (uint64_t i = from; i < to;)
    if (take(c, t, buf, &i, to) != 0)
      return -EBADMSG;
  return 0;
}

static int tput_consumer(void *arg, struct bench_pair_ctl *ctl) {
  struct tput_job *j = arg;
  const struct bench_tput *t = j->t;
  unsigned char *buf = bench_buffer(t->batch * t->size);
  struct ref_cons c = cons_init(j->ring);
  int rc = recv_range(&c, t, buf, 0, t->warm);
  bench_pair_barrier(ctl);
  if (rc == 0)
    rc = recv_range(&c, t, buf, t->warm, t->warm + t->count);
  ctl->t_end = bench_now_ns();
  return rc;
}

int bench_ref_tput(const struct bench_cfg *cfg, struct bench_tput *t, char *why,
                   size_t cap) {
  struct tput_job j = {ring_create(cfg->capacity), t};
  if (j.ring == NULL) {
    snprintf(why, cap, "ref ring: mmap: %s", strerror(errno));
    return -1;
  }
  struct bench_pair_ctl ctl;
  int rc =
      bench_pair_run(cfg, tput_producer, tput_consumer, &j, &ctl, why, cap);
  if (rc == 0)
    t->secs = (double)(ctl.t_end - ctl.t_start) / 1e9;
  ring_free(j.ring);
  return rc;
}

/* ---- latency: a ping-pong over two rings ---- */

struct lat_job {
  struct ref_ring *ping, *pong;
  struct bench_lat_run *l;
  size_t warm, size;
};

static int lat_initiator(void *arg, struct bench_pair_ctl *ctl) {
  struct lat_job *j = arg;
  struct ref_prod out = prod_init(j->ping);
  struct ref_cons in = cons_init(j->pong);
  unsigned char msg[BENCH_LAT_SIZE] = {0};
  size_t len;
  uint32_t end;
  bench_pair_barrier(ctl);
  for (size_t i = 0; i < j->warm + j->l->n; i++) {
    int64_t t0 = bench_now_ns();
    ref_write(&out, msg, j->size);
    publish(&out);
    const unsigned char *src = wait_next(&in, &len, &end);
    memcpy(msg, src, len);
    consume(&in, end);
    release(&in);
    int64_t t1 = bench_now_ns();
    if (i >= j->warm)
      j->l->samples[i - j->warm] = (t1 - t0) / 2;
  }
  return 0;
}

static int lat_echo(void *arg, struct bench_pair_ctl *ctl) {
  struct lat_job *j = arg;
  struct ref_cons in = cons_init(j->ping);
  struct ref_prod out = prod_init(j->pong);
  unsigned char msg[BENCH_LAT_SIZE];
  size_t len;
  uint32_t end;
  bench_pair_barrier(ctl);
  for (size_t i = 0; i < j->warm + j->l->n; i++) {
    const unsigned char *src = wait_next(&in, &len, &end);
    memcpy(msg, src, len);
    consume(&in, end);
    release(&in);
    ref_write(&out, msg, len);
    publish(&out);
  }
  return 0;
}

int bench_ref_latency(const struct bench_cfg *cfg, struct bench_lat_run *l,
                      char *why, size_t cap) {
  struct lat_job j = {ring_create(BENCH_LAT_CAPACITY),
                      ring_create(BENCH_LAT_CAPACITY), l, bench_lat_warm(l->n),
                      cfg->lat_size};
  int rc = -1;
  if (j.ping == NULL || j.pong == NULL)
    snprintf(why, cap, "ref ring: mmap: %s", strerror(errno));
  else {
    struct bench_pair_ctl ctl;
    rc = bench_pair_run(cfg, lat_initiator, lat_echo, &j, &ctl, why, cap);
  }
  ring_free(j.ping);
  ring_free(j.pong);
  return rc;
}

/* ---- one process, for callgrind (callgrind.c) ---- */

struct cg_job {
  struct ref_prod p;
  struct ref_cons c;
  unsigned char *buf;
  size_t size;
  unsigned n;
  int get;
};

static void cg_loop(void *arg) {
  struct cg_job *j = arg;
  size_t len;
  uint32_t end;
  for (unsigned i = 0; i < j->n; i++) {
    if (!j->get) {
      ref_write(&j->p, j->buf, j->size);
      publish(&j->p);
      continue;
    }
    const unsigned char *src = ref_next(&j->c, &len, &end);
    memcpy(j->buf, src, len);
    consume(&j->c, end);
    release(&j->c);
  }
}

int bench_ref_cg(enum bench_cg_op op, size_t size, unsigned n,
                 uint64_t capacity) {
  struct ref_ring *r = ring_create(capacity);
  if (r == NULL)
    return -ENOMEM;
  struct cg_job j = {
      prod_init(r), cons_init(r), bench_buffer(size), size, n, 0};
  cg_loop(&j); /* warm: code and ring pages, then empty again */
  j.get = 1;
  cg_loop(&j);
  j.get = 0;
  if (op == CG_REF_GET)
    cg_loop(&j); /* something to get */
  j.get = op == CG_REF_GET;
  bench_cg_measured(cg_loop, &j);
  ring_free(r);
  return 0;
}
