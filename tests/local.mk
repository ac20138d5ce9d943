# Tests: Criterion suites, fixture plugins, and shell checks.
# Fixture plugins land in tests/fixtures/.libs; tests find them (and the real
# plugins in plugin/.libs) through the environment below.
AM_TESTS_ENVIRONMENT = \
	SAGE_TEST_FIXTURES='$(abs_top_builddir)/tests/fixtures/.libs'; \
	SAGE_TEST_STEPS='$(abs_top_builddir)/tests/steps/.libs'; \
	SAGE_TEST_PLUGINS='$(abs_top_builddir)/plugin/.libs'; \
	SAGE_TEST_BUILDDIR='$(abs_top_builddir)'; \
	SAGE_TEST_SRCDIR='$(abs_top_srcdir)'; \
	SAGE_PLUGIN_PATH='$(abs_top_builddir)/plugin/.libs'; \
	SAGE_QUEUE_LIB='$(abs_top_builddir)/src/.libs/libsagequeue.so'; \
	NM='$(NM_PROG)'; CLANG_FORMAT='$(CLANG_FORMAT)'; PYTHON='$(PYTHON)'; \
	SAGE_SANITIZERS='$(SANITIZER_NAMES)'; \
	export SAGE_TEST_FIXTURES SAGE_TEST_STEPS SAGE_TEST_PLUGINS SAGE_TEST_BUILDDIR \
	  SAGE_TEST_SRCDIR SAGE_PLUGIN_PATH SAGE_QUEUE_LIB NM CLANG_FORMAT PYTHON \
	  SAGE_SANITIZERS;

FIXTURE_MODULE_FLAGS = $(AM_LDFLAGS) -module -avoid-version -no-undefined \
	-rpath /nowhere -export-symbols-regex '^sage_transport_entry'
FIXTURE_SRC = tests/fixtures/fixture_plugin.c tests/fixtures/mem_transport.c
FIXTURE_NAMES = mem smallops badmajor newminor misnamed noentry nullop nulldesc \
	capbatch capzerocopy caplist

check_LTLIBRARIES += \
	tests/fixtures/sage-mem.la tests/fixtures/sage-smallops.la \
	tests/fixtures/sage-badmajor.la tests/fixtures/sage-newminor.la \
	tests/fixtures/sage-misnamed.la tests/fixtures/sage-noentry.la \
	tests/fixtures/sage-nullop.la tests/fixtures/sage-nulldesc.la \
	tests/fixtures/sage-capbatch.la tests/fixtures/sage-capzerocopy.la \
	tests/fixtures/sage-caplist.la

# mem_transport.c is #included, not compiled on its own.
tests_fixtures_sage_mem_la_SOURCES = tests/fixtures/fixture_plugin.c
tests_fixtures_sage_mem_la_CPPFLAGS = $(AM_CPPFLAGS) -DFIXTURE_NAME='"mem"'
tests_fixtures_sage_mem_la_LDFLAGS = $(FIXTURE_MODULE_FLAGS)
tests_fixtures_sage_smallops_la_SOURCES = tests/fixtures/fixture_plugin.c
tests_fixtures_sage_smallops_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFIXTURE_NAME='"smallops"' -DFIXTURE_SMALL_OPS
tests_fixtures_sage_smallops_la_LDFLAGS = $(FIXTURE_MODULE_FLAGS)
tests_fixtures_sage_badmajor_la_SOURCES = tests/fixtures/fixture_plugin.c
tests_fixtures_sage_badmajor_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFIXTURE_NAME='"badmajor"' -DFIXTURE_BAD_MAJOR
tests_fixtures_sage_badmajor_la_LDFLAGS = $(FIXTURE_MODULE_FLAGS)
tests_fixtures_sage_newminor_la_SOURCES = tests/fixtures/fixture_plugin.c
tests_fixtures_sage_newminor_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFIXTURE_NAME='"newminor"' -DFIXTURE_NEW_MINOR
tests_fixtures_sage_newminor_la_LDFLAGS = $(FIXTURE_MODULE_FLAGS)
tests_fixtures_sage_misnamed_la_SOURCES = tests/fixtures/fixture_plugin.c
tests_fixtures_sage_misnamed_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFIXTURE_NAME='"misnamed"' -DFIXTURE_MISNAMED
tests_fixtures_sage_misnamed_la_LDFLAGS = $(FIXTURE_MODULE_FLAGS)
tests_fixtures_sage_noentry_la_SOURCES = tests/fixtures/fixture_plugin.c
tests_fixtures_sage_noentry_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFIXTURE_NAME='"noentry"' -DFIXTURE_NO_ENTRY
tests_fixtures_sage_noentry_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version \
	-no-undefined -rpath /nowhere
