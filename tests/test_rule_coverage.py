"""Every primitive fills the rule slots its interpretations need (DESIGN.md, "The
primitive and its rule table"), and every public ``s2s.lax`` function is documented.

To require another slot (``vjp``, ``jvp``, ``batch``), add one line to
``REQUIRED_RULES`` with its exemption dict: ``{primitive name: reason}``.
"""
import doctest
import inspect

import pytest

import s2s  # noqa: F401  (imports s2s.numpy too: every primitive is registered)
import s2s.lax
from s2s.lax.core import RULE_SLOTS

# Exemptions: primitive name -> why it may lack the rule. Keep reasons specific.
IMPL_EXEMPT = {}
ABSTRACT_EVAL_EXEMPT = {}
LOWER_EXEMPT = {}

REQUIRED_RULES = {
    "impl": IMPL_EXEMPT,
    "abstract_eval": ABSTRACT_EVAL_EXEMPT,
    "lower": LOWER_EXEMPT,
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
        assert name in prims, f"{slot} exemption for unknown primitive {name!r}: remove it"
        assert getattr(prims[name], slot) is None, (
            f"{name} now has a {slot} rule: remove its exemption")
        assert isinstance(reason, str) and len(reason.split()) >= 3, (
            f"{slot} exemption for {name} needs a reason")


def test_rules_are_callable():
    from s2s.lax.core import ZERO_DERIVATIVE
    bad = [f"{name}.{slot}" for name, prim in _primitives().items() for slot in RULE_SLOTS
           if getattr(prim, slot) not in (None, ZERO_DERIVATIVE) and not callable(getattr(prim, slot))]
    assert not bad


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
