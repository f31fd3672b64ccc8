"""The leak-free split (stage two): stratified train/val/test sizes that reproduce Table 4.1,
with exact and near-duplicate photos kept in one subset so test accuracy is not inflated by
leakage. The manifest's format is ``contracts/artifacts.SplitManifest``.
"""

from __future__ import annotations

import hashlib
import math
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..contracts import artifacts
from ..contracts.config import DEFAULT_SEED, JewelNetError
from ..contracts.utils import sha256_file
from ..images.audit import FileRecord, audit_dataset, scan_folder

SPLITS = artifacts.SPLITS
check_ratios = artifacts.check_ratios
DEFAULT_RATIOS: tuple[float, float, float] = (0.7, 0.15, 0.15)

# --------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------


def split_sizes(n: int, ratios: Sequence[float] = DEFAULT_RATIOS) -> tuple[int, int, int]:
    """Per-class (train, val, test) sizes; reproduces thesis Table 4.1 exactly.

    train = round-half-up(r_train * n); the rest is shared by val and test in proportion,
    val rounded down, test takes the remainder (e.g. 163 -> 114/24/25). With at least 3
    images every subset gets at least one, taken from the largest.
    """
    r_train, r_val, r_test = check_ratios(ratios)
    train = min(n, math.floor(r_train * n + 0.5 + 1e-9))
    rest = n - train
    val = math.floor(rest * r_val / (r_val + r_test) + 1e-9)
    sizes = [train, val, rest - val]
    if n >= len(SPLITS):
        while min(sizes) == 0:
            sizes[sizes.index(max(sizes))] -= 1
            sizes[sizes.index(0)] += 1
    return sizes[0], sizes[1], sizes[2]


def class_seed(seed: int, cls: str) -> np.random.Generator:
    """A generator per class, so one class's files never change another class's split."""
    return np.random.default_rng([int(seed), zlib.crc32(cls.encode("utf-8"))])


def _assign_splits(records: list[FileRecord], classes: list[str], seed: int,
                   ratios: tuple[float, float, float]) -> dict[str, str]:
    """Split path -> subset, stratified per class, duplicate groups kept whole.

    Within a class, units (a single file or a duplicate group) are shuffled, placed largest
    first, each into the subset furthest below its target. Without duplicates this hits
    :func:`split_sizes` exactly. A group spanning classes is placed with its first class and
    counts towards the others.
    """
    by_group: dict[int, list[FileRecord]] = {}
    for rec in records:
        if rec.group is not None:
            by_group.setdefault(rec.group, []).append(rec)
    assigned: dict[str, str] = {}
    for cls in classes:
        mine = [r for r in records if r.class_name == cls]
        targets = split_sizes(len(mine), ratios)
        current = [0, 0, 0]
        units: list[list[FileRecord]] = []
        seen_groups: set[int] = set()
        for rec in mine:
            if rec.path in assigned:  # placed with a group of an earlier class
                current[SPLITS.index(assigned[rec.path])] += 1
            elif rec.group is None:
                units.append([rec])
            elif rec.group not in seen_groups:
                seen_groups.add(rec.group)
                units.append(by_group[rec.group])
        rng = class_seed(seed, cls)
        order = rng.permutation(len(units))
        shuffled = [units[k] for k in order]
        shuffled.sort(key=lambda u: -sum(r.class_name == cls for r in u))  # stable
        for unit in shuffled:
            here = sum(r.class_name == cls for r in unit)
            deficits = [targets[s] - current[s] for s in range(3)]
            choice = int(np.argmax(deficits))
            current[choice] += here
            for rec in unit:
                assigned[rec.path] = SPLITS[choice]
    return assigned


def make_split(data_dir: str | os.PathLike[str], seed: int = DEFAULT_SEED,
               ratios: Sequence[float] = DEFAULT_RATIOS, hash_threshold: int = 4) -> dict[str, Any]:
    """Audit ``data_dir`` and return a stratified, leak-free train/val/test manifest.

    Deterministic: the same files and seed give a byte-identical manifest. Unusable files
    are listed under ``skipped``; exact and near-duplicates always share a subset.
    """
    ratio_values = check_ratios(ratios)
    report = audit_dataset(data_dir, hash_threshold=hash_threshold)
    if not report.usable:
        raise JewelNetError(report.problem)
    good = [r for r in report.files if r.usable]
    assigned = _assign_splits(good, report.classes, int(seed), ratio_values)
    return artifacts.SplitManifest(
        data_dir=Path(data_dir).as_posix(),
        seed=int(seed),
        ratios=list(ratio_values),
        hash_threshold=report.hash_threshold,
        classes=list(report.classes),
        files=[
            {"path": r.path, "class": r.class_name, "split": assigned[r.path], "sha256": r.sha256}
            for r in good
        ],
        skipped=[{"path": u["path"], "reason": u["reason"]} for u in report.unusable],
    ).to_dict()


