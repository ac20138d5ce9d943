/* Forked parties of the crash-point matrix (see crash_matrix_party.h). */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crash_matrix_party.h"

struct cm_board *cm_board;

typedef void (*step_fn)(const char *point, void *arg);
typedef void (*hook_setter)(step_fn fn, void *arg);
static hook_setter set_hook;

/* Every party still running, for cm_kill_all. */
static volatile pid_t live[CM_MAX_PARTIES * 2];

/* A party's arming (each party is its own process). */
static struct {
  const char *point;
  enum cm_at at;
  int reached, resume;
} arm;

int64_t cm_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cm_nap_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

void cm_note(struct cm_out *out, const char *fmt, ...) {
  if (out->note[0] != '\0')
    return; /* keep the first */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out->note, sizeof out->note, fmt, ap);
  va_end(ap);
}

static int use_steps_dir(const char *dir) {
  const char *old = getenv("SAGE_PLUGIN_PATH");
  char path[4096];
  snprintf(path, sizeof path, "%s%s%s", dir, old != NULL ? ":" : "",
           old != NULL ? old : "");
  unsetenv("SAGE_SHM_STEP"); /* this program arms points itself */
  return setenv("SAGE_PLUGIN_PATH", path, 1);
}

static int find_hook(const char *dir) {
  char so[4096];
  snprintf(so, sizeof so, "%s/sage-shm.so", dir);
  void *dl = dlopen(so, RTLD_NOW | RTLD_NOLOAD);
  if (dl == NULL) {
    printf("crash_matrix: transport shm was not loaded from %s\n", so);
    return -1;
  }
  *(void **)&set_hook = dlsym(dl, "sage_shm_set_step_hook");
  if (set_hook == NULL) {
    printf("crash_matrix: %s has no step hook (not a test build)\n", so);
    return -1;
  }
  return 0;
}

int cm_init(const char *steps_dir) {
  if (use_steps_dir(steps_dir) != 0)
    return -1;
  int rc = sage_transport_load("shm");
  if (rc != 0) {
    printf("crash_matrix: cannot load shm: %s\n", sage_last_error());
    return -1;
  }
  if (find_hook(steps_dir) != 0)
    return -1;
  cm_board = mmap(NULL, sizeof *cm_board, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return cm_board == MAP_FAILED ? -1 : 0;
}

/* ---- inside a party ---- */

static void step_hook(const char *point, void *unused) {
  if (arm.point == NULL || strcmp(point, arm.point) != 0)
    return;
  arm.point = NULL; /* first hit only */
  if (arm.at == CM_KILL) {
    kill(getpid(), SIGKILL);
    for (;;)
      pause();
  }
  char c = 'r';
  if (write(arm.reached, &c, 1) != 1 || read(arm.resume, &c, 1) != 1)
    _exit(3); /* parent gone */
}

static void on_usr1(int sig) {
  (void)sig; /* only interrupts a blocking call */
}

static void party_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1; /* no SA_RESTART: sleeps return -EINTR */
  sigaction(SIGUSR1, &sa, NULL);
  signal(SIGALRM, SIG_DFL);
  alarm(60); /* never outlive a stuck run */
}

static sage_queue *party_open(const char *qname, struct cm_out *out) {
  const char *opts[] = {"create", "never", NULL};
  sage_queue *q = NULL;
  if (sage_queue_open("shm", qname, opts, &q) != 0) {
    cm_note(out, "open: %s", sage_last_error());
    return NULL;
  }
  return q;
}