tests_fixtures_sage_nullop_la_SOURCES = tests/fixtures/fixture_plugin.c
tests_fixtures_sage_nullop_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFIXTURE_NAME='"nullop"' -DFIXTURE_NULL_OP
tests_fixtures_sage_nullop_la_LDFLAGS = $(FIXTURE_MODULE_FLAGS)
tests_fixtures_sage_nulldesc_la_SOURCES = tests/fixtures/fixture_plugin.c
tests_fixtures_sage_nulldesc_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFIXTURE_NAME='"nulldesc"' -DFIXTURE_NULL_DESC
tests_fixtures_sage_nulldesc_la_LDFLAGS = $(FIXTURE_MODULE_FLAGS)
# Capabilities claimed without their ops (put_batch alone; no zero-copy ops;
# no list op): refused at load.
tests_fixtures_sage_capbatch_la_SOURCES = tests/fixtures/fixture_plugin.c
tests_fixtures_sage_capbatch_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFIXTURE_NAME='"capbatch"' -DFIXTURE_CLAIMS=SAGE_CAP_BATCH
tests_fixtures_sage_capbatch_la_LDFLAGS = $(FIXTURE_MODULE_FLAGS)
tests_fixtures_sage_capzerocopy_la_SOURCES = tests/fixtures/fixture_plugin.c
tests_fixtures_sage_capzerocopy_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFIXTURE_NAME='"capzerocopy"' -DFIXTURE_CLAIMS=SAGE_CAP_ZERO_COPY
tests_fixtures_sage_capzerocopy_la_LDFLAGS = $(FIXTURE_MODULE_FLAGS)
tests_fixtures_sage_caplist_la_SOURCES = tests/fixtures/fixture_plugin.c
tests_fixtures_sage_caplist_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFIXTURE_NAME='"caplist"' -DFIXTURE_CLAIMS=SAGE_CAP_LIST
tests_fixtures_sage_caplist_la_LDFLAGS = $(FIXTURE_MODULE_FLAGS)
EXTRA_DIST += tests/fixtures/mem_transport.c

# The shm transport with its step points compiled in (plugin/shm/steps.h),
# for tests that stop or kill a party at an exact point. It lands in
# tests/steps/.libs, under the same name: tests put that directory first on
# SAGE_PLUGIN_PATH.
check_LTLIBRARIES += tests/steps/sage-shm.la
tests_steps_sage_shm_la_SOURCES = $(SHM_SOURCES) plugin/shm/steps.c
tests_steps_sage_shm_la_CPPFLAGS = $(plugin_sage_shm_la_CPPFLAGS) -DSHM_STEPS
tests_steps_sage_shm_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version \
	-no-undefined -rpath /nowhere \
	-export-symbols-regex '^(sage_transport_entry|sage_shm_set_step_hook)$$'
tests_steps_sage_shm_la_LIBADD = plugin/libsage_plugin_common.la

# Criterion suites. Criterion cannot start under ThreadSanitizer (its
# inheritable arena collides with TSan's address-space layout:
# Snaipe/Criterion#274), so TSan builds run the standalone concurrency
# programs below instead.
if HAVE_CRITERION
if !SANITIZE_THREAD
TEST_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
TEST_LIBS = src/libsagequeue.la $(CRITERION_LIBS)

check_PROGRAMS += tests/test_registry tests/test_flat_api tests/test_options \
	tests/test_conformance
TESTS += tests/test_registry tests/test_flat_api tests/test_options \
	tests/test_conformance

check_PROGRAMS += tests/test_shm_recovery tests/test_shm_segment \
	tests/test_shm_lanes tests/test_shm_stall
TESTS += tests/test_shm_recovery tests/test_shm_segment tests/test_shm_lanes \
	tests/test_shm_stall
