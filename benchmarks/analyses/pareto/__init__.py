"""Accuracy against time: every cell's headline score against its total time, and the cells no
other beats on both (the Pareto front), the ann-benchmarks picture for clustering.

- :mod:`.front`: a cell's total time (extraction + fit + predict) and the front;
- :mod:`.report`: the report's section, its plot and the table of the front.
"""
