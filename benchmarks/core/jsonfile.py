"""Reading a JSON file the suite wrote (environment.json, benchmark.json) against a schema.

These are the suite's own files, but a run folder may come from anywhere: one that does not
parse or check out is left out with one warning (the report then says "unknown" for what it
held), never a traceback.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)


def read_checked(path: Path, model: type[BaseModel]) -> dict[str, Any]:
    """The object in ``path`` checked against ``model``, as a dict; ``{}`` if missing or bad."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return model.model_validate(data).model_dump()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        log.warning("ignoring %s: it does not parse (%s)", path, exc)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"]) or "the top level"
        log.warning("ignoring %s: %s at %s", path, error["msg"], where)
    return {}
