"""``keras.callbacks.TensorBoard``: per-epoch scalars in TensorBoard's event files.

It writes with the ``tensorboard`` package's own event writer (no TensorFlow needed), which
``pip install 'minidl[tensorboard]'`` installs; then ``tensorboard --logdir logs`` shows the
curves. Layout and tags as Keras 3's: training values in ``<log_dir>/train``, validation
values in ``<log_dir>/validation``, each tagged ``epoch_<name>`` (``epoch_loss``,
``epoch_accuracy``; the ``val_`` prefix is dropped in the validation folder), with the epoch
as the step, plus ``epoch_learning_rate`` when the optimizer has a rate.
"""

import os
import time

from minidl.callbacks import Callback


def _tensorboard_modules():
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as exc:
        raise ImportError(
            "callbacks.TensorBoard writes through the `tensorboard` package, which is not "
            "installed: pip install 'minidl[tensorboard]' (or pip install tensorboard). "
            "To keep the per-epoch values without it, use callbacks.CSVLogger('log.csv')."
        ) from exc
    return event_pb2, summary_pb2, EventFileWriter


class TensorBoard(Callback):
    """Write each epoch's loss and metrics as TensorBoard scalars.

    Args:
        log_dir: the folder for the event files (created if needed).
        histogram_freq, write_graph, write_images, write_steps_per_second, update_freq,
            profile_batch, embeddings_freq, embeddings_metadata: Keras's arguments; minidl
            writes epoch scalars only, so they are accepted at values that ask for nothing
            more (``update_freq="epoch"``, frequencies 0); other values are refused.

    Raises:
        ImportError: the ``tensorboard`` package is not installed (names the extra to
            install and ``CSVLogger`` as the alternative).
        ValueError: an argument asks for what minidl does not write (histograms, images,
            per-batch values, profiling, embeddings).
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        self._event_pb2, self._summary_pb2, self._writer_class = _tensorboard_modules()
        unsupported = {"histogram_freq": (histogram_freq, 0), "write_images": (write_images, False),
                       "write_steps_per_second": (write_steps_per_second, False),
                       "update_freq": (update_freq, "epoch"), "profile_batch": (profile_batch, 0),
                       "embeddings_freq": (embeddings_freq, 0)}
        for arg, (value, default) in unsupported.items():
            if value != default:
                raise ValueError(f"TensorBoard: minidl writes per-epoch scalars only; leave "
                                 f"{arg} at {default!r}. Received: {arg}={value!r}")
        self.log_dir = os.fspath(log_dir)
        self.write_graph = write_graph  # accepted; there is no graph file to write
        self._writers = {}

    def _writer(self, kind):
        if kind not in self._writers:
            folder = os.path.join(self.log_dir, kind)
            os.makedirs(folder, exist_ok=True)
            self._writers[kind] = self._writer_class(folder)
        return self._writers[kind]

    def _write(self, kind, values, step):
        summary = self._summary_pb2.Summary(value=[
            self._summary_pb2.Summary.Value(tag=f"epoch_{name}", simple_value=float(value))
            for name, value in values.items()
        ])
        writer = self._writer(kind)
        writer.add_event(self._event_pb2.Event(wall_time=time.time(), step=int(step),
                                               summary=summary))
        writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        validation = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "learning_rate"):
            train.setdefault("learning_rate", float(optimizer.learning_rate))
        self._write("train", train, epoch)
        if validation:
            self._write("validation", validation, epoch)

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
