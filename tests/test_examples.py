"""The MNIST and CSV examples run with --quick, as a user would run them (MINIDL_DATA_DIR).

Each asserts on what the example prints: accuracies parsed from its output must beat what a
model that learned nothing would get (10% on MNIST).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.mnist


def run_example(name, *args, cwd=ROOT):
    if not os.environ.get("MINIDL_DATA_DIR"):
        pytest.skip("MINIDL_DATA_DIR is not set (CI sets it to ../shared/datasets)")
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, str(ROOT / "examples" / name), "--quick", *args],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_02_mlp_from_ops():
    out = run_example("02_mlp_from_ops.py")
    acc = float(re.search(r"Test accuracy: ([0-9.]+)", out).group(1))
    assert acc > 0.85


def test_03_mnist_mlp_prints_like_keras_and_saves_the_plot(tmp_path):
    plot = tmp_path / "history.png"
    out = run_example("03_mnist_mlp.py", "--plot", str(plot))
    assert 'Model: "sequential' in out and "Total params: 101,770" in out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    # 6,000 samples, validation_split=0.2 -> 4,800 train -> 150 steps of 32
    assert re.search(r"150/150 ━+ \d+s \d+(ms|us)/step - accuracy: 0\.\d{4} - loss: "
                     r"\d\.\d{4} - val_accuracy: 0\.\d{4} - val_loss: \d\.\d{4}", out), out
    assert re.search(r"63/63 - \d+s - \d+(ms|us)/step - accuracy: 0\.\d{4} - loss: \d\.\d{4}",
                     out), out
    acc = float(re.search(r"Test accuracy: ([0-9.]+)", out).group(1))
    assert acc > 0.85
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_04_thoracic_surgery():
    data_dir = os.environ.get("MINIDL_DATA_DIR", "")
    if not os.path.exists(os.path.join(data_dir, "ThoraricSurgery.csv")):
        pytest.skip("ThoraricSurgery.csv not found through MINIDL_DATA_DIR")
    out = run_example("04_thoracic_surgery.py")
    assert "Epoch 10/10" in out
    assert re.search(r"47/47 - \d+s - \d+(ms|us)/step - accuracy: 0\.\d{4} - loss: 0\.\d{4}",
                     out), out
    acc = float(re.search(r"final training accuracy: ([0-9.]+)", out).group(1))
    assert acc > 0.5


def test_05_pytorch_style_loop():
    out = run_example("05_pytorch_style_loop.py")
    assert re.search(r"Epoch 1, Loss: [0-9.]+", out)
    acc = float(re.search(r"Test accuracy: ([0-9.]+)", out).group(1))
    assert acc > 0.85


def test_06_backends_explains_the_missing_gpu_and_matches_the_jit_off_twins():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "06_backends.py"),
                             "--quick"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "no GPU: device 'gpu'" in out or "a GPU is available" in out
    gap = float(re.search(r"same predictions to ([0-9.e+-]+)", out).group(1))
    assert gap < 1e-5


def test_10_pytorch_mnist_mlp():
    out = run_example("10_pytorch_mnist_mlp.py")
    assert re.search(r"Epoch 1, Loss: \d\.\d+", out), out
    acc = float(re.search(r"Test accuracy: ([0-9.]+)", out).group(1))
    assert acc > 0.8


def test_11_pytorch_cnn():
    out = run_example("11_pytorch_cnn.py")
    assert re.search(r"\[1,   500\] loss: \d\.\d{3}", out), out
    acc = float(re.search(r"Test accuracy: ([0-9.]+)", out).group(1))
    assert acc > 0.5


def test_08_functional_and_subclassing():
    out = run_example("08_functional_and_subclassing.py")
    assert "Connected to" in out and "concatenate[0][0]" in out
    assert ("History keys: ['digit_accuracy', 'digit_loss', 'even_accuracy', 'even_loss', "
            "'loss']") in out
    digit = float(re.search(r"Functional digit accuracy: ([0-9.]+)", out).group(1))
    even = float(re.search(r"even accuracy: ([0-9.]+)", out).group(1))
    subclassed = float(re.search(r"Subclassed accuracy: ([0-9.]+)", out).group(1))
    quickstart = float(re.search(r"Quickstart accuracy: ([0-9.]+)", out).group(1))
    assert digit > 0.6 and subclassed > 0.6 and quickstart > 0.6  # chance is 0.1
    assert even > 0.6  # chance is 0.5
    assert 'Model: "mlp"' in out and "linear (Linear)" in out and "(None, 64)" in out
    assert "(rows sum to 1): [1. 1. 1. 1. 1.]" in out


def test_07_mnist_convnet_learns_and_times_its_epochs():
    out = run_example("07_mnist_convnet.py")
    assert 'Model: "sequential' in out and "Total params: 34,826" in out
    # 6,000 images, validation_split=0.1 -> 5,400 train -> 43 steps of 128
    assert re.search(r"43/43 ━+ \d+s \d+(s|ms|us)/step - accuracy: 0\.\d{4} - loss: "
                     r"\d\.\d{4} - val_accuracy: 0\.\d{4} - val_loss: \d\.\d{4}", out), out
    assert re.search(r"Epoch 1 took [0-9.]+ s", out), out
    acc = float(re.search(r"Test accuracy: ([0-9.]+)", out).group(1))
    assert acc > 0.7  # one epoch (43 steps) on 5,400 images; chance is 0.10


def test_09_test_your_own_layer_passes_the_right_gradients_and_reports_the_wrong_one():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "09_test_your_own_layer.py"),
                             "--quick"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "test_gate_op: ok" in out and "test_gated_dense_gradients: ok" in out
    # The broken gate's report names x, V and c (inputs 0, 3, 4) and not W or b.
    assert "wrong gradients for 3 of 5 differentiated inputs" in out
    assert re.search(r"input 4 \(shape \(2,\)\): 2 of 2 elements wrong; worst at index "
                     r"\(\d,\): x = ", out), out
