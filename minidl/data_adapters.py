"""Data beyond arrays: the batches ``fit``/``evaluate``/``predict`` read, from any source.

Three kinds of ``x``, one interface (as Keras 3's data adapters):

- NumPy arrays (with ``y`` and ``sample_weight``): cut into batches of ``batch_size``,
  reshuffled each epoch when ``shuffle``;
- a Python generator (or any iterator) yielding batches;
- a ``keras.utils.PyDataset``: ``__len__`` batches per epoch, ``__getitem__(i)`` gives
  batch ``i``; ``on_epoch_end()`` is called after each epoch.

A generator or a ``PyDataset`` must give tuples ``(x, y)`` or ``(x, y, sample_weight)`` (or
``(x,)`` for ``predict``); a bare array is refused with a ``ValueError``, as Keras does, even
in ``predict``. Every adapter answers ``steps_per_epoch`` (``None`` when unknown: a
generator without ``steps_per_epoch``) and ``batches()``, which yields ``(x, y,
sample_weight)`` triples for one epoch (``y``/``sample_weight`` may be ``None``).

``steps_per_epoch`` (and ``validation_steps``) limit an epoch to that many batches. A
generator is *not* restarted between epochs: the next epoch continues where the last one
stopped, and an epoch ends early (with a warning) if the generator runs out, as in Keras.
"""

import inspect
import warnings

import numpy as np


def _shuffle_generator(shuffle, generator):
    """The generator that orders an adapter's batches: ``generator``, or minidl's seeded
    "shuffle" stream when shuffling without one (None when not shuffling)."""
    if shuffle and generator is None:
        from minidl.random import generator as make_generator

        return make_generator("shuffle")
    return generator


