"""Exceptions raised by graphfm.

Every error a user can cause (bad data, bad config, missing checkpoint) is a
:class:`GraphFMError` subclass whose message says what is wrong and how to fix it.
The CLI prints ``error: <message>`` and exits 2 for these, 1 for anything else.
"""


class GraphFMError(Exception):
    """Base class of every error graphfm raises on purpose."""

    exit_code = 2


class DataError(GraphFMError):
    """A dataset is missing, corrupt or invalid (bad edges, NaN features, ...)."""


class ConfigError(GraphFMError):
    """A config file or a component name is wrong (unknown key, wrong type, ...)."""


class CheckpointError(GraphFMError):
    """A checkpoint directory is missing, incomplete or incompatible."""


__all__ = ["GraphFMError", "DataError", "ConfigError", "CheckpointError"]