def validate_manifest(manifest: Any, source: str = "split manifest") -> dict[str, Any]:
    """Check a manifest's structure (``artifacts.SplitManifest``); raise a clear error naming
    ``source`` otherwise. Returns the manifest as written."""
    return artifacts.SplitManifest.from_dict(manifest, source).to_dict()


def save_manifest(manifest: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Validate and write a manifest atomically."""
    return artifacts.write_split_manifest(path, artifacts.SplitManifest.from_dict(manifest))


def load_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a manifest written by :func:`make_split`."""
    return artifacts.read_split_manifest(path).to_dict()


def data_hash(manifest: dict[str, Any]) -> str:
    """SHA-256 over the manifest's (path, class, split, file hash) rows: names the data exactly."""
    digest = hashlib.sha256()
    for f in manifest["files"]:
        digest.update(f"{f['path']}\t{f['class']}\t{f['split']}\t{f['sha256']}\n".encode())
    return digest.hexdigest()


def ensure_split(data_dir: str | os.PathLike[str], path: str | os.PathLike[str],
                 seed: int = DEFAULT_SEED, ratios: Sequence[float] = DEFAULT_RATIOS,
                 hash_threshold: int = 4) -> dict[str, Any]:
    """The manifest at ``path`` if it fits ``data_dir`` and ``seed``, else a fresh one (saved).

    "Fits" means the same seed, ratios, threshold and ``data_dir`` string, and exactly the
    files now in the folder with the recorded SHA-256. A rebuilt manifest assigns the same
    files to the same subsets (the split never depends on ``data_dir`` itself).
    """
    ratio_values = check_ratios(ratios)
    target = Path(path)
    if target.is_file():
        try:
            manifest = load_manifest(target)
        except JewelNetError:
            manifest = None
        if manifest is not None and _manifest_fits(manifest, Path(data_dir), int(seed),
                                                   ratio_values, hash_threshold):
            return manifest
    manifest = make_split(data_dir, seed=seed, ratios=ratio_values, hash_threshold=hash_threshold)
    save_manifest(manifest, target)
    return manifest


def _manifest_fits(manifest: dict[str, Any], data_dir: Path, seed: int,
                   ratios: tuple[float, float, float], hash_threshold: int) -> bool:
    """Same settings, same folder name, same files with the same contents."""
    if manifest["seed"] != seed or manifest.get("hash_threshold") != hash_threshold:
        return False
    if manifest["data_dir"] != data_dir.as_posix() or not data_dir.is_dir():
        return False
    if any(abs(a - b) > 1e-9 for a, b in zip(manifest.get("ratios", []), ratios, strict=False)):
        return False
    listed = {f["path"] for f in manifest["files"]} | {s["path"] for s in manifest["skipped"]}
    if listed != {rel for _cls, rel in scan_folder(data_dir).files}:
        return False
    try:  # two generated datasets can share every file name; only contents tell them apart
        return all(sha256_file(data_dir / f["path"]) == f["sha256"] for f in manifest["files"])
    except OSError:
        return False


def format_split_table(manifest: dict[str, Any]) -> str:
    """Per-class sizes shaped like thesis Table 4.1 (Category, Original, Train, Val, Test)."""
    rows = []
    for cls in manifest["classes"]:
        subset = [f["split"] for f in manifest["files"] if f["class"] == cls]
        rows.append((cls.replace("_", " ").title(), len(subset),
                     *(subset.count(s) for s in SPLITS)))
    rows.append(("Total", *(sum(r[k] for r in rows) for k in range(1, 5))))
    width = max(len("Category"), *(len(r[0]) for r in rows))
    head = f"{'Category':<{width}}  {'Original':>8}  {'Train':>5}  {'Val':>5}  {'Test':>5}"
    body = [f"{r[0]:<{width}}  {r[1]:>8}  {r[2]:>5}  {r[3]:>5}  {r[4]:>5}" for r in rows]
    return "\n".join([head, *body])


