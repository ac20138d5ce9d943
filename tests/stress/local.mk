# shm stress and crash tests (standalone: they run under TSan too).
check_PROGRAMS += tests/stress/stress_mpmc
tests_stress_stress_mpmc_SOURCES = tests/stress/stress_mpmc.c tests/stress/msg.h
tests_stress_stress_mpmc_LDADD = src/libsagequeue.la
check_PROGRAMS += tests/stress/kill_test
tests_stress_kill_test_SOURCES = tests/stress/kill_test.c tests/stress/msg.h
tests_stress_kill_test_LDADD = src/libsagequeue.la
TESTS += tests/stress/run_stress.sh tests/stress/run_kill.sh
EXTRA_DIST += tests/stress/run_stress.sh tests/stress/run_kill.sh
