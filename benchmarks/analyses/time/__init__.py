"""Time: the run's one record of it, what is derived from it, and the report's sections on it.

- :mod:`.clock`: the record (``times.json``): every span a run timed, which stage and side
  (library or suite) and what it was about; the seconds per stage derived from it
  (``timeshare.json``);
- :mod:`.benchmark`: ``benchmark.json``, the stages as pytest-benchmark statistics, derived from
  the record;
- :mod:`.timeshare`: the report's "where the time went" and "stage timings" sections;
- :mod:`.floor`: the physical floor under a k-means iteration (one read of the features at the
  measured memory bandwidth) and the report's table of each cell's time per iteration against it.
"""
