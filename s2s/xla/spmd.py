"""Arrays and computations spread over several devices, through XLA's SPMD partitioner.

``put`` splits a host array over devices as a ``Sharding`` says and returns a
``ShardedArray``; ``compile_sharded`` writes the shardings of a computation's
arguments and results into its StableHLO (``mhlo.sharding``), compiles it for
all the devices at once (``num_partitions``), and runs it on ``ShardedArray``
or host arguments. XLA's partitioner inserts the collectives (a gradient
``psum`` of data-parallel training is an ``all-reduce`` it writes).

Reading a sharded array back to the host is explicit: ``numpy.asarray(x)``.
The shards are read without jaxlib's per-shard arrays (whose avals make jaxlib
import jax): each addressable shard is exported through DLPack.

>>> import numpy as np
>>> from s2s.xla import runtime, sharding
>>> mesh = sharding.make_mesh((runtime.device_count(),), ("batch",))
>>> x = put(np.arange(4.0, dtype=np.float32), sharding.NamedSharding(mesh, sharding.P("batch")))
>>> np.asarray(x)
array([0., 1., 2., 3.], dtype=float32)
"""
import numpy as np

from s2s.codegen.stablehlo import mlir_context
from s2s.core.config import config
from s2s.xla import compile_cache, lapack, runtime
from s2s.xla.sharding import (_xla_sharding_class, GSPMDSharding, Mesh, NamedSharding, PartitionSpec, Sharding)


class ShardedArray:
    """An array laid out over several devices (a sharded ``jit`` result, ``s2s.device_put``).

    ``.sharding`` says which device holds which slice; ``numpy.asarray(x)`` gathers
    it to the host; passing it to a ``jit`` function uses the device buffers as
    they are.
    """

    __slots__ = ("_buffer", "sharding", "shape", "dtype")

    def __init__(self, buffer, sharding, shape, dtype):
        self._buffer = buffer
        self.sharding = sharding
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def block_until_ready(self):
        """Waits for the computation that makes this array; returns it."""
        self._buffer.block_until_ready()
        return self

    def devices(self):
        """The devices holding a piece of this array."""
        return set(self.sharding.device_list)

    @property
    def is_fully_replicated(self):
        return self.sharding.is_fully_replicated(self.ndim)

    @property
    def is_fully_addressable(self):
        return self.sharding.addressable_devices == self.sharding.device_set

    @property
    def addressable_shards(self):
        """``[Shard]`` of this process's devices: ``.device``, ``.index`` (slices), ``.data``."""
        index_map = self.sharding.devices_indices_map(self.shape)
        local = self.sharding.addressable_devices
        return [Shard(d, index_map[d], self) for d in self.sharding.device_list if d in local]

    def __array__(self, dtype=None, copy=None):
        out = _gather(self)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __float__(self):
        return float(self._scalar())

    def __int__(self):
        return int(self._scalar())

    def __bool__(self):
        return bool(self._scalar())

    def item(self):
        return self._scalar().item()

    def _scalar(self):
        if self.size != 1:
            raise TypeError(f"only one-element arrays convert to Python scalars, this one has "
                            f"shape {self.shape}")
        return np.asarray(self).reshape(())

    def __repr__(self):
        try:
            body = np.array_repr(np.asarray(self))
        except ValueError:  # spans other processes' devices
            body = f"{self.dtype.name}{list(self.shape)}"
        return f"ShardedArray({body}, sharding={self.sharding!r})"


class Shard:
    """One device's piece of a ``ShardedArray``."""

    __slots__ = ("device", "index", "_array")

    def __init__(self, device, index, array):
        self.device = device
        self.index = index
        self._array = array

    @property
    def data(self):
        """The piece as a host NumPy array."""
        return _shard_data(self._array, self.device)

    def __repr__(self):
        return f"Shard(device={self.device!r}, index={self.index!r})"


class _DLPack:
    """Hands a DLPack capsule to ``numpy.from_dlpack``."""

    def __init__(self, capsule):
        self._capsule = capsule

    def __dlpack__(self, stream=None, **kwargs):
        return self._capsule

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU: host memory


