"""How an array is laid out over devices: JAX's ``Mesh``, ``PartitionSpec``, ``NamedSharding``.

A ``Mesh`` names the axes of an array of devices; a ``PartitionSpec`` says, per
array dimension, which mesh axes split it (``None``: not split). XLA sees the
pair as an ``HloSharding`` over the mesh's devices, in the mesh's order: that is
what ``jit`` writes into the StableHLO (``mhlo.sharding``) for XLA's SPMD
partitioner, and what decides which slice of an array each device holds.

>>> import numpy as np
>>> from s2s.xla import runtime
>>> mesh = Mesh(np.array(runtime.devices()[:1]).reshape(1, 1), ("batch", "model"))
>>> s = NamedSharding(mesh, PartitionSpec("batch"))
>>> s.mlir_sharding(2)
'{replicated}'
>>> s.shard_shape((4, 3))
(4, 3)
"""
import math

import numpy as np

from s2s.xla import runtime


class PartitionSpec(tuple):
    """Per array dimension: a mesh axis name, a tuple of names, or None (not split).

    >>> PartitionSpec("batch", None)
    PartitionSpec('batch', None)
    """

    def __new__(cls, *parts):
        return tuple.__new__(cls, parts)

    def __repr__(self):
        return "PartitionSpec(" + ", ".join(map(repr, self)) + ")"

    def axes(self, ndim):
        """Mesh axis names splitting each of ``ndim`` dimensions (tuples, padded)."""
        if len(self) > ndim:
            raise ValueError(f"{self!r} has {len(self)} entries, more than the array's {ndim} "
                             f"dimensions")
        out = []
        for part in tuple(self) + (None,) * (ndim - len(self)):
            out.append(() if part is None else (part,) if isinstance(part, str) else tuple(part))
        return out

    def normalized(self):
        """The spec without trailing ``None`` (equal layouts compare equal)."""
        parts = list(self)
        while parts and parts[-1] is None:
            parts.pop()
        return PartitionSpec(*parts)


P = PartitionSpec


class Mesh:
    """An n-dimensional array of devices with a name per axis.

    >>> import numpy as np
    >>> from s2s.xla import runtime
    >>> Mesh(np.array(runtime.devices()[:1]), ("x",)).shape
    {'x': 1}
    """

    def __init__(self, devices, axis_names):
        devices = np.asarray(devices, dtype=object)
        axis_names = (axis_names,) if isinstance(axis_names, str) else tuple(axis_names)
        if devices.ndim != len(axis_names):
            raise ValueError(f"a mesh of {devices.ndim} dimensions needs {devices.ndim} axis "
                             f"names, got {axis_names}")
        if len(set(axis_names)) != len(axis_names):
            raise ValueError(f"mesh axis names must differ, got {axis_names}")
        ids = [d.id for d in devices.flat]
        if len(set(ids)) != len(ids):
            raise ValueError(f"a device appears twice in the mesh: ids {ids}")
        self.devices = devices
        self.axis_names = axis_names
        self._key = (tuple(ids), devices.shape, axis_names)

    @property
    def shape(self):
        """``{axis name: size}`` in axis order."""
        return dict(zip(self.axis_names, self.devices.shape))

    @property
    def size(self):
        return self.devices.size

    @property
    def device_list(self):
        """The devices in mesh order (row-major): the executable's device assignment."""
        return tuple(self.devices.flat)

    def __eq__(self, other):
        return isinstance(other, Mesh) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        axes = ", ".join(f"{n!r}: {s}" for n, s in self.shape.items())
        return f"Mesh({{{axes}}}, device ids {list(self._key[0])})"


