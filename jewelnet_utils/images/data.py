"""Data: reading photos safely, auditing a folder, leak-free splits, arrays and input pipelines.

Everything a model sees passes through here, so this module is strict about input it cannot
trust (photos from shops, catalogs and the web): every file is fully decoded once, odd pixel
formats are converted rather than rejected, and files that cannot be used are named with the
reason (the decoder itself is ``images.py``). Splits keep exact and near-duplicate photos
together so test accuracy is not inflated by leakage. TensorFlow and Keras are imported only
inside the functions that need them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import sys
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..contracts import artifacts
from ..contracts.config import DEFAULT_SEED, JewelNetError, class_sort_key, normalise_class_name

# The decoder lives in images.py; its public names stay reachable here, where the audit and
# the split arrays use them and where callers have always found them.
from ..contracts.decode import (  # noqa: F401 - re-exported
    CONVERSION_KINDS,
    MAX_DECODE_PIXELS,
    MIN_SIDE,
    ImageProblem,
    load_image,
    open_rgb,
    resize_square,
)
from ..contracts.utils import sha256_file

MIN_PER_CLASS = 3  # one image per split at least
# The manifest's format is artifacts.SplitManifest; these names stay here for the callers.
SPLITS = artifacts.SPLITS
check_ratios = artifacts.check_ratios
DEFAULT_RATIOS: tuple[float, float, float] = (0.7, 0.15, 0.15)
_PROGRESS_MIN_FILES = 200
MAX_UNCONFIRMED_LISTED = 500  # a very loose --hash-threshold matches nearly every pair


# --------------------------------------------------------------------------------------------
# Auditing a folder
# --------------------------------------------------------------------------------------------


@dataclass
class FileRecord:
    """What the audit learnt about one candidate file."""

    path: str  # relative to the data folder, "/" separators
    class_name: str
    usable: bool
    reason: str | None = None
    sha256: str | None = None
    phash: str | None = None  # 64-bit perceptual hash, hex
    width: int | None = None
    height: int | None = None
    conversions: list[str] = field(default_factory=list)
    group: int | None = None  # duplicate group (index into the report's groups), if any
    crop_phash: str | None = None  # perceptual hash of the object crop (duplicates.py), hex
    # The second near-duplicate check's view of the image; in memory only (not in --json).
    look: Any = field(default=None, repr=False, compare=False)


@dataclass
class AuditReport:
    """Everything ``jewelnet audit`` finds; ``usable`` says whether a split can be made."""

    data_dir: str
    hash_threshold: int
    classes: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    unusable: list[dict[str, str]] = field(default_factory=list)
    conversions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CONVERSION_KINDS, 0))
    exact_duplicates: list[list[str]] = field(default_factory=list)
    near_duplicates: list[list[str]] = field(default_factory=list)
    # hash matches the object check did not confirm: {"paths", "shape", "colour"}
    unconfirmed_pairs: list[dict[str, Any]] = field(default_factory=list)
    confirm: bool = True  # near-duplicates need the object check (duplicates.py) too
    ignored: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """True when nothing blocks a train/val/test split."""
        return not self.problems

    @property
    def problem(self) -> str | None:
        """The blocking problems as one sentence, or None."""
        if not self.problems:
            return None
        shown = self.problems[:3]
        more = len(self.problems) - len(shown)
        text = "; ".join(shown)
        if more:
            text += f"; and {more} more problem{'s' if more > 1 else ''} (see the audit report)"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (what ``jewelnet audit --json`` writes)."""
        looks = [rec.look for rec in self.files]
        try:
            for rec in self.files:
                rec.look = None
            out = dataclasses.asdict(self)
        finally:
            for rec, look in zip(self.files, looks, strict=True):
                rec.look = look
        for rec in out["files"]:
            del rec["look"]
        return {"usable": self.usable, "problem": self.problem, **out}


