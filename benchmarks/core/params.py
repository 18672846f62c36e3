"""A check the plug-in base classes add to scikit-learn's parameter validation.

scikit-learn's ``Interval(Integral, ...)`` and ``Interval(Real, ...)`` accept ``True`` and
``False``, since a bool is an int in Python: ``n_init = true`` in a grid TOML would silently
mean one start, ``n_components = true`` one component. :func:`refuse_booleans` refuses a
boolean for every parameter whose constraints do not allow one; :class:`ChecksBooleans` adds it
to an estimator's ``_validate_params`` (both plug-in base classes derive from it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError

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
