# Tests of the posixmq transport (plugin/posixmq), built where it is.
if HAVE_MQUEUE
# The conformance suite against posixmq (see the script for the two runs).
TESTS += tests/posixmq/check_conformance.sh

# posixmq-specific behaviour (Criterion; not under TSan, see tests/local.mk).
if HAVE_CRITERION
if !SANITIZE_THREAD
check_PROGRAMS += tests/posixmq/test_posixmq
TESTS += tests/posixmq/test_posixmq
tests_posixmq_test_posixmq_SOURCES = tests/posixmq/test_posixmq.c tests/test_util.c tests/test_util.h
tests_posixmq_test_posixmq_CFLAGS = $(TEST_CFLAGS)
tests_posixmq_test_posixmq_LDADD = $(TEST_LIBS)
endif
endif
endif
EXTRA_DIST += tests/posixmq/check_conformance.sh
