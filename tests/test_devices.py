"""Devices: several CPU devices, sharded jit through XLA's SPMD partitioner, several
processes, and the platform choice (CUDA is checked only as far as a machine without
a GPU allows: discovery, and clear errors).

The client is made once per process with a fixed device count, so checks that need
several devices run in subprocesses (tests/multidevice_checks.py, tests/distributed_worker.py).
"""
import json
import os
import socket
import subprocess
import sys

import numpy as onp
import pytest

import s2s
from s2s.sharding import NamedSharding, P, ShardedArray
from s2s.xla import gpu_targets, platforms

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _run(args, env_extra, timeout=240):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2", **env_extra)
    for name in ("S2S_NUM_CPU_DEVICES", "S2S_PLATFORM", "XLA_FLAGS"):
        if name not in env_extra:
            env.pop(name, None)
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_one_process_devices():
    assert s2s.default_backend() == "cpu"
    assert s2s.device_count() == len(s2s.devices()) == len(s2s.local_devices()) >= 1
    assert s2s.process_index() == 0 and s2s.process_count() == 1


def test_sharded_jit_on_this_process_devices():
    mesh = s2s.make_mesh((s2s.device_count(),), ("batch",))
    data = NamedSharding(mesh, P("batch"))
    x = onp.arange(8.0, dtype=onp.float32).reshape(8, 1) * onp.ones((1, 3), onp.float32)
    f = s2s.jit(lambda x: onp.tanh(x) * 2.0, in_shardings=data, out_shardings=data)
    y = f(x)
    assert isinstance(y, ShardedArray) and y.sharding == data and y.shape == (8, 3)
    onp.testing.assert_allclose(onp.asarray(y), onp.tanh(x) * 2.0, rtol=1e-6)
    assert float(s2s.jit(lambda v: v.sum(), in_shardings=data)(x)) == x.sum()
    assert "mhlo.sharding" in f.lower(x).as_text()


def test_several_cpu_devices():
    """S2S_NUM_CPU_DEVICES=8: placement, sharded jit and grad, propagation, constraints,
    data-parallel MLP training equal to one device, errors, and no jax import."""
    r = _run([os.path.join(HERE, "multidevice_checks.py")],
             {"S2S_NUM_CPU_DEVICES": "8", "XLA_FLAGS": "--xla_force_host_platform_device_count=8"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("ok ") == 8, r.stdout


def test_xla_flag_gives_cpu_devices():
    r = _run(["-c", "import s2s; print(s2s.device_count())"],
             {"XLA_FLAGS": "--xla_force_host_platform_device_count=3"})
    assert r.returncode == 0 and r.stdout.split()[-1] == "3", r.stdout + r.stderr


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_one_sharded_step():
    """2 processes x 4 CPU devices run one data-parallel jit(grad) step; each gets the
    gradient one process computes alone."""
    sys.path.insert(0, HERE)
    from distributed_worker import problem
    from seed_programs import logprob_fun
    port = str(_free_port())
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", S2S_NUM_CPU_DEVICES="4")
    env.pop("XLA_FLAGS", None)
    env.pop("S2S_PLATFORM", None)
    worker = os.path.join(HERE, "distributed_worker.py")
    procs = [subprocess.Popen([sys.executable, worker, str(i), port], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outputs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=180)
            outputs.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    expected = s2s.grad(logprob_fun)(*problem())
    for code, out, err in outputs:
        assert code == 0, out + err
        line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1]
        got = json.loads(line[len("RESULT "):])
        for layer, ref in zip(got, expected):
            for g, r in zip(layer, ref):
                onp.testing.assert_allclose(onp.array(g, onp.float32), r, rtol=1e-5, atol=1e-5)


def test_distributed_initialize_after_first_computation_is_an_error():
    s2s.jit(lambda x: x + 1)(onp.ones(2, onp.float32))
    with pytest.raises(RuntimeError, match="before the first computation"):
        s2s.distributed.initialize("127.0.0.1:1", 2, 1, initialization_timeout=1)
    assert not s2s.distributed.is_initialized()


def test_platform_choice_errors():
    s2s.config.update("platform", "tpu")
    try:
        with pytest.raises(ValueError, match="S2S_PLATFORM='tpu'.*cpu, cuda"):
            platforms.chosen_platform()
    finally:
        s2s.config.update("platform", "")
    assert platforms.find_cuda_plugin() is None  # no GPU plugin on the test machines
    assert gpu_targets.plugin_extensions() == []
    r = _run(["-c", "import s2s; s2s.devices()"], {"S2S_PLATFORM": "cuda"})
    assert r.returncode != 0
    assert "S2S_PLATFORM=cuda: the CUDA PJRT plugin is not installed" in r.stderr, r.stderr
    assert "pip install 's2s[cuda12]'" in r.stderr


def test_cuda_plugin_found_on_sys_path_without_importing_it(tmp_path):
    """A (fake) plugin library is found on sys.path; S2S_PLATFORM=cuda reports that it
    cannot be used, and with no choice s2s falls back to the CPU."""
    folder = tmp_path / "jax_plugins" / "xla_cuda12"
    folder.mkdir(parents=True)
    (folder / "xla_cuda_plugin.so").write_bytes(b"not a shared library")
    (folder / "__init__.py").write_text("raise ImportError('s2s must not import the plugin')\n")
    code = ("import sys; sys.path.insert(0, %r); import s2s; from s2s.xla import platforms; "
            "print(platforms.find_cuda_plugin()); print(s2s.default_backend())" % str(tmp_path))
    r = _run(["-c", code], {"S2S_PLATFORM": "cuda"})
    assert r.returncode != 0 and "found no usable GPU" in r.stderr, r.stdout + r.stderr
    r = _run(["-c", code], {})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(folder / "xla_cuda_plugin.so"), "cpu"]


def test_lapack_targets_refused_off_the_cpu():
    from s2s.xla import lapack
    text = 'stablehlo.custom_call @lapack_sgetrf_ffi(%arg0)'
    with pytest.raises(NotImplementedError, match="on cuda it is not supported yet"):
        lapack.prepare_module(text, "cuda")
    lapack.prepare_module("module {}", "cuda")  # no LAPACK call: nothing to refuse


def test_device_count_setting_must_be_an_integer(monkeypatch):
    config_module = sys.modules["s2s.config"]  # (s2s.config is the Config object)
    monkeypatch.setenv("S2S_NUM_CPU_DEVICES", "eight")
    with pytest.raises(ValueError, match="S2S_NUM_CPU_DEVICES must be an integer, got 'eight'"):
        config_module._env_int("S2S_NUM_CPU_DEVICES")
    monkeypatch.setenv("S2S_NUM_CPU_DEVICES", " 4 ")
    assert config_module._env_int("S2S_NUM_CPU_DEVICES") == 4
