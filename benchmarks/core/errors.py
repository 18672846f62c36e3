"""The one exception type for user errors: the CLI prints it as one line and exits 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in what the user asked for (bad flag, config, data): not a bug in the suite."""


def unknown(kind: str, name: str, known: Iterable[str]) -> UserError:
    """Build the error for an unknown name, listing the known ones and the closest match."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return UserError(f"unknown {kind} {name!r}{hint}; known: {', '.join(known)}")
