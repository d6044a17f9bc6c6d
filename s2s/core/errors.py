"""Typed errors. Every message says what went wrong, where, and what to do instead."""


class S2SError(Exception):
    """Base class of every error s2s raises on purpose."""


class TransformError(S2SError):
    """A transformation cannot handle a construct in the user's source.

    The message names the user's file and line, the construct, and a way out.
    """

    def __init__(self, message, filename=None, lineno=None, construct=None, hint=None):
        self.filename = filename
        self.lineno = lineno
        self.construct = construct
        self.hint = hint
        where = f"{filename}:{lineno}: " if filename and lineno else ""
        text = f"{where}{message}"
        if hint:
            text += f"\n  Instead: {hint}"
        super().__init__(text)


class UnsupportedSyntaxError(TransformError):
    """Syntax that a transformation rejects up front (the fence)."""


class VaryingFunctionError(TransformError):
    """Batched code calls a function value made once per example (a pullback returned
    by ``s2s.vjp``, say) that it cannot batch; vmap records the call instead."""


class CheckpointRecordError(TransformError):
    """The backward pass of a checkpoint under a policy cannot tell which of two different
    records of the function (same argument shapes) belongs to its call."""


class ConcretizationError(S2SError, TypeError):
    """A staged (abstract) value was used where a concrete Python value is needed."""


class ShapeError(S2SError, ValueError):
    """Operand shapes do not fit an operation; raised before anything reaches XLA."""


class DtypeError(S2SError, TypeError):
    """Operand dtypes do not fit an operation."""


class UndefinedVariableError(S2SError, NameError):
    """A variable was read on a path where it was never assigned."""


class LoweringError(S2SError):
    """s2s produced StableHLO that does not verify: a bug in s2s, please report it."""


class UnexpectedTracerError(S2SError, RuntimeError):
    """A staged value was used after the ``jit`` that made it finished staging (it leaked)."""

__all__ = [name for name, value in dict(globals()).items()
           if isinstance(value, type) and issubclass(value, Exception)]
