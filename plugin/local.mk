# Transport plugins. Each is a libtool module sage-<name>.la built in
# plugin/ (so the uninstalled build has every plugin in plugin/.libs) and
# exports only the entry symbol.
PLUGIN_MODULE_FLAGS = $(AM_LDFLAGS) -module -avoid-version -no-undefined \
	-export-symbols-regex '^sage_transport_entry$$'

# Option parsing shared by the in-tree transports, linked into each one.
noinst_LTLIBRARIES += plugin/libsage_plugin_common.la
plugin_libsage_plugin_common_la_SOURCES = \
	plugin/common/options.h plugin/common/options.c \
	plugin/common/admin.h plugin/common/admin.c \
	plugin/common/handles.h plugin/common/handles.c \
	plugin/common/host.h plugin/common/host.c

# The shm transport: sage-shm.so.
plugin_LTLIBRARIES += plugin/sage-shm.la
# In layers: each file calls only the files above it.
SHM_C_SOURCES = \
	plugin/shm/wait.c \
	plugin/shm/validate.c \
	plugin/shm/liveness.c \
	plugin/shm/lanes.c \
	plugin/shm/ring.c \
	plugin/shm/recover.c \
	plugin/shm/attach.c \
	plugin/shm/segment.c \
	plugin/shm/names.c \
	plugin/shm/stats.c \
	plugin/shm/ring_put.c \
	plugin/shm/ring_get.c \
	plugin/shm/tasks.c \
	plugin/shm/transport.c
SHM_SOURCES = plugin/shm/layout.h plugin/shm/shm.h plugin/shm/steps.h \
	$(SHM_C_SOURCES)
plugin_sage_shm_la_SOURCES = $(SHM_SOURCES)
plugin_sage_shm_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugin/common
plugin_sage_shm_la_LDFLAGS = $(PLUGIN_MODULE_FLAGS)
plugin_sage_shm_la_LIBADD = plugin/libsage_plugin_common.la
include plugin/posixmq/local.mk
