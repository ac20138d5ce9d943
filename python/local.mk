# The Python package (pure Python over ctypes), installed under $(pythondir).
# _config.py records where libsagequeue was installed, so an installed
# package needs no environment variables. Its tests: tests/python/local.mk
# and tests/ray/local.mk.
#
# Every module must be listed here (an unlisted one is missing from installs
# and tarballs); `make check` checks that none is left out.
SAGE_QUEUE_PY = \
	python/sage_queue/__init__.py \
	python/sage_queue/__main__.py \
	python/sage_queue/_args.py \
	python/sage_queue/_base.py \
	python/sage_queue/_bundle.py \
	python/sage_queue/_cli.py \
	python/sage_queue/_consumer.py \
	python/sage_queue/_entries.py \
	python/sage_queue/_handle.py \
	python/sage_queue/_hooks.py \
	python/sage_queue/_lib.py \
	python/sage_queue/_lifetime.py \
	python/sage_queue/_location.py \
	python/sage_queue/_plugins.py \
	python/sage_queue/_producer.py \
	python/sage_queue/_uri.py \
	python/sage_queue/_version.py \
	python/sage_queue/_waits.py \
	python/sage_queue/admin.py \
	python/sage_queue/aio.py \
	python/sage_queue/config.py \
	python/sage_queue/errors.py \
	python/sage_queue/linger.py \
	python/sage_queue/queue.py \
	python/sage_queue/ray_support.py \
	python/sage_queue/ref.py \
	python/sage_queue/sage_runtime.py \
	python/sage_queue/serialization.py
# The Ray layer, a subpackage.
SAGE_QUEUE_RAY_PY = \
	python/sage_queue/ray/__init__.py \
	python/sage_queue/ray/_exit.py \
	python/sage_queue/ray/_reader.py \
	python/sage_queue/ray/_runtime.py \
	python/sage_queue/ray/_writer.py \
	python/sage_queue/ray/errors.py \
	python/sage_queue/ray/proxy.py \
	python/sage_queue/ray/remote.py

if HAVE_PYTHON
sagequeuepydir = $(pythondir)/sage_queue
sagequeuepy_PYTHON = $(SAGE_QUEUE_PY)
nodist_sagequeuepy_PYTHON = python/sage_queue/_config.py
# PEP 561: the package's annotations are for type checkers too.
dist_sagequeuepy_DATA = python/sage_queue/py.typed
sagequeueraydir = $(pythondir)/sage_queue/ray
sagequeueray_PYTHON = $(SAGE_QUEUE_RAY_PY)
endif

python/sage_queue/_config.py: $(srcdir)/python/sage_queue/_config.py.in Makefile
	$(AM_V_GEN)$(MKDIR_P) python/sage_queue && \
	sed -e 's|@libdir[@]|$(libdir)|g' -e 's|@plugindir[@]|$(plugindir)|g' \
	    -e 's|@VERSION[@]|$(VERSION)|g' \
	    $(srcdir)/python/sage_queue/_config.py.in > $@.tmp && mv $@.tmp $@
BUILT_SOURCES += python/sage_queue/_config.py
CLEANFILES += python/sage_queue/_config.py
EXTRA_DIST += $(SAGE_QUEUE_PY) $(SAGE_QUEUE_RAY_PY) \
	python/sage_queue/_config.py.in pyproject.toml setup.py MANIFEST.in

.PHONY: check-python-modules
check-local: check-python-modules
check-python-modules:
	@cd '$(srcdir)' && for f in python/sage_queue/*.py \
	    python/sage_queue/ray/*.py; do \
	  case ' $(SAGE_QUEUE_PY) $(SAGE_QUEUE_RAY_PY) python/sage_queue/_config.py ' in \
	  *" $$f "*) ;; \
	  *) echo "python/local.mk: $$f is not listed" >&2; exit 1 ;; \
	  esac; \
	done
