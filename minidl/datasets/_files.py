"""Finding, downloading and checking the data files the dataset loaders read.

Every loader finds its file through one search order, so a file put in any of these places
is used without a download (first match wins):

1. ``path`` itself, when it names an existing file (``load_data(path="/data/mnist.npz")``);
2. ``$MINIDL_DATA_DIR/<path>``;
3. ``~/.minidl/datasets/<path>`` (where minidl's own downloads go);
4. Keras's cache, ``$KERAS_HOME/datasets/<path>`` or ``~/.keras/datasets/<path>``, so a file
   Keras already downloaded is reused.

Only when all of them miss, and the dataset has a public source, is the file downloaded into
``~/.minidl/datasets``. The download is atomic: the bytes go to a temporary file in the same
folder, their SHA-256 is checked, and only then is the file renamed into place with
``os.replace``. A half-finished or tampered download therefore never sits where the next run
would trust it.
"""

import hashlib
import os
import tempfile

from minidl.errors import MinidlError

# Seconds to wait for the server before giving up (per blocking socket operation).
DOWNLOAD_TIMEOUT = 60
_CHUNK = 1 << 20



def _urlopen(url, timeout):
    """``urllib.request.urlopen``: the network call, a module attribute so that tests can
    replace it and never download.

    NOTE: urllib.request is imported here, not at the top: it pulls in http.client, email
    and ssl, about 7 MB of memory in every process that imports minidl, and only a
    download needs them.
    """
    import urllib.request

    return urllib.request.urlopen(url, timeout=timeout)


class DatasetNotFoundError(MinidlError, FileNotFoundError):
    """A dataset file found in none of the places searched (the message lists them all)."""


class DatasetFileError(MinidlError, ValueError):
    """A dataset file that cannot be trusted: truncated, corrupt, wrong contents or checksum."""


def minidl_cache_dir():
    """The folder minidl downloads datasets into: ``~/.minidl/datasets``."""
    return os.path.join(os.path.expanduser("~"), ".minidl", "datasets")


def keras_cache_dir():
    """Keras's dataset cache: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets``."""
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(os.path.expanduser(keras_home), "datasets")


def search_paths(fname):
    """Every path ``get_file(fname)`` looks at, in the order it looks.

    Args:
        fname: A file name (``"mnist.npz"``) or a path (``"~/data/mnist.npz"``).

    Returns:
        A list of paths: ``fname`` as given (relative to the working directory), then, unless
        it is absolute, ``fname`` joined to each data folder. An absolute ``fname`` is the
        only place looked.
    """
    fname = os.fspath(fname)
    if not fname:
        raise ValueError("fname must be a non-empty file name, got ''")
    expanded = os.path.expanduser(fname)
    paths = [expanded]
    if not os.path.isabs(expanded):
        folders = []
        data_dir = os.environ.get("MINIDL_DATA_DIR")
        if data_dir:
            folders.append(os.path.expanduser(data_dir))
        folders += [minidl_cache_dir(), keras_cache_dir()]
        paths += [os.path.join(folder, expanded) for folder in folders]
    # The same folder may be listed twice (MINIDL_DATA_DIR=~/.minidl/datasets): look once.
    unique = []
    for path in paths:
        if os.path.abspath(path) not in map(os.path.abspath, unique):
            unique.append(path)
    return unique


def sha256_of(path):
    """The SHA-256 hex digest of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url, dest, sha256):
    """Download ``url`` to ``dest`` atomically, keeping it only if its SHA-256 matches.

    Args:
        url: Where to fetch the file from.
        dest: The final path. Its folder is created if needed.
        sha256: The expected hex digest. The file is hashed while it is written.

    Returns:
        ``dest``.

    Raises:
        DatasetFileError: The downloaded bytes have another SHA-256. Nothing is left on disk.
        OSError: The download failed (``urllib.error.URLError`` is an ``OSError``). Nothing is
            left on disk.
    """
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    # NOTE: the temporary file lives in the destination folder so os.replace is a rename
    # within one file system, which POSIX and Windows both make atomic.
    fd, tmp_path = tempfile.mkstemp(
        dir=folder, prefix="." + os.path.basename(dest) + ".", suffix=".part"
    )
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, _urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        received = digest.hexdigest()
        if received != sha256.lower():
            raise DatasetFileError(
                f"The file downloaded from {url} has SHA-256 {received}, expected {sha256}: "
                "it is corrupt or was changed on the server, so it was deleted. Try again, or "
                f"download it yourself and put it at {dest}."
            )
        os.replace(tmp_path, dest)
    except BaseException:
        # Any failure (also Ctrl-C) removes the partial file; the original error propagates.
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
    return dest


def get_file(fname, origin=None, sha256=None):
    """Return the path of a dataset file, downloading it only when it is nowhere local.

    Looks in the places listed by ``search_paths(fname)`` (see this module's docstring) and
    returns the first existing file. Local files are trusted as they are (the loader checks
    their contents); only a download is checked against ``sha256``.

    Args:
        fname: File name, e.g. ``"mnist.npz"``, or a path to the file.
        origin: URL to download from when no local copy exists; ``None`` for data with no
            public download, which then must be put in place by hand.
        sha256: Expected SHA-256 hex digest of the download (required with ``origin``).

    Returns:
        The path of the file, as a string.

    Raises:
        DatasetNotFoundError: No local copy and no successful download. The message lists
            every place searched and where to put the file.
        DatasetFileError: The download's checksum did not match (the file was deleted).
    """
    if origin is not None and not sha256:
        raise ValueError(f"get_file needs the sha256 of {origin!r} to check the download")
    candidates = search_paths(fname)
    for path in candidates:
        if os.path.isfile(path):
            return path

    expanded = os.path.expanduser(os.fspath(fname))
    if os.path.isabs(expanded):
        target = expanded
    else:
        target = os.path.join(minidl_cache_dir(), expanded)
    reason, cause = "it has no public download source", None
    if origin is not None:
        print(f"Downloading data from {origin}")
        try:
            return download(origin, target, sha256)
        except OSError as exc:
            reason, cause = f"downloading it from {origin} failed ({exc})", exc

    searched = "\n".join(f"  - {os.path.abspath(path)}" for path in candidates)
    data_dir_hint = (
        f"the folder MINIDL_DATA_DIR names ({os.environ['MINIDL_DATA_DIR']})"
        if os.environ.get("MINIDL_DATA_DIR")
        else f"{minidl_cache_dir()}, or set MINIDL_DATA_DIR to the folder that holds it"
    )
    raise DatasetNotFoundError(
        f"Could not find the dataset file {os.fspath(fname)!r}, and {reason}. "
        f"Looked in:\n{searched}\n"
        f"Put {os.path.basename(expanded)} in {data_dir_hint}."
    ) from cause
