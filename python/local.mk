# The Python package (pure Python over ctypes), installed under $(pythondir).
# _config.py records where libsagequeue was installed, so an installed
# package needs no environment variables.
if HAVE_PYTHON
sagequeuepydir = $(pythondir)/sage_queue
sagequeuepy_PYTHON = \
	python/sage_queue/__init__.py \
	python/sage_queue/_base.py \
	python/sage_queue/_consumer.py \
	python/sage_queue/_entries.py \
	python/sage_queue/_handle.py \
	python/sage_queue/_hooks.py \
	python/sage_queue/_lib.py \
	python/sage_queue/_lifetime.py \
	python/sage_queue/_location.py \
	python/sage_queue/_producer.py \
	python/sage_queue/_waits.py \
	python/sage_queue/aio.py \
	python/sage_queue/errors.py \
	python/sage_queue/queue.py \
	python/sage_queue/ray_support.py \
	python/sage_queue/ref.py \
	python/sage_queue/serialization.py
# The Ray layer, a subpackage.
sagequeueraydir = $(pythondir)/sage_queue/ray
sagequeueray_PYTHON = \
	python/sage_queue/ray/__init__.py \
	python/sage_queue/ray/_exit.py \
	python/sage_queue/ray/_reader.py \
	python/sage_queue/ray/_runtime.py \
	python/sage_queue/ray/_writer.py \
	python/sage_queue/ray/errors.py \
	python/sage_queue/ray/proxy.py \
	python/sage_queue/ray/remote.py
nodist_sagequeuepy_PYTHON = python/sage_queue/_config.py
endif

python/sage_queue/_config.py: $(srcdir)/python/sage_queue/_config.py.in Makefile
	$(AM_V_GEN)$(MKDIR_P) python/sage_queue && \
	sed -e 's|@libdir[@]|$(libdir)|g' -e 's|@plugindir[@]|$(plugindir)|g' \
	    -e 's|@VERSION[@]|$(VERSION)|g' \
	    $(srcdir)/python/sage_queue/_config.py.in > $@.tmp && mv $@.tmp $@
BUILT_SOURCES += python/sage_queue/_config.py
CLEANFILES += python/sage_queue/_config.py
EXTRA_DIST += python/sage_queue/_config.py.in

# The pytest suite runs from the source tree against the uninstalled
# library (tests/local.mk exports SAGE_QUEUE_LIB and SAGE_PLUGIN_PATH).
TESTS += tests/python/run_pytest.sh
EXTRA_DIST += tests/python/run_pytest.sh tests/python/conftest.py \
	tests/python/helpers.py \
	tests/python/test_queue_basic.py \
	tests/python/test_timeouts.py \
	tests/python/test_errors.py \
	tests/python/test_serialization.py \
	tests/python/test_multiprocess.py \
	tests/python/test_pipeline.py \
	tests/python/test_numpy.py \
	tests/python/test_transports.py \
	tests/python/test_signals.py \
	tests/python/test_lib.py \
	tests/python/faults.py tests/python/test_faults.py \
	tests/python/test_ctrl_c_storm.py tests/python/test_close_faults.py \
	tests/python/test_plugin_contract.py tests/python/test_layers.py \
	pyproject.toml bench/python/bench_queues.py

# The Ray suite: actors on one node and on a local two-node cluster
# (skipped, exit 77, when the configured PYTHON cannot import ray).
TESTS += tests/ray/run_pytest.sh
EXTRA_DIST += tests/ray/run_pytest.sh tests/ray/conftest.py \
	tests/ray/ray_helpers.py \
	tests/ray/test_same_node.py \
	tests/ray/test_lifecycle.py \
	tests/ray/test_cross_node.py \
	tests/ray/test_location.py \
	tests/ray/test_proxy_faults.py tests/ray/test_async_helpers.py \
	examples/ray_pipeline.py bench/ray/bench_ray.py
