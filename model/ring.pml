/* Promela model of the shm ring protocol v2 (plugin/shm: layout.h,
 * ring_put.c, ring_get.c, recover.c, wait.c/lanes.c). Checked by
 * `make check-model` (model/local.mk) in the configurations listed there.
 *
 * Each step is one Promela transition named after the C function and the
 * protocol's step point ("put:intent" ...). Crashes: a process whose `fate`
 * is 1 may crash before any shared-memory step (its OFD lock drops: alive
 * becomes false); fate 2 stops it forever there, alive (a stall).
 *
 * Abstractions
 * - Sequential consistency: a step may merge loads whose reordering the C
 *   code rules out with seq_cst/acq_rel, or whose change in between would
 *   only make the following CAS fail.
 * - Small absolute tickets and unit positions (no 2^32 wrap); intent
 *   coverage is computed modulo, like shm_ticket_in().
 * - Producer p's records are p+1 units; a record never wraps the ring (it
 *   is padded to the ring's start, like place()). Each ring unit carries a
 *   ghost owner ticket, written by producers and asserted by consumers.
 *   SMALL_RECORDS: producer p's records are p units, so producer 0's take
 *   none and live in their slot (layout.h), whose body has its own ghost
 *   owner; a consumer reads the body when end == from, like the C code.
 * - One lane (one thread) per attachment: producers 0,1; consumers 2,3.
 * - Event words: one "changed since I read it" bit per reader (exact for a
 *   counter that never wraps). futex_wait sleeps iff the bit is clear;
 *   futex_wake clears the asleep bits of those in the kernel then.
 * - Time: a capped futex wait expires, or a poller polls again, only when
 *   it can matter: the party waited on is gone, or the condition changed
 *   after some party crashed or stopped (its waker may be gone). Every wait
 *   first tries recovery once on entry, so races between recovery and live
 *   parties are covered; and with nobody gone, a sleeper wakes only by a
 *   wake-up, so lost wake-ups are not hidden by timers.
 *
 * Properties: assertions (no message delivered twice; no torn read: every
 * unit of a copied record still holds its ticket; no producer writes over
 * live bytes or another lap's slot; a counted message is never made DEAD;
 * LOST only for a crashed consumer's claim; delivered => counted; head,
 * read, tail and units consistent after every move), at the end state (no
 * sleeper asleep next to a claimable ticket; puts == delivered + lost +
 * queued), and LTL under weak fairness (LIVENESS): published_taken,
 * no_lost_wakeup, drained.
 *
 * Doc flaws found (make check-model-doc; FIX_* macros, the fixes checked):
 *   FIX_SLEEP_CAP     a sleeper that slept with nothing in flight (no cap)
 *                     is never woken if its waker dies between its ctl
 *                     change and its wake: a producer between P6 and P8, a
 *                     recovery winner between R5 and its wake. Fix: always
 *                     sleep with a cap.
 *   FIX_STALL_UNCOUNT stall_timeout: R4 reads a live owner's counters, the
 *                     owner then counts (P5), R5 still marks DEAD: a
 *                     counted message abandoned. Fix: the owner's failed
 *                     publish CAS finding DEAD takes the count back.
 *   FIX_DEAD_HEAD     stall_timeout: a consumer claims the DEAD ticket, head
 *                     passes it, its units and slot are reused; the owner
 *                     resumes and writes P4 over live bytes and the new
 *                     lap's slot metadata. Fix: head (advance_head, and
 *                     C5's direct CAS) never passes a DEAD record that a
 *                     live lane's put intent covers.
 *
 * Mutations (make check-model-mutants), each caught:
 *   LOSER_WRITES   recovery writes slot metadata before its R5 CAS
 *                  -> head consistency assertion (head unit != from)
 *   WAKE_ONE       wakers wake one sleeper, not all (batch put, consumer 1
 *                  stops after its wake-up) -> lost wake-up at end state
 *   COUNT_LATE     P5 (count) after P6 (publish) -> "delivered message was
 *                  counted"
 *   ALIVE_LAST     R3/R4 read a lane's counters before its owner's
 *                  liveness -> "a counted message is never abandoned"
 *   DEAD_UNCLAIMED advance_head passes a DEAD record with read <= t
 *                  -> position invariant (head <= read)
 *   NO_RECHECK     a sleeper does not re-check after raising the waiter
 *                  count -> lost wake-up at end state
 *   BODY_LATE      (SMALL_RECORDS) a small record's body written after its
 *                  publish -> "no torn read of a slot"
 * Open readings (no effect found at these bounds): HEAD_ADV_DEAD,
 * RELEASE_ADV.
 */

/* ---------- configuration ---------- */
#ifndef N
#define N 2            /* slots */
#endif
#ifndef CAP
#define CAP 3          /* ring units */
#endif
#ifndef MSGS0
#define MSGS0 1        /* messages producer 0 puts, in one put_batch */
#endif
#ifndef MSGS1
#define MSGS1 1        /* messages producer 1 puts */
#endif
#ifndef KGET0
#define KGET0 2        /* records per get of consumer 0 (a batch) */
#endif
#ifndef KGET1
#define KGET1 1        /* records per get of consumer 1 */
#endif
#ifndef POLLER
#define POLLER 1       /* consumer 1 polls (timeout 0) */
#endif
#ifndef MAX_CRASH
#define MAX_CRASH 1    /* processes that may crash */
#endif
#ifndef MAX_STALL
#define MAX_STALL 0    /* processes that may stop forever, alive */
#endif
#ifndef KILL_MASK
#define KILL_MASK 15   /* bit x: attachment x may crash or stall */
#endif
#ifndef STALL_TIMEOUT
#define STALL_TIMEOUT 0 /* stall_timeout option: live owners taken over */
#endif
#ifndef CANCEL
#define CANCEL 0       /* producer 1 may cancel a zero-copy reservation */
#endif
#ifndef TORN_INTENT
#define TORN_INTENT 0  /* P2 as two stores, put_to last */
#endif
/* Readings of points the doc leaves open, and fixes of its flaws (see
 * above; model/local.mk turns the fixes on for check-model). */
