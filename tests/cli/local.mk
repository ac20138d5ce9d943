# Tests of the sage-queue command (src/cli): shell scripts driving the built
# command on queues made by tests/cli/queue_tool.
check_PROGRAMS += tests/cli/queue_tool
tests_cli_queue_tool_SOURCES = tests/cli/queue_tool.c
tests_cli_queue_tool_LDADD = src/libsagequeue.la

CLI_TESTS = \
	tests/cli/ls.sh \
	tests/cli/stat.sh \
	tests/cli/rm.sh \
	tests/cli/gc.sh \
	tests/cli/metrics.sh \
	tests/cli/bench.sh \
	tests/cli/check_plugin.sh \
	tests/cli/posixmq.sh \
	tests/cli/usage.sh \
	tests/cli/top.sh \
	tests/cli/peek.sh \
	tests/cli/completion.sh
TESTS += $(CLI_TESTS)
EXTRA_DIST += $(CLI_TESTS) tests/cli/lib.sh tests/cli/pty_run.py