def _shard_data(array, device):
    """A copy of ``device``'s piece of ``array``: the buffer exported first through
    DLPack, after reordering the shards so that it comes first."""
    xc = runtime._xla_client()
    sharding = array.sharding
    order = sharding.device_list
    buffer = array._buffer
    if order[0] != device:
        order = (device,) + tuple(d for d in order if d != device)
        moved = _xla_with_devices(sharding, order, array.ndim)
        buffer = xc.reorder_shards(buffer, moved, xc.ArrayCopySemantics.REUSE_INPUT)
    if not runtime.on_host():  # GPU memory: jaxlib copies the first shard out
        return np.array(buffer._single_device_array_to_np_array_did_copy()[0], dtype=array.dtype)
    capsule = xc._xla.buffer_to_dlpack_managed_tensor(buffer)
    return np.array(np.from_dlpack(_DLPack(capsule)), dtype=array.dtype)


def _xla_with_devices(sharding, order, ndim):
    xc = runtime._xla_client()
    return _xla_sharding_class()(xc.DeviceList(tuple(order)), sharding.hlo_sharding(ndim))


def _gather(array):
    """The whole of ``array`` on the host, from this process's shards."""
    if array.is_fully_replicated:
        local = sorted(array.sharding.addressable_devices, key=array.sharding.device_list.index)
        return _shard_data(array, local[0])
    index_map = array.sharding.devices_indices_map(array.shape)
    local = array.sharding.addressable_devices
    needed = {_index_key(ix) for ix in index_map.values()}
    have = {}
    for d in array.sharding.device_list:
        key = _index_key(index_map[d])
        if d in local and key not in have:
            have[key] = (d, index_map[d])
    if set(have) != needed:
        raise ValueError(
            "this array has pieces on devices of other processes; numpy.asarray reads only this "
            "process's. Make the result replicated (out_shardings=NamedSharding(mesh, P())) "
            "to read it everywhere, or read .addressable_shards")
    out = np.empty(array.shape, array.dtype)
    for device, index in have.values():
        out[index] = _shard_data(array, device)
    return out


def _index_key(index):
    return tuple((s.start, s.stop) for s in index)


def put(x, sharding):
    """Host array ``x`` split over devices as ``sharding`` says, as a ``ShardedArray``.

    Every process passes the whole array; each puts its own devices' pieces.
    """
    if not isinstance(sharding, Sharding):
        raise TypeError(f"expected a sharding (s2s.sharding.NamedSharding), got "
                        f"{type(sharding).__name__}")
    if isinstance(x, ShardedArray):
        if x.sharding.is_equivalent_to(sharding, x.ndim):
            return x
        x = np.asarray(x)
    x = np.asarray(x)
    xc = runtime._xla_client()
    index_map = sharding.devices_indices_map(x.shape)
    local = sharding.addressable_devices
    devices = [d for d in sharding.device_list if d in local]
    # One single-device buffer per device, assembled into one array: jaxlib's batched
    # put of a whole sharded array fails on partly replicated layouts.
    x64 = bool(config.enable_x64)
    semantics = xc.HostBufferSemantics.IMMUTABLE_ONLY_DURING_CALL
    pieces = []
    for d in devices:
        piece = np.ascontiguousarray(x[index_map[d]])
        pieces.append(xc.batched_device_put(runtime._PutAval(piece.shape, piece.dtype),
                                            runtime.single_device_sharding(d), [piece], [d],
                                            True, False, semantics, x64))
    buffer = xc.ArrayImpl(runtime._PutAval(x.shape, x.dtype), sharding._xla(x.ndim), pieces,
                          True, True)
    return ShardedArray(buffer, sharding, x.shape, x.dtype)


def common_devices(shardings):
    """The one device list all ``shardings`` use (the executable's device assignment)."""
    lists = {s.device_list for s in shardings if s is not None}
    if len(lists) > 1:
        described = "; ".join(str(ids) for ids in sorted([d.id for d in ds] for ds in lists))
        raise ValueError(f"one jit computation uses shardings over different device lists "
                         f"({described}); put every argument and result on the same mesh")
    return lists.pop() if lists else None


def replicated(devices):
    """A sharding that puts a whole copy on every one of ``devices``."""
    return NamedSharding(Mesh(np.array(devices, dtype=object), ("_replica",)), PartitionSpec())