@dataclass
class _Scan:
    """The candidate files of a data folder, before anything is decoded."""

    files: list[tuple[str, str]]  # (class, relative path), sorted
    folders: dict[str, list[str]]  # class -> folder names merged into it
    ignored: list[dict[str, str]]


def _scan(data_dir: Path) -> _Scan:
    """List class folders and the regular files inside them (not recursive)."""
    folders: dict[str, list[str]] = {}
    files: list[tuple[str, str]] = []
    ignored: list[dict[str, str]] = []
    for entry in sorted(data_dir.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name == "__MACOSX":
            continue
        if not entry.is_dir():
            ignored.append({"path": entry.name, "reason": "file outside any class folder"})
            continue
        name = normalise_class_name(entry.name) or entry.name
        folders.setdefault(name, []).append(entry.name)
        for item in sorted(entry.iterdir(), key=lambda p: p.name):
            rel = f"{entry.name}/{item.name}"
            if item.is_file():
                files.append((name, rel))
            elif item.is_dir():
                ignored.append({"path": rel, "reason": "folder inside a class folder (not read)"})
            else:
                ignored.append({"path": rel, "reason": "not a regular file"})
    files.sort(key=lambda f: (class_sort_key(f[0]), f[1]))
    ordered = {c: folders[c] for c in sorted(folders, key=class_sort_key)}
    return _Scan(files=files, folders=ordered, ignored=ignored)


def _progress(items: Sequence[Any], desc: str) -> Iterable[Any]:
    """tqdm on stderr for long jobs in a terminal; the plain sequence otherwise."""
    if len(items) < _PROGRESS_MIN_FILES or not sys.stderr.isatty():
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="img", file=sys.stderr, leave=False)


def _inspect_file(data_dir: Path, cls: str, rel: str) -> FileRecord:
    """Hash and fully decode one file; never raises for a bad file."""
    record = FileRecord(path=rel, class_name=cls, usable=False)
    path = data_dir / rel
    try:
        data = path.read_bytes()
    except OSError as err:
        record.reason = f"unreadable ({err.strerror or err})"
        return record
    try:
        img, kinds = open_rgb(path, data)
    except ImageProblem as err:
        record.reason = err.reason
        return record
    import imagehash  # imported here: only the audit needs it

    from .duplicates import look_of

    bits = np.asarray(imagehash.phash(img).hash, dtype=bool).ravel()
    record.usable = True
    record.sha256 = hashlib.sha256(data).hexdigest()
    record.phash = np.packbits(bits).tobytes().hex()
    record.look = look_of(img)
    record.crop_phash = f"{record.look.crop_hash:016x}"
    record.width, record.height = img.size
    record.conversions = kinds
    return record


def _set_bits(values: np.ndarray) -> np.ndarray:
    """Number of 1 bits in each 64-bit value. ``np.bitwise_count`` arrived with NumPy 2; the
    tested range (pyproject.toml) starts at 1.26 because hosted runtimes keep their own NumPy."""
    count = getattr(np, "bitwise_count", None)
    if count is not None:
        return count(values)
    as_bytes = np.ascontiguousarray(values, dtype=np.uint64)[..., None].view(np.uint8)
    return np.unpackbits(as_bytes, axis=-1).sum(axis=-1, dtype=np.uint8)


def _near_pairs(hashes: np.ndarray, threshold: int, block: int = 512) -> np.ndarray:
    """Index pairs (i < j) whose 64-bit hashes differ in at most ``threshold`` bits.

    Blocked numpy popcount: about n^2/2 comparisons, fine for tens of thousands of images.
    """
    n = len(hashes)
    found: list[np.ndarray] = []
    for start in range(0, n, block):
        rows = hashes[start : start + block]
        dist = _set_bits(rows[:, None] ^ hashes[None, :])
        i, j = np.nonzero(dist <= threshold)
        i = i + start
        keep = j > i
        if keep.any():
            found.append(np.stack([i[keep], j[keep]], axis=1))
    return np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _check_threshold(hash_threshold: int) -> int:
    if isinstance(hash_threshold, bool) or not isinstance(hash_threshold, (int, np.integer)):
        raise JewelNetError(f"hash threshold must be a whole number, got {hash_threshold!r}")
    if not 0 <= hash_threshold <= 64:
        raise JewelNetError(f"hash threshold must be between 0 and 64, got {hash_threshold}")
    return int(hash_threshold)