#ifndef HEAD_ADV_DEAD
#define HEAD_ADV_DEAD 1 /* recover_head runs advance_head on DONE/LOST/DEAD */
#endif
#ifndef RELEASE_ADV
#define RELEASE_ADV 1   /* C5: after its head CAS, advance_head if read moved */
#endif
#ifndef FIX_SLEEP_CAP
#define FIX_SLEEP_CAP 0 /* data sleepers always sleep with a cap */
#endif
#ifndef FIX_STALL_UNCOUNT
#define FIX_STALL_UNCOUNT 0 /* an owner whose publish finds DEAD uncounts */
#endif
#ifndef FIX_DEAD_HEAD
#define FIX_DEAD_HEAD 0 /* head waits at a DEAD record a live lane covers */
#endif

#define NPROD 2
#define NCONS 2
#define MAXT (MSGS0 + MSGS1)    /* tickets ever reserved */
#define NATT (NPROD + NCONS)
#ifdef SMALL_RECORDS /* producer 0's payloads live in their slots */
#define SIZE(p) (p)             /* units per record of producer p */
#else
#define SIZE(p) ((p) + 1)       /* units per record of producer p */
#endif
#define KGET 2
#define NONE 255

/* slot states (layout.h) */
#define READY 1
#define SKIP 2
#define DONE 3
#define LOST 4
#define DEAD 5

#define S(t) ((t) % N)

/* ---------- shared memory ---------- */
byte tail_t, tail_u;      /* header tail (ticket, unit) */
byte read_t;              /* header read */
byte head_t, head_u;      /* header head (ticket, unit) */
short ctl_t[N];           /* slot ctl: ticket ... */
byte ctl_s[N];            /* ... and state */
byte s_from[N], s_end[N], s_start[N], s_len[N]; /* slot metadata */
byte put_from[NPROD], put_to[NPROD], put_base[NPROD], puts[NPROD]; /* lanes */
byte get_from[NCONS], get_to[NCONS], gets[NCONS];
bool alive[NATT];         /* OFD lock held */
byte abandoned, lost;     /* header counters */
byte data_waiters, space_waiters;
bool data_changed[NCONS], data_asleep[NCONS];   /* data_event, futex */
bool space_changed[NPROD], space_asleep[NPROD]; /* space_event, futex */

/* ---------- ghost state (checks only) ---------- */
byte unit_owner[CAP];     /* ticket whose bytes a ring unit holds */
byte body_owner[N];       /* ticket whose bytes a slot's body holds */
bool g_counted[MAXT + 1], g_lost[MAXT + 1], g_freed[MAXT + 1];
byte g_deliv[MAXT + 1];
byte g_from[MAXT + 1];    /* unit where ticket t's record begins */
byte g_claimer[MAXT + 1]; /* attachment + 1 that claimed t */
byte g_owner[MAXT + 1];   /* producer that reserved t */
bool stalled[NATT], running[NATT], started;

/* ticket t is published and claimable (C1) */
#define CLAIMABLE(t) (ctl_t[S(t)] == (t) && (ctl_s[S(t)] == READY || \
                      ctl_s[S(t)] == SKIP || ctl_s[S(t)] == DEAD))
#define UNPUBLISHED(t) (ctl_t[S(t)] < (t))
/* shm_ticket_in(t, f, to), modular */
#define COVERS(t, f, to) ((f) <= (to) -> ((f) <= (t) && (t) < (to)) : \
                          ((t) >= (f) || (t) < (to)))

#define GONE(x) (!alive[x] || stalled[x])
/* with STALL_TIMEOUT, producer 0 is the one that may stall past
 * stall_timeout while alive (and resume later) */
#define OWNER_GONE(x) (GONE(x) || (STALL_TIMEOUT && (x) == 0))
/* a crash or stop happened: a waker may be gone */
#define SOMEONE_GONE (GONE(0) || GONE(1) || GONE(2) || GONE(3))
/* ticket read is reserved, unpublished, and its producer gone */
#define READ_STUCK (tail_t != read_t && UNPUBLISHED(read_t) && \
                    OWNER_GONE(g_owner[read_t]))
/* the head record waits on a gone party, or on an advance_head */
#define HEAD_STUCK (head_t != tail_t && \
  ((read_t > head_t && GONE(g_claimer[head_t] - 1)) || \
   (UNPUBLISHED(head_t) && OWNER_GONE(g_owner[head_t])) || \
   (ctl_t[S(head_t)] == head_t && (ctl_s[S(head_t)] == DONE || \
     ctl_s[S(head_t)] == LOST || \
     (ctl_s[S(head_t)] == DEAD && read_t > head_t)))))

