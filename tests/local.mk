# Tests: the Criterion suites and shell checks of tests/ itself, the
# step-point build of shm, and the environment every test runs in; each
# subdirectory of tests/ keeps its own rules in its local.mk (included at
# the end).
#
# The environment is the one configure writes into sage-env.sh (the same
# file scripts read through tools/sage_env.py), plus what make knows.
AM_TESTS_ENVIRONMENT = \
	set -a; . '$(abs_top_builddir)/sage-env.sh'; set +a; \
	NM='$(NM_PROG)'; CLANG_FORMAT='$(CLANG_FORMAT)'; PYTHON='$(PYTHON)'; \
	SAGE_SANITIZERS='$(SANITIZER_NAMES)'; \
	export NM CLANG_FORMAT PYTHON SAGE_SANITIZERS;

# Criterion suites. Criterion cannot start under ThreadSanitizer (its
# inheritable arena collides with TSan's address-space layout:
# Snaipe/Criterion#274), so TSan builds run the standalone programs
# instead; every Criterion suite sits under HAVE_CRITERION && !SANITIZE_THREAD.
TEST_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
TEST_LIBS = src/libsagequeue.la $(CRITERION_LIBS)

# The shm transport with its step points compiled in (plugin/shm/steps.h),
# for tests that stop or kill a party at an exact point. It lands in
# tests/steps/.libs, under the same name: tests put that directory
# ($SAGE_TEST_STEPS) first on SAGE_PLUGIN_PATH.
check_LTLIBRARIES += tests/steps/sage-shm.la
tests_steps_sage_shm_la_SOURCES = $(SHM_SOURCES) plugin/shm/steps.c
tests_steps_sage_shm_la_CPPFLAGS = $(plugin_sage_shm_la_CPPFLAGS) -DSHM_STEPS
tests_steps_sage_shm_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version \
	-no-undefined -rpath /nowhere \
	-export-symbols-regex '^(sage_transport_entry|sage_shm_set_step_hook)$$'
tests_steps_sage_shm_la_LIBADD = plugin/libsage_plugin_common.la

if HAVE_CRITERION
if !SANITIZE_THREAD
check_PROGRAMS += tests/test_registry tests/test_flat_api tests/test_options \
	tests/test_conformance tests/test_uri
TESTS += tests/test_registry tests/test_flat_api tests/test_options \
	tests/test_conformance tests/test_uri
# Queue URIs: the parser (compiled in, as the CLI does) and open_uri; the
# cases it shares with the Python parser are in tests/uri_cases.txt.
tests_test_uri_SOURCES = tests/test_uri.c src/uri.h src/uri.c
tests_test_uri_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src
tests_test_uri_CFLAGS = $(TEST_CFLAGS)
tests_test_uri_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/uri_cases.txt

check_PROGRAMS += tests/test_shm_recovery tests/test_shm_segment \
	tests/test_shm_lanes tests/test_shm_stall
TESTS += tests/test_shm_recovery tests/test_shm_segment tests/test_shm_lanes \
	tests/test_shm_stall
# Small payloads in their slots (reads the segment layout).
check_PROGRAMS += tests/test_shm_small
TESTS += tests/test_shm_small
tests_test_shm_small_SOURCES = tests/test_shm_small.c tests/test_util.c tests/test_util.h
tests_test_shm_small_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugin/shm
tests_test_shm_small_CFLAGS = $(TEST_CFLAGS)
tests_test_shm_small_LDADD = $(TEST_LIBS)
# Adaptive spinning: the rule (compiled in from wait.c) and a queue's.
check_PROGRAMS += tests/test_shm_spin
TESTS += tests/test_shm_spin
tests_test_shm_spin_SOURCES = tests/test_shm_spin.c plugin/shm/wait.c \
	tests/test_util.c tests/test_util.h
tests_test_shm_spin_CPPFLAGS = $(PLUGIN_CPPFLAGS) -I$(top_srcdir)/plugin/shm
tests_test_shm_spin_CFLAGS = $(TEST_CFLAGS) $(PTHREAD_CFLAGS)
tests_test_shm_spin_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_test_shm_stall_SOURCES = tests/test_shm_stall.c tests/test_util.c tests/test_util.h
tests_test_shm_stall_CFLAGS = $(TEST_CFLAGS)
tests_test_shm_stall_LDADD = $(TEST_LIBS) -ldl
tests_test_shm_lanes_SOURCES = tests/test_shm_lanes.c tests/test_util.c tests/test_util.h
tests_test_shm_lanes_CFLAGS = $(TEST_CFLAGS) $(PTHREAD_CFLAGS)
tests_test_shm_lanes_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_test_shm_segment_SOURCES = tests/test_shm_segment.c
tests_test_shm_segment_CFLAGS = $(TEST_CFLAGS)
tests_test_shm_segment_LDADD = $(TEST_LIBS)
tests_test_shm_recovery_SOURCES = tests/test_shm_recovery.c tests/test_util.c \
	tests/test_util.h
