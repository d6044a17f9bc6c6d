"""Public namespaces: reachable after ``import s2s``, with ``__all__``, and no helpers in ``dir()``."""
import importlib
import types

import pytest

import s2s

PUBLIC = ["s2s", "s2s.numpy", "s2s.numpy.linalg", "s2s.numpy.fft", "s2s.lax", "s2s.lax.linalg",
          "s2s.random", "s2s.nn", "s2s.nn.initializers", "s2s.scipy", "s2s.scipy.linalg",
          "s2s.scipy.special", "s2s.scipy.stats",
          "s2s.scipy.stats.norm", "s2s.tree_util", "s2s.errors", "s2s.debug", "s2s.sharding",
          "s2s.distributed", "s2s.checkpoint_policies", "s2s.ad_checkpoint"]

# Names modules import to do their work; a user must not see them in dir().
HELPERS = {"onp", "np", "math", "h", "fops", "Tracer", "functools", "collections", "itertools",
           "operator", "gast", "ml_dtypes", "abstractify"}


def _reach(name):
    """The module ``name`` as attributes from ``s2s`` (no import of its own)."""
    obj = s2s
    for part in name.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("name", PUBLIC)
def test_reachable_after_import_s2s(name):
    assert _reach(name) is importlib.import_module(name)


@pytest.mark.parametrize("name", PUBLIC)
def test_all_lists_what_the_module_has(name):
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"


@pytest.mark.parametrize("name", PUBLIC)
def test_no_helpers_in_dir(name):
    module = importlib.import_module(name)
    listed = set(dir(module))
    leaked = sorted(listed & HELPERS - set(module.__all__))
    # '@py_builtins'-style names are pytest's assertion rewriting, not the module's own.
    modules = sorted(n for n in listed - set(module.__all__)
                     if isinstance(getattr(module, n, None), types.ModuleType) and not n.startswith("@"))
    assert not leaked and not modules, f"dir({name}) shows helpers {leaked} and modules {modules}"


def test_dir_shows_the_public_api():
    assert {"jit", "grad", "vmap", "jvp", "random", "numpy"} <= set(dir(s2s))
    assert {"core", "api", "transforms", "runtime"}.isdisjoint(dir(s2s))
    assert "PRNGKey" in dir(s2s.random) and "onp" not in dir(s2s.random)


def test_every_public_wrapper_is_registered():
    # One registration: @primitive_wrapper(p) next to the wrapper. A function that binds a
    # primitive but was tagged some other way would be invisible to the registry.
    from s2s.core.primitive import Primitive, registered_wrappers
    registered = registered_wrappers()
    seen, missing = 0, []
    for name in PUBLIC:
        module = importlib.import_module(name)
        for attr in module.__all__:
            fn = getattr(module, attr)
            prim = getattr(fn, "primitive", None)
            if isinstance(prim, Primitive):
                seen += 1
                if registered.get(fn) is not prim:
                    missing.append(f"{name}.{attr}")
    assert seen > 100 and not missing, f"not registered with @primitive_wrapper: {missing}"


def test_wrappers_are_tagged_only_by_the_decorator():
    import ast
    import pathlib
    root = pathlib.Path(s2s.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "primitive.py" and path.parent.name == "core":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Attribute) and t.attr == "primitive" and
                    not (isinstance(t.value, ast.Name) and t.value.id == "self") for t in node.targets):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not offenders, f"set .primitive with @primitive_wrapper instead: {offenders}"