class PyDataset:
    """Keras's ``keras.utils.PyDataset``: a dataset of batches, indexed by batch number.

    Subclass it and define ``__len__`` (the number of batches per epoch) and
    ``__getitem__(index)`` returning batch ``index`` as ``(x, y)`` or ``(x, y,
    sample_weight)``; optionally ``on_epoch_end()``::

        class Batches(keras.utils.PyDataset):
            def __init__(self, x, y, batch_size, **kwargs):
                super().__init__(**kwargs)
                self.x, self.y, self.batch_size = x, y, batch_size

            def __len__(self):
                return math.ceil(len(self.x) / self.batch_size)

            def __getitem__(self, index):
                lo = index * self.batch_size
                return self.x[lo:lo + self.batch_size], self.y[lo:lo + self.batch_size]

    Args:
        workers, use_multiprocessing, max_queue_size: Keras's parallel-loading arguments,
            accepted and ignored: minidl reads the batches in order in one thread.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__()")

    @property
    def num_batches(self):
        """The number of batches per epoch (``len(self)``)."""
        return len(self)

    def on_epoch_begin(self):
        """Called before each epoch (nothing by default)."""

    def on_epoch_end(self):
        """Called after each epoch (nothing by default): reshuffle your data here."""


def unpack_batch(batch, source, index):
    """``(x, y, sample_weight)`` from one yielded batch; ``y``/``sample_weight`` may be None.

    Raises:
        ValueError: the batch is not a tuple (or list) of 1 to 3 items: a bare array, a
            dict, a tuple of 4 ... The message names the source and the batch number.
    """
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple) or not 1 <= len(batch) <= 3:
        what = (f"a {type(batch).__name__} of {len(batch)} items"
                if isinstance(batch, tuple) else
                f"{type(batch).__name__}" + (f" of shape {tuple(batch.shape)}"
                                             if hasattr(batch, "shape") else ""))
        raise ValueError(
            f"{source} must give tuples (x, y) or (x, y, sample_weight) (or (x,) to "
            f"predict), but batch {index} is {what}. Yield a tuple, e.g. `yield x, y`; to "
            "predict on arrays without labels, `yield (x,)`"
        )
    x, y, sample_weight = (*batch, None, None)[:3]
    return x, y, sample_weight


class ArrayDataAdapter:
    """Batches of arrays: ``x[i:i + batch_size]`` in a (re)shuffled order each epoch.

    Args:
        x, y, sample_weight: arrays of the same length (``y``/``sample_weight`` may be None).
        batch_size: a positive batch size (the last batch may be smaller).
        steps_per_epoch: at most this many batches per epoch (``None``: all of them).
        shuffle: reshuffle the order at each epoch.
        generator: the ``np.random.Generator`` for the shuffles (minidl's ``"shuffle"``
            stream when ``None``).
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, steps_per_epoch=None,
                 shuffle=False, generator=None):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size = int(batch_size)
        self.num_samples = len(x)
        batches = -(-self.num_samples // self.batch_size)
        self.steps_per_epoch = batches if steps_per_epoch is None else min(steps_per_epoch,
                                                                           batches)
        self.shuffle = shuffle
        self._generator = _shuffle_generator(shuffle, generator)

    def batches(self):
        order = (self._generator.permutation(self.num_samples) if self.shuffle
                 else np.arange(self.num_samples))
        for step in range(self.steps_per_epoch):
            index = order[step * self.batch_size:(step + 1) * self.batch_size]
            yield (self.x[index],
                   None if self.y is None else self.y[index],
                   None if self.sample_weight is None else self.sample_weight[index])

    def on_epoch_end(self):
        pass


class GeneratorDataAdapter:
    """Batches from a Python generator (or any iterator), read in order.

    Args:
        generator: yields ``(x, y)`` / ``(x, y, sample_weight)`` / ``(x,)`` tuples.
        steps_per_epoch: batches per epoch; ``None`` reads until the generator is exhausted
            (one epoch only, then the next epoch finds it empty and warns).
    """

    def __init__(self, generator, steps_per_epoch=None):
        self._iterator = iter(generator)
        self.steps_per_epoch = steps_per_epoch
        self._seen = 0

    def batches(self):
        step = 0
        while self.steps_per_epoch is None or step < self.steps_per_epoch:
            try:
                batch = next(self._iterator)
            except StopIteration:
                if step == 0 or self.steps_per_epoch is not None:
                    warnings.warn(
                        "Your input ran out of data; interrupting the epoch. Make sure the "
                        "generator can give at least steps_per_epoch * epochs batches "
                        f"(it gave {self._seen}); e.g. loop forever with `while True:`",
                        stacklevel=2,
                    )
                return
            yield unpack_batch(batch, "a generator", self._seen)
            self._seen += 1
            step += 1

    def on_epoch_end(self):
        pass


class PyDatasetAdapter:
    """Batches from a ``PyDataset``: ``dataset[i]`` for i in ``range(len(dataset))``.

    Args:
        dataset: the ``PyDataset``.
        steps_per_epoch: at most this many batches per epoch (default ``len(dataset)``).
        shuffle: visit the batches in a new random order each epoch (as Keras does for a
            ``PyDataset`` when ``fit(shuffle=True)``); the batches themselves are unchanged.
        generator: the ``np.random.Generator`` for the order (minidl's stream if ``None``).
    """

    def __init__(self, dataset, steps_per_epoch=None, shuffle=False, generator=None):
        self.dataset = dataset
        count = len(dataset)
        self.steps_per_epoch = count if steps_per_epoch is None else min(steps_per_epoch,
                                                                          count)
        self.shuffle = shuffle
        self._generator = _shuffle_generator(shuffle, generator)

    def batches(self):
        self.dataset.on_epoch_begin()
        count = len(self.dataset)
        order = self._generator.permutation(count) if self.shuffle else np.arange(count)
        name = f"{type(self.dataset).__name__} (a PyDataset)"
        for step in range(self.steps_per_epoch):
            index = int(order[step])
            yield unpack_batch(self.dataset[index], name, index)

    def on_epoch_end(self):
        self.dataset.on_epoch_end()


def is_generator_like(x):
    """True for what ``GeneratorDataAdapter`` reads: generators and other iterators (not
    arrays, lists or tuples, which are data)."""
    return inspect.isgenerator(x) or (hasattr(x, "__next__") and hasattr(x, "__iter__")
                                      and not hasattr(x, "shape"))


def is_batch_source(x):
    """True when ``x`` gives its own batches: a generator/iterator or a ``PyDataset``."""
    return isinstance(x, PyDataset) or is_generator_like(x)


def get_data_adapter(x, y=None, sample_weight=None, batch_size=None, steps_per_epoch=None,
                     shuffle=False, generator=None):
    """The adapter for ``x``, with Keras's rules on the other arguments.

    Args:
        x: arrays, a generator/iterator, or a ``PyDataset``.
        y, sample_weight: only with arrays (a generator or ``PyDataset`` gives them itself).
        batch_size: the batch size for arrays (default 32); ignored otherwise.
        steps_per_epoch: batches per epoch (``validation_steps`` for validation data).
        shuffle: reshuffle arrays each epoch / visit a ``PyDataset``'s batches in a random
            order; ignored for a generator.
        generator: the ``np.random.Generator`` for shuffling.

    Raises:
        ValueError: ``y`` or ``sample_weight`` given with a generator or ``PyDataset``;
            ``steps_per_epoch`` not a positive integer.
    """
    if steps_per_epoch is not None and (isinstance(steps_per_epoch, bool) or not isinstance(
            steps_per_epoch, (int, np.integer)) or steps_per_epoch <= 0):
        raise ValueError(f"steps_per_epoch must be a positive integer or None, got "
                         f"{steps_per_epoch!r}")
    if isinstance(x, PyDataset) or is_generator_like(x):
        kind = "a PyDataset" if isinstance(x, PyDataset) else "a generator"
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None:
                raise ValueError(f"`{name}` argument is not supported when x is {kind}: the "
                                 f"batches must hold it, (x, y) or (x, y, sample_weight). "
                                 f"Received: {name} of type {type(value).__name__}")
        if isinstance(x, PyDataset):
            return PyDatasetAdapter(x, steps_per_epoch, shuffle, generator)
        return GeneratorDataAdapter(x, steps_per_epoch)
    return ArrayDataAdapter(x, y, sample_weight, batch_size or 32, steps_per_epoch, shuffle,
                            generator)


__all__ = ["PyDataset", "ArrayDataAdapter", "GeneratorDataAdapter", "PyDatasetAdapter",
           "get_data_adapter", "unpack_batch", "is_generator_like", "is_batch_source"]
