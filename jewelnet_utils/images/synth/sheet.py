"""JewelSynth's contact sheets: one labelled row of thumbnails per class (or per shape of the
pretraining source)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ...contracts.config import CLASSES, DISPLAY_NAMES, JewelNetError
from .render import image_rng, render_sample, render_shape_sample
from .shapes import SHAPE_NAMES

# One row: the class and its thumbnails, each with whether it is a deliberate look-alike.
_Row = tuple[str, list[tuple[Image.Image, bool]]]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType
        return ImageFont.load_default()


def _rows_from_folder(folder: Path, per_class: int, thumb: int) -> list[_Row]:
    """The first ``per_class`` images of each class folder, look-alikes read from metadata."""
    if not folder.is_dir():
        raise JewelNetError(f"data folder not found: {folder}")
    look_alike: dict[str, bool] = {}
    meta_csv = folder / "metadata.csv"
    if meta_csv.exists():
        with open(meta_csv, newline="", encoding="utf-8") as fh:
            look_alike = {r["path"]: r.get("ambiguous") == "True" for r in csv.DictReader(fh)}
    names = [c for c in CLASSES if (folder / c).is_dir()]
    if not names:
        raise JewelNetError(f"{folder} has no class sub-folders")
    rows: list[_Row] = []
    for cls in names:
        items = []
        for p in sorted((folder / cls).glob("*.png"))[:per_class]:
            with Image.open(p) as im:
                items.append((im.convert("RGB").resize((thumb, thumb), Image.LANCZOS),
                              look_alike.get(f"{cls}/{p.name}", False)))
        rows.append((cls, items))
    return rows


def _rows_rendered(per_class: int, size: int, seed: int, difficulty: str,
                   thumb: int) -> list[_Row]:
    """The first ``per_class`` images of each class, drawn in memory as a data set would."""
    rows: list[_Row] = []
    for cls in CLASSES:
        items = []
        for i in range(per_class):
            s = render_sample(cls, image_rng(seed, cls, i), size, difficulty)
            items.append((s.image.resize((thumb, thumb), Image.LANCZOS),
                          bool(s.meta["ambiguous"])))
        rows.append((cls, items))
    return rows


def _draw_sheet(rows: list[_Row], per_class: int, thumb: int,
                mark_ambiguous: bool) -> Image.Image:
    """Lay the rows out on white, class names at the left, look-alikes framed in red."""
    label_w, pad = max(90, thumb * 3 // 4), 4
    width = label_w + per_class * (thumb + pad) + pad
    height = len(rows) * (thumb + pad) + pad
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = _font(max(11, thumb // 8))
    for r, (cls, items) in enumerate(rows):
        y = pad + r * (thumb + pad)
        draw.text((6, y + thumb // 2), DISPLAY_NAMES.get(cls, cls), fill=(0, 0, 0), font=font,
                  anchor="lm")
        for c, (im, is_look_alike) in enumerate(items):
            x = label_w + pad + c * (thumb + pad)
            sheet.paste(im, (x, y))
            if mark_ambiguous and is_look_alike:
                draw.rectangle([x, y, x + thumb - 1, y + thumb - 1], outline=(220, 30, 30),
                               width=3)
    return sheet


def contact_sheet(source: str | os.PathLike[str] | None = None, per_class: int = 6, *,
                  size: int = 256, seed: int = 0, difficulty: str = "thesis",
                  thumb: int = 128, mark_ambiguous: bool = False) -> Image.Image:
    """A grid, one labelled row per class: from a data set folder, or rendered in memory."""
    if per_class < 1:
        raise JewelNetError(f"per_class must be at least 1, got {per_class}")
    if source is not None:
        rows = _rows_from_folder(Path(source), per_class, thumb)
    else:
        rows = _rows_rendered(per_class, size, seed, difficulty, thumb)
    return _draw_sheet(rows, per_class, thumb, mark_ambiguous)


def shapes_sheet(per_shape: int = 6, *, size: int = 128, seed: int = 1,
                 difficulty: str = "thesis", thumb: int = 96,
                 shapes: tuple[str, ...] = SHAPE_NAMES) -> Image.Image:
    """The non-jewelry figures a pretext backbone learns from, one labelled row per shape."""
    if per_shape < 1:
        raise JewelNetError(f"per_shape must be at least 1, got {per_shape}")
    rows: list[_Row] = [
        (shape, [(render_shape_sample(shape, seed, i, size, difficulty).image
                  .resize((thumb, thumb), Image.LANCZOS), False) for i in range(per_shape)])
        for shape in shapes]
    return _draw_sheet(rows, per_shape, thumb, mark_ambiguous=False)
