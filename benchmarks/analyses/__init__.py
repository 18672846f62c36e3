"""The analyses: each one's computation and its rendering, found together.

A layer between the grid and the plug-ins (``.importlinter``): the grid imports an analysis's
computation, the report imports its rendering (``report.py``), and an analysis imports neither
the grid nor the report.

- :mod:`mnist_bench.analyses.scores`: the scores of every clustering against the true labels
  (purity, macro purity, Hungarian accuracy, NMI, ARI) and its WCSS, shared by every backend;
- :mod:`mnist_bench.analyses.kselect`: choosing k without labels (the elbow's knee, the
  silhouette, Calinski-Harabasz and Davies-Bouldin on a seeded sample, the dendrograms);
- :mod:`mnist_bench.analyses.shared_starts`: the k-means backends run from the same k-means++
  centres, library against library.
"""
