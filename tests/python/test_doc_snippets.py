"""Every Python snippet of the README and docs/ runs as written (issue 19;
only its queue names are made unique),
each in a process of its own, against this build. A snippet that cannot run
alone says so in the line before it: `<!-- not run: why -->`. Snippets that
use Ray run where Ray is installed. (docs/C.md's commands run in
tests/template/check_template.sh.)"""

import glob
import os
import re
import subprocess
import sys

import pytest

SRCDIR = os.environ.get("SAGE_TEST_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
FENCE = re.compile(r"(?:^<!-- not run: (?P<why>[^>]+?) -->\n)?^```python\n(?P<code>.*?)^```",
                   re.M | re.S)


def _snippets():
    paths = [os.path.join(SRCDIR, "README.md")] + sorted(glob.glob(os.path.join(SRCDIR, "docs",
                                                                                 "*.md")))
    for path in paths:
        with open(path) as f:
            text = f.read()
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start("code"))
            yield pytest.param(m.group("code"), m.group("why"),
                               id=f"{os.path.basename(path)}:{line}")


SNIPPETS = list(_snippets())


def test_there_are_snippets():
    assert len(SNIPPETS) >= 8


@pytest.mark.parametrize("code, why", SNIPPETS)
def test_snippet_runs(code, why, tmp_path):
    if why:
        assert len(why.split()) >= 2, "say why a snippet is not run"
        pytest.skip(f"not run: {why}")
    if re.search(r"^import ray|^from ray", code, re.M):
        pytest.importorskip("ray")
    # The docs name their queues ("jobs", ...): names are per user and
    # machine, so each run gets its own (another process may use "jobs").
    tag = f"-{os.getpid()}-{abs(hash(code)) % 10**6}"
    code = re.sub(r"\b(jobs2?|input_task1)\b", lambda m: m.group(1) + tag, code)
    script = tmp_path / "snippet.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr


SHELL = re.compile(r"(?:^<!-- (?P<kind>run by|not run): (?P<what>[^>]+?) -->\n)?^```(?:sh|bash)\n",
                   re.M)


def test_every_shell_snippet_is_run_somewhere_or_says_why():
    """The docs' commands are run by the script they name (a test, CI,
    build.sh), or say why not (benchmarks take minutes)."""
    paths = [os.path.join(SRCDIR, "README.md")] + sorted(glob.glob(os.path.join(SRCDIR, "docs",
                                                                                 "*.md")))
    missing = []
    for path in paths:
        with open(path) as f:
            text = f.read()
        for m in SHELL.finditer(text):
            where = f"{os.path.basename(path)}:{text.count(chr(10), 0, m.start()) + 1}"
            if m.group("kind") is None:
                missing.append(f"{where}: neither 'run by' nor 'not run'")
            elif m.group("kind") == "run by":
                if not os.path.isfile(os.path.join(SRCDIR, m.group("what"))):
                    missing.append(f"{where}: {m.group('what')} does not exist")
            elif len(m.group("what").split()) < 2:
                missing.append(f"{where}: say why it is not run")
    assert not missing, missing
