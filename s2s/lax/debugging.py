"""``debug_callback``: call a Python function on values, eagerly or from compiled code.

Under jit the call is a ``stablehlo.custom_call`` to jaxlib's Python CPU callback
target, with a side effect so XLA keeps it; the function runs on the host with
NumPy arrays every time the compiled code reaches it (each loop iteration too).
"""
import numpy as np

from s2s.core.primitive import def_zero_derivative, Primitive, primitive_wrapper

debug_callback_p = Primitive("debug_callback", multiple_results=True)


@debug_callback_p.def_impl
def _impl(*args, callback):
    callback(*[np.asarray(a) for a in args])
    return []


@debug_callback_p.def_abstract_eval
def _abstract(*avals, callback):
    return []


@debug_callback_p.def_lower
def _lower(ctx, *args, callback):
    index = ctx.builder.add_host_callback(lambda *xs: (callback(*xs), ())[1])
    ctx.op("stablehlo.custom_call", list(args), [], attrs={
        "call_target_name": '"xla_ffi_python_cpu_callback"',
        "api_version": "4 : i32",
        "has_side_effect": "true",
        "backend_config": f"{{index = {index} : ui64}}",
    })
    return []


@primitive_wrapper(debug_callback_p)
def debug_callback(callback, *args):
    """Calls ``callback(*arrays)`` with the values of ``args``, also from inside jit.

    >>> from s2s import lax
    >>> lax.debug_callback(lambda x: print("x is", x), 3.0)
    x is 3.0
    """
    debug_callback_p.bind(*args, callback=callback)


def_zero_derivative(debug_callback)

public = {"debug_callback": debug_callback}