/* Protocol invariants, asserted after every change of tail/read/head. */
#define CHECK_POS() \
  assert(head_t <= read_t && read_t <= tail_t && tail_t - head_t <= N && \
         tail_u - head_u <= CAP); \
  assert(head_t == tail_t -> head_u == tail_u : head_u == g_from[head_t])

/* A crash (fate 1) or a stop (fate 2) may happen here. */
#define CP if :: fate != 0 -> goto gone :: true fi

/* Waking all data sleepers (P8, recover.c wake_all): the waiter count is
 * checked, data_event bumped (every reader's changed bit set), FUTEX_WAKE
 * wakes those in the kernel: one step (a crash in between is a crash
 * before it; a reader reading the event in between re-checks and sees the
 * change). */
#ifdef MUTATION_WAKE_ONE
#define WAKE_DATA() \
  if \
  :: data_waiters > 0 -> data_changed[0] = true; data_changed[1] = true; \
     if :: data_asleep[0] -> data_asleep[0] = false \
        :: data_asleep[1] -> data_asleep[1] = false \
        :: else fi \
  :: else fi
#else
#define WAKE_DATA() \
  if \
  :: data_waiters > 0 -> data_changed[0] = true; data_changed[1] = true; \
     data_asleep[0] = false; data_asleep[1] = false \
  :: else fi
#endif
#define WAKE_SPACE() \
  if \
  :: space_waiters > 0 -> space_changed[0] = true; space_changed[1] = true; \
     space_asleep[0] = false; space_asleep[1] = false \
  :: else fi

/* A live producer lane covers DEAD ticket j (FIX_DEAD_HEAD) */
#define LIVE_PUT_COVERS(j) \
  ((alive[0] && COVERS(j, put_from[0], put_to[0])) || \
   (alive[1] && COVERS(j, put_from[1], put_to[1])))

/* ring_get.c shm_advance_head(): passes DONE/LOST records, and DEAD ones
 * already claimed (read > t), up to the next record whose `from` is known.
 * Locals ah_*. */
inline advance_head() {
  do
  :: CP;
     /* "adv:load"  H = head; ctl(t), end(t), read (seq_cst loads) */
     atomic { ah_Ht = head_t; ah_Hu = head_u; ah_ct = ctl_t[S(ah_Ht)];
              ah_cs = ctl_s[S(ah_Ht)]; ah_e = s_end[S(ah_Ht)];
              ah_ok = (read_t > ah_Ht);
#if FIX_DEAD_HEAD
              if :: ah_cs == DEAD && LIVE_PUT_COVERS(ah_Ht) -> ah_ok = false
                 :: else fi
#endif
            }
     if
     :: ah_ct == ah_Ht && (ah_cs == DONE || ah_cs == LOST) ->
        CP;
        /* "adv:cas"  head (t, u) -> (t + 1, end(t)) */
        atomic {
          if
          :: head_t == ah_Ht && head_u == ah_Hu ->
             head_t = ah_Ht + 1; head_u = ah_e; CHECK_POS()
          :: else
          fi }
#ifdef MUTATION_DEAD_UNCLAIMED
     :: ah_ct == ah_Ht && ah_cs == DEAD ->
#else
     :: ah_ct == ah_Ht && ah_cs == DEAD && ah_ok ->  /* claimed: read > t */
#endif
        /* "adv:scan"  j = t+1.. while ctl(j) == (j, DEAD) and read > j */
        ah_j = ah_Ht + 1;
        do
        :: CP;
           atomic {
             if
             :: ctl_t[S(ah_j)] == ah_j && ctl_s[S(ah_j)] == DEAD &&
                read_t > ah_j && !(FIX_DEAD_HEAD && LIVE_PUT_COVERS(ah_j)) ->
                ah_j++
             :: else -> break
             fi }
        od;
        CP;
        /* "adv:from"  unit(tail) if j == tail, else from(j) if published */
        atomic {
          ah_ok = true;
          if
          :: tail_t == ah_j -> ah_from = tail_u
          :: tail_t != ah_j && ctl_t[S(ah_j)] == ah_j &&
             (ctl_s[S(ah_j)] == READY || ctl_s[S(ah_j)] == SKIP ||
              ctl_s[S(ah_j)] == DONE || ctl_s[S(ah_j)] == LOST) ->
             ah_from = s_from[S(ah_j)]
          :: else -> ah_ok = false   /* j in flight: head waits */
          fi }
        if :: !ah_ok -> break :: else fi;
        CP;
        /* "adv:cas"  head (t, u) -> (j, from_j) */
        atomic {
          if
          :: head_t == ah_Ht && head_u == ah_Hu ->
             head_t = ah_j; head_u = ah_from; CHECK_POS()
          :: else
          fi }
     :: else -> break
     fi
  od;
  atomic { ah_Ht = 0; ah_Hu = 0; ah_ct = 0; ah_cs = 0; ah_e = 0; ah_j = 0;
           ah_from = 0; ah_ok = false }
}

/* R3/R4 for one lane: liveness first (a dead owner's lane never changes
 * again), then its put intent and counters. */
#define LIVE_OWNER(a) \
  if \
  :: rp_live = true                       /* R3: slow owner */ \
  :: STALL_TIMEOUT && (a) == 0 -> skip    /* stalled > stall_timeout */ \
  fi
#define JUDGE_LANE(a, t) \
  if \
  :: COVERS(t, put_from[a], put_to[a]) -> \
     if :: alive[a] -> LIVE_OWNER(a) :: else fi; \
     rp_complete = rp_complete || \
       (puts[a] == put_base[a] + (put_to[a] - put_from[a])) \
  :: else fi

