"""Tracers: staging for ``jit`` (``staging``) and the fallback recorder (``record``)."""
