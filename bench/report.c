/* The targets and the Markdown report (also what the console shows). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

static const struct bench_point *point(const struct bench_results *r,
                                       size_t size, int batched) {
  for (int i = 0; i < r->npoints; i++)
    if (r->points[i].size == size && (r->points[i].batch > 1) == batched)
      return &r->points[i];
  return NULL;
}

static void set_target(struct bench_target *t, const char *name, const char *op,
                       double goal, const struct bench_series *s) {
  *t = (struct bench_target){name, op, goal, {0, 0, 0}, s != NULL && s->n > 0,
                             0};
  if (!t->have)
    return;
  t->value = bench_summarize(s);
  t->met = op[0] == '>' ? t->value.median >= goal : t->value.median <= goal;
}

void bench_targets(const struct bench_results *r,
                   struct bench_target out[BENCH_TARGETS]) {
  const struct bench_point *single = point(r, 64, 0), *batch = point(r, 64, 1);
  set_target(&out[0], "64 B single put/get / ref ring single", ">=", 0.5,
             single ? &single->ratio : NULL);
  set_target(&out[1], "64 B batched / ref ring batched", ">=", 0.8,
             batch ? &batch->ratio : NULL);
  set_target(&out[2], "spinning one-way latency median / ping-pong median",
             "<=", 2.0, &r->spin_vs_probe);
  set_target(&out[3], "1 MiB single put/get MB/s / memcpy 1 MiB", ">=", 0.5,
             &r->mib_vs_memcpy);
}

/* ---- number formatting ---- */

static const char *si(double v, char *buf, size_t cap) {
  if (v >= 1e9)
    snprintf(buf, cap, "%.2fG", v / 1e9);
  else if (v >= 1e6)
    snprintf(buf, cap, "%.2fM", v / 1e6);
  else if (v >= 1e3)
    snprintf(buf, cap, "%.1fk", v / 1e3);
  else
    snprintf(buf, cap, "%.0f", v);
  return buf;
}

/* "median [min–max]" of a series, each value scaled. */
static void spread(FILE *f, const struct bench_series *s, double scale,
                   int decimals) {
  struct bench_summary m = bench_summarize(s);
  fprintf(f, "%.*f [%.*f–%.*f]", decimals, m.median * scale, decimals,
          m.min * scale, decimals, m.max * scale);
}

static void rate_spread(FILE *f, const struct bench_series *s) {
  struct bench_summary m = bench_summarize(s);
  char a[32], b[32], c[32];
  fprintf(f, "%s [%s–%s]", si(m.median, a, sizeof a), si(m.min, b, sizeof b),
          si(m.max, c, sizeof c));
}

static const char *size_name(size_t size, char *buf, size_t cap) {
  if (size >= (1u << 20) && size % (1u << 20) == 0)
    snprintf(buf, cap, "%zu MiB", size >> 20);
  else if (size >= 1024 && size % 1024 == 0)
    snprintf(buf, cap, "%zu KiB", size >> 10);
  else
    snprintf(buf, cap, "%zu B", size);
  return buf;
}

/* ---- sections ---- */

/* One latency row: percentiles, repetition medians, and how often the
 * roles slept per sample (both roles, or only the consumer). */
static void latency_row(FILE *f, const char *path, const char *what,
                        const struct bench_latency *l, int consumer_only) {
  struct bench_dist d = bench_dist_of(l->all.v, l->all.n);
  uint64_t sleeps = l->sleeps[1] + (consumer_only ? 0 : l->sleeps[0]);
  fprintf(f, "| %s%s | %.0f | %.0f | %.0f | ", path, what, d.median, d.p99,
          d.p999);
  spread(f, &l->rep_median, 1, 0);
  fprintf(f, " | ");
  spread(f, &l->rep_p99, 1, 0);
  fprintf(f, " | %.3f |\n",
          l->samples ? (double)sleeps / (double)l->samples : 0.0);
}

