"""Backends and devices: lazy CuPy, failing well without a GPU, dispatch, and device mixing.

Nothing here needs a GPU. The "CuPy installed but no driver" case runs twice: once with a
fake CuPy module (always), and once with the real CuPy when it is installed (CI installs
``cupy-cuda12x``; there a missing CuPy fails instead of skipping).
"""

import os
import subprocess
import sys
import types

import numpy as np
import pytest
import standin_device as sd

import minidl
from minidl import array_backend as backend
from minidl.array_backend import DeviceMismatchError
from minidl.errors import BackendUnavailableError, MinidlError


@pytest.fixture(autouse=True)
def _standin_and_clean_gpu_slot(monkeypatch):
    """Register the stand-in device; never let a test leave a (fake) GPU backend behind."""
    sd.install()
    monkeypatch.delitem(backend._backends, "gpu", raising=False)
    yield
    backend._backends.pop("gpu", None)


def _run_python(code, **env):
    """Run ``code`` in a fresh interpreter (this one has minidl imported already)."""
    environment = {**os.environ, **env}
    return subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, env=environment, timeout=120)


# ---- import ------------------------------------------------------------------------------


def test_import_minidl_never_imports_cupy_nor_warns():
    # -W error: any warning at import (e.g. from CuPy about a missing driver) fails the run.
    done = _run_python("import sys, minidl; print('cupy' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_minidl_device_gpu_in_the_environment_does_not_break_import():
    code = ("import sys, minidl\n"
            "print(minidl.config.device(), 'cupy' in sys.modules)\n"
            "try:\n"
            "    minidl.backend.get_backend(minidl.config.device())\n"
            "except minidl.BackendUnavailableError as exc:\n"
            "    print('unavailable:', exc)\n")
    done = _run_python(code, MINIDL_DEVICE="gpu", CUDA_VISIBLE_DEVICES="")
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()[:2]
    assert first == "gpu False"
    assert second.startswith("unavailable: device 'gpu'")


# ---- failing well ------------------------------------------------------------------------


def test_gpu_without_cupy_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError
    with pytest.raises(BackendUnavailableError) as info:
        backend.get_backend("gpu")
    message = str(info.value)
    assert "CuPy, which is not installed" in message
    assert "pip install 'minidl[gpu]'" in message
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, MinidlError)


@pytest.mark.parametrize("name", ["gpu", "cuda", "cuda:0", "GPU"])
def test_every_gpu_alias_fails_the_same_way(monkeypatch, name):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(BackendUnavailableError, match="minidl\\[gpu\\]"):
        backend.get_backend(name)


def _fake_cupy(get_device_count):
    runtime = types.SimpleNamespace(getDeviceCount=get_device_count)
    return types.SimpleNamespace(__version__="99.0", cuda=types.SimpleNamespace(runtime=runtime),
                                 ndarray=type("ndarray", (), {}))


def test_gpu_with_cupy_but_no_driver_says_so(monkeypatch):
    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(no_driver))
    with pytest.raises(BackendUnavailableError) as info:
        backend.get_backend("gpu")
    message = str(info.value)
    assert "CuPy 99.0 is installed but no CUDA device is usable" in message
    assert "cudaErrorInsufficientDriver" in message and "nvidia-smi" in message
    assert "gpu" not in backend._backends  # a failed load leaves nothing half-registered


def test_gpu_with_cupy_and_zero_devices_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(lambda: 0))
    with pytest.raises(BackendUnavailableError, match="sees no CUDA device"):
        backend.get_backend("gpu")


def test_real_cupy_without_a_driver_gives_the_clear_error():
    try:
        import cupy
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must install CuPy (pip install cupy-cuda12x) for this test")
        pytest.skip("CuPy is not installed")
    try:
        has_device = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        has_device = False
    if has_device:
        pytest.skip("this machine has a GPU: the no-driver path cannot be shown here")
    with pytest.raises(BackendUnavailableError, match="is installed but no CUDA device"):
        backend.get_backend("gpu")
    with pytest.raises(BackendUnavailableError, match="is installed but no CUDA device"):
        minidl.config.set_device("gpu")


