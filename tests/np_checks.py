"""Checks shared by the s2s.numpy test modules: eager vs jit vs a NumPy reference."""
import zlib

import numpy as onp
import pytest

import s2s
from s2s.errors import LoweringError

from cases import assert_close, case_id


def rng_for(case):
    return onp.random.default_rng(zlib.crc32(case_id(case).encode()))


def _leaves(out):
    if isinstance(out, (list, tuple)):
        return [leaf for o in out for leaf in _leaves(o)]
    return [out]


def check(fn, args, expected=None, *, exact=False, rtol=None, atol=None, dtype=None,
          jit=True, static=()):
    """``fn(*args)`` eagerly equals ``expected`` (values; dtype if ``dtype`` or exact), and
    under ``s2s.jit`` equals the eager result in value, shape and dtype.

    ``static``: positions of arguments passed as static (Python values) to jit.
    Returns the eager result.
    """
    out = fn(*args)
    if expected is not None:
        outs = _leaves(out)
        exps = _leaves(expected) if isinstance(out, (list, tuple)) else [expected]
        assert len(outs) == len(exps)
        for o, e in zip(outs, exps):
            e = onp.asarray(e)
            want = e.dtype if dtype is True or (dtype is None and exact) else dtype
            want = None if want is None else onp.dtype(want)
            if want is not None:
                assert onp.asarray(o).dtype == want, (onp.asarray(o).dtype, want)
            assert onp.shape(o) == e.shape, (onp.shape(o), e.shape)
            if exact:
                onp.testing.assert_array_equal(onp.asarray(o), e)
            else:
                assert_close(onp.asarray(o), e.astype(onp.asarray(o).dtype), rtol=rtol, atol=atol,
                             check_dtype=False)
    if jit:
        staged = s2s.jit(fn, static_argnums=static)(*args)
        for o, s in zip(_leaves(out), _leaves(staged)):
            o, s = onp.asarray(o), onp.asarray(s)
            assert s.dtype == o.dtype, (s.dtype, o.dtype)
            assert s.shape == o.shape, (s.shape, o.shape)
            if o.dtype.kind in "biu":
                onp.testing.assert_array_equal(s, o)
            else:
                assert_close(s, o, rtol=rtol, atol=atol)
    return out


def check_error(exc, fn, args, *, match=None, jit=True):
    """The same typed error eagerly and under jit (never an XLA lowering error)."""
    runs = [lambda: fn(*args)]
    if jit:
        runs.append(lambda: s2s.jit(fn)(*args))
    for run in runs:
        with pytest.raises(exc) as info:
            run()
        assert not isinstance(info.value, LoweringError)
        if match:
            assert match in str(info.value), str(info.value)


def check_cases(fn, cases, jit_every=1, **kw):
    """``check`` for several ``(args, expected)`` cases, with one jit for all of them.

    Each case is checked eagerly against its reference (``dtype=True``: the expected
    array's dtype); then a single compiled function computes every ``jit_every``-th
    case, and each staged result must equal its eager one (XLA compiles cost more
    than eager calls, so long case lists jit a subset).
    """
    eager = [check(fn, args, expected, jit=False, **kw) for args, expected in cases]
    eager, cases = eager[::jit_every], cases[::jit_every]
    sizes = [len(args) for args, _ in cases]

    def all_cases(*flat):
        out, i = [], 0
        for n in sizes:
            out.append(fn(*flat[i:i + n]))
            i += n
        return out

    staged = s2s.jit(all_cases)(*[a for args, _ in cases for a in args])
    rtol, atol = kw.get("rtol"), kw.get("atol")
    for e, s in zip(eager, staged):
        for o, t in zip(_leaves(e), _leaves(s)):
            o, t = onp.asarray(o), onp.asarray(t)
            assert t.dtype == o.dtype and t.shape == o.shape, (t.dtype, o.dtype, t.shape, o.shape)
            if o.dtype.kind in "biu":
                onp.testing.assert_array_equal(t, o)
            else:
                assert_close(t, o, rtol=rtol, atol=atol)
    return eager
