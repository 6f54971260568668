"""The modules of ``minidl.torch.nn``, grouped by family as PyTorch's own files are."""

from minidl.torch.nn.modules.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from minidl.torch.nn.modules.container import ModuleDict, ModuleList, Sequential
from minidl.torch.nn.modules.conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d, MaxPool2d
from minidl.torch.nn.modules.linear import Identity, Linear
from minidl.torch.nn.modules.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)
from minidl.torch.nn.modules.misc import Dropout, Flatten, Unflatten
from minidl.torch.nn.modules.module import Module
from minidl.torch.nn.modules.normalization import BatchNorm1d, BatchNorm2d, Embedding

__all__ = [
    "Module", "Sequential", "ModuleList", "ModuleDict", "Linear", "Identity", "Conv2d",
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
    "GELU", "ELU", "Softplus", "Softmax", "LogSoftmax", "Dropout", "Flatten", "Unflatten",
    "BatchNorm1d", "BatchNorm2d", "Embedding", "CrossEntropyLoss", "NLLLoss", "MSELoss",
    "L1Loss", "BCELoss", "BCEWithLogitsLoss",
]  # fmt: skip
