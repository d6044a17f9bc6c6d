"""Every primitive fills the rule slots its interpretations need (DESIGN.md, "The
primitive and its rule table"), and every public ``s2s.lax`` function is documented.

To require another slot (``jvp``, ``batch``), add one line to ``REQUIRED_RULES``
with its exemption dict: ``{primitive name: reason}``. ``vjp`` is required: a
primitive whose derivative is zero wherever it exists (comparisons, ``iota``,
``argmax``...) registers ``def_zero_derivative`` rather than an exemption.
"""
import doctest
import inspect

import pytest

import s2s  # noqa: F401  (imports s2s.numpy too: every primitive is registered)
import s2s.lax

for _optional in ("s2s.scipy.special", "s2s.nn", "s2s.random"):  # NumPy-level primitives too
    try:
        __import__(_optional)
    except ImportError:
        pass
from s2s.core.primitive import RULE_SLOTS

# Exemptions: primitive name -> why it may lack the rule. Keep reasons specific.
IMPL_EXEMPT = {}
ABSTRACT_EVAL_EXEMPT = {}
LOWER_EXEMPT = {}
VJP_EXEMPT = {
    # s2s.random's float helpers turn random bits into samples; derivatives flow through
    # the parameters a sample is scaled and shifted by, never through the bits.
    "np.random_erf": "s2s.random internal: applied to random bits only",
    "np.random_erf_inv": "s2s.random internal: applied to random bits only",
    "np.random_fma": "s2s.random internal: applied to random bits only",
    "np.random_log": "s2s.random internal: applied to random bits only",
    "np.random_log1p": "s2s.random internal: applied to random bits only",
    # One public function binds one of several primitives (by a static argument); the
    # template is registered on the public function (s2s/numpy/vjp_rules.py).
    "np.linalg.qr.complete": "template on np.linalg.qr",
    "np.linalg.qr.r": "template on np.linalg.qr",
    "np.linalg.qr.reduced": "template on np.linalg.qr",
    "np.linalg.svd.s": "template on np.linalg.svd",
    "np.linalg.svd.uv": "template on np.linalg.svd",
}

# Forward mode: every differentiable primitive has a jvp template (the transposed-vjp
# fallback, s2s.transforms.fwd_support.transposed_jvp, is left for functions that have
# only a vjp rule: the runtime's helpers, user rules).
JVP_EXEMPT = dict(VJP_EXEMPT)  # no vjp rule either: no derivative
# vmap: a primitive without a batch rule runs once per example and the results are
# stacked (exact, slower): acceptable where listed here; the "batch" slot is required
# of every other primitive.
BATCH_EXEMPT = {
    "debug_callback": "a side effect: vmap calls it once per example",
    "iota": "no operands: never batched",
    "sharding_constraint": "no batched form: an annotation for several devices",
    "np.linalg.qr.complete": "np.linalg.qr carries the rule",
    "np.linalg.qr.r": "np.linalg.qr carries the rule",
    "np.linalg.qr.reduced": "np.linalg.qr carries the rule",
    "np.linalg.svd.s": "np.linalg.svd carries the rule",
    "np.linalg.svd.uv": "np.linalg.svd carries the rule",
    "np.random_bits": "s2s.random internal: samplers run once per key under vmap",
    "np.random_erf": "s2s.random internal: samplers run once per key under vmap",
    "np.random_erf_inv": "s2s.random internal: samplers run once per key under vmap",
    "np.random_fma": "s2s.random internal: samplers run once per key under vmap",
    "np.random_fold_in": "s2s.random internal: samplers run once per key under vmap",
    "np.random_log": "s2s.random internal: samplers run once per key under vmap",
    "np.random_log1p": "s2s.random internal: samplers run once per key under vmap",
    "np.random_split": "s2s.random internal: samplers run once per key under vmap",
    "np.threefry2x32": "s2s.random internal: samplers run once per key under vmap",
}

REQUIRED_RULES = {
    "impl": IMPL_EXEMPT,
    "abstract_eval": ABSTRACT_EVAL_EXEMPT,
    "lower": LOWER_EXEMPT,
    "vjp": VJP_EXEMPT,
    "jvp": JVP_EXEMPT,
    "batch": BATCH_EXEMPT,
}


