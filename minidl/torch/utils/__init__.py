"""``minidl.torch.utils``: ``data`` (datasets and the DataLoader)."""

from minidl.torch.utils import data

__all__ = ["data"]
