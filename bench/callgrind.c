/* Instructions per message from valgrind's callgrind: a figure that stays
 * put on shared VMs where timings drift. Each operation runs in its own
 * `valgrind --tool=callgrind --toggle-collect=bench_cg_measured` process
 * (this program again, with --cg-worker OP), one process, no contention, so
 * only the measured loop counts: not set-up, warm-up or filling the queue. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sage/queue.h>

#include "bench.h"

#define CG_MSGS 16384u /* messages per measured loop (fits the ring) */
#define CG_SIZE 64u
#define CG_BATCH 64u

const char *const bench_cg_op_names[CG_OPS] = {
    [CG_QUEUE_PUT] = "queue_put",
    [CG_QUEUE_GET] = "queue_get",
    [CG_QUEUE_PUT_BATCH] = "queue_put_batch",
    [CG_QUEUE_GET_BATCH] = "queue_get_batch",
    [CG_QUEUE_POLL_EMPTY] = "queue_poll_empty",
    [CG_REF_PUT] = "ref_put",
    [CG_REF_GET] = "ref_get",
};

__attribute__((noinline)) void bench_cg_measured(void (*loop)(void *),
                                                 void *arg) {
  loop(arg);
  __asm__ __volatile__("" ::: "memory"); /* no tail call: keep our frame */
}

/* ---- the worker, under valgrind ---- */

struct cg_queue_job {
  sage_queue *q;
  enum bench_cg_op op;
  unsigned char *buf;
  const void *ptrs[CG_BATCH];
  size_t lens[CG_BATCH];
  int rc;
};

static void queue_loop(void *arg) {
  struct cg_queue_job *j = arg;
  size_t n;
  int batched = j->op == CG_QUEUE_PUT_BATCH || j->op == CG_QUEUE_GET_BATCH;
  for (unsigned i = 0; i < CG_MSGS; i += batched ? CG_BATCH : 1) {
    switch (j->op) {
    case CG_QUEUE_PUT:
      j->rc |= sage_queue_put(j->q, j->buf, CG_SIZE, -1);
      break;
    case CG_QUEUE_GET:
      j->rc |= sage_queue_get(j->q, j->buf, CG_SIZE, j->lens, -1);
      break;
    case CG_QUEUE_PUT_BATCH:
      j->rc |= sage_queue_put_batch(j->q, j->ptrs, j->lens, CG_BATCH, &n, -1);
      break;
    case CG_QUEUE_POLL_EMPTY:
      j->rc |= sage_queue_get(j->q, j->buf, CG_SIZE, j->lens, 0) != -EAGAIN;
      break;
    default:
      j->rc |= sage_queue_get_batch(j->q, j->buf, CG_BATCH * CG_SIZE, j->lens,
                                    CG_BATCH, &n, -1);
      break;
    }
  }
}

static void run_queue_loop(struct cg_queue_job *j, enum bench_cg_op op) {
  j->op = op;
  queue_loop(j);
}

static int queue_worker(const struct bench_cfg *cfg, enum bench_cg_op op) {
  char capacity[32], name[64];
  snprintf(capacity, sizeof capacity, "%llu",
           (unsigned long long)cfg->capacity);
  snprintf(name, sizeof name, "sqbench-cg-%ld", (long)getpid());
  const char *const fixed[] = {"capacity", capacity, "create", "always", NULL};
  const char *opts[6 + 2 * BENCH_MAX_OPEN_OPTS];
  bench_open_options(cfg, fixed, opts, sizeof opts / sizeof opts[0]);
  struct cg_queue_job j = {.buf = bench_buffer(CG_BATCH * CG_SIZE)};
  int rc = sage_queue_open(cfg->transport, name, opts, &j.q);
  if (rc != 0) {
    fprintf(stderr, "open %s: %s (%s)\n", name, sage_strerror(rc),
            sage_last_error());
    return 1;
  }
  for (unsigned m = 0; m < CG_BATCH; m++) {
    j.ptrs[m] = j.buf + m * CG_SIZE;
    j.lens[m] = CG_SIZE;
  }
  run_queue_loop(&j, CG_QUEUE_PUT); /* warm: code, pages, lazy binding */
  run_queue_loop(&j, CG_QUEUE_GET);
  if (op == CG_QUEUE_GET || op == CG_QUEUE_GET_BATCH)
    run_queue_loop(&j, CG_QUEUE_PUT); /* something to get */
  j.op = op;
  bench_cg_measured(queue_loop, &j);
  sage_queue_destroy(j.q);
  if (j.rc != 0)
    fprintf(stderr, "%s failed: %s\n", bench_cg_op_names[op],
            sage_last_error());
  return j.rc != 0;
}

