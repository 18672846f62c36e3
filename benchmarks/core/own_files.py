"""Reading files the suite wrote itself (JSON records, ``.npz`` arrays), which may be damaged.

The rule for them: one that does not parse or check out is set aside with one warning and
recomputed, or left out (the report then says "unknown" for what it held), never a traceback.
A run folder may come from anywhere.
"""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)

#: What reading a damaged ``.npy``/``.npz`` of ours can raise (a torn zip is a BadZipFile).
UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


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
