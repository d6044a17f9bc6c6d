"""Activity analysis: which variables need an adjoint.

A variable is *varied* when it depends on a differentiated input, and *useful*
when the output depends on it; only variables that are both get adjoints (and
only statements defining them get adjoint code). Both are fixpoints over the
normal form, flow-insensitive per variable name. Operations with a zero
derivative (comparisons, ``len``, ``.shape``, ``floor``...) stop varied-ness.

>>> import gast
>>> from s2s.parse.quoting import quote
>>> fdef = quote('''
... def f(x, n):
...     y = x * 2.0
...     k = n + 1
...     z = y > 0
...     return y
... ''')[0]
>>> sorted(active_variables(fdef, {"x"}, lambda call: True))
['x', 'y']
"""
import gast

from s2s.parse import quoting as q
from s2s.parse.resolve import local_names


_NONDIFF_ATTRIBUTES = {"shape", "ndim", "dtype", "size", "itemsize", "nbytes"}


def _reads(node):
    return {n.id for n in q.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}


def _value_is_differentiable(value, differentiable_call):
    if isinstance(value, gast.Compare):
        return False
    if isinstance(value, gast.UnaryOp) and isinstance(value.op, gast.Not):
        return False
    if isinstance(value, gast.BinOp) and isinstance(value.op, (gast.FloorDiv, gast.BitAnd, gast.BitOr,
                                                                gast.BitXor, gast.LShift, gast.RShift)):
        return False
    if isinstance(value, gast.Attribute) and value.attr in _NONDIFF_ATTRIBUTES:
        return False
    if isinstance(value, (gast.JoinedStr, gast.Set)):
        return False
    if isinstance(value, gast.Call):
        return differentiable_call(value)
    return True


def _grows_list(call):
    return isinstance(call.func, gast.Name) and call.func.id in ("append", "extend")


def _tuple_displays(fdef):
    """Names assigned once in ``fdef``, from a tuple display (``t = (a, b)``): name -> the
    display's items. Their items are tracked one by one (``tuple_items`` of ``_flows``)."""
    stores = {}
    for n in q.walk(fdef):
        if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Del)):
            stores[n.id] = stores.get(n.id, 0) + 1
    out = {}
    for s in q.walk(fdef):
        if isinstance(s, gast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], gast.Name) \
                and isinstance(s.value, gast.Tuple) and stores.get(s.targets[0].id) == 1 \
                and not any(isinstance(e, gast.Starred) for e in s.value.elts):
            out[s.targets[0].id] = s.value.elts
    return out


def _item_flows(t, value, displays):
    """Flows of ``t = name[k]`` and ``a, b = name`` where ``name`` is a tuple display
    assigned once: from the display's items, not the whole tuple (None otherwise). So
    ``(x,), (t,) = primals, tangents`` leaves ``x`` unvaried when only ``tangents`` is."""
    if isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name) \
            and value.value.id in displays and isinstance(value.slice, gast.Constant) \
            and type(value.slice.value) is int:
        elts = displays[value.value.id]
        k = value.slice.value
        if -len(elts) <= k < len(elts):
            return [({n.id for n in q.walk(t) if isinstance(n, gast.Name)}, _reads(elts[k]))]
    if isinstance(value, gast.Name) and value.id in displays and isinstance(t, (gast.Tuple, gast.List)):
        elts = displays[value.id]
        if len(t.elts) == len(elts) and not any(isinstance(e, gast.Starred) for e in t.elts):
            return [({n.id for n in q.walk(te) if isinstance(n, gast.Name)}, _reads(e))
                    for te, e in zip(t.elts, elts)]
    return None


def _flows(fdef, differentiable_call, grows_list=_grows_list, tuple_items=False):
    """(targets, sources) pairs: values flow from sources into targets. ``grows_list(call)``
    tells the calls that append to their first argument. With ``tuple_items``, items of
    tuple displays flow on their own (only for varied-ness: the whole tuple still needs
    an adjoint to pass one to its items' sources, so usefulness keeps it)."""
    flows = []
    displays = _tuple_displays(fdef) if tuple_items else {}

    def visit(stmts):
        for s in stmts:
            if isinstance(s, gast.Assign):
                t = s.targets[0]
                items = _item_flows(t, s.value, displays) if displays else None
                if items is not None:
                    flows.extend(items)
                elif _value_is_differentiable(s.value, differentiable_call):
                    targets = {n.id for n in q.walk(t) if isinstance(n, gast.Name)}
                    sources = _reads(s.value)
                    if isinstance(s.value, gast.Subscript):
                        sources = _reads(s.value.value)  # indices carry no derivative
                    flows.append((targets, sources))
            elif isinstance(s, gast.Expr) and isinstance(s.value, gast.Call):
                call = s.value
                if grows_list(call) and call.args:
                    xs = call.args[0]
                    if isinstance(xs, gast.Name):
                        flows.append(({xs.id}, _reads(gast.Tuple(elts=call.args[1:], ctx=gast.Load()))))
            elif isinstance(s, (gast.If, gast.For, gast.While)):
                visit(s.body)
                visit(s.orelse)
            elif isinstance(s, gast.FunctionDef):
                # A local function is a value made from what it reads of this function:
                # ``s2s.vmap(inner)``, ``partial``s and aliases of it carry those values.
                flows.append(({s.name}, free_reads(s)))
    visit(fdef.body)
    return flows


def free_reads(fdef):
    """The names the local function ``fdef`` reads from the function around it."""
    return _reads(fdef) - local_names(fdef)


def varied_variables(fdef, active_params, differentiable_call, grows_list=_grows_list):
    """Variables that depend (through differentiable operations) on ``active_params``."""
    flows = _flows(fdef, differentiable_call, grows_list, tuple_items=True)
    varied = set(active_params)
    changed = True
    while changed:
        changed = False
        for targets, sources in flows:
            if sources & varied and not targets <= varied:
                varied |= targets
                changed = True
    return varied


def useful_variables(fdef, outputs, differentiable_call, grows_list=_grows_list):
    """Variables the ``outputs`` depend on through differentiable operations."""
    flows = _flows(fdef, differentiable_call, grows_list)
    useful = set(outputs)
    changed = True
    while changed:
        changed = False
        for targets, sources in flows:
            if targets & useful and not sources <= useful:
                useful |= sources
                changed = True
    return useful


def returned_names(fdef):
    """The names the function returns (normal form: one ``return`` at the end)."""
    ret = fdef.body[-1] if fdef.body else None
    if isinstance(ret, gast.Return) and isinstance(ret.value, gast.Name):
        return {ret.value.id}
    return set()


def active_variables(fdef, active_params, differentiable_call, grows_list=_grows_list):
    """Variables that need adjoints: varied and useful."""
    varied = varied_variables(fdef, active_params, differentiable_call, grows_list)
    useful = useful_variables(fdef, returned_names(fdef), differentiable_call, grows_list)
    return varied & useful
