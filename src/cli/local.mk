# The sage-queue command (and its tests and man page).
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
	src/cli/cmd_rm.c \
	src/cli/cmd_gc.c
src_cli_sage_queue_LDADD = src/libsagequeue.la
