"""Builds the sage-queue wheel: the Python package plus the C side.

`pip wheel .` / `pip install .` (metadata in pyproject.toml) runs the
project's own autotools build and bundles its products inside the package,
laid out as a small install prefix under ``sage_queue/_bundle/``:

    bin/sage-queue                       the CLI (RUNPATH $ORIGIN/../lib)
    lib/libsagequeue.so.0                the library (its SONAME)
    lib/sage-queue/plugins/sage-*.so     the in-tree transport plugins
    libexec/sage-queue-bench             what `sage-queue bench` runs
                                         (one level down, for the RUNPATH)

libsagequeue finds the plugin dir beside itself (src/search_path.c), the
Python package loads the bundled library first (sage_queue/_lib.py) and
the `sage-queue` console script runs the bundled CLI (sage_queue/_bundle.py).

Steps (build_py): `autoreconf -fi` only when there is no ./configure (a
checkout; an sdist carries one), then configure in a temporary build dir,
`make`, `make install-strip` into a staging dir, and the copy. Needs a C
compiler and make (plus autoconf, automake and libtool from a checkout).
MAKEFLAGS is honoured; without it make runs one job per CPU. An editable
install (`pip install -e .`) builds nothing: it uses the C build you
configured yourself (docs/PYTHON.md, Installing).

The wheel is tagged py3-none-<platform>: it holds native code for this
platform but no CPython extension, so any Python 3 on it can use it.
"""

import os
import shutil
import subprocess
import sys
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.dist import Distribution

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

ROOT = os.path.dirname(os.path.abspath(__file__))
BUNDLE = os.path.join("sage_queue", "_bundle")
# The configured prefix is compiled into the binaries (the installed plugin
# dir, the bench program's path, a RUNPATH entry) but never used by the
# bundle, which finds everything relative to itself: a prefix that does not
# exist keeps an unrelated install from being searched.
PREFIX = "/nonexistent/sage-queue-wheel"


def _log(msg):
    print(f"sage-queue: {msg}", file=sys.stderr, flush=True)


def _run(cmd, cwd, env=None):
    _log(f"running {' '.join(cmd)} (in {cwd})")
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def ensure_configure():
    """Generates ./configure (and Makefile.in ...) when a checkout lacks it."""
    if os.path.exists(os.path.join(ROOT, "configure")):
        return
    if shutil.which("autoreconf") is None:
        sys.exit("sage-queue: no ./configure and no autoreconf: install autoconf, "
                 "automake and libtool, or build from an sdist")
    _run(["autoreconf", "-fi"], ROOT)


def _jobs():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def build_c(stage):
    """Configures, builds and installs the C side into stage; returns the
    staged prefix."""
    ensure_configure()
    if os.path.exists(os.path.join(ROOT, "config.status")):
        # configure refuses to build out of a tree configured in place.
        sys.exit("sage-queue: this source tree was configured in place (./config.status "
                 "exists): run `make distclean` in it first, or build the wheel from a "
                 "clean checkout")
    build = tempfile.mkdtemp(prefix="sage-queue-build-")
    try:
        env = dict(os.environ)
        # $$ is make's escape and \ the shell's, so the linker sees $ORIGIN;
        # libtool keeps it through the relink at install time.
        ldflags = env.get("LDFLAGS", "")
        env["LDFLAGS"] = (ldflags + " " if ldflags else "") + r"-Wl,-rpath,\$$ORIGIN/../lib"
        _run([os.path.join(ROOT, "configure"), f"--prefix={PREFIX}",
              "--disable-dependency-tracking", "--disable-static"], build, env)
        make = ["make"] if "MAKEFLAGS" in os.environ else ["make", f"-j{_jobs()}"]
        _run(make, build)
        _run(["make", "install-strip", f"DESTDIR={stage}"], build)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return stage + PREFIX


def copy_bundle(prefix, dest):
    """Copies the parts of the staged install the package needs into dest."""
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    lib = os.path.join(prefix, "lib")
    plugins = os.path.join(lib, "sage-queue", "plugins")
    bench = os.path.join(prefix, "libexec", "sage-queue", "sage-queue-bench")
    files = [
        (os.path.join(prefix, "bin", "sage-queue"), "bin"),
        # The SONAME only (copied, not as a link: wheels hold no symlinks).
        (os.path.join(lib, "libsagequeue.so.0"), "lib"),
    ]
    files += [(os.path.join(plugins, f), os.path.join("lib", "sage-queue", "plugins"))
              for f in sorted(os.listdir(plugins)) if f.endswith(".so")]
    if os.path.exists(bench):
        files.append((bench, "libexec"))
    for src, sub in files:
        os.makedirs(os.path.join(dest, sub), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, sub, os.path.basename(src)))
        _log(f"bundled {os.path.join(sub, os.path.basename(src))}")


class BuildPy(build_py):
    """build_py, then the C build into build_lib/sage_queue/_bundle."""

    def find_package_modules(self, package, package_dir):
        # _config.py is written by an in-tree `make` and records that
        # build's install dirs: none of the wheel's business.
        return [m for m in super().find_package_modules(package, package_dir)
                if not (package == "sage_queue" and m[1] == "_config")]

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            _log("editable install: not building the C side (see docs/PYTHON.md)")
            return
        stage = tempfile.mkdtemp(prefix="sage-queue-stage-")
        try:
            prefix = build_c(stage)
            copy_bundle(prefix, os.path.join(self.build_lib, BUNDLE))
        finally:
            shutil.rmtree(stage, ignore_errors=True)


class Sdist(sdist):
    """An sdist carries the generated ./configure, Makefile.in and the rest
    (MANIFEST.in), so building from it needs only a C compiler and make."""

    def run(self):
        ensure_configure()
        super().run()


class BdistWheel(bdist_wheel):
    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


class BinaryDistribution(Distribution):
    """Native code inside: a platform wheel, installed to platlib."""

    def has_ext_modules(self):
        return True


setup(
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildPy, "sdist": Sdist, "bdist_wheel": BdistWheel},
    # Not build/: that is where ./build.sh configures the C build.
    options={"build": {"build_base": "build-wheel"}},
)
