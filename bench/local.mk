# sage-queue-bench: the C benchmark (docs/BENCHMARKS.md). Installed into
# $(pkglibexecdir) for `sage-queue bench`; `make bench` runs it on the build
# tree's plugins. Not part of `make check`, except a --quick smoke run that
# keeps it from rotting.
pkglibexec_PROGRAMS = bench/sage-queue-bench
bench_sage_queue_bench_SOURCES = \
	bench/bench.h \
	bench/sage_queue_bench.c \
	bench/pair.c \
	bench/stats.c \
	bench/ref_ring.c \
	bench/ref_sys.c \
	bench/probe.c \
	bench/queue_cases.c \
	bench/callgrind.c \
	bench/machine.c \
	bench/report.c \
	bench/report_json.c
bench_sage_queue_bench_LDADD = src/libsagequeue.la

BENCH_ENV = SAGE_PLUGIN_PATH='$(abs_top_builddir)/plugin/.libs'
BENCH_ARGS = --json bench-results.json --markdown bench-results.md

.PHONY: bench bench-callgrind
bench: bench/sage-queue-bench $(plugin_LTLIBRARIES)
	$(BENCH_ENV) bench/sage-queue-bench $(BENCH_ARGS)

bench-callgrind: bench/sage-queue-bench $(plugin_LTLIBRARIES)
	$(BENCH_ENV) bench/sage-queue-bench --callgrind

TESTS += bench/check_quick.sh
EXTRA_DIST += bench/check_quick.sh

# The Python and Ray benchmarks (docs/BENCHMARKS.md; ./build.sh bench sets
# up their packages). Run by hand, not built.
EXTRA_DIST += bench/python/bench_queues.py bench/ray/bench_ray.py \
	bench/device_scaling.sh

CLEANFILES += bench-results.json bench-results.md

# MPMC scaling across many cores (run on a machine with >= 16 CPUs; see
# docs/BENCHMARKS.md). Not installed.
noinst_PROGRAMS += bench/sage-queue-scaling
bench_sage_queue_scaling_SOURCES = bench/scaling.c
bench_sage_queue_scaling_LDADD = src/libsagequeue.la
