# Examples built with the tree: the two-process demo (./build.sh demo).
noinst_PROGRAMS += examples/demo
examples_demo_SOURCES = examples/demo.c
examples_demo_LDADD = src/libsagequeue.la

# The Ray dataflow example (README.md): run by hand, needs Ray.
EXTRA_DIST += examples/ray_pipeline.py

# The config-file pipeline (tests/python/check_config_pipeline.sh runs it).
EXTRA_DIST += examples/config_pipeline/pipeline.py examples/config_pipeline/pipeline.toml

# The C quick start (docs/C.md; tests/template/check_template.sh builds them).
EXTRA_DIST += examples/c/producer.c examples/c/consumer.c