int bench_cg_worker(const struct bench_cfg *cfg, const char *name) {
  for (int op = 0; op < CG_OPS; op++) {
    if (strcmp(name, bench_cg_op_names[op]) != 0)
      continue;
    if (op == CG_REF_PUT || op == CG_REF_GET)
      return bench_ref_cg(op, CG_SIZE, CG_MSGS, cfg->capacity) != 0;
    return queue_worker(cfg, op);
  }
  fprintf(stderr, "sage-queue-bench: unknown --cg-worker op '%s'\n", name);
  return 2;
}

/* ---- the parent: one valgrind run per op ---- */

static double read_total(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  char line[512];
  double total = -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "totals:", 7) == 0 || strncmp(line, "summary:", 8) == 0)
      total = strtod(strchr(line, ':') + 1, NULL);
  fclose(f);
  return total;
}

static void exec_valgrind(const struct bench_cfg *cfg, const char *self,
                          const char *op, const char *out, const char *log) {
  char out_arg[PATH_MAX + 32], capacity[32];
  char pairs[BENCH_MAX_OPEN_OPTS][256];
  snprintf(out_arg, sizeof out_arg, "--callgrind-out-file=%s", out);
  snprintf(capacity, sizeof capacity, "%llu",
           (unsigned long long)cfg->capacity);
  const char *argv[16 + 2 * BENCH_MAX_OPEN_OPTS] = {
      "valgrind",
      "--tool=callgrind",
      "--toggle-collect=bench_cg_measured",
      out_arg,
      self,
      "--transport",
      cfg->transport,
      "--capacity",
      capacity,
      "--cg-worker",
      op};
  int n = 11;
  for (int i = 0; i < cfg->nopen_opts; i++) {
    snprintf(pairs[i], sizeof pairs[i], "%s=%s", cfg->open_opts[2 * i],
             cfg->open_opts[2 * i + 1]);
    argv[n++] = "--open-option";
    argv[n++] = pairs[i];
  }
  int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
  }
  execvp("valgrind", (char *const *)argv);
  _exit(127);
}

/* Runs one op under valgrind; instructions in the measured loop, or < 0
 * with the reason in note. */
static double count_op(const struct bench_cfg *cfg, const char *self,
                       const char *dir, int op, char *note, size_t cap) {
  char out[PATH_MAX], log[PATH_MAX];
  snprintf(out, sizeof out, "%s/%s.out", dir, bench_cg_op_names[op]);
  snprintf(log, sizeof log, "%s/%s.log", dir, bench_cg_op_names[op]);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0)
    exec_valgrind(cfg, self, bench_cg_op_names[op], out, log);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0)
    status = -1;
  double total = read_total(out);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    snprintf(note, cap, "valgrind not found on PATH");
  else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || total < 0)
    snprintf(note, cap, "callgrind run of %s failed (status %d)",
             bench_cg_op_names[op], status);
  unlink(out);
  unlink(log);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? total : -1;
}

void bench_callgrind(const struct bench_cfg *cfg, const char *self,
                     struct bench_cg *out) {
  char dir[] = "/tmp/sage-queue-bench-cg.XXXXXX";
  *out = (struct bench_cg){0};
  if (mkdtemp(dir) == NULL) {
    snprintf(out->note, sizeof out->note, "mkdtemp: %s", strerror(errno));
    return;
  }
  int ok = 1;
  for (int op = 0; op < CG_OPS && ok; op++) {
    fprintf(stderr, "  callgrind: %s\n", bench_cg_op_names[op]);
    double total = count_op(cfg, self, dir, op, out->note, sizeof out->note);
    ok = total >= 0;
    out->per_msg[op] = total / CG_MSGS;
  }
  rmdir(dir);
  out->ran = ok;
  if (ok)
    snprintf(out->note, sizeof out->note,
             "valgrind --tool=callgrind, %u messages of %u B per op "
             "(batches of %u), one process, instructions in the measured "
             "loop / messages",
             CG_MSGS, CG_SIZE, CG_BATCH);
}
