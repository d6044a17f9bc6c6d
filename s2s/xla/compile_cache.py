"""The persistent compilation cache: compiled XLA executables kept on disk between processes.

Off by default. ``S2S_CACHE_DIR=/path`` (or ``s2s.config.update("cache_dir", path)``)
turns it on: the first call of a jitted function in a new process then loads the
executable a previous process compiled for the same StableHLO, instead of compiling
it again. Staging is skipped too where ``s2s.program_key`` can describe exactly what
staging reads (the function's code, the values it reads, its callees, the arguments,
config, versions): the staged module text is then kept as a record (``.stage``) under
that key, and a later first call reads it back instead of staging. Records are
checked and evicted like executables.

An entry's key is a SHA-256 over everything that decides what XLA builds: the module
text, the compile options, jaxlib's version, the platform and its version, the kind,
count and ids of the devices, ``XLA_FLAGS`` (as the client was made), the host CPU (model and instruction set
flags: XLA compiles for the CPU it runs on) and s2s's version. Each entry repeats its
key and carries a SHA-256 of its payload; an entry that is truncated, corrupt, or
written for another key is ignored and rewritten, never loaded (jaxlib loads a flipped
byte without complaint). Entries are written to a temporary file and renamed into
place, so a reader never sees half an entry and processes writing the same key at
once are safe (the last rename wins; both wrote the same executable).

The directory is bounded: ``S2S_CACHE_MAX_SIZE`` (bytes, or ``512M``, ``2G``; default
1G; 0 for no bound; ``s2s.config.update("cache_max_size", n)``) caps the entries' total
size. Each write that takes the total over it removes entries least recently used
first (a hit marks its entry used by setting its modification time) until it fits
again; the entry just written stays even if it alone is larger. Temporary files that
a killed process left behind are removed once they are a day old.

Loading a serialized executable may run code from it, so the cache directory must be
yours alone: s2s creates it with mode 0700 and refuses (with a warning, compiling as
usual) a directory another user owns or others can write to.

>>> stats()["compiles"] >= 0
True
"""
import hashlib
import logging
import os
import platform
import struct
import sys
import threading
import time

from s2s.core.config import config

logger = logging.getLogger("s2s")

# What each process did (tests and benchmarks read it through ``stats()``).
_stats = {"compiles": 0, "hits": 0, "misses": 0, "rejected": 0, "writes": 0, "evicted": 0}
_lock = threading.Lock()
_warned = set()  # directories and errors already warned about (once each per process)

_MAGIC = b"s2s-xla-executable-v1\n"
_HEADER = struct.Struct(f"<{len(_MAGIC)}s32s32sQ")  # magic, key, sha256(payload), length
_SUFFIX = ".xla"


def stats():
    """Counts for this process: ``compiles`` (XLA compiles), ``hits`` (executables loaded
    from the cache), ``misses``, ``rejected`` (corrupt or foreign entries ignored),
    ``writes`` and ``evicted`` (entries removed to keep the directory within its bound).

    >>> sorted(stats())
    ['compiles', 'evicted', 'hits', 'misses', 'rejected', 'writes']
    """
    with _lock:
        return dict(_stats)


def _count(name):
    with _lock:
        _stats[name] += 1


def cache_dir():
    """The cache directory in use, or None when the cache is off (or the directory unsafe)."""
    path = config.cache_dir
    if not path:
        return None
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    problem = _directory_problem(path)
    if problem:
        _warn_once(path, "s2s: not using the compilation cache %s: %s; compiling as usual",
                   path, problem)
        return None
    return path


