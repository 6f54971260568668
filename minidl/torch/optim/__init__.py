"""``minidl.torch.optim``: PyTorch's optimizers and learning-rate schedulers.

``import minidl.torch.optim as optim`` stands for ``import torch.optim as optim``::

    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)

Each optimizer follows PyTorch's update rule and options, and runs it with the fused kernels
of minidl's Keras optimizers (``minidl.optimizers``) in their PyTorch flavour.
"""

from minidl.torch.optim import lr_scheduler
from minidl.torch.optim.adadelta import Adadelta
from minidl.torch.optim.adagrad import Adagrad
from minidl.torch.optim.adam import Adam, AdamW
from minidl.torch.optim.optimizer import Optimizer
from minidl.torch.optim.rmsprop import RMSprop
from minidl.torch.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
           "lr_scheduler"]