/* recover.c shm_recover_producer(t): R1..R5. Result in rp_rc. Locals rp_*.
 * RP_LOAD (R1, R2) is its first step; a caller may merge it into its own
 * last load. R1: T = tail, 0 < T.ticket - t <= N. R2: c1 = ctl(t), an
 * older lap (unpublished). */
#define RP_LOAD(t) \
  rp_rc = false; \
  rp_ok = (tail_t > t && tail_t - t <= N); \
  if :: rp_ok -> rp_ct = ctl_t[S(t)]; rp_cs = ctl_s[S(t)]; \
                 rp_ok = (rp_ct < t) \
     :: else fi

inline recover_producer_body(t) {
  if
  :: rp_ok ->
     CP;
     /* R3/R4  the producers' lanes (acquire loads, after R2) */
#ifdef MUTATION_ALIVE_LAST
     /* broken: counters read before liveness (the owner may count and
      * die in between) */
     atomic { rp_f = put_from[0]; rp_to = put_to[0]; rp_base = put_base[0];
              rp_puts = puts[0]; rp_f1 = put_from[1]; rp_to1 = put_to[1];
              rp_base1 = put_base[1]; rp_puts1 = puts[1] }
     CP;
     atomic {
       if
       :: COVERS(t, rp_f, rp_to) ->
          if :: alive[0] -> LIVE_OWNER(0) :: else fi;
          rp_complete = rp_complete || (rp_puts == rp_base + (rp_to - rp_f))
       :: else fi;
       if
       :: COVERS(t, rp_f1, rp_to1) ->
          if :: alive[1] -> LIVE_OWNER(1) :: else fi;
          rp_complete = rp_complete || (rp_puts1 == rp_base1 + (rp_to1 - rp_f1))
       :: else fi;
       rp_f = 0; rp_to = 0; rp_base = 0; rp_puts = 0; rp_f1 = 0; rp_to1 = 0;
       rp_base1 = 0; rp_puts1 = 0 }
#else
     atomic { JUDGE_LANE(0, t); JUDGE_LANE(1, t) }
#endif
     if
     :: rp_live -> skip                       /* R3: slow owner, return */
     :: else ->
#ifdef MUTATION_LOSER_WRITES
        /* broken: metadata written before the CAS decides (as v1 did) */
        CP;
        atomic { s_from[S(t)] = tail_u; s_end[S(t)] = tail_u }
#endif
        CP;
        /* R5 "recover:marked"  CAS ctl(t) c1 -> (t, target); only the
         * winner goes on: abandoned++ if DEAD, wake all data sleepers */
        atomic {
          if
          :: ctl_t[S(t)] == rp_ct && ctl_s[S(t)] == rp_cs ->
             ctl_t[S(t)] = t;
             if
             :: rp_complete ->
                ctl_s[S(t)] = READY;
                assert(g_counted[t])
             :: else ->
                ctl_s[S(t)] = DEAD;
                /* a counted message is never abandoned (but a live owner
                 * past stall_timeout may count after R4, then uncount) */
                assert(!g_counted[t] ||
                       (FIX_STALL_UNCOUNT && alive[g_owner[t]]));
                g_freed[t] = true;
                abandoned++
             fi;
             rp_rc = true
          :: else
          fi }
        if :: rp_rc -> CP; atomic { WAKE_DATA() } :: else fi
     fi
  :: else
  fi;
  atomic { rp_ok = false; rp_ct = 0; rp_cs = 0; rp_live = false;
           rp_complete = false }
}

inline recover_producer(t) {
  CP;
  atomic { RP_LOAD(t) }
  recover_producer_body(t)
}

/* recover.c shm_recover_head(): the head record's consumer died (LOST), or
 * its producer did (recover_producer). Result in rh_rc. Locals rh_*.
 * RH_LOAD ("recover_head:load": H = head, T = tail, ctl(t), read) is its
 * first step, merged into the caller's last load. */
#define RH_LOAD() \
  rh_rc = false; \
  rh_Ht = head_t; rh_Hu = head_u; rh_ok = (tail_t != rh_Ht); \
  rh_ct = ctl_t[S(rh_Ht)]; rh_cs = ctl_s[S(rh_Ht)]; \
  rh_claimed = (read_t > rh_Ht)