static void write_header(FILE *f, const struct bench_cfg *cfg,
                         const struct bench_results *r) {
  const struct bench_machine *m = &r->machine;
  fprintf(f, "Command: `%s`\n\n", cfg->command);
  fprintf(f,
          "Machine: %s, %ld CPUs, %s, clocksource %s; libsagequeue %s, "
          "transport `%s` %s; %s.\n\n",
          m->cpu_model, m->cpus, m->kernel, m->clocksource, m->lib_version,
          cfg->transport, m->transport_version, m->date_utc);
  if (cfg->cpu[0] < 0)
    fprintf(f, "Placement: not pinned (--cpus none).\n\n");
  else if (r->pin_note[0] != '\0')
    fprintf(f, "Placement: NOT fully pinned: %s.\n\n", r->pin_note);
  else
    fprintf(f, "Placement: producer pinned to CPU %d, consumer to CPU %d.\n\n",
            cfg->cpu[0], cfg->cpu[1]);
}

static void write_probe(FILE *f, const struct bench_results *r) {
  struct bench_dist b =
      bench_dist_of(r->probe_before.all.v, r->probe_before.all.n);
  struct bench_dist a =
      bench_dist_of(r->probe_after.all.v, r->probe_after.all.n);
  fprintf(f,
          "Placement probe (one-way cache-line ping-pong, ns, median / p99 / "
          "p99.9): before %.0f / %.0f / %.0f, after %.0f / %.0f / %.0f; "
          "per-repetition medians ",
          b.median, b.p99, b.p999, a.median, a.p99, a.p999);
  spread(f, &r->probe_rep.rep_median, 1, 0);
  double drift = b.median > 0 ? a.median / b.median : 1;
  fprintf(f,
          ".%s One clock read costs %.0f ns and is inside every latency "
          "sample.\n\n",
          drift > 1.3 || drift < 0.77
              ? " **The placement changed during the run (probe moved by more "
                "than 30%): compare only the same-repetition ratios.**"
              : "",
          r->machine.timer_ns);
}

static void write_targets(FILE *f, const struct bench_cfg *cfg,
                          const struct bench_results *r) {
  struct bench_target t[BENCH_TARGETS];
  bench_targets(r, t);
  fprintf(f,
          "| %s target (same run, per-repetition ratio) | median "
          "[min–max] | goal | met |\n|---|---|---|---|\n",
          cfg->transport);
  for (int i = 0; i < BENCH_TARGETS; i++) {
    if (!t[i].have) {
      fprintf(f, "| %s | not measured | %s %.1f | – |\n", t[i].name, t[i].op,
              t[i].goal);
      continue;
    }
    fprintf(f, "| %s | %.2f [%.2f–%.2f] | %s %.1f | %s |\n", t[i].name,
            t[i].value.median, t[i].value.min, t[i].value.max, t[i].op,
            t[i].goal, t[i].met ? "yes" : "**no**");
  }
  fprintf(f, "\n");
}

static void write_point(FILE *f, const struct bench_point *p) {
  char sz[32];
  fprintf(f, "| %s | ", size_name(p->size, sz, sizeof sz));
  if (p->batch == 1)
    fprintf(f, "single | ");
  else
    fprintf(f, "batch %u | ", p->batch);
  rate_spread(f, &p->ref);
  fprintf(f, " | ");
  if (p->skipped[0] != '\0') {
    fprintf(f, "skipped: %s | | |\n", p->skipped);
    return;
  }
  rate_spread(f, &p->queue);
  fprintf(f, " | ");
  spread(f, &p->queue, (double)p->size / 1e6, 0);
  fprintf(f, " | ");
  spread(f, &p->ratio, 1, 2);
  fprintf(f, " |\n");
}

static void write_throughput(FILE *f, const struct bench_cfg *cfg,
                             const struct bench_results *r) {
  fprintf(f,
          "Throughput, 1 producer / 1 consumer, messages/s (MB = 10^6 "
          "bytes), median [min–max] of %d repetitions:\n\n",
          cfg->reps);
  fprintf(f,
          "| size | call | ref ring msg/s | %s msg/s | %s MB/s | %s / ref |\n"
          "|---|---|---|---|---|---|\n",
          cfg->transport, cfg->transport, cfg->transport);
  for (int i = 0; i < r->npoints; i++)
    write_point(f, &r->points[i]);
  fprintf(f, "\nmemcpy on one core, hot cache: 1 MiB ");
  spread(f, &r->memcpy_1m, 1, 1);
  fprintf(f, " GB/s, 4 KiB ");
  spread(f, &r->memcpy_4k, 1, 1);
  fprintf(f, " GB/s.\n\n");
}

