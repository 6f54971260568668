"""``Lambda``: any function of tensors as a layer (Keras's ``keras.layers.Lambda``)."""

import inspect

import numpy as np

from minidl.layers.base import Layer
from minidl.tensor import Tensor, no_grad


class Lambda(Layer):
    """Wraps ``function(inputs)`` as a layer, for short stateless computations::

        keras.layers.Lambda(lambda x: keras.ops.square(x) * 0.5)

    The function receives a ``Tensor`` and should compute with ``keras.ops`` (or Tensor
    methods), so gradients flow through it. It has no weights: a computation that needs
    weights belongs in a ``Layer`` subclass.

    Args:
        function: the function of the input tensor; it may also take ``training`` (it is
            then passed, as Keras does).
        output_shape: the output shape without the batch axis (a tuple), or a function of
            the input shape (with the batch axis). Default: found by running ``function`` on
            a zero input of batch 1.
        mask: accepted for Keras compatibility; must be ``None``.
        arguments: extra keyword arguments for ``function``.
        **kwargs: the base layer's (``name``, ``input_shape``, ...).

    Saving: minidl never stores code, so a saved ``Lambda`` records its function's name and
    loading it needs the function again (``load_model(path, custom_objects={name: fn})``).

    Raises:
        TypeError: ``function`` is not callable.
        ValueError: a ``mask`` was given.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        if not callable(function):
            raise TypeError(f"Lambda expects a callable as `function`, got "
                            f"{type(function).__name__} {function!r}")
        if mask is not None:
            raise ValueError("Lambda: masks are not supported by minidl; leave mask=None")
        super().__init__(**kwargs)
        self.function = function
        self._output_shape = output_shape
        self.arguments = dict(arguments or {})
        try:
            self._takes_training = "training" in inspect.signature(function).parameters
        except (TypeError, ValueError):  # builtins without a signature
            self._takes_training = False

    def call(self, inputs, training=False):
        kwargs = dict(self.arguments)
        if self._takes_training:
            kwargs["training"] = training
        out = self.function(inputs, **kwargs)
        return out if isinstance(out, Tensor) else Tensor(out)

    def compute_output_shape(self, input_shape):
        if callable(self._output_shape):
            return tuple(self._output_shape(tuple(input_shape)))
        if self._output_shape is not None:
            return (input_shape[0], *tuple(self._output_shape))
        # Run the function once on zeros of batch 1 (unknown sizes taken as 1).
        probe = np.zeros([1 if n is None else n for n in (1, *tuple(input_shape)[1:])],
                         dtype=self.dtype or "float32")
        with no_grad():
            out = self.call(Tensor(probe))
        return (input_shape[0], *out.shape[1:])

    def get_config(self):
        name = getattr(self.function, "__name__", None)
        output_shape = self._output_shape
        return {**super().get_config(), "function": name,
                "output_shape": None if callable(output_shape) or output_shape is None
                else list(output_shape),
                "arguments": self.arguments}

    @classmethod
    def from_config(cls, config_, custom_objects=None):
        """Rebuild from ``get_config``; the function is looked up in ``custom_objects``.

        Raises:
            ValueError: the function is not in ``custom_objects`` (the message says how to
                pass it).
        """
        config_ = dict(config_)
        name = config_.pop("function")
        function = (custom_objects or {}).get(name)
        if function is None:
            raise ValueError(
                f"Lambda layer '{config_.get('name')}' wraps the function {name!r}, which a "
                "saved file cannot hold (minidl never stores or unpickles code); pass it "
                f"when loading: load_model(path, custom_objects={{{name!r}: {name}}})"
            )
        return super().from_config({**config_, "function": function})
