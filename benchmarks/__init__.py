"""mnist-bench: cluster MNIST with pluggable extractors and backends, and report how well.

The package is built in layers, each importing only from those below it (``tox -e lint``
checks this with import-linter, see ``.importlinter``):

- :mod:`mnist_bench.cli`: the command line;
- :mod:`mnist_bench.reporting`: REPORT.md, its pictures, compare and export, from result rows;
- :mod:`mnist_bench.grid`: the grid config, the runner, feature extraction through the cache,
  the scale study's measurements;
- :mod:`mnist_bench.analyses`: each analysis (the scores, k selection, shared starts), its
  computation (used by the grid) beside its report section (used by the report);
- :mod:`mnist_bench.features`, :mod:`mnist_bench.clustering`: the plug-ins (the repository's
  ``features/`` and ``clustering/`` folders);
- :mod:`mnist_bench.data`: the datasets;
- :mod:`mnist_bench.core`: the shared vocabulary, errors, plug-in registry, cache, file writes,
  markdown tables and picture helpers.
"""

__version__ = "0.1.0"
