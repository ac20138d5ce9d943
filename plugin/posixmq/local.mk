# The posixmq transport: sage-posixmq.so, on POSIX message queues. Built
# where mq_open exists (configure's HAVE_MQUEUE).
if HAVE_MQUEUE
plugin_LTLIBRARIES += plugin/sage-posixmq.la
plugin_sage_posixmq_la_SOURCES = \
	plugin/posixmq/posixmq.h \
	plugin/posixmq/io.c \
	plugin/posixmq/limits.c \
	plugin/posixmq/names.c \
	plugin/posixmq/page.c \
	plugin/posixmq/stats.c \
	plugin/posixmq/tasks.c \
	plugin/posixmq/transport.c
plugin_sage_posixmq_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugin/common
plugin_sage_posixmq_la_LDFLAGS = $(PLUGIN_MODULE_FLAGS)
plugin_sage_posixmq_la_LIBADD = plugin/libsage_plugin_common.la

# The conformance suite against posixmq (see the script for the two runs).
TESTS += plugin/posixmq/check_conformance.sh

# posixmq-specific behaviour (Criterion; not under TSan, see tests/local.mk).
if HAVE_CRITERION
if !SANITIZE_THREAD
check_PROGRAMS += plugin/posixmq/test_posixmq
TESTS += plugin/posixmq/test_posixmq
plugin_posixmq_test_posixmq_SOURCES = plugin/posixmq/test_posixmq.c
plugin_posixmq_test_posixmq_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
plugin_posixmq_test_posixmq_LDADD = src/libsagequeue.la $(CRITERION_LIBS)
endif
endif
endif
EXTRA_DIST += plugin/posixmq/check_conformance.sh
