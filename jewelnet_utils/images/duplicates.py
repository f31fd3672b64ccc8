"""Near-duplicate photos: a second look before two files are called the same item.

A perceptual hash of the whole frame is a weak witness on product shots: when a small piece
sits on a plain background, the background decides most of the hash, so different pieces (even
of different classes) can match. The audit therefore treats a hash match only as a *candidate*
and confirms it on the object itself:

1. the object is found as what differs from the background (the median colour of the frame's
   border) and cut out as a square crop, which undoes a re-shoot's shift and zoom;
2. candidates come from the frame's hash or from the crop's hash (same Hamming threshold);
3. a candidate counts only if the two crops agree in *shape* (correlation of 32 x 32 grey
   crops, brightness and contrast removed) and in *colour* (intersection of 4 x 4 x 4 RGB
   histograms of the object's pixels). Pixels and colours are a different family of evidence
   from a hash's DCT signs.

On photos without a plain background the crop is the whole frame and the check becomes a
whole-image comparison. ``measure_detector`` scores all of it on a planted set of JewelSynth
product shots (``scripts/near_duplicate_precision.py`` records the numbers).
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

SIDE = 32  # crop side for the shape check, as the hash's own working size
ANALYSIS_SIDE = 256  # the object is located on a copy this large: enough for a nose pin
BACKGROUND_TOLERANCE = 24  # grey levels a pixel must differ from the border colour by
MIN_OBJECT_FRACTION = 0.0005  # below this, no object is found: use the whole frame
CROP_MARGIN = 1.05
# Thresholds chosen on the calibration planted set (seed 7) and checked on a held-out one;
# results/near-duplicates.json records both (scripts/near_duplicate_precision.py).
SHAPE_MIN = 0.8
COLOUR_MIN = 0.6


@dataclass(frozen=True)
class Look:
    """What the second check compares: the object crop's hash, grey pixels and colours."""

    crop_hash: int  # 64-bit perceptual hash of the square object crop
    shape: np.ndarray  # float32 [SIDE * SIDE], zero mean and unit length
    colour: np.ndarray  # float32 [64], RGB histogram of the object's pixels, sums to 1


def object_box(rgb: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """Bounding box (x0, y0, x1, y1) of what differs from the border colour, that mask and
    the border colour. The whole frame when nothing (or almost nothing) stands out."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    background = np.median(border, axis=0).round().astype(np.int16)
    # int16 differences: exact, and several times faster than float on a 256 px image
    mask = (np.abs(rgb.astype(np.int16) - background) > BACKGROUND_TOLERANCE).any(axis=2)
    height, width = mask.shape
    if np.count_nonzero(mask) < MIN_OBJECT_FRACTION * mask.size:
        return (0, 0, width, height), np.ones_like(mask), background
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    return box, mask, background


def _square(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """A square around the box (keeps the object's aspect ratio when resized)."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) / 2 * CROP_MARGIN + 1
    return tuple(int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half))


def look_of(img: Image.Image) -> Look:
    """The object crop's hash, shape and colour of an RGB image."""
    import imagehash

    small = img.copy()
    small.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE))
    rgb = np.asarray(small)
    box, mask, background = object_box(rgb)
    x0, y0, x1, y1 = _square(box)
    # Past the frame's edge the crop continues in the background colour, as the studio would.
    crop = Image.new("RGB", (x1 - x0, y1 - y0), tuple(int(v) for v in background))
    crop.paste(small, (-x0, -y0))
    grey = np.asarray(crop.convert("L").resize((SIDE, SIDE), Image.Resampling.BILINEAR),
                      dtype=np.float32).ravel()
    grey -= grey.mean()
    grey /= float(np.linalg.norm(grey)) + 1e-6
    pixels = rgb[mask] // 64
    counts = np.bincount(pixels[:, 0] * 16 + pixels[:, 1] * 4 + pixels[:, 2], minlength=64)
    bits = np.asarray(imagehash.phash(crop).hash, dtype=bool).ravel()
    return Look(crop_hash=int.from_bytes(np.packbits(bits).tobytes(), "big"),
                shape=grey.astype(np.float32),
                colour=(counts / max(1, counts.sum())).astype(np.float32))


def similarity(a: Look, b: Look) -> tuple[float, float]:
    """(shape correlation in [-1, 1], colour histogram intersection in [0, 1])."""
    return float(a.shape @ b.shape), float(np.minimum(a.colour, b.colour).sum())


def same_item(a: Look, b: Look) -> bool:
    """Whether two hash-matched photos also agree on the object's shape and colour."""
    shape, colour = similarity(a, b)
    return shape >= SHAPE_MIN and colour >= COLOUR_MIN


# --------------------------------------------------------------------------------------------
# Planted set: product shots of JewelSynth items, each shot twice as a shop would re-shoot it
# --------------------------------------------------------------------------------------------
STUDIO_WHITE = (244, 244, 242)


@dataclass
class PlantedShot:
    image: Image.Image
    item: str  # "<class>-<index>": two shots with the same item are the same piece
    class_name: str


def product_shot(cls: str, index: int, seed: int, size: int) -> tuple[Image.Image, np.ndarray]:
    """One JewelSynth item cut out by its object mask and placed on a plain studio white."""
    from . import synth

    sample = synth.render_sample(cls, synth.image_rng(seed, cls, index), size, "easy")
    pixels = np.where(sample.mask[..., None], np.asarray(sample.image),
                      np.array(STUDIO_WHITE, dtype=np.uint8))
    return Image.fromarray(pixels.astype(np.uint8)), sample.mask


