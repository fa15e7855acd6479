"""graphfm: graph and multimodal foundation models on PyTorch Geometric and Lightning."""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("graphfm")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
