"""Shared starts: the k-means backends from the same k-means++ centres, library against library.

- :mod:`.starts`: the config's ``[shared_starts]`` table, the centres drawn once per
  (features, k, seed), and each backend's parameters to run from them (used by the grid);
- :mod:`.report`: the report's "library against library from the same start" section.
"""
