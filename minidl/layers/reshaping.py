"""Layers that change the shape of each sample."""

from minidl.layers.base import Layer
from minidl.ops import reshaping as shape_ops


class Flatten(Layer):
    """Flattens each sample: (batch, d1, d2, ...) -> (batch, d1·d2·...)."""

    def call(self, inputs, training=False):
        return shape_ops.Reshape.apply(inputs, shape=(inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        size = 1
        for n in input_shape[1:]:
            size = None if n is None or size is None else size * n
        return (input_shape[0], size)
