"""Python that explains itself (issue 19): errors in the caller's words,
type checks, a warning when sizes given to an existing queue do not apply,
no text said twice, __version__ and py.typed."""

import os
import re
import warnings

import pytest

import sage_queue
from sage_queue import InvalidArgumentError, QueueExistsError, SageQueue

SRCDIR = os.environ.get("SAGE_TEST_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def test_an_item_count_as_maxsize_points_at_max_items():
    with pytest.raises(InvalidArgumentError) as info:
        SageQueue(None, 100)
    text = str(info.value)
    assert text.startswith("maxsize=100 ") and "use max_items=100" in text, text
    assert "option 'capacity'" not in text
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("maxsize, error, words", [
    ("big", InvalidArgumentError, "maxsize='big' is not a size"),
    (4096.5, TypeError, "not float 4096.5"),
    (True, TypeError, "not bool True"),
    ([4096], TypeError, "not list [4096]"),
])
def test_bad_maxsize_is_named(maxsize, error, words):
    with pytest.raises(error) as info:
        SageQueue(None, maxsize)
    assert "maxsize" in str(info.value) and words in str(info.value)


@pytest.mark.parametrize("max_items, error", [("x", TypeError), (2.5, TypeError),
                                              (-1, ValueError)])
def test_bad_max_items_is_named(max_items, error):
    with pytest.raises(error) as info:
        SageQueue(None, max_items=max_items)
    assert "max_items" in str(info.value)


def test_sizes_as_strings():
    q = SageQueue(None, "64K")
    try:
        assert q.capacity == 65536
    finally:
        q.destroy()


def test_reopening_with_other_sizes_warns(make_queue):
    q = make_queue(maxsize=8192)
    with pytest.warns(RuntimeWarning, match=r"maxsize=1048576 \(it has 8192 bytes\)"):
        SageQueue(q.name, 1 << 20).close()
    with pytest.warns(RuntimeWarning, match=r"max_items=5"):
        SageQueue(q.name, max_items=5).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SageQueue(q.name, 8192).close()  # what it has: nothing to say
        SageQueue(q.name).close()


def test_no_text_is_said_twice(make_queue):
    q = make_queue(maxsize=8192)
    with pytest.raises(ValueError) as info:
        q.task_done()
    text = str(info.value)
    assert text.count("task_done() called too many times") == 1, text
    with pytest.raises(QueueExistsError) as info:
        SageQueue(q.name, create="always")
    text = str(info.value)
    assert text.count(f"'{q.name}'") == 1, text


def test_version_and_typing_marker():
    with open(os.path.join(SRCDIR, "configure.ac")) as f:
        configured = re.search(r"AC_INIT\(\[sage-queue\], \[([^]]+)\]", f.read()).group(1)
    with open(os.path.join(SRCDIR, "pyproject.toml")) as f:
        declared = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    assert sage_queue.__version__ == configured == declared
    package = os.path.dirname(sage_queue.__file__)
    assert os.path.isfile(os.path.join(package, "py.typed"))