def make_mesh(axis_shapes, axis_names, devices=None):
    """A mesh of ``axis_shapes`` over ``devices`` (default: all devices, in id order).

    >>> make_mesh((1,), ("batch",)).shape
    {'batch': 1}
    """
    devices = list(runtime.devices() if devices is None else devices)
    axis_shapes = tuple(int(s) for s in axis_shapes)
    if math.prod(axis_shapes) != len(devices):
        raise ValueError(f"a mesh of shape {axis_shapes} needs {math.prod(axis_shapes)} devices, "
                         f"there are {len(devices)} (S2S_NUM_CPU_DEVICES=N sets how many CPU "
                         f"devices there are)")
    return Mesh(np.array(devices, dtype=object).reshape(axis_shapes), axis_names)


class Sharding:
    """A layout over devices: subclasses give ``device_list`` and ``hlo_sharding(ndim)``."""

    device_list = ()

    def hlo_sharding(self, ndim):
        raise NotImplementedError

    def mlir_sharding(self, ndim):
        """The ``mhlo.sharding`` attribute text for an array of ``ndim`` dimensions."""
        return str(self.hlo_sharding(ndim))

    @property
    def device_set(self):
        return set(self.device_list)

    @property
    def addressable_devices(self):
        """The devices of this process among the sharding's."""
        local = set(runtime.local_devices())
        return {d for d in self.device_list if d in local}

    def is_fully_replicated(self, ndim):
        return self.hlo_sharding(ndim).is_replicated()

    def is_equivalent_to(self, other, ndim):
        """Whether ``other`` puts the same slices of an ``ndim``-d array on the same devices."""
        return (isinstance(other, Sharding) and self.device_list == other.device_list
                and self.hlo_sharding(ndim) == other.hlo_sharding(ndim))

    def devices_indices_map(self, shape):
        """``{device: tuple of slices}``: which part of an array of ``shape`` each device holds."""
        return devices_indices_map(self.hlo_sharding(len(shape)), self.device_list, shape)

    def shard_shape(self, shape):
        """The shape of each device's piece of an array of ``shape``."""
        hlo = self.hlo_sharding(len(shape))
        if hlo.is_replicated():
            return tuple(shape)
        tiles = hlo.tile_assignment_dimensions()
        return tuple(_chunk(n, t, shape) for n, t in zip(shape, tiles))

    def _xla(self, ndim):
        """The jaxlib sharding object for ``ndim``-d arrays (cached)."""
        cache = self.__dict__.setdefault("_xla_cache", {})
        sh = cache.get(ndim)
        if sh is None:
            sh = cache[ndim] = _xla_sharding_class()(runtime._xla_client().DeviceList(
                self.device_list), self.hlo_sharding(ndim))
        return sh


def _chunk(n, tiles, shape):
    if n % tiles:
        raise ValueError(f"an array of shape {tuple(shape)} cannot be split evenly: a dimension "
                         f"of {n} over {tiles} devices; pad it to a multiple of {tiles}")
    return n // tiles


class NamedSharding(Sharding):
    """Arrays split over ``mesh`` as ``spec`` says (JAX's ``NamedSharding``).

    >>> import numpy as np
    >>> from s2s.xla import runtime
    >>> mesh = Mesh(np.array(runtime.devices()[:1]), ("batch",))
    >>> NamedSharding(mesh, PartitionSpec("batch")).spec
    PartitionSpec('batch')
    """

    def __init__(self, mesh, spec=PartitionSpec()):
        if not isinstance(mesh, Mesh):
            raise TypeError(f"NamedSharding needs a Mesh, got {type(mesh).__name__}")
        spec = spec if isinstance(spec, PartitionSpec) else PartitionSpec(*spec)
        used = [a for part in spec.axes(len(spec)) for a in part]
        unknown = [a for a in used if a not in mesh.axis_names]
        if unknown:
            raise ValueError(f"{spec!r} names axes {unknown} that mesh {mesh!r} does not have")
        if len(set(used)) != len(used):
            raise ValueError(f"{spec!r} uses a mesh axis twice")
        self.mesh = mesh
        self.spec = spec
        self._hlo = {}

    @property
    def device_list(self):
        return self.mesh.device_list

    def hlo_sharding(self, ndim):
        hlo = self._hlo.get(ndim)
        if hlo is None:
            hlo = self._hlo[ndim] = _named_hlo_sharding(self.mesh, self.spec.axes(ndim))
        return hlo

    def __eq__(self, other):
        return (isinstance(other, NamedSharding) and self.mesh == other.mesh
                and self.spec.normalized() == other.spec.normalized())

    def __hash__(self):
        return hash((self.mesh, self.spec.normalized()))

    def __repr__(self):
        return f"NamedSharding(mesh={self.mesh!r}, spec={self.spec!r})"


