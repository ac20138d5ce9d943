# SPIN model of the shm ring protocol (model/ring.pml, protocol v2).
#
#   make check-model          every configuration below; fails on any error
#   make check-model-doc      the protocol doc as written: must FAIL (flaws)
#   make check-model-mutants  broken variants of the model: must each FAIL
#
# Needs spin (apt-get install spin) and a C compiler. About 8 minutes and
# under 3 GiB (pan -DCOLLAPSE: exhaustive, compressed state storage).
EXTRA_DIST += model/ring.pml model/check.sh

MODEL_PML = $(abs_top_srcdir)/model/ring.pml
MODEL_CHECK = $(SHELL) $(abs_top_srcdir)/model/check.sh
MODEL_CC = $(CC)
# work folders, kept when a check fails (pan output, trails)
MODEL_WORK = $(abs_top_builddir)/model-check.tmp

# Flaws the model found in the protocol doc, with the fix each assumes
# (ring.pml FIX_* macros; check-model-doc shows the counterexamples):
#   FIX_SLEEP_CAP      a data sleeper always sleeps with a cap: a waker
#                      that dies between its ctl change and its wake (a
#                      producer between P6 and P8, a recovery winner between
#                      R5 and its wake) leaves a sleeper that slept with
#                      nothing in flight asleep forever next to a claimable
#                      ticket ("wakeup" checks the doc's wake-up protocol
#                      without this fix, with no waker dying)
#   FIX_DEAD_HEAD      head (advance_head, C5) never passes a DEAD record a
#                      live lane's put intent still covers: a producer
#                      taken over after stall_timeout still writes its
#                      payload and slot metadata (P4) when it resumes
#   FIX_STALL_UNCOUNT  a producer whose publish CAS finds its ticket DEAD
#                      takes its count back: after stall_timeout a live
#                      owner may count (P5) after R4 read its counters
MODEL_FIXES = -DFIX_SLEEP_CAP=1 -DFIX_DEAD_HEAD=1 -DFIX_STALL_UNCOUNT=1

MODEL_SAFE = -DSAFETY -DCOLLAPSE
MODEL_LIVE = -DCOLLAPSE -DNFAIR=3
MODEL_LTL = -a -f -m200000 -N published_taken,-a -f -m200000 -N no_lost_wakeup
MODEL_LTL_ALL = $(MODEL_LTL),-a -f -m200000 -N drained

# name:spin defines:pan cflags:pan runs (see check.sh). Common to all:
# 2 producers (1 and 2 units a record; with SMALL_RECORDS 0 and 1: producer
# 0's payloads live in their slots), 2 consumers (0 blocking, up to 2
# records a get; 1 a timeout-0 poller), 2 slots, 3 ring units.
MODEL_CONFIGS = \
  "safety:-DMAX_CRASH=2 -DCANCEL=1 $(MODEL_FIXES):$(MODEL_SAFE):-m200000" \
  "crash_stall:-DMAX_CRASH=1 -DMAX_STALL=1 $(MODEL_FIXES):$(MODEL_SAFE):-m200000" \
  "batch:-DMSGS0=2 -DMAX_CRASH=1 -DTORN_INTENT=1 $(MODEL_FIXES):$(MODEL_SAFE):-m200000" \
  "small:-DSMALL_RECORDS -DMAX_CRASH=2 -DCANCEL=1 $(MODEL_FIXES):$(MODEL_SAFE):-m200000" \
  "small_batch:-DSMALL_RECORDS -DMSGS0=2 -DMAX_CRASH=1 -DTORN_INTENT=1 $(MODEL_FIXES):$(MODEL_SAFE):-m200000" \
  "stall_timeout:-DSTALL_TIMEOUT=1 -DMAX_CRASH=0 -DMSGS1=2 $(MODEL_FIXES):$(MODEL_SAFE):-m200000" \
  "wakeup:-DPOLLER=0 -DMSGS0=2 -DMAX_CRASH=0 -DMAX_STALL=1 -DKILL_MASK=8 -DFIX_DEAD_HEAD=1 -DFIX_STALL_UNCOUNT=1:$(MODEL_SAFE):-m200000" \
  "live_poll:-DLIVENESS -DMAX_CRASH=1 $(MODEL_FIXES):$(MODEL_LIVE):$(MODEL_LTL_ALL)" \
  "live_small:-DLIVENESS -DSMALL_RECORDS -DMAX_CRASH=1 $(MODEL_FIXES):$(MODEL_LIVE):$(MODEL_LTL_ALL)" \
  "live_sleep:-DLIVENESS -DPOLLER=0 -DMAX_CRASH=1 $(MODEL_FIXES):$(MODEL_LIVE):$(MODEL_LTL)"

# The doc as written (no FIX_*): each must find its counterexample.
MODEL_DOC_CONFIGS = \
  "doc_sleep_cap:-DMAX_CRASH=2:$(MODEL_SAFE):-m200000" \
  "doc_stall_count:-DSTALL_TIMEOUT=1 -DMAX_CRASH=0 -DMSGS1=2 -DFIX_SLEEP_CAP=1:$(MODEL_SAFE):-m200000" \
  "doc_stall_head:-DSTALL_TIMEOUT=1 -DMAX_CRASH=0 -DMSGS1=2 -DFIX_SLEEP_CAP=1 -DFIX_STALL_UNCOUNT=1 -DNO_END_CHECK:$(MODEL_SAFE):-m200000"

# Mutants: each must be caught (the property is printed).
MODEL_MUTANTS = \
  "m_loser_writes:-DMUTATION_LOSER_WRITES -DMAX_CRASH=2 $(MODEL_FIXES):$(MODEL_SAFE):-m200000" \
  "m_wake_one:-DMUTATION_WAKE_ONE -DPOLLER=0 -DMSGS0=2 -DMAX_CRASH=0 -DMAX_STALL=1 -DKILL_MASK=8 -DFIX_DEAD_HEAD=1 -DFIX_STALL_UNCOUNT=1:$(MODEL_SAFE):-m200000" \
  "m_count_late:-DMUTATION_COUNT_LATE -DMAX_CRASH=1 $(MODEL_FIXES):$(MODEL_SAFE):-m200000" \
  "m_alive_last:-DMUTATION_ALIVE_LAST -DMSGS0=2 -DMAX_CRASH=1 $(MODEL_FIXES):$(MODEL_SAFE):-m200000" \
  "m_dead_unclaimed:-DMUTATION_DEAD_UNCLAIMED -DMSGS0=2 -DMAX_CRASH=1 -DKILL_MASK=2 $(MODEL_FIXES):$(MODEL_SAFE):-m200000" \
  "m_no_recheck:-DMUTATION_NO_RECHECK -DPOLLER=0 -DMAX_CRASH=0 $(MODEL_FIXES):$(MODEL_SAFE):-m200000" \
  "m_body_late:-DMUTATION_BODY_LATE -DSMALL_RECORDS -DMAX_CRASH=0 $(MODEL_FIXES):$(MODEL_SAFE):-m200000"

.PHONY: check-model check-model-doc check-model-mutants
check-model:
	@$(MODEL_CHECK) $(MODEL_PML) $(MODEL_WORK)/check '$(MODEL_CC)' $(MODEL_CONFIGS)

check-model-doc:
	@EXPECT=fail $(MODEL_CHECK) $(MODEL_PML) $(MODEL_WORK)/doc '$(MODEL_CC)' $(MODEL_DOC_CONFIGS)

check-model-mutants:
	@EXPECT=fail $(MODEL_CHECK) $(MODEL_PML) $(MODEL_WORK)/mutants '$(MODEL_CC)' $(MODEL_MUTANTS)
