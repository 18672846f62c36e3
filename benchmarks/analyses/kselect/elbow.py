"""The elbow: picking the knee of a WCSS-by-k curve with ``kneed`` (Satopää et al., 2011)."""

from __future__ import annotations

from collections.abc import Sequence


def knee(ks: Sequence[int], wcss: Sequence[float]) -> int | None:
    """The k at the knee of a decreasing convex WCSS curve, or None when there is none."""
    if len(ks) < 3:
        return None
    from kneed import KneeLocator

    locator = KneeLocator(list(ks), list(wcss), curve="convex", direction="decreasing", online=True)
    return None if locator.knee is None else int(locator.knee)


KNEE_METHOD = "kneed.KneeLocator(curve='convex', direction='decreasing', online=True)"
