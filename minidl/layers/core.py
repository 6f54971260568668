"""Core layers: ``Dense`` and ``Activation``."""

from minidl import activations, initializers, regularizers
from minidl.errors import ShapeError
from minidl.layers.base import Layer, _check_positive_int, _serialize, _shape_str
from minidl.ops import fused


class Dense(Layer):
    """Fully connected layer: ``output = activation(inputs @ kernel + bias)``.

    The kernel has shape (input_dim, units). Inputs of rank > 2 are contracted on their last
    axis, as in Keras.

    Args:
        units: output size (a positive int).
        activation: name or callable (default: none, i.e. linear).
        use_bias: add a bias vector.
        kernel_initializer, bias_initializer: names or initializers.
        kernel_regularizer, bias_regularizer: ``"l1"``, ``"l2"``, a regularizer, or None.
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        _check_positive_int(units, "units", "Dense")
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel = self.bias = None
        # relu/tanh/linear run inside the fused Dense op; others (softmax, sigmoid: they keep
        # their logits for a following cross-entropy) run after it.
        name = activations.serialize(self.activation)
        self._fused_activation = name if name in ("linear", "relu", "tanh") else None

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ShapeError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"min_ndim=2, found ndim={len(input_shape)}. Full shape received: "
                f"{tuple(input_shape)}"
            )
        in_dim = input_shape[-1]
        self.kernel = self.add_weight((in_dim, self.units), self.kernel_initializer,
                                      "kernel", regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((self.units,), self.bias_initializer, "bias",
                                        regularizer=self.bias_regularizer)

    def call(self, inputs, training=False):
        if inputs.shape[-1] != self.kernel.shape[0]:
            hint = ""
            if inputs.ndim > 2:
                hint = ": add Flatten() before it"
            raise ShapeError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"axis -1 of input shape to have value {self.kernel.shape[0]}, but received "
                f"input with shape {_shape_str(inputs.shape)}{hint}"
            )
        if inputs.ndim == 2:  # one fused op: BLAS matmul, then bias + activation in one pass
            if self._fused_activation is not None:
                return fused.dense(inputs, self.kernel, self.bias, self._fused_activation)
            return self.activation(fused.dense(inputs, self.kernel, self.bias))
        out = inputs @ self.kernel  # rank > 2: contract the last axis
        if self.bias is not None:
            out = out + self.bias
        return self.activation(out)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _serialize(self.kernel_regularizer),
            "bias_regularizer": _serialize(self.bias_regularizer),
        }


class Activation(Layer):
    """Applies an activation function: ``Activation("relu")``."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs, training=False):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
