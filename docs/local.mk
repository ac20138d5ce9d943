# The installed documentation: the guides, the transport ABI reference
# sage-transport(7), and the plugin template, so that a plugin can be
# written from an installed SAGE Queue alone (no source tree). The whole
# docs/ directory is also in EXTRA_DIST (Makefile.am).
dist_doc_DATA = docs/PLUGINS.md docs/PYTHON.md
dist_man7_MANS = man/sage-transport.7

# $(docdir)/plugin-template: the template as tests/template builds it.
plugintemplatedir = $(docdir)/plugin-template
dist_plugintemplate_DATA = \
	examples/plugin-template/README.md \
	examples/plugin-template/inproc.c \
	examples/plugin-template/configure.ac \
	examples/plugin-template/Makefile.am
dist_plugintemplate_SCRIPTS = examples/plugin-template/check-plugin.sh

# make check: the documentation installs where sage-transport(7) says and
# the man pages render without warnings. (The script lives in man/, not
# docs/: docs/ is distributed whole, and would take the test's logs along.)
TESTS += man/check_docs_install.sh
EXTRA_DIST += man/check_docs_install.sh
