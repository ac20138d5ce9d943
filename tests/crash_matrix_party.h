/* Parties of the crash-point matrix: forked processes, each with its own
 * handle on the queue, that attach first, then wait to be told to go, run
 * one role, and report through a board in shared memory. A party can be
 * armed at one step point of the shm test build (tests/steps): SIGKILLed
 * there, or paused there until the parent resumes it. */
#ifndef CRASH_MATRIX_PARTY_H
#define CRASH_MATRIX_PARTY_H

#include <sage/queue.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define CM_MAX_GOT 64
#define CM_MAX_PARTIES 6
#define CM_MS 1000000ll /* nanoseconds */

struct cm_got {
  uint32_t producer, seq, torn;
};

/* What one party reports. */
struct cm_out {
  int32_t rc;     /* its last call's result */
  uint32_t n;     /* messages it took */
  char note[160]; /* what went wrong, "" if nothing */
  struct cm_got got[CM_MAX_GOT];
};

struct cm_board {
  _Atomic int stop; /* racing consumers: the last marker was taken */
  struct cm_out out[CM_MAX_PARTIES];
};

extern struct cm_board *cm_board;

/* What a party does once told to go. */
typedef void (*cm_role)(sage_queue *q, struct cm_out *out, const void *arg);

enum cm_at { CM_RUN, CM_KILL, CM_PAUSE }; /* what happens at the point */

struct cm_party {
  pid_t pid;                      /* 0 once reaped */
  int go, ready, reached, resume; /* the parent's pipe ends, -1 if closed */
  struct cm_out *out;
};

/* Loads transport "shm" from steps_dir (put first on SAGE_PLUGIN_PATH),
 * finds its step hook and maps the board. Prints why on failure. */
int cm_init(const char *steps_dir);

/* Forks a party on board slot `slot` that opens queue `qname` and arms
 * `point` (unless at == CM_RUN); returns 0 once it is attached. */
int cm_spawn(struct cm_party *p, int slot, const char *qname, cm_role role,
             const void *arg, const char *point, enum cm_at at);
void cm_go(struct cm_party *p);
/* Waits up to ms for a paused party to reach its point; 0 if it did. */
int cm_wait_reached(struct cm_party *p, int64_t ms);
void cm_resume(struct cm_party *p);
/* Waits up to ms for p to end; SIGKILLs and reaps it if it does not.
 * Returns its wait status, or -1 if it had to be killed. */
int cm_reap(struct cm_party *p, int64_t ms);
/* Interrupts a party's blocking call (SIGUSR1: -EINTR). */
void cm_nudge(struct cm_party *p);
/* Kills p if it still runs and closes its pipes. */
void cm_cleanup(struct cm_party *p);
/* Kills every party still running (watchdog; async-signal-safe). */
void cm_kill_all(void);

int64_t cm_now_ms(void);
void cm_nap_us(long us);
void cm_note(struct cm_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
