# The out-of-tree plugin template, built against a fresh `make install` of
# this tree (see the script). It also puts the template in the tarball.
TESTS += tests/template/check_template.sh
EXTRA_DIST += tests/template/check_template.sh \
	examples/plugin-template/configure.ac \
	examples/plugin-template/Makefile.am \
	examples/plugin-template/inproc.c \
	examples/plugin-template/check-plugin.sh \
	examples/plugin-template/README.md
