# Soak test (docs/RELIABILITY.md): MPMC traffic with periodic SIGKILLs for
# SOAK_SECONDS (default 600). Not part of `make check` or CI: run
# `make soak` by hand; SOAK_* variables in the environment tune it (see
# soak/soak.c).
EXTRA_PROGRAMS += soak/soak
soak_soak_SOURCES = soak/soak.c
soak_soak_LDADD = src/libsagequeue.la
CLEANFILES += soak/soak$(EXEEXT)

.PHONY: soak
soak: soak/soak$(EXEEXT) $(plugin_LTLIBRARIES)
	SAGE_PLUGIN_PATH='$(abs_top_builddir)/plugin/.libs' soak/soak$(EXEEXT)
