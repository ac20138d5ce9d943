"""The README's Ray example runs as written (issue 19), on one node and
with the sink on a second local node, with fewer records than by default."""

import os
import subprocess
import sys

SRCDIR = os.environ.get("SAGE_TEST_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def _run(*args):
    done = subprocess.run([sys.executable, os.path.join(SRCDIR, "examples", "ray_pipeline.py"),
                           "--records", "5000", *args], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_ray_pipeline_one_node():
    assert "records" in _run().lower()


def test_ray_pipeline_two_nodes():
    assert "records" in _run("--two-nodes").lower()
