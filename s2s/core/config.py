"""One configuration object for s2s.

Every switch lives here so behaviour is never toggled by scattered environment
variables. Environment variables are read once, at import, as initial values.

>>> import s2s
>>> s2s.config.update("enable_x64", True)
>>> s2s.config.enable_x64
True
>>> s2s.config.update("enable_x64", False)
"""
import contextlib
import os


_TRUE = ("y", "yes", "t", "true", "on", "1")
_FALSE = ("n", "no", "f", "false", "off", "0")


def _truth(value, where):
    """JAX's reading of a boolean string: anything but the usual spellings is an error."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"invalid truth value {value!r} for {where}; use one of "
                     f"{', '.join(_TRUE)} or {', '.join(_FALSE)}")


def _env_flag(name, default=False):
    value = os.environ.get(name)
    if value is None or not value.strip():  # unset or empty: the default
        return default
    return _truth(value, f"environment variable {name!r}")


def _env_int(name, default=0):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _env_size(name, default):
    """A size in bytes from environment variable ``name``: ``1000000``, ``512M``, ``2G``."""
    value = os.environ.get(name, "").strip().upper().removesuffix("B").removesuffix("I")
    if not value:
        return default
    number, unit = (value[:-1], value[-1]) if value[-1] in _SIZE_UNITS else (value, "")
    try:
        return int(float(number) * _SIZE_UNITS[unit])
    except ValueError:
        raise ValueError(f"{name} must be a size in bytes (1000000, 512M, 2G), got "
                         f"{os.environ[name]!r}") from None


class Config:
    """Holds the global options; change them with ``config.update(name, value)``."""

    _options = {
        "enable_x64": lambda: _env_flag("S2S_ENABLE_X64"),
        "log_compiles": lambda: _env_flag("S2S_LOG_COMPILES"),
        # Which path a transformation took (source, tracing, a fallback) and why.
        "log_transforms": lambda: _env_flag("S2S_LOG_TRANSFORMS"),
        "disable_jit": lambda: _env_flag("S2S_DISABLE_JIT"),
        "dump_source": lambda: os.environ.get("S2S_DUMP_SOURCE") or None,
        "traceback_filtering": lambda: _env_flag("S2S_TRACEBACK_FILTERING", True),
        # Read once, when the first computation makes the PJRT client (s2s/xla).
        "num_cpu_devices": lambda: _env_int("S2S_NUM_CPU_DEVICES"),
        "platform": lambda: os.environ.get("S2S_PLATFORM", "").strip().lower(),
        # Whether the CPU client fixes glibc's malloc thresholds (s2s/xla/host_memory.py).
        "tune_malloc": lambda: _env_flag("S2S_TUNE_MALLOC", True),
        # The persistent compilation cache's directory (s2s/xla/compile_cache.py); off if None.
        "cache_dir": lambda: os.environ.get("S2S_CACHE_DIR", "").strip() or None,
        # Its size bound in bytes (least recently used entries go first); 0: unbounded.
        "cache_max_size": lambda: _env_size("S2S_CACHE_MAX_SIZE", 1 << 30),
    }

    def __init__(self):
        self._values = {name: default() for name, default in self._options.items()}
        self._listeners = []
        # Plain attributes as well: jit's dispatch path reads them on every call.
        self.__dict__.update(self._values)

    def update(self, name, value):
        """Sets option ``name`` (``"enable_x64"``, ``"log_compiles"``, ...) to ``value``."""
        if name.startswith("s2s_"):
            name = name[4:]
        if name.startswith("jax_"):
            name = name[4:]
        if name not in self._values:
            raise KeyError(f"s2s.config has no option {name!r}; options: {sorted(self._values)}")
        if isinstance(self._values[name], bool):
            value = _truth(value, f"option {name!r}") if isinstance(value, str) else bool(value)
        self._values[name] = value
        self.__dict__[name] = value
        for listener in self._listeners:
            listener(name, value)

    def on_change(self, listener):
        """Calls ``listener(name, value)`` after every update (caches use it)."""
        self._listeners.append(listener)

    def __getattr__(self, name):
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(f"s2s.config has no option {name!r}") from None

    def __repr__(self):
        return f"Config({self._values})"


config = Config()


@contextlib.contextmanager
def disable_jit(disable=True):
    """Within the block, ``jit``-decorated functions run eagerly, as plain Python.

    ``print`` and ``breakpoint()`` inside them then see concrete values, as
    with ``jax.disable_jit``. ``S2S_DISABLE_JIT=1`` does the same for a whole
    run (``config.update("disable_jit", True)`` from code).

    >>> import s2s
    >>> @s2s.jit
    ... def f(x):
    ...     print("x is", type(x).__name__)
    ...     return x + 1
    >>> with s2s.disable_jit():
    ...     f(1.0)
    x is float
    2.0
    """
    old = config.disable_jit
    config.update("disable_jit", disable)
    try:
        yield
    finally:
        config.update("disable_jit", old)