def _hash_array(hexes: Iterable[str | None]) -> np.ndarray:
    return np.array([int(h or "0", 16) for h in hexes], dtype=np.uint64)


def _near_duplicate_pairs(report: AuditReport, good: list[FileRecord]) -> np.ndarray:
    """Index pairs of near-duplicates among ``good``.

    Candidates are hash matches (whole frame, and with ``report.confirm`` the object crop
    too); with ``report.confirm`` a candidate also needs the object check of duplicates.py.
    Rejected candidates go to ``report.unconfirmed_pairs`` so a user can see them."""
    threshold = report.hash_threshold
    pairs = _near_pairs(_hash_array(r.phash for r in good), threshold)
    if not report.confirm or len(good) < 2:
        return pairs
    from .duplicates import COLOUR_MIN, SHAPE_MIN

    crop_pairs = _near_pairs(_hash_array(r.crop_phash for r in good), threshold)
    pairs = np.unique(np.concatenate([pairs, crop_pairs]), axis=0)
    shapes = np.stack([r.look.shape for r in good])
    colours = np.stack([r.look.colour for r in good])
    shape = np.einsum("ij,ij->i", shapes[pairs[:, 0]], shapes[pairs[:, 1]])
    colour = np.minimum(colours[pairs[:, 0]], colours[pairs[:, 1]]).sum(axis=1)
    same = (shape >= SHAPE_MIN) & (colour >= COLOUR_MIN)
    for (i, j), s, c in zip(pairs[~same][:MAX_UNCONFIRMED_LISTED], shape[~same],
                            colour[~same], strict=False):
        report.unconfirmed_pairs.append({"paths": [good[i].path, good[j].path],
                                         "shape": round(float(s), 3),
                                         "colour": round(float(c), 3)})
    if (~same).any():
        report.notes.append(
            f"{int((~same).sum())} perceptual-hash match(es) not counted as near-duplicates: "
            "the objects differ in shape or colour (see --preview)"
        )
    return pairs[same]