tests_test_shm_stall_SOURCES = tests/test_shm_stall.c
tests_test_shm_stall_CFLAGS = $(TEST_CFLAGS)
tests_test_shm_stall_LDADD = $(TEST_LIBS) -ldl
tests_test_shm_lanes_SOURCES = tests/test_shm_lanes.c
tests_test_shm_lanes_CFLAGS = $(TEST_CFLAGS) $(PTHREAD_CFLAGS)
tests_test_shm_lanes_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_test_shm_segment_SOURCES = tests/test_shm_segment.c
tests_test_shm_segment_CFLAGS = $(TEST_CFLAGS)
tests_test_shm_segment_LDADD = $(TEST_LIBS)
tests_test_shm_recovery_SOURCES = tests/test_shm_recovery.c
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
endif
endif

# Standalone programs (no Criterion): run in every build, TSan included.
check_PROGRAMS += tests/run_conformance
TESTS += tests/run_conformance
tests_run_conformance_SOURCES = tests/run_conformance.c
tests_run_conformance_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src
tests_run_conformance_LDADD = src/libsage_conformance.la src/libsagequeue.la

# Shell checks.
TESTS += tests/check_exports.sh tests/check_format.sh tests/check_cli_plugins.sh \
	tests/check_shm_layers.sh
EXTRA_DIST += tests/check_exports.sh tests/check_format.sh \
	tests/check_cli_plugins.sh tests/exports.txt tests/check_install.sh \
	tests/check_shm_layers.sh

# shm stress and crash tests (standalone: they run under TSan too).
check_PROGRAMS += tests/stress/stress_mpmc
tests_stress_stress_mpmc_SOURCES = tests/stress/stress_mpmc.c tests/stress/msg.h
tests_stress_stress_mpmc_LDADD = src/libsagequeue.la
check_PROGRAMS += tests/stress/kill_test
tests_stress_kill_test_SOURCES = tests/stress/kill_test.c tests/stress/msg.h
tests_stress_kill_test_LDADD = src/libsagequeue.la
TESTS += tests/stress/run_stress.sh tests/stress/run_kill.sh
EXTRA_DIST += tests/stress/run_stress.sh tests/stress/run_kill.sh

include tests/abi/local.mk
include tests/hardening/local.mk
include tests/template/local.mk

# Crash-point matrix: a victim killed at every step point of the shm ring x
# every kind of survivor (standalone: runs under TSan too). It loads the
# step-point build of shm (tests/steps) through $SAGE_TEST_STEPS.
check_PROGRAMS += tests/crash_matrix
TESTS += tests/crash_matrix
tests_crash_matrix_SOURCES = tests/crash_matrix.c tests/crash_matrix_msg.h \
	tests/crash_matrix_party.c tests/crash_matrix_party.h
tests_crash_matrix_LDADD = src/libsagequeue.la -ldl

# Deterministic tests of the recovery defects (issue 12): each drives one
# interleaving through the step points of the step-point build of shm
# (tests/steps, found through $SAGE_TEST_STEPS).
if HAVE_CRITERION
if !SANITIZE_THREAD
check_PROGRAMS += tests/test_shm_defects
TESTS += tests/test_shm_defects
tests_test_shm_defects_SOURCES = tests/test_shm_defects.c
tests_test_shm_defects_CFLAGS = $(TEST_CFLAGS) $(PTHREAD_CFLAGS)
tests_test_shm_defects_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
# The same for the defects of the adversarial review (R1-R5, R7).
check_PROGRAMS += tests/test_shm_review
TESTS += tests/test_shm_review
tests_test_shm_review_SOURCES = tests/test_shm_review.c
tests_test_shm_review_CFLAGS = $(TEST_CFLAGS) $(PTHREAD_CFLAGS)
tests_test_shm_review_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
endif
endif

# --- conformance mutants (issue 13) ---------------------------------------
# sage-sloppy: forwards to the plugin in $SAGE_SLOPPY_BASE (shm) with one
# rule of sage/transport.h broken as $SAGE_SLOPPY says; test_conformance
# checks that each conformance check fails against its mutation.
check_LTLIBRARIES += tests/fixtures/sage-sloppy.la
tests_fixtures_sage_sloppy_la_SOURCES = tests/fixtures/sloppy_transport.c
tests_fixtures_sage_sloppy_la_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS)
tests_fixtures_sage_sloppy_la_LDFLAGS = $(FIXTURE_MODULE_FLAGS)
tests_fixtures_sage_sloppy_la_LIBADD = $(PTHREAD_LIBS)
# --- end conformance mutants ------------------------------------------------
