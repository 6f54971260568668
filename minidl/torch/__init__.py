"""minidl's PyTorch face: ``import minidl.torch as torch`` (tensors, nn, optim, utils.data)."""
