"""The package's version (configure.ac's AC_INIT and pyproject.toml say the
same; tests/python/test_messages.py checks that they agree)."""

__version__ = "0.1.0"
