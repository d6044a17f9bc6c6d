"""How emitted StableHLO reaches XLA: the staged text is compiled as it is, and MLIR's
Python bindings only explain a module XLA rejects."""
import os
import subprocess
import sys

import numpy as np
import pytest

from s2s.codegen.stablehlo import verify_and_print
from s2s.core.primitive import ShapedArray
from s2s.errors import LoweringError
from s2s.xla.runtime import compile_module

# Generic syntax, as s2s emits it; the add claims a result shape its operands lack.
_BAD = """module @m { func.func public @main(%arg0: tensor<2xf32>) -> tensor<3xf32> {
  %0 = "stablehlo.add"(%arg0, %arg0) : (tensor<2xf32>, tensor<2xf32>) -> tensor<3xf32>
  "func.return"(%0) : (tensor<3xf32>) -> ()
} }"""


def test_a_module_that_does_not_verify_is_a_lowering_error_naming_the_op():
    with pytest.raises(LoweringError, match="stablehlo.add") as info:
        compile_module(_BAD, [ShapedArray((3,), np.float32)], [ShapedArray((2,), np.float32)],
                       verify=verify_and_print)
    assert "does not verify" in str(info.value)


def test_without_a_verifier_xla_reports_the_bad_module_itself():
    with pytest.raises(Exception, match="stablehlo.add") as info:
        compile_module(_BAD, [ShapedArray((3,), np.float32)], [ShapedArray((2,), np.float32)])
    assert not isinstance(info.value, LoweringError)


_FIRST_CALL = """
import sys
import numpy as np
import s2s
import s2s.numpy as snp

g = s2s.jit(s2s.grad(lambda w, x: snp.sum(snp.tanh(x @ w) ** 2)))
w, x = np.ones((3, 2), np.float32), np.arange(12.0, dtype=np.float32).reshape(4, 3) / 10
out = g(w, x)
t = np.tanh(x @ w)
np.testing.assert_allclose(out, x.T @ (2 * t * (1 - t * t)), rtol=1e-5)
print(sorted(m for m in sys.modules if m.startswith("jaxlib.mlir")))
"""


def test_the_first_jit_call_in_a_new_process_does_not_start_mlirs_python_bindings():
    # Starting them (importing jaxlib.mlir, registering the dialects) cost about 40 ms
    # of a new process's first call, only to parse a module XLA parses again.
    out = subprocess.run([sys.executable, "-c", _FIRST_CALL], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_cpu_kernels_compile_at_llvm_o2_unless_xla_flags_choose():
    from s2s.xla import runtime

    if runtime.backend_name() != "cpu":
        pytest.skip("the level is only lowered for the CPU")
    level = runtime.compile_options().executable_build_options.debug_options.xla_backend_optimization_level
    assert level == 2
    code = ("from s2s.xla import runtime; "
            "print(runtime.compile_options().executable_build_options.debug_options"
            ".xla_backend_optimization_level)")
    env = dict(os.environ, XLA_FLAGS="--xla_backend_optimization_level=3", S2S_PLATFORM="cpu")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "3"
