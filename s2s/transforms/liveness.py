"""Liveness: which variables a statement's successors may still read.

An analysis pass over normal form: ``annotate(body)`` sets ``node._s2s_live_out``
(the names that may be read after the statement before being reassigned) on
every statement, compound ones included. The control-flow transformation uses
it to carry only the variables that matter through branches and loops.

>>> from s2s.parse.quoting import quote
>>> body = quote("a = 1\\nb = a + 1\\nc = 2\\nreturn b")
>>> _ = annotate(body)
>>> sorted(body[0]._s2s_live_out), sorted(body[2]._s2s_live_out)
(['a'], ['b'])
"""
import gast


def reads(node):
    """Names a statement or expression reads (nested function bodies included)."""
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}


def writes(stmts):
    """Names assigned anywhere in ``stmts`` (not inside nested functions' bodies)."""
    out = set()
    todo = list(stmts)
    while todo:
        n = todo.pop()
        if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store,)):
            out.add(n.id)
        if isinstance(n, gast.Subscript) and isinstance(n.ctx, gast.Store) and isinstance(n.value, gast.Name):
            out.add(n.value.id)  # x[i] = v rebinds x (value semantics)
        if isinstance(n, gast.FunctionDef):
            out.add(n.name)
            continue
        todo.extend(gast.iter_child_nodes(n))
    return out


def annotate(body, live_after=frozenset()):
    """Annotates ``body``'s statements; returns the names live on entry to ``body``."""
    live = set(live_after)
    for s in reversed(body):
        s._s2s_live_out = set(live)
        live = _live_in(s, live)
    return live


def _live_in(s, live_out):
    if isinstance(s, gast.If):
        a = annotate(s.body, live_out)
        b = annotate(s.orelse, live_out)
        return a | b | reads(s.test)
    if isinstance(s, gast.While):
        # Iterate to a fixpoint: what the next iteration reads is live at the end of the body.
        head = set(live_out) | reads(s.test)
        while True:
            entry = annotate(s.body, head)
            new = head | entry
            if new == head:
                break
            head = new
        return head
    if isinstance(s, gast.For):
        head = set(live_out)
        while True:
            entry = annotate(s.body, head) - {s.target.id}
            new = head | entry
            if new == head:
                break
            head = new
        return head | reads(s.iter)
    if isinstance(s, gast.FunctionDef):
        return (live_out - {s.name}) | (reads(s) - _params(s))
    if isinstance(s, gast.Return):
        return reads(s)
    targets = set()
    if isinstance(s, gast.Assign):
        for t in s.targets:
            if isinstance(t, (gast.Name, gast.Tuple)):
                targets |= {n.id for n in gast.walk(t) if isinstance(n, gast.Name)}
    return (live_out - targets) | reads(s)


def _params(fdef):
    a = fdef.args
    names = {x.id for x in a.posonlyargs + a.args + a.kwonlyargs}
    names |= {x.id for x in (a.vararg, a.kwarg) if x is not None}
    return names