def _directory_problem(path):
    """Why ``path`` is not safe to load executables from (None when it is): made if absent."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError as e:
        return f"cannot create it ({e.strerror})"
    if not os.path.isdir(path):
        return "it is not a directory"
    if hasattr(os, "getuid"):
        if st.st_uid != os.getuid():
            return "another user owns it"
        if st.st_mode & 0o022:
            return "others can write to it (chmod go-w it, or choose a directory of your own)"
    return None


def _warn_once(what, message, *args):
    if what not in _warned:
        _warned.add(what)
        logger.warning(message, *args)


_flags = {}


def record_flags():
    """Notes ``XLA_FLAGS`` as the PJRT client is made (XLA reads them then, once):
    a later change of the variable does not change what this process compiles."""
    _flags["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "")


def _xla_flags():
    return _flags.get("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))


_cpu = {}


def _cpu_fingerprint():
    """The host CPU's model and feature flags (read once): XLA's CPU code uses them."""
    if "id" not in _cpu:
        lines = []
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    field = line.split(":", 1)[0].strip()
                    if field in ("model name", "flags", "Features", "CPU part") and line not in lines:
                        lines.append(line)
        except OSError:
            pass
        _cpu["id"] = platform.machine() + "\n" + "".join(lines)
    return _cpu["id"]


def cache_key(text, client, devices, options):
    """The entry name for module ``text`` compiled by ``client`` for ``devices`` with
    ``options`` (a ``CompileOptions``): hex SHA-256 over all that decides the executable.

    >>> from s2s.xla import runtime
    >>> xc = runtime._xla_client()
    >>> a = cache_key("module {}", runtime.client(), runtime.local_devices()[:1], xc.CompileOptions())
    >>> len(a), a == cache_key("module { }", runtime.client(), runtime.local_devices()[:1], xc.CompileOptions())
    (64, False)
    """
    from jaxlib.version import __version__ as jaxlib_version

    s2s = sys.modules.get("s2s")
    parts = [
        "s2s-compile-cache-1",
        getattr(s2s, "__version__", "unknown"),
        jaxlib_version,
        client.platform,
        client.platform_version,
        repr([(d.platform, d.device_kind, d.id, d.process_index) for d in devices]),
        _xla_flags(),
        _cpu_fingerprint() if client.platform == "cpu" else "",
    ]
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() + b"\0")
    h.update(options.SerializeAsString() + b"\0")
    h.update(text.encode() if isinstance(text, str) else text)
    return h.hexdigest()


def compile_or_load(client, text, devices, options, compile_fn, cacheable=True):
    """``compile_fn()`` (an XLA compile of ``text``), or the same executable from the
    cache directory when it holds one for this key; a compile is written back.

    ``cacheable=False`` for executables that cannot be reloaded in another process
    (those calling Python host callbacks).
    """
    directory = cache_dir() if cacheable else None
    if directory is None:
        return _compile(compile_fn)
    xc_devices = _device_list(devices)
    key = cache_key(text, client, devices, options)
    path = os.path.join(directory, key + _SUFFIX)
    payload = _read(path, key)
    if payload is not None:
        try:
            loaded = client.deserialize_executable(payload, xc_devices, options)
        except Exception as e:  # checksummed, yet jaxlib refuses it: recompile, rewrite
            _count("rejected")
            _warn_once(("deserialize", path), "s2s: ignoring compilation cache entry %s: %s",
                       path, e)
        else:
            _count("hits")
            _touch(path)
            if config.log_compiles:
                logger.warning("s2s.jit: loaded the executable from the compilation cache %s", path)
            return loaded
    _count("misses")
    loaded = _compile(compile_fn)
    _write(directory, path, key, client, loaded)
    return loaded


_RECORD_MAGIC = b"s2s-staged-program-v1\n"  # as long as _MAGIC: the header is shared
_RECORD_SUFFIX = ".stage"
_record_stats = {"hits": 0, "misses": 0, "rejected": 0, "writes": 0}


def record_stats():
    """Counts for this process of the staged-program records (``s2s.program_key``):
    ``hits`` (staging skipped), ``misses``, ``rejected`` (corrupt or foreign, ignored)
    and ``writes``.

    >>> sorted(record_stats())
    ['hits', 'misses', 'rejected', 'writes']
    """
    with _lock:
        return dict(_record_stats)


def count_record(name):
    """Counts a record ``hits``/``misses``/``rejected`` (the caller decides: a record
    that reads back whole may still not describe a usable program)."""
    with _lock:
        _record_stats[name] += 1


def read_record(key):
    """The bytes stored by ``write_record(key, ...)`` in the cache directory, or None
    (the cache is off, there is none, or it is truncated, corrupt or foreign)."""
    directory = cache_dir()
    if directory is None:
        return None
    path = os.path.join(directory, key + _RECORD_SUFFIX)
    data = _read(path, key, _RECORD_MAGIC, count_record)
    if data is not None:
        _touch(path)
    return data


def write_record(key, data):
    """Stores ``data`` (bytes) under ``key`` in the cache directory (if it is on)."""
    directory = cache_dir()
    if directory is None:
        return
    path = os.path.join(directory, key + _RECORD_SUFFIX)
    if _write_payload(directory, path, key, lambda: data, _RECORD_MAGIC):
        count_record("writes")
        prune(directory, config.cache_max_size, keep=path)


def _device_list(devices):
    from jaxlib import xla_client

    return devices if isinstance(devices, xla_client.DeviceList) else xla_client.DeviceList(tuple(devices))


def _compile(compile_fn):
    _count("compiles")
    return compile_fn()


def _read(path, key, magic=_MAGIC, count=_count):
    """The payload of the entry at ``path`` if it is whole and written for ``key``, else None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        _warn_once(("read", path), "s2s: cannot read compilation cache entry %s: %s", path, e)
        return None
    if len(data) >= _HEADER.size:
        entry_magic, entry_key, digest, length = _HEADER.unpack_from(data)
        payload = data[_HEADER.size:]
        if (entry_magic == magic and entry_key == bytes.fromhex(key) and length == len(payload)
                and hashlib.sha256(payload).digest() == digest):
            return payload
    count("rejected")
    _warn_once(("bad", path), "s2s: ignoring a truncated, corrupt or foreign compilation cache "
               "entry %s; it will be rewritten", path)
    return None


