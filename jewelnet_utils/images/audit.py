"""Auditing a photo folder: reading every photo safely, naming the files that cannot be used,
and grouping exact and near-duplicate photos (the first stage: images).

Photos from shops, catalogs and the web cannot be trusted: every file is fully decoded once
(by ``contracts/decode.py``), odd pixel formats are converted rather than rejected, and files
that cannot be used are named with the reason. Near-duplicates found by a perceptual hash are
confirmed by a second look (``duplicates.py``) before they are grouped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..contracts.config import JewelNetError, class_sort_key, normalise_class_name
from ..contracts.decode import CONVERSION_KINDS, ImageProblem, open_rgb

MIN_PER_CLASS = 3  # one image per split at least
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


def scan_folder(data_dir: Path) -> _Scan:
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


def progress_bar(items: Sequence[Any], desc: str) -> Iterable[Any]:
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
    root = Path(data_dir)
    report = AuditReport(data_dir=root.as_posix(), hash_threshold=_check_threshold(hash_threshold),
                         confirm=bool(confirm))
    scan = _scan_or_report(root, report)
    if scan is None:
        return report
    report.classes = list(scan.folders)
    report.ignored = scan.ignored
    for cls, names in scan.folders.items():
        if len(names) > 1:
            report.notes.append(f"folders {', '.join(map(repr, names))} merged into class {cls!r}")
    report.files = [_inspect_file(root, c, rel) for c, rel in progress_bar(scan.files, "audit")]
    _count_files(report, scan)
    _group_duplicates(report)
    report.problems += _blocking_problems(report, scan, root)
    return report


def _scan_or_report(root: Path, report: AuditReport) -> Any:
    """The folder's scan, or None with the reason in ``report.problems``."""
    if not root.exists():
        report.problems.append(f"data folder {root} does not exist")
    elif not root.is_dir():
        report.problems.append(f"data path {root} is not a folder")
    else:
        try:
            return scan_folder(root)
        except OSError as err:
            report.problems.append(f"cannot list data folder {root} ({err.strerror or err})")
    return None


def _count_files(report: AuditReport, scan: Any) -> None:
    """Per-class file counts, the unusable files with their reasons, and the conversions."""
    for cls, names in scan.folders.items():
        recs = [r for r in report.files if r.class_name == cls]
        good = sum(r.usable for r in recs)
        report.counts[cls] = {"folders": names, "files": len(recs), "usable": good,
                              "unusable": len(recs) - good}
    for rec in report.files:
        if not rec.usable:
            report.unusable.append({"path": rec.path, "reason": rec.reason or "unknown"})
        for kind in rec.conversions:
            report.conversions[kind] += 1


def _blocking_problems(report: AuditReport, scan: Any, root: Path) -> list[str]:
    """What stops a split: too few class folders, an empty class, too few usable images."""
    problems = []
    if not scan.folders:
        loose = sum(i["reason"] == "file outside any class folder" for i in scan.ignored)
        hint = f"; it holds {loose} loose file{'s' if loose != 1 else ''}" if loose else ""
        problems.append(f"data folder {root} has no class folders (expected one sub-folder of "
                        f"photos per class{hint})")
    elif len(scan.folders) < 2:
        only = next(iter(scan.folders.values()))[0]
        problems.append(f"data folder {root} has only one class folder ({only!r}); "
                        "at least 2 classes are needed")
    for cls, count in report.counts.items():
        if count["files"] == 0:
            folders = " and ".join(repr(f) for f in count["folders"])
            problems.append(f"class folder {folders} in {root} is empty")
        elif count["usable"] < MIN_PER_CLASS:
            problems.append(
                f"class {cls!r} has only {count['usable']} usable image"
                f"{'' if count['usable'] == 1 else 's'} (at least {MIN_PER_CLASS} are needed, "
                "one per split)")
    return problems


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


