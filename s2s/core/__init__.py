"""The bottom layer of s2s: what every other package builds on, importing no other s2s package.

=================  ===========================================================
``primitive``      ``Primitive`` and its rule table, abstract values
                   (``ShapedArray``), the ``Tracer``/``Trace`` protocol
``array``          ``Array``, the eager array type (NumPy's, viewed)
``dtypes``         dtype canonicalization and promotion (public as ``s2s.dtypes``)
``config``         the one configuration object (``s2s.config``)
``errors``         typed errors (public as ``s2s.errors``)
``tree_util``      pytrees (public as ``s2s.tree_util``)
``hooks``          transformations that lower layers call at run time (``vjp``,
                   ``jit``, jit's conversion), installed by the layers that define them
=================  ===========================================================

The layers above, bottom first: ``parse``, ``codegen``, ``xla``, ``trace``, ``lax``,
``numpy``/``scipy``/``random``/``nn``, ``runtime``, ``transforms``, ``api``
(``tests/test_layers.py`` holds the table and enforces it).

>>> from s2s.core import dtypes
>>> dtypes.canonicalize_dtype("float64").name   # 32-bit unless enable_x64
'float32'
"""
__all__ = ["array", "config", "dtypes", "errors", "hooks", "primitive", "tree_util"]
