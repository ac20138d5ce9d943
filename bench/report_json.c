/* The JSON report: every per-repetition figure, latency percentiles, the
 * machine and the placement probe. Schema "sage-queue-bench/1" (keys are
 * documented in docs/BENCHMARKS.md and checked by bench/check_quick.sh). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

/* A tiny streaming writer: remembers whether a comma is due per level. */
struct jw {
  FILE *f;
  int depth;
  int first[32];
};

static void jw_key(struct jw *w, const char *key) {
  if (!w->first[w->depth])
    fputc(',', w->f);
  w->first[w->depth] = 0;
  if (w->depth > 0)
    fprintf(w->f, "\n%*s", 2 * w->depth, "");
  if (key != NULL)
    fprintf(w->f, "\"%s\": ", key); /* keys are ours: no escaping needed */
}

static void jw_open(struct jw *w, const char *key, char bracket) {
  jw_key(w, key);
  fputc(bracket, w->f);
  w->first[++w->depth] = 1;
}

static void jw_close(struct jw *w, char bracket) {
  int empty = w->first[w->depth];
  w->depth--;
  if (!empty)
    fprintf(w->f, "\n%*s", 2 * w->depth, "");
  fputc(bracket, w->f);
}

static void jw_num(struct jw *w, const char *key, double v) {
  jw_key(w, key);
  if (isfinite(v))
    fprintf(w->f, "%.10g", v);
  else
    fputs("null", w->f);
}

static void jw_bool(struct jw *w, const char *key, int v) {
  jw_key(w, key);
  fputs(v ? "true" : "false", w->f);
}

static void jw_str(struct jw *w, const char *key, const char *s) {
  jw_key(w, key);
  fputc('"', w->f);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\')
      fprintf(w->f, "\\%c", *c);
    else if (*c < 0x20)
      fprintf(w->f, "\\u%04x", *c);
    else
      fputc(*c, w->f);
  }
  fputc('"', w->f);
}

/* ---- pieces ---- */

static void series(struct jw *w, const char *key, const struct bench_series *s,
                   double scale) {
  struct bench_summary m = bench_summarize(s);
  jw_open(w, key, '{');
  jw_open(w, "values", '[');
  for (int i = 0; i < s->n; i++)
    jw_num(w, NULL, s->v[i] * scale);
  jw_close(w, ']');
  jw_num(w, "min", m.min * scale);
  jw_num(w, "median", m.median * scale);
  jw_num(w, "max", m.max * scale);
  jw_close(w, '}');
}

static void latency(struct jw *w, const char *key,
                    const struct bench_latency *l) {
  struct bench_dist d = bench_dist_of(l->all.v, l->all.n);
  jw_open(w, key, '{');
  jw_num(w, "samples", (double)d.n);
  jw_num(w, "median_ns", d.median);
  jw_num(w, "p99_ns", d.p99);
  jw_num(w, "p999_ns", d.p999);
  series(w, "rep_median_ns", &l->rep_median, 1);
  series(w, "rep_p99_ns", &l->rep_p99, 1);
  jw_num(w, "producer_sleeps", (double)l->sleeps[0]);
  jw_num(w, "consumer_sleeps", (double)l->sleeps[1]);
  jw_close(w, '}');
}

static void config(struct jw *w, const struct bench_cfg *c) {
  jw_open(w, "config", '{');
  jw_str(w, "transport", c->transport);
  jw_bool(w, "quick", c->quick);
  jw_num(w, "reps", c->reps);
  jw_num(w, "capacity", (double)c->capacity);
  jw_num(w, "batch", c->batch);
  jw_num(w, "point_seconds", c->point_s);
  jw_num(w, "latency_samples_per_rep", (double)c->lat_samples);
  jw_num(w, "wake_samples_per_rep", (double)c->wake_samples);
  jw_num(w, "wake_gap_ns", (double)c->wake_gap_ns);
  jw_num(w, "latency_message_bytes", (double)c->lat_size);
  jw_close(w, '}');
}

static void machine(struct jw *w, const struct bench_cfg *c,
                    const struct bench_results *r) {
  const struct bench_machine *m = &r->machine;
  jw_open(w, "machine", '{');
  jw_str(w, "cpu_model", m->cpu_model);
  jw_num(w, "cpus", (double)m->cpus);
  jw_str(w, "kernel", m->kernel);
  jw_str(w, "clocksource", m->clocksource);
  jw_num(w, "clock_read_ns", m->timer_ns);
  jw_str(w, "date_utc", m->date_utc);
  jw_str(w, "library_version", m->lib_version);
  jw_str(w, "transport_version", m->transport_version);
  jw_str(w, "transport_path", m->transport_path);
  jw_open(w, "pinning", '{');
  jw_num(w, "producer_cpu", c->cpu[0]);
  jw_num(w, "consumer_cpu", c->cpu[1]);
  jw_bool(w, "pinned", c->cpu[0] >= 0 && r->pin_note[0] == '\0');
  jw_str(w, "note", r->pin_note);
  jw_close(w, '}');
  jw_close(w, '}');
}

