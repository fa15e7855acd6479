"""Dataset loaders; importing this package registers every :class:`DatasetSpec`."""
from graphfm.data.loaders import musae, pyg, tag  # noqa: F401

__all__ = ["musae", "pyg", "tag"]
