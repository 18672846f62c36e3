"""The resume journal of a run: rows finished so far, appended to ``OUT/.partial.jsonl``.

A killed run started again with the same config and output folder keeps these rows and computes
only the rest; the journal is removed when the run completes.

Every row carries its own checksum (:data:`CHECKSUM`: the SHA-256 of the row's canonical JSON,
:func:`sealed`), as the feature cache's entries do: a row whose numbers changed after it was
written (a purity halved, a NaN), or that has no checksum, is never resumed; it is dropped with
one warning and computed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mnist_bench.core.atomic import write_text
from mnist_bench.core.system import say
from mnist_bench.core.vocabulary import PARTIAL, row_key
from mnist_bench.grid.results import REQUIRED, Row

#: The key of a journal line that holds the checksum of the rest of the line (the row).
CHECKSUM = "row_sha256"


class Journal:
    """Rows finished so far by a run into one output folder, for resuming after a kill."""

    def __init__(self, out_dir: Path, config_hash: str) -> None:
        self.path = out_dir / PARTIAL
        self.config_hash = config_hash

    def load(self) -> dict[tuple[Any, ...], dict[str, Any]]:
        """Rows of an interrupted run of the same config.

        The journal is the suite's own file: a line that does not parse, does not match its
        checksum or is not a complete, valid result row (a torn last line, say) is dropped with
        one warning, and its row is computed again; a header that does not parse discards the
        whole journal.
        """
        if not self.path.exists():
            return {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            say(f"warning: ignoring the unreadable partial results {self.path.name} ({exc})")
            return {}
        header = _json(lines[0]) if lines else None
        if not isinstance(header, dict) or "config_hash" not in header:
            say(f"warning: ignoring the partial results {self.path.name}: its header is damaged")
            return {}
        if header["config_hash"] != self.config_hash:
            say("ignoring the partial results of an earlier run with another config")
            return {}
        done, dropped = {}, 0
        for line in lines[1:]:
            row = unsealed(_json(line))
            if not _is_row(row):
                dropped += 1
                continue
            done[row_key(row)] = row
        if dropped:
            say(
                f"warning: {dropped} damaged line(s) of {self.path.name} dropped (torn, not a "
                "valid row, or not matching its checksum); their rows are computed again"
            )
        if done:
            say(f"resuming: {len(done)} rows of an interrupted run are kept")
        return done

    def start(self, rows: list[dict[str, Any]]) -> None:
        """Begin the file afresh with the rows kept from an earlier attempt."""
        lines = [json.dumps({"config_hash": self.config_hash})] + [sealed(r) for r in rows]
        write_text(self.path, "".join(line + "\n" for line in lines))

    def append(self, *rows: dict[str, Any]) -> None:
        """Add ``rows`` in one write and one fsync: a run killed meanwhile leaves all of them
        or none (a cell's k sweep is journaled whole, as its resume needs), a torn line at
        worst, which :meth:`load` drops."""
        with open(self.path, "a") as fh:
            fh.write("".join(sealed(row) + "\n" for row in rows))
            fh.flush()
            os.fsync(fh.fileno())

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _digest(row: dict[str, Any]) -> str:
    """The SHA-256 of ``row``'s canonical JSON (sorted keys; floats as ``repr`` writes them,
    which reads back to the same float, so a row read back has the same digest)."""
    text = json.dumps(row, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def sealed(row: dict[str, Any]) -> str:
    """The journal line of ``row``: its JSON with its checksum (:data:`CHECKSUM`) added."""
    return json.dumps({**row, CHECKSUM: _digest(row)})


def unsealed(line: Any) -> dict[str, Any] | None:
    """The row of a parsed journal line, or None when it is not an object whose checksum
    matches the rest of it (altered, or written without one)."""
    if not isinstance(line, dict):
        return None
    row = {key: value for key, value in line.items() if key != CHECKSUM}
    return row if line.get(CHECKSUM) == _digest(row) else None


def _json(line: str) -> Any:
    try:
        return json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None


def _is_row(row: Any) -> bool:
    """Whether ``row`` is a complete result row that the results schema accepts."""
    if not isinstance(row, dict) or not set(REQUIRED) <= set(row):
        return False
    try:
        Row.model_validate(row)
    except ValidationError:
        return False
    return True