static void placement(struct jw *w, const struct bench_results *r) {
  jw_open(w, "placement", '{');
  jw_str(w, "probe", "one-way cache-line ping-pong, round trip / 2");
  latency(w, "before", &r->probe_before);
  latency(w, "after", &r->probe_after);
  latency(w, "per_rep", &r->probe_rep);
  jw_close(w, '}');
}

static void throughput(struct jw *w, const struct bench_results *r) {
  jw_open(w, "throughput", '[');
  for (int i = 0; i < r->npoints; i++) {
    const struct bench_point *p = &r->points[i];
    jw_open(w, NULL, '{');
    jw_num(w, "size", (double)p->size);
    jw_str(w, "mode", p->batch == 1 ? "single" : "batch");
    jw_num(w, "batch", p->batch);
    jw_open(w, "ref", '{');
    jw_num(w, "messages_per_rep", (double)p->ref_count);
    series(w, "msgs_per_s", &p->ref, 1);
    series(w, "mb_per_s", &p->ref, (double)p->size / 1e6);
    jw_close(w, '}');
    jw_open(w, "queue", '{');
    jw_str(w, "skipped", p->skipped);
    jw_num(w, "messages_per_rep", (double)p->queue_count);
    series(w, "msgs_per_s", &p->queue, 1);
    series(w, "mb_per_s", &p->queue, (double)p->size / 1e6);
    jw_close(w, '}');
    series(w, "ratio", &p->ratio, 1);
    jw_close(w, '}');
  }
  jw_close(w, ']');
}

static void latencies(struct jw *w, const struct bench_results *r) {
  jw_open(w, "latency", '{');
  latency(w, "pingpong", &r->probe_rep);
  latency(w, "ref_ring_spin", &r->ref_lat);
  latency(w, "queue_spin", &r->spin_lat);
  latency(w, "queue_blocking", &r->block_lat);
  jw_close(w, '}');
  jw_open(w, "wakeup", '{');
  latency(w, "futex", &r->futex_wake);
  latency(w, "queue", &r->queue_wake);
  jw_close(w, '}');
  jw_open(w, "memcpy", '{');
  series(w, "1MiB_gb_per_s", &r->memcpy_1m, 1);
  series(w, "4KiB_gb_per_s", &r->memcpy_4k, 1);
  jw_close(w, '}');
}

static void callgrind(struct jw *w, const struct bench_cg *cg) {
  jw_open(w, "callgrind", '{');
  jw_bool(w, "ran", cg->ran);
  jw_str(w, "note", cg->note);
  jw_open(w, "instructions_per_message", '{');
  for (int op = 0; cg->ran && op < CG_OPS; op++)
    jw_num(w, bench_cg_op_names[op], cg->per_msg[op]);
  jw_close(w, '}');
  jw_close(w, '}');
}

static void targets(struct jw *w, const struct bench_results *r) {
  struct bench_target t[BENCH_TARGETS];
  bench_targets(r, t);
  jw_open(w, "targets", '[');
  for (int i = 0; i < BENCH_TARGETS; i++) {
    jw_open(w, NULL, '{');
    jw_str(w, "name", t[i].name);
    jw_str(w, "op", t[i].op);
    jw_num(w, "goal", t[i].goal);
    jw_bool(w, "measured", t[i].have);
    jw_num(w, "median", t[i].value.median);
    jw_num(w, "min", t[i].value.min);
    jw_num(w, "max", t[i].value.max);
    jw_bool(w, "met", t[i].met);
    jw_close(w, '}');
  }
  jw_close(w, ']');
  series(w, "spin_latency_over_pingpong", &r->spin_vs_probe, 1);
  series(w, "mib_over_memcpy", &r->mib_vs_memcpy, 1);
}

int bench_report_json(const struct bench_cfg *cfg,
                      const struct bench_results *r, const char *path) {
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    fprintf(stderr, "sage-queue-bench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  struct jw w = {f, 0, {1}};
  jw_open(&w, NULL, '{');
  jw_str(&w, "schema", "sage-queue-bench/1");
  jw_str(&w, "command", cfg->command);
  config(&w, cfg);
  machine(&w, cfg, r);
  if (cfg->callgrind != 2) {
    placement(&w, r);
    throughput(&w, r);
    latencies(&w, r);
    targets(&w, r);
  }
  callgrind(&w, &r->cg);
  jw_close(&w, '}');
  fputc('\n', f);
  if (fclose(f) != 0) {
    fprintf(stderr, "sage-queue-bench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}
