# libsagequeue: the registry and the flat host API.
lib_LTLIBRARIES += src/libsagequeue.la
# The loader and what it needs, alone: the descriptor fuzz harness
# (fuzz/local.mk) compiles just these.
LIBSAGEQUEUE_LOADER_SOURCES = \
	src/capabilities.c \
	src/errors.c \
	src/host.c \
	src/loader.c \
	src/search_path.c
# The whole library; tests/abi/local.mk compiles it again against a newer
# plugin ABI header.
LIBSAGEQUEUE_SOURCES = \
	src/internal.h \
	$(LIBSAGEQUEUE_LOADER_SOURCES) \
	src/binding_calls.c \
	src/open_uri.c \
	src/plugin_list.c \
	src/queue.c \
	src/registry.c \
	src/stats.c \
	src/uri.h \
	src/uri.c
src_libsagequeue_la_SOURCES = $(LIBSAGEQUEUE_SOURCES)
src_libsagequeue_la_CPPFLAGS = $(AM_CPPFLAGS) -DSAGE_PLUGIN_DIR='"$(plugindir)"'
# -version-info versions the C API (see SAGE_LT_VERSION in configure.ac);
# the plugin ABI version is separate (include/sage/transport.h).
src_libsagequeue_la_LDFLAGS = $(AM_LDFLAGS) -no-undefined \
	-version-info $(SAGE_LT_VERSION) -export-symbols-regex '^sage_[a-z]'

sageincludedir = $(includedir)/sage
sageinclude_HEADERS = include/sage/transport.h include/sage/queue.h

# The transport conformance suite, shared by the tests and sage-queue.
noinst_LTLIBRARIES += src/libsage_conformance.la
src_libsage_conformance_la_SOURCES = \
	src/conformance/conformance.h src/conformance/conformance.c \
	src/conformance/check.h src/conformance/check_util.c \
	src/conformance/check_admin.c src/conformance/check_rules.c \
	src/conformance/check_process.c
src_libsage_conformance_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src