inline recover_head_body() {
  if
  :: !rh_ok -> skip                           /* empty: nothing stuck */
  :: rh_ok && rh_ct != rh_Ht ->               /* unpublished */
     recover_producer(rh_Ht); rh_rc = rp_rc; rp_rc = false
  :: rh_ok && rh_ct == rh_Ht && (rh_cs == DONE || rh_cs == LOST ||
                                 (HEAD_ADV_DEAD && rh_cs == DEAD && rh_claimed)) ->
     advance_head(); rh_rc = true
  :: rh_ok && rh_ct == rh_Ht && (rh_cs == READY || rh_cs == SKIP) &&
     rh_claimed ->
     CP;
     /* no live lane's get intent covers t (liveness, then intent) */
     atomic { rh_live = (alive[NPROD] && COVERS(rh_Ht, get_from[0], get_to[0])) ||
                        (alive[NPROD + 1] && COVERS(rh_Ht, get_from[1], get_to[1])) }
     if
     :: !rh_live ->
        CP;
        /* head still H? "recover_head:marked"  CAS (t, st) -> (t, LOST);
         * lost++ if it was READY */
        atomic {
          rh_ok = false;
          if
          :: head_t == rh_Ht && head_u == rh_Hu &&
             ctl_t[S(rh_Ht)] == rh_Ht && ctl_s[S(rh_Ht)] == rh_cs ->
             ctl_s[S(rh_Ht)] = LOST;
             assert(g_claimer[rh_Ht] > 0 &&
                    !alive[g_claimer[rh_Ht] - 1]); /* only a crashed consumer's claim */
             g_freed[rh_Ht] = true;
             abandoned++;
             if :: rh_cs == READY -> lost++; g_lost[rh_Ht] = true :: else fi;
             rh_ok = true
          :: else
          fi }
        rh_rc = true;
        if
        :: rh_ok -> advance_head(); CP; atomic { WAKE_SPACE() }
        :: else
        fi
     :: else
     fi
  :: else                                     /* published, not claimed */
  fi;
  atomic { rh_Ht = 0; rh_Hu = 0; rh_ct = 0; rh_cs = 0; rh_live = false;
           rh_ok = false; rh_claimed = false }
}

/* fitting(): how many of the next `left` records fit in front of H if the
 * tail is at T (item bound N, CAP units, a record never wraps) */
#define FITTING() \
  if \
  :: H_t > T_t -> cnt = 0 \
  :: else -> cnt = (T_t - H_t < N -> N - (T_t - H_t) : 0) \
  fi; \
  cnt = (left < cnt -> left : cnt); \
  k = 0; u = T_u; \
  do \
  :: k < cnt -> \
     off = u % CAP; pad = (off + SIZE(p) > CAP -> CAP - off : 0); \
     e = u + pad + SIZE(p); \
     if \
     :: e < H_u || e - H_u > CAP -> break \
     :: else -> u = e; k++ \
     fi \
  :: else -> break \
  od; \
  next_u = u; u = 0; e = 0; off = 0; pad = 0; cnt = 0

#define LOCALS_OF_INLINES \
  byte ah_Ht, ah_Hu, ah_e, ah_j, ah_from, ah_cs, rp_cs, rh_Ht, rh_Hu, rh_cs; \
  short ah_ct, rp_ct, rh_ct; \
  byte try_rec;   /* recovery chosen in the caller's last load step */ \
  bool ah_ok, rp_rc, rp_ok, rp_live, rp_complete, rh_rc, rh_ok, rh_live, \
       rh_claimed; \
  byte rp_f, rp_to, rp_base, rp_puts, rp_f1, rp_to1, rp_base1, rp_puts1

/* A crashed or stopped process never moves again: forget its locals. */
#define GONE_NOW(me) \
  if :: fate == 1 -> alive[me] = false :: else -> stalled[me] = true fi; \
  ah_Ht = 0; ah_Hu = 0; ah_e = 0; ah_j = 0; ah_from = 0; ah_cs = 0; \
  rp_cs = 0; rh_Ht = 0; rh_Hu = 0; rh_cs = 0; ah_ct = 0; rp_ct = 0; \
  rh_ct = 0; try_rec = 0; ah_ok = 0; rp_rc = 0; rp_ok = 0; rp_live = 0; \
  rp_complete = 0; rh_rc = 0; rh_ok = 0; rh_live = 0; rh_claimed = 0; \
  rp_f = 0; rp_to = 0; rp_base = 0; rp_puts = 0; rp_f1 = 0; rp_to1 = 0; \
  rp_base1 = 0; rp_puts1 = 0; i = 0; k = 0; ok = 0; j = 0; e = 0

