"""minidl.datasets: the file search order, downloads with checksums, and file validation.

Nothing here touches the network: an autouse fixture replaces the downloader with one that
fails like a machine without internet, and the download tests hand it bytes made here.
"""

import hashlib
import io
import os
import re
import urllib.error

import numpy as np
import pytest

from minidl.datasets import (
    DatasetFileError,
    DatasetNotFoundError,
    _files,
    get_file,
    mnist,
    search_paths,
    thoracic_surgery,
)

# The origin keras/src/datasets/mnist.py downloads from (typed from Keras's source).
KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Replace the network with one that is down; the list records every URL asked for."""
    requested = []

    def no_network(url, timeout=None):
        requested.append(url)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(_files, "_urlopen", no_network)
    return requested


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty home folder and working directory, with no data-folder variables set."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("MINIDL_DATA_DIR", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.chdir(work)
    return home


def fake_mnist_arrays(n_train=6, n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_npz(path, **arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def save_npy(path, array):
    # np.save(path) would append ".npy" to the name; through a file object it does not.
    with open(path, "wb") as f:
        np.save(f, array)


def files_in(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- search order -------------------------------------------------------------------------


def test_search_order_first_match_wins(home, tmp_path, monkeypatch, offline):
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MINIDL_DATA_DIR", str(data_dir))
    places = [  # highest priority first, as docs/ARCHITECTURE.md orders them
        tmp_path / "work" / "mnist.npz",
        data_dir / "mnist.npz",
        home / ".minidl" / "datasets" / "mnist.npz",
        home / ".keras" / "datasets" / "mnist.npz",
    ]
    for rank, place in enumerate(places):
        arrays = fake_mnist_arrays(n_train=rank + 1)  # the sample count tells the files apart
        write_npz(place, **arrays)

    for rank, place in enumerate(places):
        (x_train, y_train), _ = mnist.load_data()
        assert x_train.shape == (rank + 1, 28, 28), f"expected the file at {place}"
        place.unlink()  # the next one down the list must be used now
    assert offline == []  # local files never trigger a download


def test_keras_home_is_keras_cache(home, tmp_path, monkeypatch):
    keras_home = tmp_path / "elsewhere"
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    arrays = fake_mnist_arrays(n_train=3)
    write_npz(keras_home / "datasets" / "mnist.npz", **arrays)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])


def test_explicit_path_and_tilde(home, offline):
    arrays = fake_mnist_arrays()
    write_npz(home / "sub" / "digits.npz", **arrays)
    for path in (str(home / "sub" / "digits.npz"), "~/sub/digits.npz", home / "sub" / "digits.npz"):
        (x_train, _), (_, y_test) = mnist.load_data(path=path)
        np.testing.assert_array_equal(x_train, arrays["x_train"])
        np.testing.assert_array_equal(y_test, arrays["y_test"])
    assert offline == []


def test_search_paths_lists_each_folder_once(home, monkeypatch):
    monkeypatch.setenv("MINIDL_DATA_DIR", str(home / ".minidl" / "datasets"))
    paths = [os.path.abspath(p) for p in search_paths("mnist.npz")]
    assert len(paths) == len(set(paths)) == 3
    assert paths[1] == str(home / ".minidl" / "datasets" / "mnist.npz")


def test_not_found_lists_every_place_and_the_fix(home, tmp_path, monkeypatch, offline):
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MINIDL_DATA_DIR", str(data_dir))
    with pytest.raises(DatasetNotFoundError) as info:
        mnist.load_data()
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    for place in (
        tmp_path / "work" / "mnist.npz",
        data_dir / "mnist.npz",
        home / ".minidl" / "datasets" / "mnist.npz",
        home / ".keras" / "datasets" / "mnist.npz",
    ):
        assert str(place) in message
    assert KERAS_MNIST_URL in message and "network disabled" in message  # why download failed
    assert f"Put mnist.npz in the folder MINIDL_DATA_DIR names ({data_dir})" in message
    assert offline == [KERAS_MNIST_URL]
    assert files_in(home / ".minidl" / "datasets") == []  # no partial download left


def test_not_found_without_data_dir_suggests_it(home):
    with pytest.raises(DatasetNotFoundError, match="set MINIDL_DATA_DIR"):
        mnist.load_data()


# --- downloads ----------------------------------------------------------------------------


def serve(monkeypatch, payload):
    """Make the downloader return ``payload``; returns the list of URLs requested."""
    requested = []

    def fake_urlopen(url, timeout=None):
        requested.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(_files, "_urlopen", fake_urlopen)
    return requested


def test_download_checks_sha256_and_lands_in_minidl_cache(home, monkeypatch):
    arrays = fake_mnist_arrays()
    payload = npz_bytes(**arrays)
    monkeypatch.setattr(mnist, "SHA256", hashlib.sha256(payload).hexdigest())
    requested = serve(monkeypatch, payload)

    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert requested == [KERAS_MNIST_URL]
    for got, key in ((x_train, "x_train"), (y_train, "y_train"), (x_test, "x_test")):
        np.testing.assert_array_equal(got, arrays[key])
    cache = home / ".minidl" / "datasets"
    assert files_in(cache) == ["mnist.npz"]  # the temporary file was renamed, not copied
    assert (cache / "mnist.npz").read_bytes() == payload

    mnist.load_data()  # the second call reads the cached copy
    assert requested == [KERAS_MNIST_URL]


def test_checksum_mismatch_deletes_the_download(home, monkeypatch):
    # The real Keras digest stays in place; these bytes cannot match it.
    payload = npz_bytes(**fake_mnist_arrays())
    serve(monkeypatch, payload)
    with pytest.raises(DatasetFileError, match="SHA-256") as info:
        mnist.load_data()
    assert isinstance(info.value, ValueError)
    assert hashlib.sha256(payload).hexdigest() in str(info.value)
    assert files_in(home / ".minidl" / "datasets") == []


def test_interrupted_download_leaves_nothing(home, monkeypatch):
    class Broken(io.BytesIO):
        def read(self, size=-1):
            if self.tell() > 0:
                raise ConnectionResetError("connection reset by peer")
            return super().read(10)

    monkeypatch.setattr(_files, "_urlopen", lambda url, timeout=None: Broken(b"x" * 100))
    with pytest.raises(DatasetNotFoundError, match="connection reset") as info:
        mnist.load_data()
    assert isinstance(info.value.__cause__, ConnectionResetError)
    assert files_in(home / ".minidl" / "datasets") == []


def test_download_replaces_atomically(tmp_path, monkeypatch):
    """A failed download into an existing path leaves the old file byte-identical."""
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"old contents")
    serve(monkeypatch, b"new contents")
    with pytest.raises(DatasetFileError):
        _files.download("https://example.invalid/f", str(dest), sha256="0" * 64)
    assert dest.read_bytes() == b"old contents"
    assert files_in(tmp_path) == ["file.bin"]

    good = hashlib.sha256(b"new contents").hexdigest()
    assert _files.download("https://example.invalid/f", str(dest), sha256=good) == str(dest)
    assert dest.read_bytes() == b"new contents"
    assert files_in(tmp_path) == ["file.bin"]


def test_sha256_of_matches_hashlib(tmp_path):
    data = np.random.default_rng(0).bytes(3 * (1 << 20) + 17)  # spans several read chunks
    (tmp_path / "blob").write_bytes(data)
    assert _files.sha256_of(tmp_path / "blob") == hashlib.sha256(data).hexdigest()


def test_get_file_with_origin_needs_a_checksum():
    with pytest.raises(ValueError, match="sha256"):
        get_file("x.npz", origin="https://example.invalid/x.npz")


# --- validation of local files ------------------------------------------------------------


def corrupt_files():
    """(name, writer, expected message fragment) for files load_data must refuse."""
    good = fake_mnist_arrays()

    def with_(**changes):
        return {**good, **changes}

    cases = {
        "not_a_zip": (lambda p: p.write_bytes(b"this is not an npz file at all"), "cannot be read"),
        "truncated": (
            lambda p: p.write_bytes(npz_bytes(**good)[: len(npz_bytes(**good)) // 2]),
            "cannot be read",
        ),
        "wrong_keys": (
            lambda p: write_npz(p, x_train=good["x_train"], y_train=good["y_train"]),
            "missing arrays ['x_test', 'y_test']",
        ),
        "float_images": (
            lambda p: write_npz(p, **with_(x_train=good["x_train"].astype(np.float32))),
            "x_train has dtype float32, expected uint8",
        ),
        "flat_images": (
            lambda p: write_npz(p, **with_(x_test=good["x_test"].reshape(-1, 784))),
            "x_test has shape (4, 784)",
        ),
        "short_labels": (
            lambda p: write_npz(p, **with_(y_train=good["y_train"][:-1])),
            "y_train has shape (5,), expected (6,)",
        ),
        "label_10": (
            lambda p: write_npz(p, **with_(y_test=np.full(4, 10, np.uint8))),
            "label 10",
        ),
        "pickled": (
            lambda p: write_npz(p, **with_(y_train=np.array([1, "a"], dtype=object))),
            "cannot be read",
        ),
        "single_npy": (lambda p: save_npy(p, good["x_train"]), "single .npy"),
    }
    return cases


@pytest.mark.parametrize("case", sorted(corrupt_files()))
def test_invalid_file_is_refused_naming_path(case, tmp_path):
    writer, fragment = corrupt_files()[case]
    path = tmp_path / "mnist.npz"
    writer(path)
    before = path.read_bytes()
    with pytest.raises(DatasetFileError) as info:
        mnist.load_data(path=str(path))
    message = str(info.value)
    assert str(path) in message and fragment in message, message
    assert isinstance(info.value, ValueError)
    assert path.read_bytes() == before  # a local file is reported, never deleted


def test_corrupt_file_is_not_silently_skipped(home, tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MINIDL_DATA_DIR", str(data_dir))
    data_dir.mkdir()
    (data_dir / "mnist.npz").write_bytes(b"garbage")
    write_npz(home / ".minidl" / "datasets" / "mnist.npz", **fake_mnist_arrays())
    with pytest.raises(DatasetFileError, match=str(data_dir / "mnist.npz")):
        mnist.load_data()


@pytest.mark.mnist
def test_real_mnist_matches_keras():
    if not os.environ.get("MINIDL_DATA_DIR"):
        pytest.skip("MINIDL_DATA_DIR is not set; point it at the folder holding mnist.npz")
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    # Shapes and dtypes as keras.datasets.mnist.load_data documents them.
    assert (x_train.shape, y_train.shape) == ((60000, 28, 28), (60000,))
    assert (x_test.shape, y_test.shape) == ((10000, 28, 28), (10000,))
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    # Well-known facts of MNIST: first labels 5 (train) and 7 (test); 6742 ones in training.
    assert (y_train[0], y_test[0]) == (5, 7)
    assert np.bincount(y_train, minlength=10)[1] == 6742
    assert x_train.max() == 255 and x_train.min() == 0


# --- ThoraricSurgery.csv ------------------------------------------------------------------


def test_thoracic_surgery_found_through_data_dir(home, tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    table = np.column_stack([rng.integers(0, 9, (5, 17)), [0, 1, 1, 0, 1]]).astype(float)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    np.savetxt(data_dir / "ThoraricSurgery.csv", table, delimiter=",", fmt="%g")
    monkeypatch.setenv("MINIDL_DATA_DIR", str(data_dir))
    x, y = thoracic_surgery.load_data()
    np.testing.assert_array_equal(x, table[:, :17])
    np.testing.assert_array_equal(y, table[:, 17])


def test_thoracic_surgery_missing_is_clear_and_offline(home, offline):
    with pytest.raises(DatasetNotFoundError, match="no public download source") as info:
        thoracic_surgery.load_data()
    assert str(home / ".minidl" / "datasets" / "ThoraricSurgery.csv") in str(info.value)
    assert offline == []


@pytest.mark.parametrize(
    "text, fragment",
    [("1,2,3\n4,5,6\n", "expected (n, 18)"), ("a,b\n", "not a numeric CSV"),
     (",".join(["1"] * 17 + ["2"]) + "\n", "found 2.0 in row 0")],
)
def test_thoracic_surgery_bad_csv(tmp_path, text, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DatasetFileError, match=re.escape(fragment)):
        thoracic_surgery.load_data(path=str(path))


def test_real_thoracic_surgery():
    folder = os.environ.get("MINIDL_DATA_DIR")
    if not folder or not os.path.exists(os.path.join(folder, "ThoraricSurgery.csv")):
        pytest.skip("ThoraricSurgery.csv not in MINIDL_DATA_DIR")
    x, y = thoracic_surgery.load_data()
    reference = np.loadtxt(os.path.join(folder, "ThoraricSurgery.csv"), delimiter=",")
    assert x.shape == (470, 17) and y.shape == (470,)
    np.testing.assert_array_equal(np.column_stack([x, y]), reference)