class GSPMDSharding(Sharding):
    """An ``HloSharding`` over devices as XLA chose it (outputs left to sharding propagation)."""

    def __init__(self, devices, hlo_sharding):
        self.device_list = tuple(devices)
        self._hlo_sharding = hlo_sharding

    def hlo_sharding(self, ndim):
        return self._hlo_sharding

    def __eq__(self, other):
        return (isinstance(other, GSPMDSharding) and self.device_list == other.device_list
                and self._hlo_sharding == other._hlo_sharding)

    def __hash__(self):
        return hash((self.device_list, self._hlo_sharding))

    def __repr__(self):
        return f"GSPMDSharding({self._hlo_sharding}, device ids {[d.id for d in self.device_list]})"


def _named_hlo_sharding(mesh, dim_axes):
    """Tile assignment of a mesh split: axes that split dimensions first, the rest replicate."""
    xc = runtime._xla_client()
    names = list(mesh.axis_names)
    sizes = mesh.devices.shape
    used = [a for axes in dim_axes for a in axes]
    unused = [a for a in names if a not in used]
    tiles = [math.prod(sizes[names.index(a)] for a in axes) for axes in dim_axes]
    replicas = math.prod(sizes[names.index(a)] for a in unused)
    if math.prod(tiles) == 1:
        return xc.HloSharding.replicate()
    # Logical ids are positions in the mesh's device list; move the splitting axes to
    # the front, in the order the dimensions name them, and read the ids row-major.
    ids = np.arange(mesh.size).reshape(sizes).transpose([names.index(a) for a in used + unused])
    op = xc.OpSharding()
    op.type = xc.OpSharding.Type.OTHER
    op.tile_assignment_dimensions = tiles + ([replicas] if replicas > 1 else [])
    op.tile_assignment_devices = [int(i) for i in ids.reshape(-1)]
    op.replicate_on_last_tile_dim = replicas > 1
    return xc.HloSharding.from_proto(op)


def devices_indices_map(hlo, device_list, shape):
    """``{device: slices}`` of an array of ``shape`` laid out by ``hlo`` over ``device_list``."""
    full = tuple(slice(None) for _ in shape)
    if hlo.is_replicated():
        return {d: full for d in device_list}
    if hlo.is_maximal():
        return {device_list[hlo.tile_assignment_devices()[0]]: full}
    if hlo.is_manual() or hlo.subgroup_types() and not hlo.replicate_on_last_tile_dim():
        raise NotImplementedError(f"s2s cannot place arrays laid out as {hlo}")
    tiles = list(hlo.tile_assignment_dimensions())
    ids = np.asarray(hlo.tile_assignment_devices()).reshape(tiles)
    chunks = [_chunk(n, t, shape) for n, t in zip(shape, tiles)]
    out = {}
    for position in np.ndindex(*tiles):
        out[device_list[ids[position]]] = tuple(
            slice(p * c, (p + 1) * c) for p, c in zip(position, chunks))
    return out


def _xla_sharding_class():
    """jaxlib's ``GSPMDSharding`` with the two reads its C++ makes of jax's subclass."""
    cls = _XLA_CLASS.get("cls")
    if cls is None:
        xc = runtime._xla_client()

        class _XlaSharding(xc.GSPMDSharding):
            memory_kind = None

            def _to_xla_hlo_sharding(self, ndim):
                return self._hlo_sharding

        cls = _XLA_CLASS["cls"] = _XlaSharding
    return cls


_XLA_CLASS = {}
