"""Matrix products, on BLAS through ``xp.matmul``."""

from minidl.array_backend import get_array_module
from minidl.tensor import Op
from minidl.threads import note_product


class MatMul(Op):
    """out = a @ b with NumPy's rules (2-D, 1-D vectors, batched with broadcasting).

    For 2-D operands:  da = g @ bᵀ,   db = aᵀ @ g.

    A 1-D ``a`` is treated as a row (1, k) and a 1-D ``b`` as a column (k, 1); the added
    axis is removed from the result and from the gradients. Batch axes that were broadcast
    are summed back to each input's shape by the engine.
    """

    def forward(self, a, b):
        self.a, self.b = a, b
        if a.ndim > 1 and b.ndim > 1:
            note_product(a.shape[-2], a.shape[-1], b.shape[-1])
        return get_array_module(a).matmul(a, b)

    def backward(self, g):
        a, b = self.a, self.b
        if a.ndim == 2 and b.ndim == 2:  # the common case, kept short
            da = g @ b.T if self.needs_grad[0] else None
            db = a.T @ g if self.needs_grad[1] else None
            return da, db
        xp = get_array_module(g)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2 if b.ndim > 1 else 0)
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        da = db = None
        if self.needs_grad[0]:
            da = xp.matmul(g2, xp.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                da = da[..., 0, :]
        if self.needs_grad[1]:
            db = xp.matmul(xp.swapaxes(a2, -1, -2), g2)
            if b.ndim == 1:
                db = db[..., 0]
        return da, db


def matmul(a, b):
    return MatMul.apply(a, b)
