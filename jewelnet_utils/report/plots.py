"""Every figure of the book and the reports, one function each, each returning a Figure.

Figures are built on ``matplotlib.figure.Figure`` directly rather than through ``pyplot``: no
global state, nothing to close, no double display in notebooks, and they render headless. Each
figure carries a caption line naming the profile, dataset and weights it was made from, so a
PNG copied out of a report still says where its numbers came from.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND") and (
    "ipykernel" not in sys.modules
):
    matplotlib.use("Agg")  # headless: never try to open a window

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..contracts import thesis  # noqa: E402
from ..contracts.config import DISPLAY_NAMES  # noqa: E402
from ..contracts.utils import atomic_write_bytes  # noqa: E402

CAPTION_STYLE = {"fontsize": 9, "color": "0.35"}


def display_name(cls: str) -> str:
    """Human label of a class key ('nose_pin' -> 'Nose Pin'); unknown keys pass through."""
    return DISPLAY_NAMES.get(cls, cls.replace("_", " ").title())


def caption_text(profile: str | None = None, dataset: str | None = None,
                 weights: str | None = None, extra: str | None = None) -> str:
    """The provenance line printed under every figure."""
    parts = [f"profile: {profile or '?'}", f"dataset: {dataset or '?'}",
             f"weights: {weights or 'none'}"]
    if extra:
        parts.append(extra)
    return "  |  ".join(parts)


def _add_caption(fig: Figure, caption: str | None) -> None:
    # supxlabel, not fig.text: the constrained layout reserves room for it, so the caption
    # never overlaps the axes' own labels.
    if caption:
        fig.supxlabel(caption, **CAPTION_STYLE)


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 120) -> bytes:
    """The figure rendered in memory, trimmed to its content."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Render to memory, then write atomically, so a crash never leaves half a PNG."""
    return atomic_write_bytes(path, figure_bytes(fig, Path(path).suffix.lstrip(".") or "png",
                                                 dpi))


