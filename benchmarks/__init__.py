"""mnist-bench: the suite itself (datasets, grid spec and runner, cache, CLI, report writer).

Plug-ins live in the sibling packages ``features`` (extractors) and ``clustering`` (backends);
this package combines them and never special-cases one by name.
"""

__version__ = "0.1.0"
