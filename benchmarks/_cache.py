"""A JSON-lines cache of finished benchmark cells, so that interrupted runs resume.

Each line is ``{"key": <str>, "result": <dict>}``; a later line for the same key wins.
"""

from __future__ import annotations

import json
from pathlib import Path


def read_cache(path: Path | None) -> dict[str, dict]:
    """The results already in ``path`` (none when it is ``None`` or absent), by key."""
    if path is None or not path.exists():
        return {}
    entries = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {entry["key"]: entry["result"] for entry in entries}


def append_cache(path: Path | None, key: str, result: dict) -> None:
    """Record one finished cell in ``path`` (nothing when it is ``None``)."""
    if path is not None:
        with path.open("a") as file:
            file.write(json.dumps({"key": key, "result": result}) + "\n")


def estimator_params(params: dict, drop: tuple[str, ...]) -> dict:
    """*All* parameters of ``xCEBRAAttributor(**params)``, defaults included, less ``drop``, and
    skattr's version: a cache key made of them mistakes neither cells of earlier defaults nor
    those of an earlier version (an algorithm changed under the same parameters) for current
    ones."""
    from skattr import __version__, xCEBRAAttributor

    return {**{name: value for name, value in xCEBRAAttributor(**params).get_params().items()
               if name not in drop}, "skattr_version": __version__}
