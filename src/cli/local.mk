# The sage-queue command and its man page (its tests: tests/cli/local.mk).
bin_PROGRAMS += src/cli/sage-queue
src_cli_sage_queue_SOURCES = \
	src/cli/cli.h \
	src/cli/main.c \
	src/cli/args.c \
	src/cli/output.c \
	src/cli/observe.c \
	src/cli/cmd_plugins.c \
	src/cli/cmd_ls.c \
	src/cli/cmd_stat.c \
	src/cli/cmd_top.c \
	src/cli/cmd_peek.c \
	src/cli/cmd_rm.c \
	src/cli/cmd_gc.c \
	src/cli/cmd_metrics.c \
	src/cli/cmd_bench.c \
	src/cli/cmd_check_plugin.c \
	src/cli/target.c \
	src/uri.h \
	src/uri.c
# `sage-queue bench` runs the benchmark program installed in
# $(pkglibexecdir) ($SAGE_BENCH overrides it); check-plugin runs the
# conformance suite.
src_cli_sage_queue_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src \
	-DSAGE_BENCH_PATH='"$(pkglibexecdir)/sage-queue-bench"'
src_cli_sage_queue_LDADD = src/libsage_conformance.la src/libsagequeue.la

# Shell completion, read by bash-completion and zsh's compinit from
# these directories (tests/cli/completion.sh).
bashcompletiondir = $(datadir)/bash-completion/completions
dist_bashcompletion_DATA = src/cli/completion/sage-queue
zshcompletiondir = $(datadir)/zsh/site-functions
dist_zshcompletion_DATA = src/cli/completion/_sage-queue

man1_MANS = src/cli/sage-queue.1
EXTRA_DIST += src/cli/sage-queue.1