def _primitives():
    return s2s.lax.all_primitives()


def test_required_slots_are_rule_slots():
    assert set(REQUIRED_RULES) <= set(RULE_SLOTS)


def test_there_are_primitives():
    assert len(_primitives()) >= 60


@pytest.mark.parametrize("slot", sorted(REQUIRED_RULES))
def test_every_primitive_has_rule(slot):
    exempt = REQUIRED_RULES[slot]
    missing = sorted(name for name, prim in _primitives().items()
                     if getattr(prim, slot) is None and name not in exempt)
    assert not missing, (
        f"primitives without a {slot!r} rule: {', '.join(missing)}. Define the rule next to the "
        f"primitive, or add it to the {slot} exemption dict in {__file__} with a reason.")


@pytest.mark.parametrize("slot", sorted(REQUIRED_RULES))
def test_exemptions_are_current_and_explained(slot):
    prims = _primitives()
    for name, reason in REQUIRED_RULES[slot].items():
        if name.startswith("np.") and name not in prims:
            continue  # a NumPy-level primitive of a package this checkout may lack
        assert name in prims, f"{slot} exemption for unknown primitive {name!r}: remove it"
        assert getattr(prims[name], slot) is None, (
            f"{name} now has a {slot} rule: remove its exemption")
        assert isinstance(reason, str) and len(reason.split()) >= 3, (
            f"{slot} exemption for {name} needs a reason")


def test_rules_are_callable():
    from s2s.core.primitive import ZERO_DERIVATIVE
    bad = [f"{name}.{slot}" for name, prim in _primitives().items() for slot in RULE_SLOTS
           if getattr(prim, slot) not in (None, ZERO_DERIVATIVE) and not callable(getattr(prim, slot))]
    assert not bad



# Primitives whose derivative is zero wherever it exists: they must say so with
# ``def_zero_derivative`` (their outputs are then never active).
NON_DIFFERENTIABLE = {
    "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "xor", "not", "shift_left",
    "shift_right_logical", "shift_right_arithmetic", "population_count", "sign", "floor", "ceil",
    "round", "is_finite", "iota", "bitcast_convert_type", "argmax", "argmin", "reduce_and",
    "reduce_or", "stop_gradient",
}


def test_non_differentiable_primitives_have_zero_derivative():
    from s2s.core.primitive import ZERO_DERIVATIVE
    prims = _primitives()
    assert NON_DIFFERENTIABLE <= set(prims)
    wrong = sorted(n for n in NON_DIFFERENTIABLE if prims[n].vjp != ZERO_DERIVATIVE)
    assert not wrong, f"should use def_zero_derivative: {wrong}"


def _wrapper_of(prim):
    from s2s.lax import linalg
    for module in (s2s.lax, linalg):
        for fn in vars(module).values():
            if callable(fn) and getattr(fn, "primitive", None) is prim:
                return fn
    return None


def _vjp_templates():
    from s2s.core.primitive import ZERO_DERIVATIVE
    return sorted((name, prim) for name, prim in _primitives().items()
                  if prim.vjp not in (None, ZERO_DERIVATIVE))


