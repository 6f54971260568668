"""``torch.utils.data``: datasets, ``random_split`` and the ``DataLoader``.

A dataset is anything with ``__getitem__(i)`` and ``__len__``. The ``DataLoader`` draws
indices (in order, or a new permutation each epoch from minidl's random stream when
``shuffle=True``), groups them into batches and *collates* each batch with PyTorch's rules:
tensors and NumPy arrays are stacked, Python ints become an int64 tensor and Python floats
a float64 one (PyTorch's choice: cast the batch before a float32 model sees it), dicts and
tuples are collated field by field (a tuple sample gives a list, as PyTorch).
"""

import collections.abc
import math

import numpy as np

from minidl.errors import MinidlError
from minidl.torch import _random
from minidl.torch._functions import stack, tensor
from minidl.torch._tensor import Tensor, _engine

_raw = _engine._raw


class Dataset:
    """Base class of map-style datasets: define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the i-th rows of the given tensors (inputs, labels, ...).

    Args:
        *tensors: tensors (or arrays) with the same first dimension.

    Raises:
        ValueError: the first dimensions differ.

    >>> import minidl.torch as torch
    >>> ds = TensorDataset(torch.zeros(5, 2), torch.arange(5))
    >>> len(ds), ds[1][1].item(), tuple(ds[1:3][0].shape)
    (5, 1, (2, 2))
    """

    def __init__(self, *tensors):
        tensors = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
        sizes = [t.shape[0] if t.dim() else None for t in tensors]
        if not tensors or None in sizes or len(set(sizes)) != 1:
            raise ValueError(f"Size mismatch between tensors: first dimensions {sizes}; "
                             "every tensor needs the same number of samples")
        self.tensors = tensors

    def __getitem__(self, index):
        # Data tensors (no grad) are indexed directly: a view, no graph node to record.
        return tuple(t[index] if t.requires_grad else Tensor._wrap(t.data[_raw(index)])
                     for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """The datasets one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self):
        return int(self.cumulative_sizes[-1]) if self.cumulative_sizes else 0

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        part = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        start = 0 if part == 0 else int(self.cumulative_sizes[part - 1])
        return self.datasets[part][index - start]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` at random into ``Subset``s of the given lengths.

    Args:
        lengths: counts that sum to ``len(dataset)``, or fractions that sum to 1 (each
            gets ``floor(fraction · n)``, and the leftover samples go one each to the first
            subsets, as PyTorch).
        generator: a ``numpy.random.Generator`` (default: minidl's stream).

    Raises:
        ValueError: the lengths do not sum to the dataset's size (or the fractions to 1).
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and any(
            isinstance(x, float) for x in lengths):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"Sum of input lengths ({sum(lengths)}) does not equal the length "
                         f"of the input dataset ({n})")
    order = (generator or _random.generator()).permutation(n).tolist()
    subsets, start = [], 0
    for length in lengths:
        subsets.append(Subset(dataset, order[start:start + length]))
        start += length
    return subsets


def default_collate(batch):
    """Merge a list of samples into a batch, with PyTorch's rules (see the module doc).

    Raises:
        RuntimeError: sequences of unequal length in one batch.
        TypeError: a sample of a type that cannot be collated.
    """
    elem = batch[0]
    if isinstance(elem, _engine.Tensor):
        return stack(batch, 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind not in "biuf":
            raise TypeError(f"default_collate: cannot collate arrays of dtype {elem.dtype}")
        return Tensor._wrap(np.stack(batch))
    if isinstance(elem, np.generic):
        return Tensor._wrap(np.asarray(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=np.float64)  # PyTorch's rule: Python floats → float64
    if isinstance(elem, int):  # ints → int64 (and bools → bool)
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple keeps its type
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(e) != len(elem) for e in batch):
            raise CollateError("each element in list of batch should be of equal size")
        return [default_collate(list(samples)) for samples in zip(*batch)]
    raise TypeError(
        f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
        f"lists; found {type(elem).__name__}"
    )


class CollateError(MinidlError, RuntimeError):
    """A batch that cannot be collated (PyTorch raises ``RuntimeError``)."""


class DataLoader:
    """Iterate over a dataset in batches.

    Args:
        dataset: a map-style dataset (``__getitem__`` and ``__len__``).
        batch_size: samples per batch (default 1, as PyTorch); ``None`` yields single
            samples, uncollated-batch-free.
        shuffle: draw a new order each epoch from minidl's random stream (or
            ``generator``, a ``numpy.random.Generator``).
        drop_last: drop the last, smaller batch.
        collate_fn: merges a list of samples (default: ``default_collate``).
        sampler: an iterable of indices to use instead of ``shuffle``.
        num_workers, pin_memory, ...: accepted and ignored (one process).

    Raises:
        ValueError: a bad ``batch_size``, or ``shuffle`` together with ``sampler``.

    A ``TensorDataset`` with the default collation is batched by one fancy-index per tensor
    (the same batches as stacking the samples one by one, much faster).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None,
                 batch_sampler=None, num_workers=0, collate_fn=None, pin_memory=False,
                 drop_last=False, timeout=0, worker_init_fn=None, generator=None,
                 **kwargs):
        if batch_size is not None and (isinstance(batch_size, bool)
                                       or not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.sampler, self.batch_sampler, self.drop_last = sampler, batch_sampler, drop_last
        self.collate_fn = collate_fn or default_collate
        self.generator, self.num_workers = generator, num_workers

    def _indices(self):
        if self.sampler is not None:
            return list(self.sampler)
        n = len(self.dataset)
        if self.shuffle:
            return (self.generator or _random.generator()).permutation(n)
        return np.arange(n)

    def _batches(self):
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        indices = self._indices()
        size = self.batch_size
        stop = len(indices) - len(indices) % size if self.drop_last else len(indices)
        for start in range(0, stop, size):
            yield indices[start:start + size]

    def __iter__(self):
        if self.batch_size is None:
            for i in self._indices():
                yield self.dataset[int(i)]
            return
        fast = type(self.dataset) is TensorDataset and self.collate_fn is default_collate
        for batch in self._batches():
            if fast:
                idx = np.asarray(batch, dtype=np.int64)
                yield [Tensor._wrap(t.data[idx]) for t in self.dataset.tensors]
            else:
                yield self.collate_fn([self.dataset[int(i)] for i in batch])

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
