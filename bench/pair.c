/* The two forked roles of a measurement: shared memory, pinning, a start
 * barrier, a watchdog, and reaping with a readable failure. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static const char *const role_names[2] = {"producer", "consumer"};
static int my_role = -1; /* set in a forked role */
static struct bench_pair_ctl *my_ctl;
static char pin_note[256];
static long sleeps_at_mark;

void bench_spin(unsigned *spins) {
  if (++*spins < 4096) {
    bench_relax();
    return;
  }
  *spins = 0;
  sched_yield();
}

void bench_pause_ns(int64_t ns) {
  struct timespec ts = {ns / 1000000000, ns % 1000000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

long bench_voluntary_switches(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_nvcsw;
}

void *bench_shared_alloc(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void bench_shared_free(void *p, size_t size) {
  if (p != NULL)
    munmap(p, size);
}

void *bench_buffer(size_t size) {
  size_t rounded = (size + 63) & ~(size_t)63;
  void *p = aligned_alloc(64, rounded > 0 ? rounded : 64);
  if (p == NULL) {
    fprintf(stderr, "sage-queue-bench: out of memory (%zu bytes)\n", size);
    _exit(1);
  }
  memset(p, 0, rounded); /* fault the pages in before any timing */
  return p;
}

int bench_pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : -errno;
}

const char *bench_pin_note(void) {
  return pin_note;
}

int bench_fail(int rc, const char *fmt, ...) {
  if (my_ctl == NULL || my_role < 0)
    return rc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(my_ctl->err[my_role], sizeof my_ctl->err[my_role], fmt, ap);
  va_end(ap);
  my_ctl->rc[my_role] = rc;
  return rc;
}

void bench_pair_barrier(struct bench_pair_ctl *ctl) {
  unsigned spins = 0;
  atomic_fetch_add(&ctl->arrived, 1);
  /* acquire: the other role's set-up happens before our timed part */
  while (atomic_load_explicit(&ctl->arrived, memory_order_acquire) < 2)
    bench_spin(&spins);
  bench_pair_mark();
}

void bench_pair_mark(void) {
  sleeps_at_mark = bench_voluntary_switches();
}

static int run_role(const struct bench_cfg *cfg, int role, bench_role_fn fn,
                    void *arg, struct bench_pair_ctl *ctl) {
  my_role = role;
  my_ctl = ctl;
  alarm(cfg->timeout_s); /* a hung case dies instead of hanging the run */
  if (cfg->cpu[role] >= 0)
    ctl->pin_rc[role] = bench_pin(cfg->cpu[role]);
  sleeps_at_mark = bench_voluntary_switches();
  int rc = fn(arg, ctl);
  ctl->sleeps[role] = (uint64_t)(bench_voluntary_switches() - sleeps_at_mark);
  if (rc != 0 && ctl->err[role][0] == '\0')
    bench_fail(rc, "failed with code %d", rc);
  return rc == 0 ? 0 : 1;
}

static void note_exit(struct bench_pair_ctl *ctl, int role, int status) {
  if (ctl->rc[role] == 0)
    ctl->rc[role] = -1;
  if (ctl->err[role][0] != '\0' || !WIFSIGNALED(status))
    return;
  int sig = WTERMSIG(status);
  snprintf(ctl->err[role], sizeof ctl->err[role], "killed by signal %d%s", sig,
           sig == SIGALRM ? " (watchdog: the case took too long)" : "");
}

/* Waits for both roles; kills the survivor when one fails so it does not
 * wait forever for its peer. Returns the role that failed first, or -1. */
static int reap(pid_t pid[2], struct bench_pair_ctl *ctl) {
  int left = (pid[0] > 0) + (pid[1] > 0), first = -1;
  while (left > 0) {
    int status;
    pid_t p = waitpid(-1, &status, 0);
    if (p < 0 && errno == EINTR)
      continue;
    if (p < 0)
      break;
    int role = p == pid[0] ? 0 : p == pid[1] ? 1 : -1;
    if (role < 0)
      continue;
    pid[role] = 0;
    left--;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
      continue;
    note_exit(ctl, role, status);
    if (first < 0) {
      first = role;
      if (pid[1 - role] > 0)
        kill(pid[1 - role], SIGKILL);
    }
  }
  return first;
}

static void describe_failure(const struct bench_pair_ctl *ctl, int first,
                             char *why, size_t cap) {
  if (first < 0)
    first = ctl->rc[0] != 0 ? 0 : 1;
  snprintf(why, cap, "%s: %s", role_names[first],
           ctl->err[first][0] != '\0' ? ctl->err[first] : "failed");
}

static void note_pinning(const struct bench_cfg *cfg,
                         const struct bench_pair_ctl *ctl) {
  for (int r = 0; r < 2 && pin_note[0] == '\0'; r++)
    if (ctl->pin_rc[r] != 0)
      snprintf(pin_note, sizeof pin_note,
               "could not pin the %s to CPU %d (%s): that role ran unpinned",
               role_names[r], cfg->cpu[r], strerror(-ctl->pin_rc[r]));
}

int bench_pair_run(const struct bench_cfg *cfg, bench_role_fn producer,
                   bench_role_fn consumer, void *arg,
                   struct bench_pair_ctl *out, char *why, size_t cap) {
  struct bench_pair_ctl *ctl = bench_shared_alloc(sizeof *ctl);
  if (ctl == NULL) {
    snprintf(why, cap, "mmap: %s", strerror(errno));
    return -1;
  }
  bench_role_fn fn[2] = {producer, consumer};
  pid_t pid[2] = {0, 0};
  fflush(NULL); /* forked roles must not flush our buffers again */
  for (int r = 0; r < 2; r++) {
    pid[r] = fork();
    if (pid[r] == 0)
      _exit(run_role(cfg, r, fn[r], arg, ctl));
    if (pid[r] < 0) {
      snprintf(ctl->err[r], sizeof ctl->err[r], "fork: %s", strerror(errno));
      ctl->rc[r] = -1;
      pid[r] = 0;
      if (r == 1 && pid[0] > 0)
        kill(pid[0], SIGKILL);
      break;
    }
  }
  int first = reap(pid, ctl);
  note_pinning(cfg, ctl);
  memcpy(out, ctl, sizeof *out);
  int ok = first < 0 && ctl->rc[0] == 0 && ctl->rc[1] == 0;
  if (!ok)
    describe_failure(ctl, first, why, cap);
  bench_shared_free(ctl, sizeof *ctl);
  return ok ? 0 : -1;
}
