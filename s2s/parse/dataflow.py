"""Data-flow facts of normal form, in one place: parameters, assigned names,
definite assignment and liveness.

* ``parameters(fdef)``: a function's parameter names, in signature order.
* ``targets(stmt)``: the names one statement assigns (not looking into blocks);
  ``assigned_in(stmts)``: every name stored anywhere in ``stmts``; ``writes(stmts)``:
  the names ``stmts`` rebind in their own scope (``x[i] = v`` rebinds ``x``).
* ``definitely_assigned(stmts, assigned)``: the names assigned on every path.
* Liveness: ``annotate(body)`` sets ``node._s2s_live_out`` (the names that may be
  read after the statement before being reassigned) on every statement, compound
  ones included; the control-flow transformation uses it to carry only the
  variables that matter through branches and loops, reverse mode to drop dead
  adjoint code.

>>> from s2s.parse.quoting import quote
>>> body = quote("a = 1\\nb = a + 1\\nc = 2\\nreturn b")
>>> _ = annotate(body)
>>> sorted(body[0]._s2s_live_out), sorted(body[2]._s2s_live_out)
(['a'], ['b'])
"""
import gast

from s2s.parse import quoting as q



def reads(node):
    """Names a statement or expression reads (nested function bodies included)."""
    return {n.id for n in q.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}


def writes(stmts):
    """Names assigned anywhere in ``stmts`` (not inside nested functions' bodies)."""
    out = set()
    todo = list(stmts)
    while todo:
        n = todo.pop()
        if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store,)):
            out.add(n.id)
        if isinstance(n, gast.FunctionDef):
            out.add(n.name)
            continue
        todo.extend(q.children(n))
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
        return (live_out - {s.name}) | (reads(s) - set(parameters(s)))
    if isinstance(s, gast.Return):
        return reads(s)
    targets = set()
    if isinstance(s, gast.Assign):
        for t in s.targets:
            if isinstance(t, (gast.Name, gast.Tuple)):
                targets |= {n.id for n in q.walk(t) if isinstance(n, gast.Name)}
    return (live_out - targets) | reads(s)


def parameters(fdef, varargs=True, keyword_only=True):
    """The parameter names of ``fdef`` in signature order (positional, ``*args``,
    keyword-only, ``**kwargs``); ``varargs=False`` leaves out ``*args``/``**kwargs``,
    ``keyword_only=False`` the keyword-only ones.

    >>> from s2s.parse.quoting import quote
    >>> parameters(quote("def f(a, /, b, *xs, c=1, **kw): pass")[0])
    ['a', 'b', 'xs', 'c', 'kw']
    >>> parameters(quote("def f(a, /, b, *xs, c=1, **kw): pass")[0], varargs=False, keyword_only=False)
    ['a', 'b']
    """
    a = fdef.args
    names = [x.id for x in a.posonlyargs + a.args]
    if varargs and a.vararg is not None:
        names.append(a.vararg.id)
    if keyword_only:
        names += [x.id for x in a.kwonlyargs]
    if varargs and a.kwarg is not None:
        names.append(a.kwarg.id)
    return names


def targets(stmt):
    """Names one statement assigns (not looking into nested blocks)."""
    if isinstance(stmt, gast.Assign):
        return [n.id for n in q.walk(stmt.targets[0]) if isinstance(n, gast.Name)]
    if isinstance(stmt, gast.For):
        return [stmt.target.id]
    if isinstance(stmt, gast.FunctionDef):
        return [stmt.name]
    return []


def live_statements(stmts, needed):
    """``(kept, read)``: straight-line ``stmts`` less the assignments to names that neither
    ``needed`` (what is read after them) nor a later kept statement reads; ``read``: the
    names the kept statements read. Statements other than assignments to plain names (a
    call for its effect, ``x[i] = v``) are kept. Reverse mode's recomputation keeps only
    what its tape and result need (a checkpoint's record, ``build_remat_vjp``).

    >>> from s2s.parse.quoting import quote, to_source
    >>> kept, read = live_statements(quote("a = f(x)\\nb = g(a)\\nc = h(x)"), {"b"})
    >>> [to_source(s).strip() for s in kept], sorted(read)
    (['a = f(x)', 'b = g(a)'], ['a', 'f', 'g', 'x'])
    """
    live, read, kept = set(needed), set(), []
    for s in reversed(stmts):
        names = _plain_targets(s)
        if names is not None and not names & live:
            continue
        kept.append(s)
        now = reads(s.value if names is not None else s)
        live |= now
        read |= now
    return kept[::-1], read


def _plain_targets(stmt):
    """The names an assignment to names only (``a = ...``, ``a, b = ...``) binds; None for
    any other statement."""
    if not isinstance(stmt, gast.Assign):
        return None
    names = set()
    for t in stmt.targets:
        elts = t.elts if isinstance(t, gast.Tuple) else [t]
        if not all(isinstance(e, gast.Name) for e in elts):
            return None
        names |= {e.id for e in elts}
    return names


def assigned_in(stmts):
    """Every name stored anywhere in ``stmts`` (nested blocks and functions included)."""
    return {n.id for st in stmts for n in q.walk(st)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}


def definitely_assigned(stmts, assigned=()):
    """The names assigned on every path through ``stmts`` (``assigned``: already before).

    >>> from s2s.parse.quoting import quote
    >>> body = quote("a = 1\\nif c:\\n    b = 2\\n    d = 3\\nelse:\\n    b = 4")
    >>> sorted(definitely_assigned(body))
    ['a', 'b']
    """
    assigned = set(assigned)
    for s in stmts:
        for t in targets(s):
            assigned.add(t)
        if isinstance(s, gast.If):
            assigned |= definitely_assigned(s.body, assigned) & definitely_assigned(s.orelse, assigned)
    return assigned
