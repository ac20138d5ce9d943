# Transport plugins. Each is a libtool module sage-<name>.la built in
# plugin/ (so the uninstalled build has every plugin in plugin/.libs) and
# exports only the entry symbol. Each transport's rules live in its own
# directory's local.mk; this file holds what they share.
PLUGIN_MODULE_FLAGS = $(AM_LDFLAGS) -module -avoid-version -no-undefined \
	-export-symbols-regex '^sage_transport_entry$$'
PLUGIN_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugin/common

# Option parsing, admin, handles and host helpers shared by the in-tree
# transports, linked into each one (and compiled into the fuzz harnesses).
PLUGIN_COMMON_SOURCES = \
	plugin/common/options.h plugin/common/options.c \
	plugin/common/admin.h plugin/common/admin.c \
	plugin/common/handles.h plugin/common/handles.c \
	plugin/common/host.h plugin/common/host.c
noinst_LTLIBRARIES += plugin/libsage_plugin_common.la
plugin_libsage_plugin_common_la_SOURCES = $(PLUGIN_COMMON_SOURCES)

include plugin/shm/local.mk
include plugin/posixmq/local.mk
