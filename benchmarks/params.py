"""``get_params`` for plug-ins, read off the keyword-only ``__init__`` signature (as in sklearn)."""

from __future__ import annotations

import inspect
from typing import Any


class ParamsMixin:
    """``get_params`` from the ``__init__`` signature, as scikit-learn's BaseEstimator does."""

    def get_params(self) -> dict[str, Any]:
        names = [
            p.name
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self" and p.kind is p.KEYWORD_ONLY
        ]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