def reshoot(img: Image.Image, mask: np.ndarray, rng: np.random.Generator,
             letters: str) -> Image.Image:
    """The same piece again: other engraved letters, moved, zoomed, lit and saved apart."""
    shot = img.copy()
    ys, xs = np.nonzero(mask)
    if len(xs):
        x, y = int(np.median(xs)), int(np.median(ys))
        ImageDraw.Draw(shot).text((x - 6, y - 5), letters, fill=(60, 50, 30),
                                  font=ImageFont.load_default())
    size = img.width
    zoomed = max(8, int(round(size * rng.uniform(0.92, 1.08))))
    dx, dy = (int(v) for v in rng.integers(-size // 32, size // 32 + 1, 2))
    canvas = Image.new("RGB", (size, size), STUDIO_WHITE)
    canvas.paste(shot.resize((zoomed, zoomed), Image.Resampling.BICUBIC),
                 ((size - zoomed) // 2 + dx, (size - zoomed) // 2 + dy))
    canvas = ImageEnhance.Brightness(canvas).enhance(float(rng.uniform(0.9, 1.1)))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=int(rng.integers(70, 93)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def planted_shots(items_per_class: int, seed: int, size: int = 256,
                  classes: Sequence[str] | None = None) -> list[PlantedShot]:
    """Two re-shoots of each of ``items_per_class`` different JewelSynth pieces per class."""
    from ..contracts.config import CLASSES

    rng = np.random.default_rng(seed)
    shots = []
    for cls in classes or CLASSES:
        for index in range(items_per_class):
            img, mask = product_shot(cls, index, seed, size)
            for letters in ("AB", "XY"):
                shots.append(PlantedShot(reshoot(img, mask, rng, letters), f"{cls}-{index}",
                                         cls))
    return shots


def write_shots(shots: Sequence[PlantedShot], root: str | os.PathLike[str]) -> dict[str, str]:
    """Save the shots as ``root/<class>/<item>-<k>.jpg``; returns path -> item."""
    root = Path(root)
    items: dict[str, str] = {}
    for k, shot in enumerate(shots):
        rel = f"{shot.class_name}/{shot.item}-{k}.png"
        (root / shot.class_name).mkdir(parents=True, exist_ok=True)
        shot.image.save(root / rel)
        items[rel] = shot.item
    return items


def pair_scores(groups: Sequence[Sequence[str]], items: dict[str, str]) -> dict[str, Any]:
    """Precision and recall over pairs: two files grouped together vs the same item."""
    grouped = {frozenset(p) for g in groups for p in itertools.combinations(g, 2)}
    by_item: dict[str, list[str]] = {}
    for path, item in items.items():
        by_item.setdefault(item, []).append(path)
    truth = {frozenset(p) for g in by_item.values() for p in itertools.combinations(g, 2)}
    hits = len(grouped & truth)
    return {
        "pairs_grouped": len(grouped), "pairs_same_item": len(truth), "true_pairs_found": hits,
        "precision": hits / len(grouped) if grouped else 1.0,
        "recall": hits / len(truth) if truth else 1.0,
        "groups_spanning_classes": sum(len({p.split("/")[0] for p in g}) > 1 for g in groups),
    }


def measure_detector(items_per_class: int, seed: int, root: str | os.PathLike[str],
                     hash_threshold: int = 4, size: int = 256) -> dict[str, Any]:
    """Audit a planted folder with and without the second check and score both."""
    from . import audit

    items = write_shots(planted_shots(items_per_class, seed, size), root)
    out: dict[str, Any] = {"items_per_class": items_per_class, "seed": seed, "size": size,
                           "images": len(items), "hash_threshold": hash_threshold}
    for name, confirm in (("hash_only", False), ("confirmed", True)):
        report = audit.audit_dataset(root, hash_threshold=hash_threshold, confirm=confirm)
        out[name] = pair_scores(report.near_duplicates + report.exact_duplicates, items)
    return out


# --------------------------------------------------------------------------------------------
# Preview sheet
# --------------------------------------------------------------------------------------------
THUMB = 112
CAPTION_CHARS = 18  # what fits under a thumbnail in Pillow's default font


def _thumb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((THUMB, THUMB))
            return img
    except OSError:
        return Image.new("RGB", (THUMB, THUMB), (200, 60, 60))


def preview_sheet(data_dir: str | os.PathLike[str], rows: Sequence[tuple[str, Sequence[str]]],
                  out_path: str | os.PathLike[str], max_per_row: int = 6) -> Path:
    """A PNG with one row per group: a title, then thumbnails captioned with their paths."""
    from ..contracts.utils import atomic_write_bytes

    font = ImageFont.load_default()
    pad, caption, title_h = 8, 14, 18
    cell_w, cell_h = THUMB + pad, THUMB + caption + pad
    width = pad + max(1, max((min(len(p), max_per_row) for _t, p in rows), default=1)) * cell_w
    width = max(width, 480)
    height = pad + max(1, len(rows)) * (title_h + cell_h)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    if not rows:
        draw.text((pad, pad), "no near-duplicate candidates", fill="black", font=font)
    y = pad
    for title, paths in rows:
        draw.text((pad, y), title, fill="black", font=font)
        y += title_h
        for k, rel in enumerate(paths[:max_per_row]):
            x = pad + k * cell_w
            thumb = _thumb(Path(data_dir) / rel)
            sheet.paste(thumb, (x + (THUMB - thumb.width) // 2, y + (THUMB - thumb.height) // 2))
            label = rel if len(rel) <= CAPTION_CHARS else "..." + rel[3 - CAPTION_CHARS:]
            draw.text((x, y + THUMB + 1), label, fill=(60, 60, 60), font=font)
        y += cell_h
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG")
    atomic_write_bytes(out_path, buffer.getvalue())
    return Path(out_path)
