"""The layer contract of DESIGN.md ("Layers"), checked by walking the package's imports.

Imports run one way, bottom to top: a module may import its own package and the
layers below it, never one above (so there is no cycle between packages). An
import inside a function is allowed only for an optional or heavy dependency,
with a comment on the line saying so. Imports name real modules of the package:
the public aliases ``s2s.errors``, ``s2s.dtypes``, ``s2s.config`` and
``s2s.tree_util`` are for users; s2s itself imports ``s2s.core.*``.
"""
import ast
import os
import sys

import pytest

import s2s

ROOT = os.path.dirname(os.path.abspath(s2s.__file__))

# Bottom first. ``parse`` sits right above ``core``: it depends on nothing else, and
# codegen (linecache registration) and the tracing fallback (quoting) use it.
LAYERS = [
    {"core"},
    {"parse"},
    {"codegen"},
    {"xla"},
    {"trace"},
    {"lax"},
    {"numpy"},
    {"scipy"},
    {"random"},
    {"nn"},
    {"runtime"},
    {"transforms"},
    {"api", "api_fwd", "custom_derivatives", "jacobians", "debug", "sharding", "distributed",
     "test_util", "__init__", "program_key", "ad_checkpoint", "checkpoint_policies",
     "checkpoint_remat"},
    {"example_libraries"},
    {"experimental"},
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
MAX_FUNCTION_LEVEL = 10


def _modules():
    for dirpath, _, files in os.walk(ROOT):
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                yield ".".join(rel), path, f == "__init__.py"


def _unit(module):
    """The layer unit of a dotted module name: its package under s2s, or the top module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _exists(module):
    base = os.path.join(os.path.dirname(ROOT), *module.split("."))
    return os.path.isdir(base) or os.path.exists(base + ".py")


def _imports(module, path, is_pkg):
    """(line, imported s2s module, inside a function, source line) for each import."""
    text = open(path, encoding="utf-8").read()
    lines = text.splitlines()
    tree = ast.parse(text)
    inner = {id(n) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(fn) if n is not fn}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from pkg import name`: name is a submodule when such a file exists
            targets = [f"{base}.{a.name}" if _exists(f"{base}.{a.name}") else base for a in node.names]
        else:
            continue
        for target in targets:
            if target == "s2s" or target.startswith("s2s."):
                yield node.lineno, target, id(node) in inner, lines[node.lineno - 1]


def _all_imports():
    return [(module, *imp) for module, path, is_pkg in _modules() for imp in _imports(module, path, is_pkg)]


def test_every_package_has_a_layer():
    units = {_unit(m) for m, _, _ in _modules()}
    assert units <= set(RANK), f"add these to LAYERS in tests/test_layers.py: {sorted(units - set(RANK))}"


def test_imports_run_bottom_to_top():
    upward = []
    for module, line, target, in_function, _ in _all_imports():
        if in_function or target == "s2s":
            continue
        src, dst = _unit(module), _unit(target)
        if RANK.get(dst, -1) > RANK[src]:
            upward.append(f"{module}:{line} imports {target} ({src} is below {dst})")
    assert not upward, "imports against the layer order of DESIGN.md:\n" + "\n".join(upward)


def test_imports_name_real_modules():
    missing = [f"{module}:{line} imports {target}" for module, line, target, _, _ in _all_imports()
               if target != "s2s" and not _exists(target)]
    assert not missing, ("no such module in s2s (s2s itself imports s2s.core.errors, not the public "
                         "alias s2s.errors; moved modules: see README's Layout):\n" + "\n".join(missing))


def test_function_level_imports_only_for_optional_or_heavy_dependencies():
    hidden = [f"{module}:{line}: {text.strip()}" for module, line, _, in_function, text in _all_imports()
              if in_function]
    unexplained = [h for h in hidden if "optional" not in h and "heavy" not in h]
    assert not unexplained, ("an import inside a function dodges the layer order; import at module "
                             "level (or invert the dependency, see s2s.core.hooks):\n"
                             + "\n".join(unexplained))
    assert len(hidden) <= MAX_FUNCTION_LEVEL, hidden


def test_loaded_modules_come_from_this_package():
    """No s2s module is loaded from another checkout (an editable install elsewhere
    resolves a stale module path such as ``s2s.core.primitive`` silently)."""
    import s2s.errors  # noqa: F401  (the public aliases resolve here too)
    import s2s.tree_util  # noqa: F401
    stray = sorted(name for name, mod in list(sys.modules.items())
                   if name.startswith("s2s") and getattr(mod, "__file__", None)
                   and not os.path.abspath(mod.__file__).startswith(ROOT + os.sep))
    assert not stray, stray


@pytest.mark.parametrize("source, expected", [
    ("from s2s.transforms import reverse\n", "core is below transforms"),
    ("def f():\n    from s2s.core import dtypes\n", "dodges the layer order"),
])
def test_the_checks_fail_on_a_forbidden_import(tmp_path, source, expected):
    """The walk sees a forbidden import (so the tests above can fail)."""
    path = tmp_path / "bad.py"
    path.write_text(source)
    found = list(_imports("s2s.core.bad", str(path), False))
    assert found
    _, target, in_function, _ = found[0]
    if "dodges" in expected:
        assert in_function
    else:
        assert RANK[_unit(target)] > RANK["core"]
