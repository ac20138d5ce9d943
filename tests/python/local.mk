# The pytest suite (tests/python), run from the source tree against the
# uninstalled library (AM_TESTS_ENVIRONMENT, tests/local.mk). The whole
# directory is distributed, so a new test_*.py runs under distcheck too
# (dist-hook in tests/local.mk drops caches and logs).
TESTS += tests/python/run_pytest.sh
# The config-file pipeline on shm, then on posixmq by editing the file only.
TESTS += tests/python/check_config_pipeline.sh
EXTRA_DIST += tests/python