/* ---------- producer: ring_put.c put_msgs() ---------- */
proctype producer(byte p; byte fate) {
  byte left = (p == 0 -> MSGS0 : MSGS1), T_t, T_u, H_t, H_u, k, next_u, i,
       j, u, off, pad, st, e, cnt, t, old;
  bool ok, failed;
  LOCALS_OF_INLINES;
  do
  :: left == 0 -> break
  :: else ->
p1:  CP;
     /* P1 reserve(): load tail T and head H; fitting(). No room:
      * wait_for_space(H), which first tries recover_head */
     atomic { T_t = tail_t; T_u = tail_u; H_t = head_t; H_u = head_u;
              FITTING();
              if :: k == 0 -> RH_LOAD(); try_rec = 2 :: else fi }
     if
     :: k == 0 ->
        try_rec = 0; recover_head_body();
        if :: rh_rc -> rh_rc = false; goto p1 :: else fi;
        CP;
        /* shm_sleeper_enter (seq_cst); ev = space_event */
        atomic { space_waiters++; space_changed[p] = false }
        CP;
        /* head still H? futex_wait(space_event, ev, cap = stall) */
        atomic { if :: head_t == H_t && head_u == H_u && !space_changed[p] ->
                       space_asleep[p] = true
                    :: else fi }
end_space_sleep:
        /* woken, or the cap expired (head moved, or its holder is gone);
         * shm_sleeper_leave */
        if
        :: atomic { !space_asleep[p] -> space_waiters-- }
        :: atomic { space_asleep[p] &&
                    (HEAD_STUCK ||
                     ((head_t != H_t || head_u != H_u) && SOMEONE_GONE)) ->
                    space_asleep[p] = false; space_waiters-- }
        :: fate != 0 -> goto gone
        fi;
        goto p1
     :: else
     fi;
     CP;
#if TORN_INTENT
     /* P2 "put:intent"  put_base = puts; put_from = T; ... (a crash or a
      * reader in between sees a torn intent (T, old put_to)) */
     atomic { put_base[p] = puts[p]; put_from[p] = T_t }
     CP;
     /* ... put_to = next: the intent is complete */
     put_to[p] = T_t + k;
#else
     /* P2 "put:intent"  put_base = puts; put_from = T; put_to = next */
     atomic { put_base[p] = puts[p]; put_from[p] = T_t; put_to[p] = T_t + k }
#endif
     CP;
     /* P3 "put:reserved"  CAS tail T -> next */
     atomic {
       if
       :: tail_t == T_t && tail_u == T_u ->
          tail_t = T_t + k; tail_u = next_u; ok = true;
          /* ghost: where each ticket's record begins */
          i = 0; u = T_u;
          do
          :: i < k ->
             g_from[T_t + i] = u; g_owner[T_t + i] = p;
             off = u % CAP; pad = (off + SIZE(p) > CAP -> CAP - off : 0);
             u = u + pad + SIZE(p); i++
          :: else -> break
          od;
          i = 0; u = 0; off = 0; pad = 0;
          CHECK_POS()
       :: else -> ok = false
       fi }
     if
     :: !ok ->                                /* clear intent, retry */
        CP; atomic { put_to[p] = put_from[p]; ok = false }; goto p1
     :: else
     fi;
     /* P4 "put:written"  payload and slot metadata, one record a step */
     i = 0; u = T_u;
     do
     :: i < k ->
        CP;
        atomic {
          t = T_t + i;
          off = u % CAP; pad = (off + SIZE(p) > CAP -> CAP - off : 0);
          st = (u + pad) % CAP; e = u + pad + SIZE(p);
          j = 0;
          do
          :: j < SIZE(p) ->
             old = unit_owner[st + j];
             assert(old == NONE || (old < t && g_freed[old])); /* no reuse of live bytes */
             unit_owner[st + j] = t; j++
          :: else -> break
          od;
          assert(ctl_t[S(t)] <= t);  /* slot metadata written only by its producer */
          if
          :: SIZE(p) == 0 ->         /* a small record: bytes in the slot */
             old = body_owner[S(t)];
             assert(old == NONE || (old < t && g_freed[old])); /* no reuse of live bytes */
#ifndef MUTATION_BODY_LATE
             body_owner[S(t)] = t
#else
             skip
#endif
          :: else
          fi;
          s_from[S(t)] = u; s_end[S(t)] = e; s_start[S(t)] = st;
          s_len[S(t)] = SIZE(p);
          u = e; i++; j = 0; old = 0; t = 0; off = 0; pad = 0; st = 0; e = 0
        }
     :: else -> i = 0; u = 0; break
     od;
#if CANCEL
     /* producer 1's single records may be zero-copy reservations
      * (reserve = P1..P4) that it cancels: shm_cancel() publishes (t, SKIP)
      * "cancel:published", then P7, P8; nothing is counted */
     if
     :: p == 1 && k == 1 ->
        CP;
        atomic { t = T_t; assert(ctl_t[S(t)] < t);
                 ctl_t[S(t)] = t; ctl_s[S(t)] = SKIP; g_freed[t] = true;
                 t = 0 }
        goto cleared
     :: true
     fi;
#endif
#ifndef MUTATION_COUNT_LATE
     CP;
     /* P5 "put:counted"  puts = put_base + k (release) */
     atomic {
       puts[p] = put_base[p] + k;
       do :: i < k -> g_counted[T_t + i] = true; i++ :: else -> break od;
       i = 0 }
#endif
     /* P6 "put:published"  ctl = (t, READY), one record a step */
     do
     :: i < k ->
        CP;
        atomic {
          t = T_t + i;
#if STALL_TIMEOUT
          /* a CAS: fails if a survivor took the ticket over */
          if
          :: ctl_t[S(t)] < t -> ctl_t[S(t)] = t; ctl_s[S(t)] = READY
          :: else -> failed = true;
#if FIX_STALL_UNCOUNT
             /* taken over as DEAD: the message is not put after all */
             if
             :: ctl_s[S(t)] == DEAD -> puts[p]--; g_counted[t] = false
             :: else
             fi
#endif
          fi;
#else
          assert(ctl_t[S(t)] < t);  /* nobody resolved a live owner's ticket */
          ctl_t[S(t)] = t; ctl_s[S(t)] = READY;
#endif
          i++; t = 0 }
     :: else -> i = 0; break
     od;
#ifdef MUTATION_COUNT_LATE
     CP;
     atomic {
       puts[p] = put_base[p] + k;
       do :: i < k -> g_counted[T_t + i] = true; i++ :: else -> break od;
       i = 0 }
#endif
#ifdef MUTATION_BODY_LATE
     CP;
     atomic {
       do
       :: i < k && SIZE(p) == 0 -> body_owner[S(T_t + i)] = T_t + i; i++
       :: i < k && SIZE(p) != 0 -> i++
       :: else -> break
       od;
       i = 0 }
#endif
cleared:
     CP;
     /* P7 "put:cleared"  put_to = put_from (release), and P8  seq_cst fence;
      * data_waiters > 0: data_event++, wake all (a crash between the two
      * is a crash before P8) */
     atomic {
       put_to[p] = put_from[p];
       WAKE_DATA();
       left = left - k; k = 0; T_t = 0; T_u = 0; H_t = 0; H_u = 0;
       next_u = 0; ok = false; failed = false }
  od;
  running[p] = false;
  goto done;
gone:
  atomic { GONE_NOW(p); left = 0; T_t = 0; T_u = 0; H_t = 0; H_u = 0;
           next_u = 0; u = 0; off = 0; pad = 0; st = 0; cnt = 0; t = 0;
           old = 0; failed = 0 }
done:
  skip
}