def test_set_device_gpu_fails_at_once_and_keeps_the_device(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    before = minidl.config.device()
    with pytest.raises(BackendUnavailableError):
        minidl.config.set_device("gpu")
    assert minidl.config.device() == before


def test_set_device_accepts_registered_devices():
    try:
        minidl.config.set_device("standin")
        assert minidl.config.device() == "standin"
    finally:
        minidl.config.set_device("cpu")
    assert minidl.config.device() == "cpu"


def test_unknown_device_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"Unknown device 'tpu'; expected one of .*'cpu'.*'gpu'"):
        backend.get_backend("tpu")


def test_cpu_aliases():
    for name in ("cpu", "CPU", "numpy", "host", backend.CPU):
        assert backend.get_backend(name) is backend.CPU


# ---- dispatch ----------------------------------------------------------------------------


def test_get_array_module_of_host_arrays_and_non_arrays_is_numpy():
    assert backend.get_array_module() is np
    assert backend.get_array_module(np.ones(2), 3.0, None, np.float32(1)) is np
    subclass = type("HostSubclass", (np.ndarray,), {})
    assert backend.get_array_module(np.ones(2).view(subclass)) is np


def test_get_array_module_of_device_arrays_is_the_device_namespace():
    a = sd.standin(np.ones(3))
    assert backend.get_array_module(a) is sd.xp
    assert backend.get_array_module(2.0, a, a) is sd.xp


def test_mixing_devices_names_both_devices_and_the_fix():
    host, device = np.ones(3), sd.standin(np.ones(3))
    with pytest.raises(DeviceMismatchError) as info:
        backend.get_array_module(device, 1.0, host)
    message = str(info.value)
    assert "argument 0 is on 'standin' (standin_device.StandinArray)" in message
    assert "argument 2 is on 'cpu' (numpy.ndarray)" in message
    assert "tensor.to('standin')" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, MinidlError)


def test_check_same_device_names_the_operation():
    backend.check_same_device([np.ones(2), np.zeros(3)], "MatMul")  # fast path: no error
    backend.check_same_device([sd.standin(np.ones(2))] * 2, "MatMul")
    with pytest.raises(DeviceMismatchError, match=r"^MatMul: .*'cpu'.*'standin'"):
        backend.check_same_device([np.ones(2), sd.standin(np.ones(2))], "MatMul")


def test_backend_of_and_device_of():
    assert backend.backend_of(np.ones(2)) is backend.CPU
    assert backend.backend_of(np.float64(2)) is backend.CPU
    assert backend.backend_of(sd.standin(np.ones(2))) is sd.BACKEND
    assert backend.device_of(sd.standin(np.ones(2))) == "standin"
    with pytest.raises(TypeError, match="backend_of expects an array .* got list"):
        backend.backend_of([1, 2])


def test_to_device_round_trip_and_no_copy_on_the_same_device():
    host = np.arange(6.0).reshape(2, 3)
    device = backend.to_device(host, "standin")
    assert type(device) is sd.StandinArray
    back = backend.to_device(device, "cpu")
    assert type(back) is np.ndarray and np.array_equal(back, host) and back is not host
    assert backend.to_device(host, "cpu") is host
    assert backend.to_device(device, "standin") is device


def test_uniform_draws_the_same_numbers_on_every_device():
    # Drawn on the host, then moved: set_random_seed gives the same masks on CPU and GPU.
    host = backend.CPU.uniform(np.random.default_rng(7), (3, 4), "float32")
    device = sd.BACKEND.uniform(np.random.default_rng(7), (3, 4), "float32")
    assert host.dtype == np.float32 and device.dtype == np.float32
    assert np.array_equal(sd.BACKEND.to_numpy(device), host)
    assert np.array_equal(host, np.random.default_rng(7).random((3, 4), dtype=np.float32))


def test_cpu_synchronize_is_a_no_op():
    assert backend.CPU.synchronize() is None
