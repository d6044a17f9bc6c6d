"""Quickstart: jit a small function with s2s (grows as grad and vmap land)."""
import numpy as onp

import s2s
import s2s.lax as lax


def slow_f(x):
    return lax.tanh(x) * 2.0 + 1.0


fast_f = s2s.jit(slow_f)
x = onp.linspace(-1.0, 1.0, 5, dtype=onp.float32)
print("eager:", slow_f(x))
print("jit:  ", fast_f(x))
print(fast_f.lower(x).as_text())
