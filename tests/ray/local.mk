# The Ray suite (tests/ray): actors on one node and on a local two-node
# cluster (skipped, exit 77, when the configured PYTHON cannot import ray).
# Distributed whole, as tests/python.
TESTS += tests/ray/run_pytest.sh
EXTRA_DIST += tests/ray
