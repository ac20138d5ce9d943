# Hardening tests (docs/RELIABILITY.md): resource exhaustion and hostile
# users, in `make check`; `make valgrind` runs the C suites under Valgrind.
if HAVE_CRITERION
if !SANITIZE_THREAD
check_PROGRAMS += tests/hardening/test_exhaustion
TESTS += tests/hardening/test_exhaustion
tests_hardening_test_exhaustion_SOURCES = tests/hardening/test_exhaustion.c tests/test_util.c tests/test_util.h
tests_hardening_test_exhaustion_CFLAGS = $(TEST_CFLAGS)
tests_hardening_test_exhaustion_LDADD = $(TEST_LIBS)
endif
endif

check_PROGRAMS += tests/hardening/hostile_helper
tests_hardening_hostile_helper_SOURCES = tests/hardening/hostile_helper.c
tests_hardening_hostile_helper_LDADD = src/libsagequeue.la
TESTS += tests/hardening/hostile_users.sh
EXTRA_DIST += tests/hardening/hostile_users.sh tests/hardening/valgrind.sh \
	tests/hardening/valgrind.supp tests/hardening/hostile_python.py

# Valgrind over the C test programs, once (not part of `make check`: it is
# slow). See tests/hardening/valgrind.sh for the list and the options.
.PHONY: valgrind
valgrind: $(check_PROGRAMS) $(check_LTLIBRARIES) $(plugin_LTLIBRARIES)
	$(AM_TESTS_ENVIRONMENT) LIBTOOL='$(LIBTOOL)' \
	  $(SHELL) $(top_srcdir)/tests/hardening/valgrind.sh

# A writer corrupting records under a reader (standalone: no Criterion).
check_PROGRAMS += tests/hardening/test_corrupt_writer
TESTS += tests/hardening/test_corrupt_writer
tests_hardening_test_corrupt_writer_SOURCES = \
	tests/hardening/test_corrupt_writer.c
tests_hardening_test_corrupt_writer_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/plugin/shm
tests_hardening_test_corrupt_writer_LDADD = src/libsagequeue.la
