"""Results records (``results/*.json``) must say what they are before the book shows them.

A record's ``provenance`` block names the weights, the data, the seed, the profile and the
library versions behind its numbers. Numbers without these cannot be compared with the thesis
or with each other (random and ImageNet weights give different results under the same
protocol), so :func:`load_record` refuses a record that lacks any of them: it prints one line
naming the missing fields and returns None, and the notebook shows that line instead.

Writers build the block with :func:`provenance`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .utils import library_versions

REQUIRED = ("weights", "data", "seed", "profile", "library_versions")


def provenance(weights: Any, data: Any, seed: Any, profile: Any,
               libraries: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``provenance`` block of a new record (library versions of this process by
    default)."""
    return {"weights": weights, "data": data, "seed": seed, "profile": profile,
            "library_versions": libraries if libraries is not None else library_versions()}


def _present(value: Any) -> bool:
    return value not in (None, "", {}, [])


def missing_fields(record: Any) -> list[str]:
    """The required provenance fields ``record`` lacks (all of them when it is no object)."""
    block = record.get("provenance") if isinstance(record, dict) else None
    if not isinstance(block, dict):
        return list(REQUIRED)
    return [name for name in REQUIRED if not _present(block.get(name))]


def refusal(name: str, missing: list[str]) -> str:
    """The one line the book shows instead of a record without provenance."""
    fields = ", ".join(f.replace("_", " ") for f in missing)
    return (f"{name} is not shown: it does not record its {fields} (every results record "
            "must say its weights, data, seed, profile and library versions)")


def load_record(path: str | os.PathLike[str], name: str | None = None) -> dict[str, Any] | None:
    """The record at ``path`` when its provenance is complete; otherwise print one line
    (naming the file as ``name``, default its path) and return None."""
    path = Path(path)
    name = name or path.as_posix()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        print(f"{name} is not shown: it cannot be read as JSON ({err})")
        return None
    missing = missing_fields(record)
    if missing:
        print(refusal(name, missing))
        return None
    return record


def describe(record: dict[str, Any]) -> str:
    """One line of a record's provenance: weights, data, seed, profile and the main
    library versions."""
    block = record["provenance"]
    libs = block["library_versions"]
    main = ", ".join(f"{k} {libs[k]}" for k in ("keras", "keras_backend", "tensorflow", "jax")
                     if isinstance(libs, dict) and k in libs)
    return (f"weights: {block['weights']}; data: {block['data']}; seed: {block['seed']}; "
            f"profile: {block['profile']}; libraries: {main or libs}")


__all__ = ["REQUIRED", "provenance", "missing_fields", "refusal", "load_record", "describe"]
