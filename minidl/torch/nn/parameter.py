"""``nn.Parameter``: a tensor that a ``Module`` registers as one of its weights."""

from minidl.torch._tensor import Tensor, as_array


class Parameter(Tensor):
    """A tensor that is a module's weight: assigning it to a ``Module`` attribute registers
    it, so it appears in ``parameters()`` and ``state_dict()``.

    Args:
        data: a tensor or array; the parameter shares its memory (no copy).
        requires_grad: whether the optimizer trains it (default True).

    Ops on a parameter give plain ``minidl.torch.Tensor`` results (a product of weights is
    not itself a weight).

    >>> import minidl.torch as torch
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> w.requires_grad, w.is_leaf
    (True, True)
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        array = as_array(data if data is not None else [])
        super().__init__(array, requires_grad=False)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