/* ---------- consumer: ring_get.c get_msgs(), forever ----------
 * polling: timeout-0 gets, EAGAIN instead of sleeping; when the next
 * ticket looks stuck they run recovery. */
proctype consumer(byte c; bool polling; byte fate) {
  byte me = NPROD + c, r, k, i, j, n, e;
  byte stv[KGET];             /* states of the claimed records */
  byte kmax = (c == 0 -> KGET0 : KGET1);
  bool ok, in_flight;
  LOCALS_OF_INLINES;
top:
  if
  :: polling ->
end_poll_idle:
     /* the application polls again (once something changed);
      * get_msgs(timeout 0): nothing_published()? then recovery: the
      * ticket's producer if in flight, else the head record */
     if
     :: atomic {
          (CLAIMABLE(read_t) || READ_STUCK || HEAD_STUCK) ->
          r = read_t; ok = CLAIMABLE(r); in_flight = (tail_t != r);
          if
          :: !ok && in_flight -> RP_LOAD(r); try_rec = 1
          :: !ok && !in_flight && head_t != r -> RH_LOAD(); try_rec = 2
          :: else
          fi }
     :: fate != 0 -> goto gone
     fi;
     if
     :: !ok ->
        if
        :: try_rec == 1 -> try_rec = 0; recover_producer_body(r); rp_rc = false
        :: try_rec == 2 -> try_rec = 0; recover_head_body(); rh_rc = false
        :: else
        fi;
        goto next                             /* EAGAIN */
     :: else
     fi
  :: else
  fi;
claim:
  CP;
  /* C1  r = read; the claimable run (r+i, READY|SKIP|DEAD). None, and r
   * in flight: wait_for_ticket(r) first tries recover_producer(r) */
  atomic {
    r = read_t; k = 0; stv[0] = 0; stv[1] = 0;
    do
    :: k < kmax && CLAIMABLE(r + k) -> stv[k] = ctl_s[S(r + k)]; k++
    :: else -> break
    od;
    in_flight = (k == 0 && tail_t != r);
    if
    :: in_flight && !polling -> RP_LOAD(r); try_rec = 1
    :: else
    fi }
  if
  :: k == 0 && polling -> goto next           /* EAGAIN */
  :: k == 0 && !polling ->
     if
     :: try_rec == 1 ->
        try_rec = 0; recover_producer_body(r);
        if :: rp_rc -> rp_rc = false; in_flight = false; goto claim :: else fi
     :: else
     fi;
     CP;
     /* shm_sleeper_enter (seq_cst); ev = data_event */
     atomic { data_waiters++; data_changed[c] = false }
     CP;
#ifdef MUTATION_NO_RECHECK
     atomic { if :: !data_changed[c] -> data_asleep[c] = true :: else fi }
#else
     /* re-check ctl(r) and read; futex_wait(data_event, ev, cap: if r was
      * in flight) */
     atomic { if :: !CLAIMABLE(r) && read_t == r && !data_changed[c] ->
                    data_asleep[c] = true
                 :: else fi }
#endif
end_data_sleep:
     /* woken, or the cap expired (r claimable or taken meanwhile, or its
      * producer gone); shm_sleeper_leave */
     if
     :: atomic { !data_asleep[c] -> data_waiters--; in_flight = false }
     :: atomic { data_asleep[c] && (in_flight || FIX_SLEEP_CAP) &&
                 ((tail_t != r && UNPUBLISHED(r) && OWNER_GONE(g_owner[r])) ||
                  ((read_t != r || CLAIMABLE(r)) && SOMEONE_GONE)) ->
                 data_asleep[c] = false; data_waiters--; in_flight = false }
     :: fate != 0 -> goto gone
     fi;
     goto claim
  :: else
  fi;
  CP;
  /* C2 "get:intent"  (r, r+k), and C3 "get:claimed"  CAS read r -> r+k, one
   * step: the get intent matters to recover_head only while its lane is
   * live, and a live intent covering unclaimed tickets only delays it */
  atomic {
    in_flight = false;
    if
    :: read_t == r ->
       get_from[c] = r; get_to[c] = r + k;
       read_t = r + k; ok = true;
       do :: i < k -> g_claimer[r + i] = me + 1; i++ :: else -> break od;
       i = 0;
       CHECK_POS()
    :: else -> ok = false
    fi }
  if
  :: !ok -> goto claim
  :: else
  fi;
  CP;
  /* C4 "get:copied"  copy the READY payloads out (copy_out): slot
   * metadata, then ring units, each unit's owner checked */
  atomic {
    do
    :: i < k && stv[i] != READY -> i++
    :: i < k && stv[i] == READY ->
       assert(s_end[S(r + i)] != s_from[S(r + i)] ||
              body_owner[S(r + i)] == r + i);   /* no torn read of a slot */
       do
       :: j < s_len[S(r + i)] ->
          assert(unit_owner[s_start[S(r + i)] + j] == r + i); /* no torn read */
          j++
       :: else -> break
       od;
       assert(g_deliv[r + i] == 0);       /* never delivered twice */
       assert(g_counted[r + i]);          /* delivered message was counted */
       g_deliv[r + i]++; g_freed[r + i] = true; n++; j = 0; i++
    :: i == k -> i = 0; break
    od }
  CP;
  /* C5 "get:released"  end of last; head at r and last not DEAD: CAS head
   * (r, u) -> (r+k, end) (fails only if others passed leading DEAD
   * records meanwhile); then advance_head if read moved past us */
  atomic {
    e = s_end[S(r + k - 1)]; ok = false;
    if
    :: head_t == r && stv[k - 1] != DEAD &&
       !(FIX_DEAD_HEAD && stv[0] == DEAD) ->     /* (FIX_DEAD_HEAD: DEAD
                                                  * records via advance_head) */
       head_t = r + k; head_u = e; ok = true; CHECK_POS();
       in_flight = (read_t != r + k)            /* (reused as a flag) */
    :: else
    fi;
    e = 0 }
  if
  :: ok ->
#if RELEASE_ADV
     if :: in_flight -> in_flight = false; advance_head() :: else fi
#else
     in_flight = false
#endif
  :: else ->
     /* store DONE into each non-DEAD record (seq_cst), then advance_head */
     do
     :: i < k && stv[i] == DEAD -> i++
     :: i < k && stv[i] != DEAD ->
        CP;
        atomic { assert(ctl_t[S(r + i)] == r + i); ctl_s[S(r + i)] = DONE; i++ }
     :: i == k -> i = 0; break
     od;
     advance_head()
  fi;
  CP;
  /* wake_writers; C6 "get:counted"  gets += n; clear get intent */
  atomic { WAKE_SPACE(); gets[c] = gets[c] + n; get_to[c] = get_from[c] }
next:
  atomic { r = 0; k = 0; i = 0; n = 0; ok = false; in_flight = false;
           stv[0] = 0; stv[1] = 0 }
  goto top;
gone:
  atomic { GONE_NOW(me); r = 0; n = 0; in_flight = 0; stv[0] = 0;
           stv[1] = 0 }
}

