# libFuzzer harnesses (docs/RELIABILITY.md). Built only when configured with
# --enable-fuzzing (needs CC=clang); add --enable-sanitizers=address,undefined
# so the code under test runs under ASan+UBSan too.
#
#   make check            also replays every seed corpus once (regression)
#   make fuzz             fuzzes each harness for FUZZ_SECONDS (default 60)
#   make fuzz FUZZ_SECONDS=3600   the longer run (docs/RELIABILITY.md)
#   make fuzz-seeds       regenerates fuzz/corpus/segment/raw-* from live queues
#
# The harnesses compile the code they test from source, instrumented for
# coverage: the shm transport (SHM_SOURCES, plugin/shm/local.mk), the option
# parser (PLUGIN_COMMON_SOURCES, plugin/local.mk) and the registry's loader
# (LIBSAGEQUEUE_LOADER_SOURCES, src/local.mk).
FUZZ_HARNESSES = fuzz/fuzz_segment fuzz/fuzz_descriptor fuzz/fuzz_options
EXTRA_DIST += fuzz/corpus fuzz/run.sh
EXTRA_PROGRAMS += fuzz/make_seeds
fuzz_make_seeds_SOURCES = fuzz/make_seeds.c
fuzz_make_seeds_LDADD = src/libsagequeue.la
CLEANFILES += fuzz/make_seeds$(EXEEXT)

if ENABLE_FUZZING
FUZZ_CC_FLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
FUZZ_LD_FLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
noinst_PROGRAMS += $(FUZZ_HARNESSES)

fuzz_fuzz_segment_SOURCES = fuzz/fuzz_segment.c $(SHM_SOURCES) \
	$(PLUGIN_COMMON_SOURCES)
fuzz_fuzz_segment_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugin/shm \
	-I$(top_srcdir)/plugin/common
fuzz_fuzz_segment_CFLAGS = $(FUZZ_CC_FLAGS)
fuzz_fuzz_segment_LDFLAGS = $(FUZZ_LD_FLAGS)

fuzz_fuzz_descriptor_SOURCES = fuzz/fuzz_descriptor.c \
	$(LIBSAGEQUEUE_LOADER_SOURCES)
fuzz_fuzz_descriptor_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src \
	-DSAGE_PLUGIN_DIR='"$(plugindir)"'
fuzz_fuzz_descriptor_CFLAGS = $(FUZZ_CC_FLAGS)
fuzz_fuzz_descriptor_LDFLAGS = $(FUZZ_LD_FLAGS)

fuzz_fuzz_options_SOURCES = fuzz/fuzz_options.c plugin/common/options.c
fuzz_fuzz_options_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugin/common
fuzz_fuzz_options_CFLAGS = $(FUZZ_CC_FLAGS)
fuzz_fuzz_options_LDFLAGS = $(FUZZ_LD_FLAGS)

TESTS += fuzz/run.sh

FUZZ_SECONDS = 60
fuzz: $(FUZZ_HARNESSES)
	FUZZ_MODE=timed FUZZ_SECONDS=$(FUZZ_SECONDS) \
	  SAGE_TEST_BUILDDIR='$(abs_top_builddir)' \
	  SAGE_TEST_SRCDIR='$(abs_top_srcdir)' $(SHELL) $(top_srcdir)/fuzz/run.sh
else
fuzz:
	@echo "make fuzz: configure with CC=clang --enable-fuzzing" \
	  "(and --enable-sanitizers=address,undefined)" >&2; exit 1
endif

.PHONY: fuzz fuzz-seeds

fuzz-seeds: fuzz/make_seeds$(EXEEXT) $(plugin_LTLIBRARIES)
	SAGE_PLUGIN_PATH='$(abs_top_builddir)/plugin/.libs' \
	  fuzz/make_seeds$(EXEEXT) $(top_srcdir)/fuzz/corpus/segment
