"""Choosing k without labels: the computation and the report's sections, in one place.

- :mod:`.sample`: the silhouette, Calinski-Harabasz and Davies-Bouldin of every clustering of a
  k sweep, on one seeded sample of the features (:class:`~.sample.SampleScores`, used by the
  grid), and the Ward linkage of a smaller sample (:func:`~.sample.ward_linkage`);
- :mod:`.elbow`: the knee of a WCSS-by-k curve;
- :mod:`.report`: the report's elbow and "choosing k without labels" sections, their plots and
  the dendrograms.
"""