static void party_main(int fds[4][2], const char *qname, struct cm_out *out,
                       cm_role role, const void *arg) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  party_signals();
  close(fds[0][1]); /* go: we read */
  close(fds[1][0]); /* ready: we write */
  close(fds[2][0]); /* reached: we write */
  close(fds[3][1]); /* resume: we read */
  arm.reached = fds[2][1];
  arm.resume = fds[3][0];
  sage_queue *q = party_open(qname, out);
  char c = q != NULL ? 'R' : 'E';
  if (q != NULL && arm.at != CM_RUN)
    set_hook(step_hook, NULL);
  if (write(fds[1][1], &c, 1) != 1 || q == NULL)
    _exit(2);
  if (read(fds[0][0], &c, 1) != 1)
    _exit(2); /* not told to go: the cell was given up */
  role(q, out, arg);
  sage_queue_close(q);
  _exit(0);
}

/* ---- in the parent ---- */

static void track(pid_t pid, pid_t was) {
  for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
    if (live[i] == was) {
      live[i] = pid;
      return;
    }
}

static int wait_byte(int fd, int64_t ms, char *c) {
  struct pollfd pfd = {fd, POLLIN, 0};
  int rc;
  do
    rc = poll(&pfd, 1, (int)ms);
  while (rc < 0 && errno == EINTR);
  return rc == 1 && read(fd, c, 1) == 1 ? 0 : -1;
}

static int open_pipes(int fds[4][2]) {
  for (int i = 0; i < 4; i++)
    if (pipe(fds[i]) != 0) {
      while (i-- > 0) {
        close(fds[i][0]);
        close(fds[i][1]);
      }
      return -1;
    }
  return 0;
}

int cm_spawn(struct cm_party *p, int slot, const char *qname, cm_role role,
             const void *arg, const char *point, enum cm_at at) {
  int fds[4][2];
  *p = (struct cm_party){0, -1, -1, -1, -1, &cm_board->out[slot]};
  if (open_pipes(fds) != 0)
    return -1;
  arm.point = point;
  arm.at = at;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0)
    party_main(fds, qname, p->out, role, arg);
  close(fds[0][0]);
  close(fds[1][1]);
  close(fds[2][1]);
  close(fds[3][0]);
  *p = (struct cm_party){pid > 0 ? pid : 0, fds[0][1], fds[1][0],
                         fds[2][0],         fds[3][1], p->out};
  if (pid < 0)
    return -1;
  track(pid, 0);
  char c = 0;
  return wait_byte(p->ready, 5000, &c) == 0 && c == 'R' ? 0 : -1;
}

void cm_go(struct cm_party *p) {
  char c = 'g';
  if (p->go >= 0 && write(p->go, &c, 1) != 1)
    cm_note(p->out, "could not be told to go");
}

int cm_wait_reached(struct cm_party *p, int64_t ms) {
  char c;
  return wait_byte(p->reached, ms, &c);
}

void cm_resume(struct cm_party *p) {
  char c = 'r';
  if (p->resume >= 0 && write(p->resume, &c, 1) != 1)
    cm_note(p->out, "could not be resumed");
}

int cm_reap(struct cm_party *p, int64_t ms) {
  int status = 0;
  if (p->pid <= 0)
    return -1;
  for (int64_t end = cm_now_ms() + ms;;) {
    pid_t got = waitpid(p->pid, &status, WNOHANG);
    if (got == p->pid || (got < 0 && errno != EINTR))
      break;
    if (cm_now_ms() >= end) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, &status, 0);
      status = -1;
      break;
    }
    cm_nap_us(300);
  }
  track(0, p->pid);
  p->pid = 0;
  return status;
}

void cm_nudge(struct cm_party *p) {
  if (p->pid > 0)
    kill(p->pid, SIGUSR1);
}

void cm_cleanup(struct cm_party *p) {
  if (p->pid > 0)
    cm_reap(p, 0);
  int *fds[] = {&p->go, &p->ready, &p->reached, &p->resume};
  for (int i = 0; i < 4; i++)
    if (*fds[i] >= 0) {
      close(*fds[i]);
      *fds[i] = -1;
    }
}

void cm_kill_all(void) {
  for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
    if (live[i] > 0)
      kill(live[i], SIGKILL);
}