def confusion_matrix(cm: np.ndarray, classes: Sequence[str], title: str = "",
                     caption: str | None = None) -> Figure:
    """Counts in each cell, shaded by the share of the true class (thesis Fig. 8/9): counts
    show how few images stand behind a cell, the shading makes unequal classes comparable."""
    import seaborn as sns

    cm = np.asarray(cm, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    labels = [display_name(c) for c in classes]
    # Sized for the book's text column, so that the numbers stay legible when the page
    # scales the figure down to its width.
    fig = Figure(figsize=(6.6, 5.8), layout="constrained")
    ax = fig.subplots()
    sns.heatmap(share, annot=cm.astype(int), fmt="d", cmap="Blues", vmin=0, vmax=1,
                square=True, xticklabels=labels, yticklabels=labels, ax=ax,
                annot_kws={"fontsize": 11},
                cbar_kws={"label": "share of the true class", "shrink": 0.8})
    ax.set_xlabel("predicted class", fontsize=11)
    ax.set_ylabel("true class", fontsize=11)
    ax.tick_params(axis="x", labelrotation=45, labelsize=10)
    ax.tick_params(axis="y", labelrotation=0, labelsize=10)
    if title:
        fig.suptitle(title, fontsize=12)
    _add_caption(fig, caption)
    return fig


def _stage_boundaries(history: Any) -> list[int]:
    if "stage" not in getattr(history, "columns", ()):
        return []
    stages = list(history["stage"])
    return [i for i in range(1, len(stages)) if stages[i] != stages[i - 1]]


def training_curves(histories: Mapping[str, Any], caption: str | None = None,
                    title: str = "Training and validation curves", max_cols: int = 2) -> Figure:
    """Thesis Fig. 10: train/val accuracy (upper row) and loss (lower row) per run, with the
    start of fine-tuning (stage 2) marked, since the jump there is part of the story."""
    from matplotlib.ticker import MaxNLocator

    names = list(histories)
    ncols = max(1, min(max_cols, len(names)))
    nblocks = max(1, -(-len(names) // ncols))
    fig = Figure(figsize=(3.6 * ncols + 0.4, 3.1 * 2 * nblocks), layout="constrained")
    axes = fig.subplots(2 * nblocks, ncols, squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    for j, name in enumerate(names):
        hist = histories[name]
        x = np.arange(1, len(hist) + 1)
        block, col = divmod(j, ncols)
        for row, metric in enumerate(("accuracy", "loss")):
            ax = axes[2 * block + row, col]
            ax.set_visible(True)
            for key, style, label in ((metric, "-", "train"), (f"val_{metric}", "--", "val")):
                if key in hist.columns:
                    ax.plot(x, hist[key].to_numpy(dtype=float), style, label=label)
            for b in _stage_boundaries(hist):
                ax.axvline(b + 0.5, color="0.5", lw=1, ls=":")
                if row == 0:
                    ax.text(b + 0.7, 0.02, "stage 2", transform=ax.get_xaxis_transform(),
                            fontsize=8, color="0.4")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epoch")
            ax.set_ylabel(metric)
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(name, fontsize=10)
                ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    _add_caption(fig, caption)
    return fig


def recipe_curves(curves: Any, highlight: str | None = None, caption: str | None = None,
                  title: str = "How fast each pretext recipe learns the figures") -> Figure:
    """One line per recipe variant: source-task accuracy per epoch (the frame of
    ``pretrain.recipe_curves``); the ``highlight`` variant is drawn heavier."""
    import seaborn as sns

    fig = Figure(figsize=(8.0, 4.6), layout="constrained")
    ax = fig.subplots()
    colours = sns.color_palette("colorblind")
    for i, (label, curve) in enumerate(curves.groupby("variant", sort=False)):
        ax.plot(curve["epoch"], curve["figure accuracy (train)"], marker="os^vDP*X"[i % 8],
                color=colours[i % len(colours)], label=label,
                linewidth=3 if label == highlight else 1.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("figure accuracy (train)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(title)
    _add_caption(fig, caption)
    return fig


def reliability_diagram(curves: Mapping[str, Mapping[str, Any]], caption: str | None = None,
                        title: str = "Reliability diagram") -> Figure:
    """Accuracy against confidence per bin, one line per run; the diagonal is perfect
    calibration and the legend carries each run's ECE."""
    fig = Figure(figsize=(5.4, 5.2), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="perfect")
    for name, rel in curves.items():
        counts = np.asarray(rel["count"])
        mask = counts > 0
        conf = np.asarray(rel["confidence"], dtype=float)[mask]
        acc = np.asarray(rel["accuracy"], dtype=float)[mask]
        ece = rel.get("ece")
        label = f"{name} (ECE {ece:.3f})" if ece is not None else name
        ax.plot(conf, acc, marker="o", ms=4, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (max softmax probability)")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title)
    _add_caption(fig, caption)
    return fig


def _as_display_image(img: Any) -> np.ndarray:
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255)
        arr = arr if arr.max() > 1.0 else arr * 255.0
        arr = arr.astype(np.uint8)
    return arr


def image_grid(images: Sequence[Any], titles: Sequence[str] | None = None, ncols: int = 4,
               title: str | None = None, caption: str | None = None,
               cell: float = 2.2) -> Figure:
    """A plain grid of images with small titles; the building block of galleries and contact
    sheets (notebooks reuse it)."""
    n = len(images)
    ncols = max(1, min(ncols, n)) if n else 1
    nrows = max(1, -(-n // ncols))
    fig = Figure(figsize=(cell * ncols, cell * nrows + 0.6), layout="constrained")
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < n:
            ax.imshow(_as_display_image(images[i]))
            if titles is not None and i < len(titles):
                ax.set_title(titles[i], fontsize=10)
    if n == 0:
        axes[0].text(0.5, 0.5, "no images", ha="center", va="center")
    if title:
        fig.suptitle(title)
    _add_caption(fig, caption)
    return fig


def contact_sheet(images_by_class: Mapping[str, Sequence[Any]], per_class: int = 6,
                  caption: str | None = None, title: str | None = None) -> Figure:
    """One row per class, ``per_class`` samples each: a quick look at what a dataset holds."""
    images: list[Any] = []
    titles: list[str] = []
    for cls, imgs in images_by_class.items():
        row = list(imgs)[:per_class]
        images.extend(row + [np.full((8, 8, 3), 255, np.uint8)] * (per_class - len(row)))
        titles.extend([display_name(cls)] + [""] * (per_class - 1))
    return image_grid(images, titles, ncols=per_class, title=title, caption=caption, cell=1.6)


def misclassified(images: Sequence[Any], true: Sequence[str], pred: Sequence[str],
                  confidence: Sequence[float], ncols: int = 4, title: str = "",
                  caption: str | None = None) -> Figure:
    """Errors with their true class, predicted class and confidence, to read failure modes."""
    titles = [f"true {display_name(t)}\npred {display_name(p)} ({c:.2f})"
              for t, p, c in zip(true, pred, confidence, strict=True)]
    return image_grid(images, titles, ncols=ncols, title=title or "Misclassified test images",
                      caption=caption)


def overlay_heatmap(image: Any, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a [0, 1] heatmap (any size) over an image with the jet colour map."""
    from matplotlib import colormaps
    from PIL import Image

    img = _as_display_image(image)
    h, w = img.shape[:2]
    heat = Image.fromarray(np.uint8(np.clip(heatmap, 0, 1) * 255)).resize((w, h),
                                                                         Image.BILINEAR)
    colour = colormaps["jet"](np.asarray(heat, dtype=float) / 255.0)[..., :3] * 255.0
    return np.uint8(np.clip((1 - alpha) * img + alpha * colour, 0, 255))


def gradcam_grid(images: Sequence[Any], heatmaps: Sequence[np.ndarray], titles: Sequence[str],
                 title: str = "Grad-CAM", caption: str | None = None) -> Figure:
    """Each image beside its Grad-CAM overlay: where the model looked when it erred."""
    tiles: list[Any] = []
    tile_titles: list[str] = []
    for img, heat, t in zip(images, heatmaps, titles, strict=True):
        tiles += [img, overlay_heatmap(img, heat)]
        tile_titles += [t, "Grad-CAM"]
    return image_grid(tiles, tile_titles, ncols=4, title=title, caption=caption)


def note_figure(text: str, title: str = "", caption: str | None = None) -> Figure:
    """A figure that only says why the expected figure is absent (e.g. no such errors)."""
    fig = Figure(figsize=(6, 2))
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    if title:
        ax.set_title(title)
    _add_caption(fig, caption)
    return fig


def gallery(queries: Sequence[tuple[Any, str]],
            results: Sequence[Sequence[tuple[Any, str, float]]],
            caption: str | None = None, title: str = "Visually similar items",
            cell: float = 2.0) -> Figure:
    """Thesis Fig. 11: one row per query, the query image first, then its top-K matches
    with class and cosine similarity."""
    nq = max(1, len(queries))
    k = max([len(r) for r in results] + [1])
    fig = Figure(figsize=(cell * (k + 1), cell * nq + 0.6), layout="constrained")
    axes = fig.subplots(nq, k + 1, squeeze=False)
    for i in range(nq):
        for ax in axes[i]:
            ax.axis("off")
        if i >= len(queries):
            continue
        q_img, q_label = queries[i]
        axes[i, 0].imshow(_as_display_image(q_img))
        axes[i, 0].set_title(f"query\n{q_label}", fontsize=8, color="C3")
        for j, (img, cls, score) in enumerate(results[i]):
            axes[i, j + 1].imshow(_as_display_image(img))
            axes[i, j + 1].set_title(f"#{j + 1} {display_name(cls)}\ncos {score:.3f}",
                                     fontsize=8)
    fig.suptitle(title)
    _add_caption(fig, caption)
    return fig


def similarity_histogram(intra: np.ndarray, inter: np.ndarray,
                         thresholds: tuple[float, float] | None = None,
                         caption: str | None = None,
                         title: str = "Cosine similarity of embeddings") -> Figure:
    """Intra- vs inter-class cosine distributions with the thesis thresholds (5.8) drawn in
    (``thresholds``: intra, inter; default the thesis's)."""
    if thresholds is None:
        thresholds = (thesis.CLAIMS.value("intra_class_similarity"),
                      thesis.CLAIMS.value("inter_class_similarity"))
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    bins = np.linspace(-1, 1, 81)
    ax.hist(inter, bins=bins, alpha=0.6, density=True, label="inter-class")
    ax.hist(intra, bins=bins, alpha=0.6, density=True, label="intra-class")
    hi, lo = thresholds
    ax.axvline(hi, color="C2", ls="--", lw=1, label=f"thesis intra > {hi}")
    ax.axvline(lo, color="C3", ls="--", lw=1, label=f"thesis inter < {lo}")
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.set_title(title)
    _add_caption(fig, caption)
    return fig


# --------------------------------------------------------------------------------------------
# Diagrams drawn from the code: the pipeline and each model's layer stack
# --------------------------------------------------------------------------------------------

DIAGRAM_BOX = {"boxstyle": "round,pad=0.4", "facecolor": "#e8f0fb", "edgecolor": "#3b6fb6"}
DIAGRAM_ARROW = {"arrowstyle": "-|>", "color": "0.35", "lw": 1.4}


def _box(ax: Any, x: float, y: float, text: str, width: float, fontsize: float = 10,
         **style: Any) -> None:
    import textwrap

    wrapped = "\n".join(textwrap.fill(part, width=int(width)) for part in text.split("\n"))
    ax.text(x, y, wrapped, ha="center", va="center", fontsize=fontsize,
            bbox={**DIAGRAM_BOX, **style})


def pipeline_diagram(steps: Sequence[tuple[str, str]], title: str = "",
                     per_row: int = 3, caption: str | None = None) -> Figure:
    """Boxes joined by arrows, left to right and row by row: ``steps`` are (name, what it
    does). The callers build ``steps`` from the package itself (its commands or modules), so
    the drawing follows the code."""
    rows = max(1, -(-len(steps) // per_row))
    # 2.4 inches a column keeps the text at reading size once the page scales the figure to
    # its text column.
    fig = Figure(figsize=(2.4 * per_row, 1.9 * rows + 0.6), layout="constrained")
    ax = fig.subplots()
    ax.set_xlim(0, per_row)
    ax.set_ylim(rows, 0)
    ax.axis("off")
    centres = [(i % per_row + 0.5, i // per_row + 0.5) for i in range(len(steps))]
    for (x, y), (name, what) in zip(centres, steps, strict=True):
        _box(ax, x, y, f"{name}\n{what}", width=22)
    for (x0, y0), (x1, y1) in zip(centres, centres[1:], strict=False):
        if y0 == y1:
            ax.annotate("", (x1 - 0.42, y1), (x0 + 0.42, y0), arrowprops=DIAGRAM_ARROW)
        else:  # wrap to the next row's first box
            ax.annotate("", (x1, y1 - 0.38), (x0, y0 + 0.38),
                        arrowprops={**DIAGRAM_ARROW, "connectionstyle": "angle,angleA=0,angleB=90"})
    if title:
        fig.suptitle(title, fontsize=12)
    _add_caption(fig, caption)
    return fig


def layer_stack(layers: Sequence[tuple[str, str]], title: str = "",
                caption: str | None = None) -> Figure:
    """A model as a vertical stack of (layer, detail) boxes, input at the top; the caller lists
    the layers from the built model (``models.layer_summary``)."""
    # Narrower than the text column and with larger type than the other diagrams: the page
    # scales the figure to the column, and a tall stack would otherwise shrink its text.
    fig = Figure(figsize=(6.4, 0.85 * len(layers) + 0.9), layout="constrained")
    ax = fig.subplots()
    ax.set_xlim(0, 1)
    ax.set_ylim(len(layers), 0)
    ax.axis("off")
    for i, (name, detail) in enumerate(layers):
        style = {"facecolor": "#fdf0e0", "edgecolor": "#c07a20"} if "frozen" in detail else {}
        _box(ax, 0.5, i + 0.5, f"{name}: {detail}", width=56, fontsize=12.5, **style)
        if i:  # from just below the previous box to just above this one
            ax.annotate("", (0.5, i + 0.2), (0.5, i - 0.2), arrowprops=DIAGRAM_ARROW)
    if title:
        fig.suptitle(title, fontsize=12)
    _add_caption(fig, caption)
    return fig