/* ---------- end state: nothing can move any more ---------- */
#ifndef NO_END_CHECK
active proctype end_check() {
  byte t, c, deliv, lostn, queued, putsn;
  timeout ->
  atomic {
    /* no lost wake-up: nobody sleeps while a ticket is claimable */
    c = 0;
    do
    :: c < NCONS -> assert(!(data_asleep[c] && CLAIMABLE(read_t))); c++
    :: else -> break
    od;
    /* exact accounting: puts == delivered + lost + queued */
    t = 0;
    do
    :: t < tail_t ->
       if
       :: g_counted[t] ->
          if
          :: g_lost[t] -> lostn++
          :: !g_lost[t] && g_deliv[t] > 0 -> deliv++
          :: else ->
             /* still in the ring: READY, or unpublished by a gone owner
              * (recovery would publish it) */
             assert((ctl_t[S(t)] == t && ctl_s[S(t)] == READY) ||
                    (UNPUBLISHED(t) && GONE(g_owner[t])));
             queued++
          fi
       :: else -> assert(g_deliv[t] == 0)
       fi;
       t++
    :: else -> break
    od;
    putsn = puts[0] + puts[1];
    assert(lostn == lost);
    assert(putsn == deliv + lostn + queued);
    assert(gets[0] + gets[1] <= deliv + lostn)
  }
}
#endif

init {
  byte i, crash_left = MAX_CRASH, stall_left = MAX_STALL;
  byte fate[NATT];
  atomic {
    i = 0;
    do
    :: i < N -> ctl_t[i] = i - N; ctl_s[i] = DONE; body_owner[i] = NONE; i++  /* lap before the first */
    :: else -> break
    od;
    i = 0;
    do :: i < CAP -> unit_owner[i] = NONE; i++ :: else -> break od;
    /* who may crash or stop */
    i = 0;
    do
    :: i < NATT ->
       alive[i] = true; running[i] = true;
       if
       :: fate[i] = 0
       :: crash_left > 0 && (KILL_MASK & (1 << i)) -> fate[i] = 1; crash_left--
       :: stall_left > 0 && (KILL_MASK & (1 << i)) -> fate[i] = 2; stall_left--
       fi;
       i++
    :: else -> break
    od;
    run producer(0, fate[0]); run producer(1, fate[1]);
    run consumer(0, false, fate[2]); run consumer(1, POLLER, fate[3]);
    i = 0; crash_left = 0; stall_left = 0; started = true
  }
}

/* ---------- liveness (LIVENESS config: pan -a -f -N name) ---------- */
#ifdef LIVENESS
#define PROD_DONE(p) (!running[p] || GONE(p))
/* a sleeper asleep while a ticket is claimable and the other consumer is
 * gone or asleep too */
#define STUCK_SLEEPER ((data_asleep[0] || data_asleep[1]) && \
  CLAIMABLE(read_t) && (data_asleep[0] || GONE(2)) && \
  (data_asleep[1] || GONE(3)))
ltl published_taken { [] (CLAIMABLE(read_t) -> <> !CLAIMABLE(read_t)) }
ltl no_lost_wakeup { [] (STUCK_SLEEPER -> <> !STUCK_SLEEPER) }
ltl drained { <> (started && PROD_DONE(0) && PROD_DONE(1) && read_t == tail_t) }
#endif
