"""The resume journal of a run: rows finished so far, appended to ``OUT/.partial.jsonl``.

A killed run started again with the same config and output folder keeps these rows and computes
only the rest; the journal is removed when the run completes.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from mnist_bench.core.atomic import write_text
from mnist_bench.core.system import say
from mnist_bench.core.vocabulary import PARTIAL, row_key


class Journal:
    """Rows finished so far by a run into one output folder, for resuming after a kill."""

    def __init__(self, out_dir: Path, config_hash: str) -> None:
        self.path = out_dir / PARTIAL
        self.config_hash = config_hash

    def load(self) -> dict[tuple[Any, ...], dict[str, Any]]:
        """Rows of an interrupted run of the same config (a torn last line is ignored)."""
        if not self.path.exists():
            return {}
        lines = self.path.read_text().splitlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            header = {}
        if header.get("config_hash") != self.config_hash:
            say("ignoring the partial results of an earlier run with another config")
            return {}
        done = {}
        for line in lines[1:]:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[row_key(row)] = row
        if done:
            say(f"resuming: {len(done)} rows of an interrupted run are kept")
        return done

    def start(self, rows: list[dict[str, Any]]) -> None:
        """Begin the file afresh with the rows kept from an earlier attempt."""
        lines = [json.dumps({"config_hash": self.config_hash})] + [json.dumps(r) for r in rows]
        write_text(self.path, "".join(line + "\n" for line in lines))

    def append(self, row: dict[str, Any]) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