def _group_duplicates(report: AuditReport) -> None:
    """Fill exact/near duplicate groups and each usable record's ``group``."""
    good = [r for r in report.files if r.usable]
    if not good:
        return
    uf = _UnionFind(len(good))
    first_by_sha: dict[str, int] = {}
    for k, rec in enumerate(good):
        sha = rec.sha256 or ""
        if sha in first_by_sha:
            uf.union(first_by_sha[sha], k)
        else:
            first_by_sha[sha] = k
    for i, j in _near_duplicate_pairs(report, good):
        uf.union(int(i), int(j))

    members: dict[int, list[int]] = {}
    for k in range(len(good)):
        members.setdefault(uf.find(k), []).append(k)
    groups = [m for m in members.values() if len(m) > 1]
    groups.sort(key=lambda m: good[m[0]].path)
    cross_class = 0
    for gid, group in enumerate(groups):
        for k in group:
            good[k].group = gid
        if len({good[k].sha256 for k in group}) > 1:
            report.near_duplicates.append([good[k].path for k in group])
        if len({good[k].class_name for k in group}) > 1:
            cross_class += 1
    by_sha: dict[str, list[str]] = {}
    for rec in good:
        by_sha.setdefault(rec.sha256 or "", []).append(rec.path)
    report.exact_duplicates = sorted((p for p in by_sha.values() if len(p) > 1), key=lambda p: p[0])
    if report.exact_duplicates or report.near_duplicates:
        report.notes.append(
            f"{len(report.exact_duplicates)} exact and {len(report.near_duplicates)} "
            "near-duplicate group(s); a split keeps each group inside one subset"
        )
    largest = max(len(g) for g in groups) if groups else 0
    if largest > max(10, len(good) // 20):
        report.notes.append(
            f"the largest duplicate group holds {largest} images; if they are not really "
            "duplicates, lower the hash threshold"
        )
    if cross_class:
        report.notes.append(
            f"{cross_class} duplicate group(s) span more than one class (conflicting labels)"
        )


def audit_dataset(data_dir: str | os.PathLike[str], hash_threshold: int = 4,
                  confirm: bool = True) -> AuditReport:
    """Check a folder of one sub-folder per class before any split or training.

    Never raises for bad data: problems that block a split go into ``report.problems``
    (``report.usable`` is then False, ``report.problem`` says why in one sentence).
    ``confirm=False`` groups near-duplicates on the perceptual hash alone (see duplicates.py).
    """
    threshold = _check_threshold(hash_threshold)
    root = Path(data_dir)
    report = AuditReport(data_dir=root.as_posix(), hash_threshold=threshold,
                         confirm=bool(confirm))
    if not root.exists():
        report.problems.append(f"data folder {root} does not exist")
        return report
    if not root.is_dir():
        report.problems.append(f"data path {root} is not a folder")
        return report
    try:
        scan = _scan(root)
    except OSError as err:
        report.problems.append(f"cannot list data folder {root} ({err.strerror or err})")
        return report
    report.classes = list(scan.folders)
    report.ignored = scan.ignored
    for cls, names in scan.folders.items():
        if len(names) > 1:
            report.notes.append(f"folders {', '.join(map(repr, names))} merged into class {cls!r}")

    report.files = [_inspect_file(root, c, rel) for c, rel in _progress(scan.files, "audit")]
    for cls, names in scan.folders.items():
        recs = [r for r in report.files if r.class_name == cls]
        good = sum(r.usable for r in recs)
        report.counts[cls] = {
            "folders": names,
            "files": len(recs),
            "usable": good,
            "unusable": len(recs) - good,
        }
    for rec in report.files:
        if not rec.usable:
            report.unusable.append({"path": rec.path, "reason": rec.reason or "unknown"})
        for kind in rec.conversions:
            report.conversions[kind] += 1
    _group_duplicates(report)

    if not scan.folders:
        loose = sum(i["reason"] == "file outside any class folder" for i in scan.ignored)
        hint = f"; it holds {loose} loose file{'s' if loose != 1 else ''}" if loose else ""
        report.problems.append(
            f"data folder {root} has no class folders (expected one sub-folder of photos per "
            f"class{hint})"
        )
    elif len(scan.folders) < 2:
        only = next(iter(scan.folders.values()))[0]
        report.problems.append(
            f"data folder {root} has only one class folder ({only!r}); "
            "at least 2 classes are needed"
        )
    for cls, count in report.counts.items():
        if count["files"] == 0:
            folders = " and ".join(repr(f) for f in count["folders"])
            report.problems.append(f"class folder {folders} in {root} is empty")
        elif count["usable"] < MIN_PER_CLASS:
            report.problems.append(
                f"class {cls!r} has only {count['usable']} usable image"
                f"{'' if count['usable'] == 1 else 's'} (at least {MIN_PER_CLASS} are needed, "
                "one per split)"
            )
    return report


def format_audit(report: AuditReport, limit: int = 20) -> str:
    """The human-readable audit printed by ``jewelnet audit``."""
    lines = [f"Audit of {report.data_dir} (near-duplicate threshold {report.hash_threshold} bits)"]
    if report.counts:
        width = max([len("Category")] + [len(c) for c in report.counts])
        folder_w = max([len("Folder(s)")] + [len(", ".join(v["folders"])) for v in
                                            report.counts.values()])
        lines.append(f"{'Category':<{width}}  {'Folder(s)':<{folder_w}}  {'Files':>6}  "
                     f"{'Usable':>6}  {'Unusable':>8}")
        for cls, v in report.counts.items():
            lines.append(f"{cls:<{width}}  {', '.join(v['folders']):<{folder_w}}  "
                         f"{v['files']:>6}  {v['usable']:>6}  {v['unusable']:>8}")
        tot = {k: sum(v[k] for v in report.counts.values())
               for k in ("files", "usable", "unusable")}
        lines.append(f"{'Total':<{width}}  {'':<{folder_w}}  {tot['files']:>6}  "
                     f"{tot['usable']:>6}  {tot['unusable']:>8}")

    def listing(title: str, rows: list[str]) -> None:
        if not rows:
            return
        lines.append(f"{title} ({len(rows)}):")
        lines.extend(f"  {row}" for row in rows[:limit])
        if len(rows) > limit:
            lines.append(f"  ... and {len(rows) - limit} more (see --json)")

    listing("Unusable files", [f"{u['path']}: {u['reason']}" for u in report.unusable])
    converted = [f"{k}: {n}" for k, n in report.conversions.items() if n]
    if converted:
        lines.append("Converted on load: " + ", ".join(converted))
    listing("Exact duplicate groups", [", ".join(g) for g in report.exact_duplicates])
    listing("Near-duplicate groups", [", ".join(g) for g in report.near_duplicates])
    listing("Ignored", [f"{i['path']}: {i['reason']}" for i in report.ignored])
    listing("Notes", report.notes)
    lines.append("Usable: yes" if report.usable else f"Usable: no ({report.problem})")
    return "\n".join(lines)


def preview_rows(report: AuditReport, counted: int = 16,
                 not_counted: int = 8) -> list[tuple[str, list[str]]]:
    """Rows of the --preview sheet: near-duplicate groups (those spanning classes first, as
    conflicting labels matter most), then hash matches the object check did not count."""
    groups = sorted(report.near_duplicates,
                    key=lambda g: len({p.split("/")[0] for p in g}) == 1)
    total = len(groups)
    rows = [(f"near-duplicate group {k + 1} of {total}: counted", list(group))
            for k, group in enumerate(groups[:counted])]
    rows += [(f"hash match not counted ({k + 1} of {len(report.unconfirmed_pairs)}): shape "
              f"{p['shape']:.2f}, colour {p['colour']:.2f}", list(p["paths"]))
             for k, p in enumerate(report.unconfirmed_pairs[:not_counted])]
    return rows


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


def _class_seed(seed: int, cls: str) -> np.random.Generator:
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
        rng = _class_seed(seed, cls)
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
    if listed != {rel for _cls, rel in _scan(data_dir).files}:
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


# --------------------------------------------------------------------------------------------
# Arrays and pipelines
# --------------------------------------------------------------------------------------------


@dataclass
class SplitArrays:
    """Decoded images of one subset. ``images`` is read-only (it may be shared via the cache)."""

    images: np.ndarray  # uint8 [N, size, size, 3]
    labels: np.ndarray  # int32 [N], indices into ``classes``
    paths: list[str]
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


_CACHE: OrderedDict[tuple[Any, ...], SplitArrays] = OrderedDict()


def _cache_limit() -> int:
    """Bytes of decoded images kept in memory ($JEWELNET_CACHE_MB, default 3 GiB)."""
    try:
        return int(float(os.environ.get("JEWELNET_CACHE_MB", "3072")) * 2**20)
    except ValueError:
        return 3072 * 2**20


def clear_cache() -> None:
    """Forget every decoded subset held in memory."""
    _CACHE.clear()


def _subset(entries: list[dict[str, Any]], classes: list[str], max_per_class: int | None,
            seed: int) -> list[dict[str, Any]]:
    """At most ``max_per_class`` entries per class, chosen reproducibly, order kept."""
    if max_per_class is None:
        return entries
    keep: set[int] = set()
    for cls in classes:
        idx = [k for k, e in enumerate(entries) if e["class"] == cls]
        if len(idx) > max_per_class:
            pick = _class_seed(seed, cls).choice(len(idx), size=max_per_class, replace=False)
            idx = [idx[p] for p in pick]
        keep.update(idx)
    return [e for k, e in enumerate(entries) if k in keep]


def load_split_arrays(manifest: dict[str, Any] | str | os.PathLike[str], split: str, size: int,
                      data_dir: str | os.PathLike[str] | None = None,
                      max_per_class: int | None = None, seed: int = DEFAULT_SEED) -> SplitArrays:
    """Decode one subset to uint8 arrays of ``size`` x ``size``, cached in memory.

    Each file's SHA-256 is checked against the manifest, so a photo changed after the split
    is reported instead of silently trained on. The cache means several models in one
    notebook decode each subset once.
    """
    if not isinstance(manifest, dict):
        manifest = load_manifest(manifest)
    else:
        validate_manifest(manifest)
    if split not in SPLITS:
        raise JewelNetError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise JewelNetError(f"image size must be a positive whole number, got {size!r}")
    if max_per_class is not None and (not isinstance(max_per_class, (int, np.integer))
                                      or max_per_class < 1):
        raise JewelNetError(f"max_per_class must be a positive whole number, got {max_per_class!r}")
    root = Path(data_dir if data_dir is not None else manifest["data_dir"])
    key = (data_hash(manifest), split, int(size), max_per_class,
           int(seed) if max_per_class is not None else None)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _copy_arrays(_CACHE[key])
    if not root.is_dir():
        raise JewelNetError(
            f"data folder {root} (named by the split manifest) not found; pass data_dir"
        )
    classes = list(manifest["classes"])
    entries = [f for f in manifest["files"] if f["split"] == split]
    entries = _subset(entries, classes, max_per_class, int(seed))
    images = np.empty((len(entries), size, size, 3), dtype=np.uint8)
    for k, entry in enumerate(_progress(entries, f"decode {split}")):
        path = root / entry["path"]
        try:
            data = path.read_bytes()
        except OSError as err:
            raise JewelNetError(
                f"cannot read {path} listed in the split manifest ({err.strerror or err})"
            ) from err
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise JewelNetError(
                f"{path} changed since the split manifest was written; run `jewelnet split` again"
            )
        img, _kinds = open_rgb(path, data)
        images[k] = np.asarray(resize_square(img, int(size)), dtype=np.uint8)
    images.setflags(write=False)
    labels = np.array([classes.index(e["class"]) for e in entries], dtype=np.int32)
    labels.setflags(write=False)
    arrays = SplitArrays(images=images, labels=labels, paths=[e["path"] for e in entries],
                         classes=classes)
    _CACHE[key] = arrays
    while len(_CACHE) > 1 and sum(a.images.nbytes for a in _CACHE.values()) > _cache_limit():
        _CACHE.popitem(last=False)
    return _copy_arrays(arrays)


def _copy_arrays(arrays: SplitArrays) -> SplitArrays:
    """Same (read-only) arrays, fresh lists, so callers cannot edit the cached entry."""
    return SplitArrays(arrays.images, arrays.labels, list(arrays.paths), list(arrays.classes))


def _apply_augment(augment: Callable[..., Any], batch: Any) -> Any:
    """Call a Keras layer in training mode, any other callable plainly."""
    import keras

    if isinstance(augment, keras.layers.Layer):
        return augment(batch, training=True)
    return augment(batch)


def make_dataset(images: SplitArrays | np.ndarray, labels: np.ndarray | None = None,
                 num_classes: int | None = None, batch_size: int = 32, training: bool = False,
                 augment: Callable[..., Any] | None = None, seed: int = DEFAULT_SEED,
                 pipeline: str = "auto") -> Any:
    """Batches of (float32 images in [0, 255], one-hot float32 labels) for ``model.fit``.

    A ``tf.data.Dataset`` when Keras runs on TensorFlow, else a ``keras.utils.PyDataset``
    (``pipeline`` = "tf" or "py" forces one). Training data is shuffled with ``seed`` each
    epoch and ``augment`` is applied to whole batches; evaluation data is neither.
    """
    if isinstance(images, SplitArrays):
        if labels is None:
            labels = images.labels
        if num_classes is None:
            num_classes = images.num_classes
        images = images.images
    if labels is None or num_classes is None:
        raise JewelNetError("make_dataset needs labels and num_classes with a plain image array")
    images = np.asarray(images)
    labels = np.asarray(labels).astype(np.int64)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise JewelNetError(f"images must be shaped [N, H, W, 3], got {list(images.shape)}")
    if len(images) != len(labels):
        raise JewelNetError(f"{len(images)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise JewelNetError(f"labels must lie in [0, {num_classes - 1}]")
    if batch_size < 1:
        raise JewelNetError(f"batch size must be positive, got {batch_size}")
    onehot = np.eye(num_classes, dtype=np.float32)[labels]
    if pipeline == "auto":
        import keras

        pipeline = "tf" if keras.backend.backend() == "tensorflow" else "py"
    if pipeline == "tf":
        return _tf_dataset(images, onehot, batch_size, training, augment, seed)
    if pipeline == "py":
        return _py_dataset_class()(images, onehot, batch_size, training, augment, seed)
    raise JewelNetError(f"unknown pipeline {pipeline!r}; choose auto, tf or py")


def _tf_dataset(images: np.ndarray, onehot: np.ndarray, batch_size: int, training: bool,
                augment: Callable[..., Any] | None, seed: int) -> Any:
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, onehot))  # uint8 until batched: 4x less
    if training:
        ds = ds.shuffle(max(1, len(images)), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    use_augment = augment if training else None

    def prepare(x: Any, y: Any) -> tuple[Any, Any]:
        x = tf.cast(x, tf.float32)
        if use_augment is not None:
            x = tf.cast(_apply_augment(use_augment, x), tf.float32)
        return x, y

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


_PY_DATASET: type | None = None


def _py_dataset_class() -> type:
    """Define the PyDataset subclass on first use, so importing this module needs no Keras."""
    global _PY_DATASET
    if _PY_DATASET is not None:
        return _PY_DATASET
    import keras

    class ArrayBatches(keras.utils.PyDataset):
        """The ``tf.data`` pipeline's batches, for backends without TensorFlow."""

        def __init__(self, images: np.ndarray, onehot: np.ndarray, batch_size: int,
                     training: bool, augment: Callable[..., Any] | None, seed: int) -> None:
            super().__init__()
            self.images, self.onehot = images, onehot
            self.batch_size, self.training = batch_size, training
            self.augment = augment if training else None
            self._rng = np.random.default_rng(seed)
            self._order = self._rng.permutation(len(images)) if training else np.arange(
                len(images))

        def __len__(self) -> int:
            return math.ceil(len(self.images) / self.batch_size)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            if index < 0 or index >= len(self):
                raise IndexError(index)
            idx = self._order[index * self.batch_size : (index + 1) * self.batch_size]
            x = self.images[idx].astype(np.float32)
            if self.augment is not None:
                x = np.asarray(keras.ops.convert_to_numpy(_apply_augment(self.augment, x)),
                               dtype=np.float32)
            return x, self.onehot[idx]

        def on_epoch_end(self) -> None:
            if self.training:
                self._order = self._rng.permutation(len(self.images))

    _PY_DATASET = ArrayBatches
    return ArrayBatches


def class_weights(labels: Sequence[int] | np.ndarray, num_classes: int) -> dict[int, float]:
    """'Balanced' class weights (n / (k * count)); classes absent from ``labels`` get 1.0."""
    from sklearn.utils.class_weight import compute_class_weight

    y = np.asarray(labels).astype(int)
    present = np.unique(y)
    weights = dict.fromkeys(range(num_classes), 1.0)
    if len(present):
        values = compute_class_weight("balanced", classes=present, y=y)
        weights.update({int(c): float(w) for c, w in zip(present, values, strict=True)})
    return weights

