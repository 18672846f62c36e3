"""The plug-ins' parameter constraints: scikit-learn's vocabulary for them, and a check added to it.

``Interval``, ``StrOptions`` and ``InvalidParameterError`` are scikit-learn's own (its estimators
declare ``_parameter_constraints`` with them), kept in the private module
``sklearn.utils._param_validation``: every plug-in imports them from here, so a move in
scikit-learn is mended in this one place.

scikit-learn's ``Interval(Integral, ...)`` and ``Interval(Real, ...)`` accept ``True`` and
``False``, since a bool is an int in Python: ``n_init = true`` in a grid TOML would silently
mean one start, ``n_components = true`` one component. :func:`refuse_booleans` refuses a
boolean for every parameter whose constraints do not allow one; :class:`ChecksBooleans` adds it
to an estimator's ``_validate_params`` (both plug-in base classes derive from it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions

__all__ = ["ChecksBooleans", "Interval", "InvalidParameterError", "StrOptions", "refuse_booleans"]

#: Constraints under which a boolean is a valid value.
_TAKES_BOOLEANS = ("boolean", "no_validation")


def refuse_booleans(estimator: Any) -> None:
    """Raise ``InvalidParameterError`` (a ``ValueError``) for a boolean given to a parameter
    whose ``_parameter_constraints`` do not list ``"boolean"`` or ``bool``."""
    constraints: dict[str, list[Any]] = getattr(estimator, "_parameter_constraints", {})
    for name, value in estimator.get_params(deep=False).items():
        allowed = constraints.get(name)
        if isinstance(value, bool | np.bool_) and allowed and not _takes_booleans(allowed):
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(estimator).__name__} must not be a boolean. "
                f"Got {value!r} instead."
            )


def _takes_booleans(constraints: list[Any]) -> bool:
    return any(c is bool or (isinstance(c, str) and c in _TAKES_BOOLEANS) for c in constraints)


class ChecksBooleans:
    """Mixin placed before scikit-learn's ``BaseEstimator``: its ``_validate_params`` (called at
    the start of ``fit``) also refuses booleans for numbers (:func:`refuse_booleans`)."""

    def _validate_params(self) -> None:
        refuse_booleans(self)
        super()._validate_params()  # type: ignore[misc]
