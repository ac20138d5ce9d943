# The shm transport: sage-shm.so. SHM_SOURCES is also compiled by the
# step-point build (tests/local.mk) and the fuzz harness (fuzz/local.mk).
plugin_LTLIBRARIES += plugin/sage-shm.la
# In layers: each file calls only the files above it
# (tests/check_shm_layers.sh reads this list).
SHM_C_SOURCES = \
	plugin/shm/wait.c \
	plugin/shm/validate.c \
	plugin/shm/liveness.c \
	plugin/shm/lanes.c \
	plugin/shm/ring.c \
	plugin/shm/recover.c \
	plugin/shm/attach.c \
	plugin/shm/segment.c \
	plugin/shm/names.c \
	plugin/shm/stats.c \
	plugin/shm/ring_put.c \
	plugin/shm/ring_get.c \
	plugin/shm/tasks.c \
	plugin/shm/transport.c
SHM_SOURCES = plugin/shm/layout.h plugin/shm/shm.h plugin/shm/steps.h \
	$(SHM_C_SOURCES)
plugin_sage_shm_la_SOURCES = $(SHM_SOURCES)
plugin_sage_shm_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugin_sage_shm_la_LDFLAGS = $(PLUGIN_MODULE_FLAGS)
plugin_sage_shm_la_LIBADD = plugin/libsage_plugin_common.la
