# Helpers for scripts run from a build tree: configure turns
# tools/sage-env.sh.in into sage-env.sh (configure.ac), which
# tools/sage_env.py reads for the Python scripts (examples, benchmarks,
# the pytest suites' conftest.py).
EXTRA_DIST += tools/sage_env.py