static void write_latency(FILE *f, const struct bench_cfg *cfg,
                          const struct bench_results *r) {
  const char *t = cfg->transport;
  fprintf(f,
          "Latency, one-way (round trip / 2) ns, %d B messages, %u KiB "
          "rings, all samples of all repetitions:\n\n",
          (int)cfg->lat_size, BENCH_LAT_CAPACITY >> 10);
  fprintf(f, "| path | median | p99 | p99.9 | repetition medians | "
             "repetition p99s | sleeps per round trip |\n"
             "|---|---|---|---|---|---|---|\n");
  latency_row(f, "cache-line ping-pong (probe)", "", &r->probe_rep, 0);
  latency_row(f, "ref ring ping-pong, spinning", "", &r->ref_lat, 0);
  latency_row(f, t, " ping-pong, spinning (get timeout 0 in a loop)",
              &r->spin_lat, 0);
  latency_row(f, t, " ping-pong, blocking get (timeout -1)", &r->block_lat, 0);
  fprintf(f,
          "\nWake-up latency, ns, consumer asleep in get (put stamped "
          "%.0f µs after the previous one; stamp -> get returns):\n\n",
          (double)cfg->wake_gap_ns / 1e3);
  fprintf(f, "| path | median | p99 | p99.9 | repetition medians | "
             "repetition p99s | consumer sleeps per wake-up |\n"
             "|---|---|---|---|---|---|---|\n");
  latency_row(f, "raw futex wake (reference)", "", &r->futex_wake, 1);
  latency_row(f, t, " blocking get", &r->queue_wake, 1);
  fprintf(f, "\n");
}

static void write_callgrind(FILE *f, const struct bench_cfg *cfg,
                            const struct bench_cg *cg) {
  if (!cg->ran) {
    fprintf(f, "Instructions per message: not counted (%s).\n\n",
            cg->note[0] ? cg->note
                        : "run without --quick/--no-callgrind, or with "
                          "--callgrind");
    return;
  }
  fprintf(f, "Instructions per message (%s):\n\n", cg->note);
  fprintf(f, "| operation | %s | ref ring |\n|---|---|---|\n", cfg->transport);
  fprintf(f, "| put | %.0f | %.0f |\n", cg->per_msg[CG_QUEUE_PUT],
          cg->per_msg[CG_REF_PUT]);
  fprintf(f, "| get | %.0f | %.0f |\n", cg->per_msg[CG_QUEUE_GET],
          cg->per_msg[CG_REF_GET]);
  fprintf(f, "| put_batch, per message | %.1f | – |\n",
          cg->per_msg[CG_QUEUE_PUT_BATCH]);
  fprintf(f, "| get_batch, per message | %.1f | – |\n",
          cg->per_msg[CG_QUEUE_GET_BATCH]);
  fprintf(f,
          "| get on an empty queue, timeout 0 (-EAGAIN), per call | %.0f "
          "| – |\n\n",
          cg->per_msg[CG_QUEUE_POLL_EMPTY]);
}

static void write_markdown(FILE *f, const struct bench_cfg *cfg,
                           const struct bench_results *r) {
  write_header(f, cfg, r);
  if (cfg->callgrind != 2) {
    write_probe(f, r);
    write_targets(f, cfg, r);
    write_throughput(f, cfg, r);
    write_latency(f, cfg, r);
  }
  write_callgrind(f, cfg, &r->cg);
}

void bench_report_console(const struct bench_cfg *cfg,
                          const struct bench_results *r) {
  write_markdown(stdout, cfg, r);
  fflush(stdout);
}

int bench_report_markdown(const struct bench_cfg *cfg,
                          const struct bench_results *r, const char *path) {
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    fprintf(stderr, "sage-queue-bench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  write_markdown(f, cfg, r);
  if (fclose(f) != 0) {
    fprintf(stderr, "sage-queue-bench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}
