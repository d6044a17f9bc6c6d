"""Several processes as one set of devices: jaxlib's distributed runtime service and client.

Call ``initialize`` in every process before the first computation; afterwards
``s2s.devices()`` lists the devices of all processes, ``s2s.local_devices()``
this process's, and a ``Mesh`` over all of them makes one ``jit`` run on every
process (each process passes the same program and its own shards). Process 0
also runs the coordination service at ``coordinator_address``. Every wait is
bounded by ``initialization_timeout`` seconds, so a missing peer is an error,
not a hang.

>>> is_initialized()
False
"""
import atexit
import threading

_lock = threading.Lock()
_state = {"current": None}


class DistributedState:
    """What the client factory needs: the runtime client, this process's id and the count."""

    def __init__(self, client, service, process_id, num_processes, local_hostname):
        self.client = client
        self.service = service
        self.process_id = process_id
        self.num_processes = num_processes
        self.local_hostname = local_hostname


def current():
    """The state ``initialize`` set up, or None in a single-process program."""
    return _state["current"]


def is_initialized():
    """Whether ``initialize`` has run in this process."""
    return _state["current"] is not None


def initialize(coordinator_address, num_processes, process_id, *, initialization_timeout=60,
               heartbeat_timeout=30, local_hostname=None):
    """Joins this process to a group of ``num_processes`` sharing one device set.

    ``coordinator_address``: ``"host:port"`` where process 0 serves the coordination
    service (it binds exactly that address). ``local_hostname``: the address other
    processes reach this one on for CPU collectives (default: the host part of
    ``coordinator_address`` when it is a loopback address, else the host's name).

    >>> initialize("127.0.0.1:0", 1, 5)
    Traceback (most recent call last):
    ...
    ValueError: process_id must be in [0, 1), got 5
    """
    from s2s.xla import runtime
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in [0, {num_processes}), got {process_id}")
    with _lock:
        if _state["current"] is not None:
            raise RuntimeError("s2s.distributed.initialize was already called in this process")
        if runtime.client_made():
            raise RuntimeError(
                "s2s.distributed.initialize must run before the first computation (the device "
                "client exists already); call it at the start of the program")
        from jaxlib import _jax
        service = None
        if process_id == 0:
            service = _jax.get_distributed_runtime_service(
                coordinator_address, num_processes, heartbeat_timeout=heartbeat_timeout,
                shutdown_timeout=initialization_timeout)
        client = _jax.get_distributed_runtime_client(
            coordinator_address, process_id, init_timeout=initialization_timeout,
            heartbeat_timeout=heartbeat_timeout, shutdown_timeout=initialization_timeout,
            shutdown_on_destruction=False)
        try:
            client.connect()
        except Exception as e:
            if service is not None:
                service.shutdown()
            raise RuntimeError(
                f"s2s.distributed.initialize: process {process_id} could not join the "
                f"{num_processes}-process group at {coordinator_address} within "
                f"{initialization_timeout} s: {e}") from None
        if local_hostname is None:
            host = coordinator_address.rsplit(":", 1)[0]
            local_hostname = host if host in ("127.0.0.1", "localhost", "[::1]") else None
        _state["current"] = DistributedState(client, service, process_id, num_processes,
                                             local_hostname)
    atexit.register(shutdown)


def shutdown():
    """Leaves the group (waits for the others, bounded); a no-op when not initialized."""
    with _lock:
        state = _state["current"]
        _state["current"] = None
    if state is None:
        return
    try:
        state.client.shutdown()
    finally:
        if state.service is not None:
            state.service.shutdown()
