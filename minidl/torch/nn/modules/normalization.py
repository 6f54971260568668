"""``BatchNorm1d``/``BatchNorm2d`` and ``Embedding``."""

import numpy as np

from minidl.torch import _functions as _torch
from minidl.torch.nn import functional as F
from minidl.torch.nn import init
from minidl.torch.nn.modules.module import Module, _check_dim
from minidl.torch.nn.parameter import Parameter


class _BatchNorm(Module):
    """Batch normalisation over the channel axis (axis 1), PyTorch's conventions:
    momentum 0.1 (new = (1 - m)·old + m·batch), eps 1e-5, the running variance updated with
    the unbiased batch variance, a ``num_batches_tracked`` buffer; ``eval()`` uses the
    running statistics."""

    _dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(_torch.ones(num_features, dtype=dtype))
            self.bias = Parameter(_torch.zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", _torch.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", _torch.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", _torch.tensor(0))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_parameters(self):
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input):  # noqa: A002
        _check_dim(input, self._dims, type(self).__name__)
        if input.shape[1] != self.num_features:
            from minidl.torch._tensor import TorchShapeError

            raise TorchShapeError(f"{type(self).__name__}: expected {self.num_features} "
                                  f"channels (axis 1), got input of shape {tuple(input.shape)}")
        use_batch = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
        running = self.track_running_stats and self.training
        return F.batch_norm(
            input,
            self.running_mean if running or not use_batch else None,
            self.running_var if running or not use_batch else None,
            self.weight, self.bias, use_batch, self.momentum, self.eps,
        )

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel."""

    _dims = (4,)


class Embedding(Module):
    """A lookup table: integer indices → rows of ``weight`` (num_embeddings, embedding_dim),
    initialised N(0, 1) as PyTorch; the ``padding_idx`` row is zero and gets no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 _freeze=False, device=None, dtype=None):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse "
                                      "are not supported")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = Parameter(_torch.empty(num_embeddings, embedding_dim, dtype=dtype),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input):  # noqa: A002
        return F.embedding(input, self.weight, self.padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        rows, dim = embeddings.shape
        return cls(rows, dim, padding_idx, _weight=np.array(embeddings.data), _freeze=freeze)

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None
                       else "")
