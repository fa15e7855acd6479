"""Dataset loaders (``pyg``, ``musae``, ``tag``); each module registers its :class:`DatasetSpec` s
when :data:`graphfm.data.DATASETS` first misses a name (see :data:`graphfm.registry.PROVIDERS`)."""
