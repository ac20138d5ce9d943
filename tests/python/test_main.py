"""python -m sage_queue (issues 16 and 19): the installation summary, and
ls, stat and gc without the C binary."""

import json
import subprocess
import sys

import sage_queue
from helpers import unique_name


def _run(*args):
    return subprocess.run([sys.executable, "-m", "sage_queue", *args], capture_output=True,
                          text=True, timeout=60)


def test_summary_names_version_library_and_transports():
    done = _run()
    assert done.returncode == 0, done.stderr
    assert f"sage_queue package: {sage_queue.__version__}" in done.stdout
    assert "library: " in done.stdout and "libsagequeue" in done.stdout
    assert "  shm " in done.stdout or "\n  shm" in done.stdout


def test_ls_stat_gc(make_queue):
    q = make_queue(unique_name(), maxsize=8192)
    q.put("x")
    rows = json.loads(_run("ls", "--json", "-t", "shm").stdout)
    mine = next(r for r in rows if r["name"] == q.name)
    assert mine["state"] == "live" and mine["items"] == 1 and mine["capacity"] == 8192
    assert q.name in _run("ls").stdout
    stats = json.loads(_run("stat", q.name, "--json").stdout)
    assert stats["items"] == 1 and stats["name"] == q.name
    assert json.loads(_run("stat", f"shm://{q.name}", "--json").stdout)["items"] == 1
    assert stats["attached"] == 1  # looked at without attaching
    gc = _run("gc", "--dry-run", "--json", q.name[:-2] + "*")
    assert gc.returncode == 0 and q.name not in {r["name"] for r in json.loads(gc.stdout)}


def test_errors_are_one_line_and_exit_1():
    done = _run("stat", unique_name())
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "no queue named" in done.stderr
