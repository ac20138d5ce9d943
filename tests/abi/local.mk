# ABI compatibility tests (docs/PLUGINS.md, "ABI compatibility tests").
#
#  transport_1_0.h  frozen copy of include/sage/transport.h at ABI 1.0;
#                   never edit it
#  abi11/sage/transport.h  generated from the live header + one
#                   appended optional op (purge_op.in) + minor 1: a
#                   simulated next minor that never drifts from the live one
#  sage-abi10.so    fixture transport built against transport_1_0.h
#  sage-abi11.so    the same built against the 1.1 header, with purge
#  test_layout      the live header keeps every 1.0 field, size, constant
#  test_host_current  the real libsagequeue loads abi10 and refuses abi11
#  test_host_1_1    libsagequeue's sources compiled against the 1.1 header
#                   (a grown host): loads both, calls purge on abi11 and
#                   returns -ENOTSUP for it on abi10
check_LTLIBRARIES += tests/abi/sage-abi10.la tests/abi/sage-abi11.la
tests_abi_sage_abi10_la_SOURCES = tests/abi/plugin_1_0.c
tests_abi_sage_abi10_la_LDFLAGS = $(FIXTURE_MODULE_FLAGS)
tests_abi_sage_abi11_la_SOURCES = tests/abi/plugin_1_1.c
tests_abi_sage_abi11_la_CPPFLAGS = -I$(top_builddir)/tests/abi/abi11 \
	$(AM_CPPFLAGS)
tests_abi_sage_abi11_la_LDFLAGS = $(FIXTURE_MODULE_FLAGS)

check_PROGRAMS += tests/abi/test_layout tests/abi/test_host_current \
	tests/abi/test_host_1_1
TESTS += tests/abi/test_layout tests/abi/test_host_current \
	tests/abi/test_host_1_1

tests_abi_test_layout_SOURCES = tests/abi/test_layout.c \
	tests/abi/layout_1_0.c tests/abi/layout_live.c

tests_abi_test_host_current_SOURCES = tests/abi/test_host_current.c
tests_abi_test_host_current_LDADD = src/libsagequeue.la

# The 1.1 host: the library's sources (LIBSAGEQUEUE_SOURCES, src/local.mk),
# with <sage/transport.h> resolving to the simulated 1.1 header, generated
# below.
tests_abi_test_host_1_1_SOURCES = tests/abi/test_host_1_1.c \
	$(LIBSAGEQUEUE_SOURCES)
tests_abi_test_host_1_1_CPPFLAGS = -I$(top_builddir)/tests/abi/abi11 \
	$(AM_CPPFLAGS) -I$(top_srcdir)/src -DSAGE_PLUGIN_DIR='"/nonexistent"'
tests_abi_test_host_1_1_LDADD = $(LIBS)

ABI11_HEADER = tests/abi/abi11/sage/transport.h
BUILT_SOURCES += $(ABI11_HEADER)
CLEANFILES += $(ABI11_HEADER)
$(ABI11_HEADER): $(top_srcdir)/include/sage/transport.h \
		$(top_srcdir)/tests/abi/purge_op.in
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	sed -e 's/^#define SAGE_TRANSPORT_ABI_MINOR 0$$/#define SAGE_TRANSPORT_ABI_MINOR 1/' \
	    -e '/^  int (\*join)(sage_transport_queue \*q, int64_t timeout_ns);$$/r $(top_srcdir)/tests/abi/purge_op.in' \
	    $(top_srcdir)/include/sage/transport.h > $@.tmp && \
	grep -q '^#define SAGE_TRANSPORT_ABI_MINOR 1$$' $@.tmp && \
	grep -q '(\*purge)' $@.tmp && mv $@.tmp $@

EXTRA_DIST += tests/abi/tiny_queue.c tests/abi/transport_1_0.h \
	tests/abi/purge_op.in \
	tests/abi/abi_check.h tests/abi/abi_layout.h tests/abi/fields_1_0.h \
	tests/abi/layout_table.h
