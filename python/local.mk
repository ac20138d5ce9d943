# The Python package (pure Python over ctypes), installed under $(pythondir).
# _config.py records where libsagequeue was installed, so an installed
# package needs no environment variables.
if HAVE_PYTHON
sagequeuepydir = $(pythondir)/sage_queue
sagequeuepy_PYTHON = \
	python/sage_queue/__init__.py \
	python/sage_queue/_lib.py
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