def annotate(text, in_shardings, out_avals, out_shardings, num_partitions):
    """Module ``text`` with ``mhlo.sharding`` on main's arguments and results.

    ``out_shardings`` entries may be None: XLA's sharding propagation picks those.
    """
    from jaxlib.mlir import ir
    with mlir_context():
        module = ir.Module.parse(text)
        module.operation.attributes["mhlo.num_partitions"] = ir.IntegerAttr.get(
            ir.IntegerType.get_signless(32), num_partitions)
        main = next(op for op in module.body.operations
                    if ir.StringAttr(op.attributes["sym_name"]).value == "main")

        def attrs(shardings, ndims):
            return ir.ArrayAttr.get([
                ir.DictAttr.get({} if s is None else
                                {"mhlo.sharding": ir.StringAttr.get(s.mlir_sharding(n))})
                for s, n in zip(shardings, ndims)])

        arg_types = ir.FunctionType(ir.TypeAttr(main.attributes["function_type"]).value).inputs
        main.attributes["arg_attrs"] = attrs(in_shardings,
                                             [ir.RankedTensorType(t).rank for t in arg_types])
        main.attributes["res_attrs"] = attrs(out_shardings, [len(a.shape) for a in out_avals])
        return str(module)


class ShardedExecutable:
    """A computation compiled for several devices: host arrays or ``ShardedArray``s in,
    ``ShardedArray``s out."""

    def __init__(self, loaded, text, in_avals, out_avals, in_shardings, out_shardings):
        self._loaded = loaded
        self.text = text
        self.in_avals = list(in_avals)
        self.out_avals = list(out_avals)
        self.in_shardings = list(in_shardings)
        self.out_shardings = list(out_shardings)
        xc = runtime._xla_client()
        self._handlers = [xc.array_result_handler(runtime._PutAval(a.shape, a.dtype),
                                                  s._xla(len(a.shape)), True, _skip_checks=True)
                          for a, s in zip(out_avals, self.out_shardings)]

    def _argument(self, x, aval, sharding):
        if type(x) is ShardedArray:
            s = x.sharding
            if s is sharding or s == sharding or s.is_equivalent_to(sharding, x.ndim):
                return x._buffer
        return put(np.asarray(x, aval.dtype), sharding)._buffer

    def run(self, arrays):
        """Runs on the arguments (each of the shape and dtype compiled for)."""
        buffers = [self._argument(x, a, s)
                   for x, a, s in zip(arrays, self.in_avals, self.in_shardings)]
        results = self._loaded.execute_sharded(buffers).consume_with_handlers(self._handlers)
        return [ShardedArray(r, s, a.shape, a.dtype)
                for r, s, a in zip(results, self.out_shardings, self.out_avals)]

    def hlo_text(self):
        """XLA's optimized HLO, after partitioning (one device's program)."""
        return self._loaded.hlo_modules()[0].to_string()

    def cost_analysis(self):
        return self._loaded.cost_analysis()


def compile_sharded(text, in_avals, out_avals, in_shardings, out_shardings, host_callbacks=(),
                    devices=None):
    """Compiles module ``text`` for the devices of its shardings, partitioned by XLA.

    ``in_shardings``: one per argument; ``out_shardings``: one per result, None
    for the ones XLA's sharding propagation should choose. ``devices``: the device
    assignment (default: the shardings' devices).
    """
    xc = runtime._xla_client()
    client = runtime.client()
    devices = devices or common_devices(list(in_shardings) + list(out_shardings))
    n = len(devices)
    annotated = annotate(text, in_shardings, out_avals, out_shardings, n)
    options = runtime.compile_options()
    options.num_replicas = 1
    options.num_partitions = n
    build = options.executable_build_options
    build.use_spmd_partitioning = True
    build.allow_spmd_sharding_propagation_to_output = [s is None for s in out_shardings]
    options.device_assignment = xc.DeviceAssignment.create(
        np.array([d.id for d in devices]).reshape(1, n))
    lapack.prepare_module(annotated, client.platform)
    if host_callbacks:
        raise NotImplementedError("host callbacks (debug.print, pure_callback) under a sharded "
                                  "jit are not supported yet; call them outside the sharded jit")
    device_list = xc.DeviceList(tuple(devices))
    loaded = compile_cache.compile_or_load(
        client, annotated, devices, options,
        lambda: client.compile_and_load(annotated, device_list, options))
    if any(s is None for s in out_shardings):
        # None when there is one device (nothing to choose: everything is replicated).
        chosen = loaded.get_output_shardings() or [None] * len(out_shardings)
        everywhere = replicated(devices)
        out_shardings = [s if s is not None else everywhere if c is None else
                         GSPMDSharding(devices, xc.HloSharding.from_proto(c))
                         for s, c in zip(out_shardings, chosen)]
    executable = ShardedExecutable(loaded, annotated, in_avals, out_avals, in_shardings,
                                   out_shardings)
    executable.host_callbacks = list(host_callbacks)
    return executable
