"""What minidl keeps in memory besides the user's own data.

``fit``/``evaluate`` on float32 arrays must not copy them (MNIST in float32 is 180 MB: a
copy would be the largest thing in the process), and ``import minidl`` must not load the
network stack that only a dataset download needs. Measured with ``tracemalloc``, which
counts NumPy's array buffers: deterministic, no timing.
"""

import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import minidl as keras
from minidl import jit
from minidl.datasets import _files, mnist

ROOT = Path(__file__).resolve().parents[1]
N, FEATURES, BATCH = 2048, 1024, 64  # x is 8 MiB in float32, a batch 256 KiB


def small_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data(dtype):
    rng = np.random.default_rng(0)
    return rng.random((N, FEATURES)).astype(dtype), rng.integers(0, 4, N).astype(np.uint8)


def traced_peak(fn):
    """The most bytes allocated at once (NumPy buffers included) while ``fn()`` runs."""
    # Numba's background set-up (started by import minidl) must not allocate meanwhile.
    jit.wait_for_warm_up()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("call", ["fit", "fit with validation_split", "evaluate"])
def test_float32_data_is_never_copied(call):
    x, y = data(np.float32)
    model = small_model()
    model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, verbose=0)  # builds and loads the kernels
    run = {
        "fit": lambda: model.fit(x, y, batch_size=BATCH, verbose=0),
        "fit with validation_split": lambda: model.fit(x, y, batch_size=BATCH, verbose=0,
                                                       validation_split=0.25),
        "evaluate": lambda: model.evaluate(x, y, batch_size=BATCH, verbose=0),
    }[call]
    # Batches are gathered one at a time (the last one is still alive while the next is
    # gathered); a copy of x would be 32 batches.
    batch_bytes = BATCH * FEATURES * x.itemsize
    assert traced_peak(run) < 4 * batch_bytes


def test_the_measurement_sees_a_copy():
    """float64 data is cast to the model's float32 once: that copy (half of x's bytes)
    shows in the same measurement, so the test above can fail."""
    x, y = data(np.float64)
    model = small_model()
    model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, verbose=0)
    assert traced_peak(lambda: model.fit(x, y, batch_size=BATCH, verbose=0)) >= x.nbytes / 2


def test_load_data_holds_each_array_once(tmp_path):
    """The compressed archive is decompressed straight into the arrays, a chunk of a few
    hundred KiB at a time (so about 1 MiB above the data, whatever its size; for Keras's
    55 MB mnist.npz too): no second copy of x_train at any time."""
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, 10000, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (1000, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, 1000, dtype=np.uint8)}
    path = tmp_path / "mnist.npz"
    np.savez_compressed(path, **arrays)
    total = sum(a.nbytes for a in arrays.values())  # 8.6 MB, x_train 7.8 MB of it
    loaded = []
    assert traced_peak(lambda: loaded.append(mnist.load_data(str(path)))) < total + 2**21
    (x_train, _), _ = loaded[0]
    np.testing.assert_array_equal(x_train, arrays["x_train"])


def test_import_minidl_leaves_the_network_stack_unloaded():
    # urllib.request pulls in http.client, email and ssl: about 7 MB nobody needs unless
    # a dataset file has to be downloaded.
    code = ("import sys, minidl; print([m for m in ('urllib.request', 'http.client', 'ssl', "
            "'email.message') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "[]"


def test_the_download_still_goes_through_urllib(monkeypatch):
    import urllib.request

    calls = []
    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda url, timeout=None: calls.append((url, timeout)) or "response")
    assert _files._urlopen("https://example.invalid/f", timeout=7) == "response"
    assert calls == [("https://example.invalid/f", 7)]
