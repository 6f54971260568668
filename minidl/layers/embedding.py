"""``Embedding``: turns integer indices (token ids) into dense vectors of fixed size."""


from minidl import initializers, regularizers
from minidl.errors import DTypeError
from minidl.layers.base import Layer, _check_positive_int, _serialize
from minidl.ops.nn import embedding


class Embedding(Layer):
    """Looks up row ``i`` of an (input_dim, output_dim) table for each index i.

    ``output[..., :] = embeddings[inputs[...], :]``: a gather, so its gradient is a
    scatter-add: ``d embeddings[i] = Σ`` of the output gradients at every position that
    read index i (a repeated index adds up; rows never read get zero).

        >>> import numpy as np
        >>> layer = Embedding(10, 4)
        >>> layer(np.array([[1, 2, 2]])).shape
        (1, 3, 4)

    Args:
        input_dim: the number of rows (the vocabulary size; the largest index + 1).
        output_dim: the size of each vector.
        embeddings_initializer: default ``"uniform"``: uniform in [-0.05, 0.05], as Keras.
        embeddings_regularizer: a regularizer of the table, or None.
        mask_zero: accepted for Keras programs (index 0 then means padding, so
            ``input_dim`` should be the vocabulary size + 1); minidl does not propagate
            masks, so following layers see the padding positions' vectors.

    Raises:
        ValueError / TypeError: ``input_dim`` or ``output_dim`` not a positive int.
        DTypeError: non-integer indices (floats with a fractional part).
        ValueError: an index < 0 or >= input_dim, naming the layer, the index and
            ``input_dim`` (the same error type as a sparse label out of range).
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, mask_zero=False, **kwargs):
        _check_positive_int(input_dim, "input_dim", "Embedding")
        _check_positive_int(output_dim, "output_dim", "Embedding")
        kwargs.pop("input_length", None)  # a Keras 2 argument, ignored as Keras 3 does
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero = bool(mask_zero)
        self.embeddings = None

    def build(self, input_shape):
        self.embeddings = self.add_weight((self.input_dim, self.output_dim),
                                          self.embeddings_initializer, "embeddings",
                                          regularizer=self.embeddings_regularizer)

    def call(self, inputs, training=False):
        indices = inputs.data
        if indices.dtype.kind == "f":
            # Sequential casts every input to the model's float dtype: undo it, but only
            # for whole numbers, so a float feature fed here by mistake is not truncated.
            whole = indices.astype("int64")
            if (whole != indices).any():
                raise DTypeError(f"Embedding '{self.name}' expects integer indices, got "
                                 f"{indices.dtype} values with a fractional part")
            indices = whole
        elif indices.dtype.kind not in "iu":
            raise DTypeError(f"Embedding '{self.name}' expects integer indices, got dtype "
                             f"{indices.dtype}")
        if indices.size:
            low, high = int(indices.min()), int(indices.max())
            if low < 0 or high >= self.input_dim:
                bad = high if high >= self.input_dim else low
                raise ValueError(
                    f"Embedding '{self.name}': index {bad} is outside [0, {self.input_dim}) "
                    f"(input_dim={self.input_dim}); the largest index received is {high}. "
                    f"Set input_dim to at least the largest index + 1"
                )
        return embedding(indices, self.embeddings)  # the gather op; scatter-add backward

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": _serialize(self.embeddings_regularizer),
                "mask_zero": self.mask_zero}


__all__ = ["Embedding"]
