"""Dataset loaders; importing this package registers every :class:`DatasetSpec`."""
from graphfm.data.loaders import musae, pyg, tag  # noqa: F401
from graphfm.data import digits  # noqa: F401,E402  (registers digits-graph)

__all__ = ["musae", "pyg", "tag", "digits"]
