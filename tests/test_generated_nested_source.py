"""A function nested in generated code keeps its source after the generated function
that made it is collected (a lax body defined inside a gradient's forward function is
transformed again later: the CI run of a second-order test saw NoSourceError)."""
import gc

import numpy as np

import s2s
from s2s.codegen.python import compile_function, render
from s2s.parse.quoting import quote
from s2s.parse.source import get_source


def _nested_from_generated():
    fdef = quote("def outer(k):\n    def body(x):\n        return x * k\n    return body")[0]
    outer, _ = compile_function(fdef, "<s2s test outer>", {}, {})
    return outer(3.0)  # only the nested function survives this call


def test_nested_function_source_outlives_the_generated_function():
    body = _nested_from_generated()
    gc.collect()
    source = get_source(body)
    assert source.node.name == "body"
    assert "return x * k" in render(source.node)
    assert body(2.0) == 6.0


def test_jvp_of_a_nested_function_after_its_maker_is_gone():
    body = _nested_from_generated()
    gc.collect()
    primal, tangent = s2s.jvp(body, (np.float64(2.0),), (np.float64(1.0),))
    assert (float(primal), float(tangent)) == (6.0, 3.0)
