"""The package's layering (docs/ARCHITECTURE.md, "The Python package"): no
import cycle, counting imports inside functions; the core imports nothing
of the Ray layer; no module over ~600 lines."""

import ast
import os

import sage_queue

PACKAGE_DIR = os.path.dirname(os.path.abspath(sage_queue.__file__))
MAX_LINES = 600
# The package's facade wires the layers together (it imports the Ray layer
# so that it registers its hooks); the compatibility alias re-exports it.
ABOVE_THE_CORE = ("sage_queue", "sage_queue.ray_support", "sage_queue.ray")
# Written by `make install` (the installed libdir): a module, not the package.
GENERATED = ("sage_queue._config",)


def _modules():
    found = {}
    for folder, _, files in os.walk(PACKAGE_DIR):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[:-3].replace(os.sep, ".")
            module = rel[:-len(".__init__")] if rel.endswith(".__init__") else rel
            found[module] = path
    for module in GENERATED:
        found.setdefault(module, os.devnull)
    return found


def _imports(module, path, known):
    """Every package module that `module` imports, anywhere in its body
    (function bodies and `if TYPE_CHECKING` blocks included)."""
    is_package = path.endswith("__init__.py")
    out = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):  # (os.devnull: nothing)
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:  # `from . import x`: the module x
                    out.add(sub)
                elif target in known:
                    out.add(target)
    out.discard(module)
    return out


def _graph():
    known = _modules()
    return {m: _imports(m, p, known) for m, p in known.items()}, known


def test_no_import_cycle():
    graph, _ = _graph()
    state = {}

    def visit(m, stack):
        state[m] = "open"
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack + [m, n]))
            if n not in state:
                visit(n, stack + [m])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_core_imports_nothing_of_the_ray_layer():
    graph, _ = _graph()
    for module, deps in graph.items():
        if module in ABOVE_THE_CORE or module.startswith("sage_queue.ray."):
            continue
        ray_layer = {d for d in deps if d == "sage_queue.ray" or d.startswith("sage_queue.ray.")
                     or d == "sage_queue.ray_support"}
        assert not ray_layer, f"{module} imports {sorted(ray_layer)}"


def test_no_module_is_over_the_limit():
    _, known = _graph()
    long = {m: n for m, p in known.items() if (n := len(open(p).read().splitlines())) > MAX_LINES}
    assert not long, long


def test_the_checker_sees_cycles_and_deferred_imports(tmp_path):
    """The graph above counts an import inside a function (the way cycles
    used to hide)."""
    path = tmp_path / "mod.py"
    path.write_text("def f():\n    from .queue import SageQueue\n")
    assert _imports("sage_queue.mod", str(path), {"sage_queue.queue"}) == {"sage_queue.queue"}