@pytest.mark.parametrize("name,prim", _vjp_templates(), ids=lambda v: v if isinstance(v, str) else "")
def test_vjp_template_matches_wrapper(name, prim):
    """A template's parameters mirror its wrapper's (names, keyword-only-ness, defaults),
    it parses, and it only reads names the reverse transformation binds."""
    import gast
    from s2s.transforms import templates
    wrapper = _wrapper_of(prim)
    if wrapper is None:  # a NumPy-level primitive: its public function is in s2s.numpy
        pytest.skip(f"{name} has no s2s.lax wrapper")
    tpl = templates.parse(prim.vjp)
    params = list(inspect.signature(prim.vjp).parameters.values())
    assert params[0].name == "ans", f"{name}: a template's first parameter is the result, `ans`"
    wparams = inspect.signature(wrapper).parameters
    tparams = {p.name: p for p in params[1:]}
    for p in wparams.values():
        if p.kind is p.VAR_POSITIONAL:
            continue
        if p.kind is p.KEYWORD_ONLY or p.default is not p.empty:
            assert p.name in tparams, f"{name}: template lacks parameter {p.name!r}"
            assert tparams[p.name].default == p.default, (
                f"{name}: template default of {p.name!r} differs from the wrapper's")
    positional = [p for p in wparams.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    tpositional = [p for p in params[1:] if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert [p.name for p in positional] == [p.name for p in tpositional[:len(positional)]] or \
        any(p.kind is p.VAR_POSITIONAL for p in wparams.values()), (
        f"{name}: template operands {[p.name for p in tpositional]} do not mirror the "
        f"wrapper's {[p.name for p in positional]}")
    free = {n.id for s in tpl.body for n in gast.walk(s) if isinstance(n, gast.Name)}
    free -= set(tpl.params) | tpl.locals | {"d"}
    import builtins
    allowed = {"lax", "unbroadcast", "max_grad_share"}
    bad = sorted(n for n in free if n not in allowed and not hasattr(builtins, n))
    assert not bad, f"{name}: template reads unknown names {bad}"


def test_vjp_helpers_are_reachable_from_templates():
    """Templates spell helpers ``lax.<module>.<name>``: the attribute chain must resolve."""
    from s2s.lax import control_flow, fourier, vjp_helpers
    assert s2s.lax.vjp_helpers is vjp_helpers and s2s.lax.fourier is fourier
    modules = {"vjp_helpers": vjp_helpers, "control_flow": control_flow, "fourier": fourier}
    import gast
    from s2s.transforms import templates
    for _, prim in _vjp_templates():
        tpl = templates.parse(prim.vjp)
        for node in (n for s in tpl.body for n in gast.walk(s)):
            if isinstance(node, gast.Attribute) and isinstance(node.value, gast.Attribute) and \
                    isinstance(node.value.value, gast.Name) and node.value.value.id == "lax":
                assert node.value.attr in modules
                assert callable(getattr(modules[node.value.attr], node.attr, None)), node.attr

def _public_functions():
    return {name: obj for name, obj in vars(s2s.lax).items()
            if not name.startswith("_") and callable(obj) and not inspect.isclass(obj)}


def test_public_wrappers_have_docstrings():
    undocumented = sorted(name for name, fn in _public_functions().items()
                          if not (inspect.getdoc(fn) or "").strip())
    assert not undocumented, f"s2s.lax functions without a docstring: {', '.join(undocumented)}"


def test_public_wrapper_examples_run():
    """The ``>>>`` examples in the wrappers' docstrings are right (they drift otherwise)."""
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    failed = []
    for name, fn in sorted(_public_functions().items()):
        for test in finder.find(fn, name, globs={}):
            result = runner.run(test, out=lambda _: None)
            if result.failed:
                failed.append(name)
    assert not failed, f"docstring examples fail for: {', '.join(failed)}"


def _helpers_called(template):
    """The ``lax.vjp_helpers`` functions a template calls."""
    import gast
    from s2s.lax import vjp_helpers
    from s2s.transforms import templates
    names = {n.attr for s in templates.parse(template).body for n in gast.walk(s)
             if isinstance(n, gast.Attribute) and isinstance(n.value, gast.Attribute)
             and n.value.attr == "vjp_helpers"}
    return {name: getattr(vjp_helpers, name) for name in names}


@pytest.mark.parametrize("name", ["conv_general_dilated", "conv", "conv_with_general_padding",
                                  "conv_transpose"])
def test_conv_adjoint_helpers_have_every_rule(name):
    """The adjoints of a convolution, and those of their own templates, carry jvp, vjp and
    batch rules: second order (hessian, jacrev/jacfwd of grad, vmap of grad) never runs
    them once per basis vector nor differentiates their source."""
    from s2s.core.primitive import rules_of
    fn = getattr(s2s.lax, name)
    todo, seen = dict(_helpers_called(rules_of(fn).vjp)), {}
    while todo:
        helper_name, helper = todo.popitem()
        seen[helper_name] = helper
        rules = rules_of(helper)
        missing = [slot for slot in ("jvp", "vjp", "batch")
                   if not callable(getattr(rules, slot, None))]
        assert not missing, f"lax.vjp_helpers.{helper_name} lacks {missing}"
        for template in (rules.jvp, rules.vjp):
            todo.update({k: v for k, v in _helpers_called(template).items() if k not in seen})
    assert seen, f"{name}'s vjp template calls no adjoint helper"


# ---------------------------------------------------------------------------
# Second order. The adjoint helpers the lax vjp templates call (``lax.vjp_helpers.X``)
# are differentiated again by hessian (jvp of grad) and jacrev(grad) (vjp of grad).
# A helper without a jvp (vjp) template gets forward (reverse) mode generated from its
# source, and vmap runs that generated code once per basis vector: every such helper
# needs both templates (s2s/lax/helper_rules.py; the linear-algebra adjoints' are in
# s2s/transforms/stacked_helpers.py), or an exemption saying why not yet.
# None is exempt today; an exemption would read {name: "why not yet (hessian and jacrev(grad)
# run it once per basis vector)"}.
HELPER_JVP_EXEMPT = {}
HELPER_VJP_EXEMPT = dict(HELPER_JVP_EXEMPT)
# vmap batches a helper without a batch rule by recording it on one example and batching
# the recording (s2s.transforms.batch_support.by_recording: its primitives have rules),
# which cannot hold a function argument: a helper taking one (the generic reduce_window's
# ``computation``) needs a batch rule.
_FUNCTION_PARAMETERS = {"computation"}


def _helpers_called_by_lax_templates():
    import gast
    from s2s.core.primitive import ZERO_DERIVATIVE, rules_of
    from s2s.lax import vjp_helpers
    from s2s.transforms import templates
    names = set()
    for _, prim in _vjp_templates():
        for node in (n for s in templates.parse(prim.vjp).body for n in gast.walk(s)):
            if isinstance(node, gast.Attribute) and isinstance(node.value, gast.Attribute) and \
                    node.value.attr == "vjp_helpers" and isinstance(node.value.value, gast.Name) \
                    and node.value.value.id == "lax":
                names.add(node.attr)
    helpers = {n: getattr(vjp_helpers, n) for n in sorted(names)}
    return {n: fn for n, fn in helpers.items()
            if getattr(rules_of(fn), "vjp", None) != ZERO_DERIVATIVE}


def test_there_are_adjoint_helpers():
    assert len(_helpers_called_by_lax_templates()) >= 40


@pytest.mark.parametrize("slot,exempt", [("jvp", HELPER_JVP_EXEMPT), ("vjp", HELPER_VJP_EXEMPT)])
def test_adjoint_helpers_have_second_order_templates(slot, exempt):
    from s2s.core.primitive import rules_of
    helpers = _helpers_called_by_lax_templates()
    missing = sorted(n for n, fn in helpers.items()
                     if getattr(rules_of(fn), slot, None) is None and n not in exempt)
    assert not missing, (
        f"adjoint helpers without a {slot} template: {', '.join(missing)}. Write one in "
        f"s2s/lax/helper_rules.py, or exempt it in {__file__} with a reason.")
    stale = sorted(n for n in exempt
                   if n not in helpers or getattr(rules_of(helpers[n]), slot, None) is not None)
    assert not stale, f"{slot} exemptions to remove (a template exists, or no template calls it): {stale}"
    assert all(len(reason.split()) >= 3 for reason in exempt.values())


def test_adjoint_helpers_taking_functions_have_batch_rules():
    from s2s.core.primitive import rules_of
    helpers = _helpers_called_by_lax_templates()
    takes_function = {n for n, fn in helpers.items()
                      if _FUNCTION_PARAMETERS & set(inspect.signature(fn).parameters)}
    assert takes_function, "the check below checks nothing"
    missing = sorted(n for n in takes_function if getattr(rules_of(helpers[n]), "batch", None) is None)
    assert not missing, f"vmap runs these once per example: {missing}"