tests_test_shm_recovery_CFLAGS = $(TEST_CFLAGS)
tests_test_shm_recovery_LDADD = $(TEST_LIBS)

tests_test_conformance_SOURCES = tests/test_conformance.c
tests_test_conformance_CFLAGS = $(TEST_CFLAGS)
tests_test_conformance_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src
tests_test_conformance_LDADD = src/libsage_conformance.la $(TEST_LIBS)

tests_test_registry_SOURCES = tests/test_registry.c tests/test_util.c \
	tests/test_util.h
tests_test_registry_CFLAGS = $(TEST_CFLAGS)
tests_test_registry_LDADD = $(TEST_LIBS)

tests_test_flat_api_SOURCES = tests/test_flat_api.c tests/test_util.c \
	tests/test_util.h
tests_test_flat_api_CFLAGS = $(TEST_CFLAGS)
tests_test_flat_api_LDADD = $(TEST_LIBS)

tests_test_options_SOURCES = tests/test_options.c
tests_test_options_CFLAGS = $(TEST_CFLAGS)
tests_test_options_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugin/common
tests_test_options_LDADD = plugin/libsage_plugin_common.la $(CRITERION_LIBS)

# Deterministic tests of the recovery defects (issue 12): each drives one
# interleaving through the step points of the step-point build of shm
# (tests/steps, found through $SAGE_TEST_STEPS).
check_PROGRAMS += tests/test_shm_defects
TESTS += tests/test_shm_defects
tests_test_shm_defects_SOURCES = tests/test_shm_defects.c tests/test_util.c tests/test_util.h
tests_test_shm_defects_CFLAGS = $(TEST_CFLAGS) $(PTHREAD_CFLAGS)
tests_test_shm_defects_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# The same for the defects of the adversarial review (R1-R5, R7).
check_PROGRAMS += tests/test_shm_review
TESTS += tests/test_shm_review
tests_test_shm_review_SOURCES = tests/test_shm_review.c tests/test_util.c tests/test_util.h
tests_test_shm_review_CFLAGS = $(TEST_CFLAGS) $(PTHREAD_CFLAGS)
tests_test_shm_review_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
endif
endif

# Standalone programs (no Criterion): run in every build, TSan included.
check_PROGRAMS += tests/run_conformance
TESTS += tests/run_conformance
tests_run_conformance_SOURCES = tests/run_conformance.c
tests_run_conformance_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src
tests_run_conformance_LDADD = src/libsage_conformance.la src/libsagequeue.la

# Crash-point matrix: a victim killed at every step point of the shm ring x
# every kind of survivor. It loads the step-point build of shm (tests/steps)
# through $SAGE_TEST_STEPS.
check_PROGRAMS += tests/crash_matrix
TESTS += tests/crash_matrix
tests_crash_matrix_SOURCES = tests/crash_matrix.c tests/crash_matrix_msg.h \
	tests/crash_matrix_party.c tests/crash_matrix_party.h
tests_crash_matrix_LDADD = src/libsagequeue.la -ldl

# Shell checks.
TESTS += tests/check_exports.sh tests/check_format.sh tests/check_cli_plugins.sh \
	tests/check_shm_layers.sh
EXTRA_DIST += tests/check_exports.sh tests/check_format.sh \
	tests/check_cli_plugins.sh tests/exports.txt tests/check_install.sh \
	tests/check_shm_layers.sh
# The wheel check (.ci/run): pip wheel, a fresh venv, the Python suite.
EXTRA_DIST += tests/wheel/check_wheel.sh

# Directories distributed whole (tests/python, tests/ray) take no caches or
# test logs of an in-tree build along.
dist-hook:
	find '$(distdir)/tests/python' '$(distdir)/tests/ray' \
	  \( -name __pycache__ -o -name .pytest_cache -o -name '*.log' \
	  -o -name '*.trs' \) -prune -exec rm -rf {} +

include tests/fixtures/local.mk
include tests/stress/local.mk
include tests/cli/local.mk
include tests/posixmq/local.mk
include tests/abi/local.mk
include tests/hardening/local.mk
include tests/template/local.mk
include tests/python/local.mk
include tests/ray/local.mk