def _write(directory, path, key, client, loaded):
    """Writes ``loaded`` as the entry at ``path``: a temporary file, then an atomic rename."""
    if _write_payload(directory, path, key, lambda: client.serialize_executable(loaded)):
        _count("writes")
        prune(directory, config.cache_max_size, keep=path)


def _write_payload(directory, path, key, make_payload, magic=_MAGIC):
    """Writes ``make_payload()`` under a header as the entry at ``path`` (a temporary
    file, then an atomic rename); False (warned once) where that failed."""
    try:
        payload = make_payload()
        header = _HEADER.pack(magic, bytes.fromhex(key), hashlib.sha256(payload).digest(),
                              len(payload))
        fd, tmp = _new_temporary(directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(header)
                f.write(payload)
            os.replace(tmp, path)
        except BaseException:
            _remove(tmp)
            raise
    except Exception as e:  # a full disk or a read-only directory: the compile still stands
        _warn_once(("write", directory), "s2s: cannot write to the compilation cache %s: %s",
                   directory, e)
        return False
    return True


def _new_temporary(directory):
    """``(fd, path)`` of a new file in ``directory``, created exclusively and readable by
    its owner only, as ``tempfile.mkstemp`` makes it (importing tempfile, with the
    random, shutil and compression modules it loads, was ~4 ms of ``import s2s``)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        path = os.path.join(directory, f".tmp-{os.urandom(8).hex()}{_SUFFIX}")
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue


def _touch(path):
    """Marks the entry at ``path`` used now (what eviction orders by)."""
    try:
        os.utime(path)
    except OSError:
        pass


_STALE_TMP_SECONDS = 24 * 3600


def prune(directory, max_size, keep=None):
    """Removes entries of ``directory``, least recently used first, until their total
    size is at most ``max_size`` bytes (no bound if it is 0 or less); ``keep`` (a path)
    is never removed. Also removes temporary files older than a day. Gives the number
    of entries removed. Other processes may prune the same directory at once: an entry
    already gone is skipped, and one removed under a reader is a miss for it.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     prune(d, 1 << 20)
    0
    """
    entries, total = [], 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        path = os.path.join(directory, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if name.startswith(".tmp-"):
            if time.time() - st.st_mtime > _STALE_TMP_SECONDS:
                _remove(path)
        elif name.endswith(_SUFFIX) or name.endswith(_RECORD_SUFFIX):
            entries.append((st.st_mtime_ns, name, st.st_size, path))
            total += st.st_size
    removed = 0
    if max_size is None or max_size <= 0 or total <= max_size:
        return removed
    for _, _, size, path in sorted(entries):  # oldest use first; the name breaks ties
        if total <= max_size:
            break
        if path == keep:
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:  # another process pruned it first
            pass
        except OSError as e:
            _warn_once(("prune", directory), "s2s: cannot remove compilation cache entry %s: %s",
                       path, e)
            continue
        else:
            removed += 1
            _count("evicted")
        total -= size
    return removed


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass
