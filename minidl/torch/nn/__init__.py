"""``minidl.torch.nn``: PyTorch-style modules on minidl's ops.

``import minidl.torch.nn as nn`` gives ``nn.Module``, ``nn.Linear``, ``nn.Conv2d``, the
losses, ``nn.functional`` (as ``F``) and ``nn.init``.
"""

from minidl.torch.nn import functional, init
from minidl.torch.nn.modules import *  # noqa: F403 - the public module classes
from minidl.torch.nn.modules import __all__ as _modules_all
from minidl.torch.nn.parameter import Parameter

__all__ = ["Parameter", "functional", "init", *_modules_all]
