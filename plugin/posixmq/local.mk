# The posixmq transport: sage-posixmq.so, on POSIX message queues. Built
# where mq_open exists (configure's HAVE_MQUEUE). Its tests are in
# tests/posixmq/.
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
plugin_sage_posixmq_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugin_sage_posixmq_la_LDFLAGS = $(PLUGIN_MODULE_FLAGS)
plugin_sage_posixmq_la_LIBADD = plugin/libsage_plugin_common.la
endif
