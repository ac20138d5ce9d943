# Transport plugins. Each is a libtool module sage-<name>.la built in
# plugin/ (so the uninstalled build has every plugin in plugin/.libs) and
# exports only the entry symbol.
PLUGIN_MODULE_FLAGS = $(AM_LDFLAGS) -module -avoid-version -no-undefined \
	-export-symbols-regex '^sage_transport_entry$$'

# Option parsing shared by the in-tree transports, linked into each one.
noinst_LTLIBRARIES += plugin/libsage_plugin_common.la
plugin_libsage_plugin_common_la_SOURCES = \
	plugin/common/options.h plugin/common/options.c
