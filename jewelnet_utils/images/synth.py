"""JewelSynth: procedural jewelry "photographs" for the eight thesis classes.

The thesis data set is not public, so the book needs a stand-in whose difficulty is known and
whose hard cases are the thesis's hard cases (sections 5.3-5.6): bangle/bracelet and
chain/necklace are confusable on purpose, pendants sometimes look like necklaces and nose pins
are small. Everything is drawn with numpy + Pillow from one seeded RNG per image, so a file
depends only on (seed, class, index) and never on generation order or worker count.

Difficulty is data: :data:`DIFFICULTIES` holds every knob (ambiguous fractions, nuisance
strengths, crop probability, scale ranges), and calibration against the Custom CNN only edits
that dict (measured numbers live in ``synth_calibration.json``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import shutil
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from ..contracts import thesis
from ..contracts.config import (
    CLASSES,
    DEFAULT_DATA_DIR,
    DISPLAY_NAMES,
    EXPERIMENTS,
    JewelNetError,
    Profile,
    check_experiment,
    get_profile,
)
from ..contracts.utils import atomic_write_bytes, atomic_write_json, atomic_write_text

VERSION = "1.8"  # bump whenever the same arguments would draw other pixels
SUPERSAMPLE = 2  # shapes are drawn at 2x and box-reduced: cheap anti-aliasing
MIN_SIZE = 32

# Images per class of the thesis's set: Table 4.1's "Original" column.
THESIS_COUNTS: dict[str, int] = {
    cls: row["original"] for cls, row in thesis.TABLE_4_1_CLASSES.values().items()}
BALANCED_PER_CLASS = 200

# ---------------------------------------------------------------------------------------------
# Difficulty knobs. Calibration edits these numbers only.
#   ambiguous       per-class probability that an image is drawn as a deliberate look-alike
#                   (tight bracelet links, notched bangle, necklace with its front cropped or
#                   a tiny pendant, chain with a dangling clasp tag, pendant on a long chain)
#   amb_strength    0..1, how far a look-alike goes (1 = bracelet gaps fully closed)
#   chain_u_layout  share of plain chains hanging in a U, the necklace's silhouette (the
#                   others lie in an S or a coil)
#   earring_pair    share of earrings shown as a matched pair (a single one has a hook and can
#                   pass for a pendant, a hoop for a small bangle)
#   crop_prob       probability of pushing part of the object out of the frame
#   crop_fraction   share of the object's extent that leaves the frame when cropped
#   scale_mult      multiplies each class's base scale range (wider = harder)
#   rotation_deg    uniform in +-this
#   offset          centre offset, fraction of the frame (kept inside the frame)
#   blur            Gaussian blur sigma range, pixels at 256 px
#   noise           sensor noise sigma range, grey levels
#   brightness      gain uniform in 1 +- this; contrast likewise
#   texture_prob    probability of a textured background (else plain or gradient)
#   shadow          drop-shadow strength range
# ---------------------------------------------------------------------------------------------
DIFFICULTIES: dict[str, dict[str, Any]] = {
    "easy": {
        "ambiguous": {"bangle": 0.0, "bracelet": 0.0, "chain": 0.0, "necklace": 0.0,
                      "pendant": 0.0, "ring": 0.0, "earring": 0.0, "nose_pin": 0.0},
        "amb_strength": 0.5,
        "chain_u_layout": 0.0,
        "earring_pair": 1.0,
        "crop_prob": 0.0,
        "crop_fraction": (0.10, 0.20),
        "scale_mult": (1.0, 1.1),
        "rotation_deg": 5.0,
        "offset": 0.04,
        "blur": (0.0, 0.3),
        "noise": (0.0, 1.0),
        "brightness": 0.05,
        "contrast": 0.05,
        "texture_prob": 0.0,
        "shadow": (0.10, 0.30),
    },
    # Calibrated (synth_calibration.json): most of the thesis difficulty sits in the two
    # look-alike pairs; nuisances stay mild, as in catalogue photos.
    "thesis": {
        "ambiguous": {"bangle": 0.28, "bracelet": 0.36, "chain": 0.154, "necklace": 0.21,
                      "pendant": 0.056, "ring": 0.0, "earring": 0.0, "nose_pin": 0.0},
        "amb_strength": 0.8,
        "chain_u_layout": 0.3,
        "earring_pair": 0.72,
        "crop_prob": 0.04,
        "crop_fraction": (0.10, 0.25),
        "scale_mult": (0.95, 1.10),
        "rotation_deg": 15.0,
        "offset": 0.05,
        "blur": (0.0, 0.5),
        "noise": (0.5, 3.0),
        "brightness": 0.08,
        "contrast": 0.08,
        "texture_prob": 0.10,
        "shadow": (0.10, 0.35),
    },
    "hard": {
        "ambiguous": {"bangle": 0.40, "bracelet": 0.45, "chain": 0.40, "necklace": 0.45,
                      "pendant": 0.25, "ring": 0.0, "earring": 0.0, "nose_pin": 0.0},
        "amb_strength": 1.0,
        "chain_u_layout": 0.6,
        "earring_pair": 0.72,
        "crop_prob": 0.25,
        "crop_fraction": (0.15, 0.40),
        "scale_mult": (0.60, 1.20),
        "rotation_deg": 60.0,
        "offset": 0.14,
        "blur": (0.0, 2.2),
        "noise": (2.0, 12.0),
        "brightness": 0.25,
        "contrast": 0.25,
        "texture_prob": 0.45,
        "shadow": (0.10, 0.60),
    },
}

# Base object scale (fraction of the frame the object's longer side spans) per class.
CLASS_SCALE: dict[str, tuple[float, float]] = {
    "bangle": (0.62, 0.86),
    "bracelet": (0.62, 0.86),
    "chain": (0.66, 0.92),
    "necklace": (0.66, 0.92),
    "pendant": (0.50, 0.78),
    "ring": (0.50, 0.74),
    "earring": (0.66, 0.90),
    "nose_pin": (0.08, 0.18),
}
# Probability of a skin-tone background (worn jewelry); nose pins are mostly shot on skin.
SKIN_PROB: dict[str, float] = {"nose_pin": 0.6, "earring": 0.15}
DEFAULT_SKIN_PROB = 0.04

# Metal colour ramps: (shadow, body, light); the ramp ends in a white specular highlight.
METALS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "gold": ((92, 62, 14), (205, 160, 55), (250, 222, 130)),
    "silver": ((72, 74, 80), (172, 175, 183), (228, 231, 238)),
    "rose": ((102, 56, 50), (198, 128, 112), (242, 194, 174)),
    "platinum": ((98, 98, 104), (192, 192, 198), (238, 238, 242)),
}
GEMS: dict[str, tuple[int, int, int]] = {
    "ruby": (170, 18, 40),
    "sapphire": (20, 70, 190),
    "emerald": (10, 140, 80),
    "diamond": (215, 228, 240),
    "amethyst": (130, 60, 175),
    "topaz": (240, 150, 40),
    "pearl": (236, 228, 214),
}
SKIN_TONES = ((241, 194, 167), (226, 172, 132), (198, 134, 96), (150, 96, 62), (98, 60, 40))
STUDIO_COLOURS = (
    (246, 246, 244), (232, 230, 226), (214, 216, 220), (40, 40, 44), (18, 18, 22),
    (28, 32, 70), (88, 20, 36), (236, 222, 200), (210, 226, 232), (238, 214, 220),
)

META_FIELDS: tuple[str, ...] = (
    "path", "class", "index", "style", "ambiguous", "metal", "gem_colour", "background",
    "bg_colour", "light_deg", "rotation", "scale", "offset_x", "offset_y", "cropped",
    "crop_fraction", "blur", "noise", "brightness", "contrast", "shadow", "aspect",
)


# =============================================================================================
# Geometry: builders emit drawing operations in object coordinates (y down, roughly [-1, 1]).
# =============================================================================================

Pts = np.ndarray


def _ell(a: float, b: float, n: int = 48, cx: float = 0.0, cy: float = 0.0, rot: float = 0.0,
         t0: float = 0.0, t1: float = 2 * math.pi, closed: bool = True) -> Pts:
    """Points of an ellipse (or an arc of it), rotated by ``rot`` radians."""
    t = np.linspace(t0, t1, n, endpoint=not closed)
    x, y = a * np.cos(t), b * np.sin(t)
    if rot:
        c, s = math.cos(rot), math.sin(rot)
        x, y = x * c - y * s, x * s + y * c
    return np.stack([x + cx, y + cy], axis=1)


def _circle(cx: float, cy: float, r: float, n: int = 16) -> Pts:
    return _ell(r, r, n, cx, cy)


def _resample(path: Pts, step: float, closed: bool) -> tuple[Pts, np.ndarray]:
    """Evenly spaced points along a polyline and the tangent angle at each."""
    pts = np.vstack([path, path[:1]]) if closed else path
    seg = np.hypot(*np.diff(pts, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = float(cum[-1])
    n = max(2, int(round(total / max(step, 1e-6))))
    d = np.linspace(0.0, total, n, endpoint=not closed)
    eps = total * 1e-3
    def at(dd: np.ndarray) -> Pts:
        if closed:
            dd = np.mod(dd, total)
        else:
            dd = np.clip(dd, 0.0, total)
        return np.stack([np.interp(dd, cum, pts[:, 0]), np.interp(dd, cum, pts[:, 1])], axis=1)
    out = at(d)
    fwd, back = at(d + eps), at(d - eps)
    ang = np.arctan2(fwd[:, 1] - back[:, 1], fwd[:, 0] - back[:, 0])
    return out, ang


def _arc_length(path: Pts, closed: bool) -> float:
    pts = np.vstack([path, path[:1]]) if closed else path
    return float(np.hypot(*np.diff(pts, axis=0).T).sum())


@dataclass
class _Ctx:
    """What a class builder reads (rng, flags, palette) and writes (ops, hints)."""

    rng: np.random.Generator
    amb: bool
    strength: float
    light: float  # light direction, radians, object coordinates
    knobs: Mapping[str, Any] = field(default_factory=dict)
    ops: list[tuple[str, Pts, float | None, int]] = field(default_factory=list)
    tube: float = 0.06  # typical wire width (object units): sets the metal shading blur
    style: str = ""
    aspect: float | None = None
    extent_top: float | None = None  # framing ignores what lies above this (arms off frame)
    path: Pts | None = None  # centre line of a band, for cue tests
    force_crop: tuple[float, float, float] | None = None  # direction, min and max fraction
    uses_gem: bool = False
    scale_mult: float = 1.0  # class-specific tweak of the frame fill

    # --- emitters -------------------------------------------------------------------------
    def metal(self, pts: Pts, width: float | None = None, value: int = 255) -> None:
        self.ops.append(("m", pts, width, value))

    def dark(self, pts: Pts, width: float | None = None, value: int = 120) -> None:
        self.ops.append(("d", pts, width, value))

    def gem(self, pts: Pts, width: float | None = None, shade: int = 160) -> None:
        self.uses_gem = True
        self.ops.append(("g", pts, width, shade))

    # --- composite parts ------------------------------------------------------------------
    def stone(self, cx: float, cy: float, r: float, cut: str = "round", bezel: float = 0.0,
              aspect: float = 1.0, rot: float = 0.0) -> None:
        """A faceted or smooth gem, optionally in a metal bezel."""
        if bezel:
            self.metal(_ell(r * (1 + bezel), r * (1 + bezel) * aspect, 24, cx, cy, rot))
        lx, ly = math.cos(self.light), math.sin(self.light)
        if cut in ("pearl", "cabochon"):
            for k, (f, shade) in enumerate(((1.0, 120), (0.82, 165), (0.58, 200), (0.3, 235))):
                off = r * 0.28 * k / 3
                self.gem(_ell(r * f, r * f * aspect, 20, cx + lx * off, cy + ly * off, rot),
                         shade=shade)
            return
        n = 4 if cut == "square" else 8
        phase = math.pi / 4 if cut == "square" else math.pi / 8
        t = phase + np.arange(n) * 2 * math.pi / n + rot
        outer = np.stack([cx + r * np.cos(t), cy + r * aspect * np.sin(t)], axis=1)
        inner = np.stack([cx + 0.55 * r * np.cos(t), cy + 0.55 * r * aspect * np.sin(t)], axis=1)
        if cut == "oval":
            outer = _ell(r, r * 0.72 * aspect, 16, cx, cy, rot)
            inner = _ell(r * 0.55, r * 0.4 * aspect, 16, cx, cy, rot)
        self.gem(outer, shade=125)
        m = len(outer)
        for i in range(m):
            j = (i + 1) % m
            tri = np.array([outer[i], outer[j], inner[j], inner[i]])
            facing = math.cos(math.atan2(tri[:, 1].mean() - cy, tri[:, 0].mean() - cx)
                              - self.light)
            self.gem(tri, shade=int(130 + 70 * facing))
        self.gem(inner, shade=205)
        self.gem(_circle(cx + lx * r * 0.3, cy + ly * r * 0.3, r * 0.14, 10), shade=252)

    def prongs(self, cx: float, cy: float, r: float, width: float, count: int = 4) -> None:
        for k in range(count):
            t = math.pi / 4 + k * 2 * math.pi / count
            p = np.array([[cx + 0.85 * r * math.cos(t), cy + 0.85 * r * math.sin(t)],
                          [cx + 1.12 * r * math.cos(t), cy + 1.12 * r * math.sin(t)]])
            self.metal(p, width)

    def bail(self, cx: float, top: float, r: float, wire: float) -> None:
        """The small loop a pendant hangs from."""
        self.metal(_ell(r * 0.75, r, 20, cx, top + r), width=wire)

    def clasp(self, cx: float, cy: float, ang: float, size: float, wire: float) -> None:
        """Lobster clasp: a teardrop body and a jump ring."""
        body = _ell(size, size * 0.45, 16, cx, cy, ang)
        self.metal(body)
        self.dark(_ell(size * 0.5, size * 0.16, 10, cx, cy, ang), value=90)
        rx, ry = cx + math.cos(ang) * size * 1.35, cy + math.sin(ang) * size * 1.35
        self.metal(_circle(rx, ry, size * 0.42, 14), width=wire)


# ---------------------------------------------------------------------------------------------
# Strands: link chains and beads along a path (shared by bracelet, chain and necklace).
# ---------------------------------------------------------------------------------------------

def _closed(path: Pts, closed: bool) -> Pts:
    return np.vstack([path, path[:1]]) if closed else path


def _links(ctx: _Ctx, path: Pts, closed: bool, style: str, link: float, tight: float = 0.0,
           flat: float = 1.0) -> None:
    """A metal chain along ``path``.

    ``tight`` in 0..1 packs the links and thickens the wire until the holes close and the
    strand reads as one band (the bracelet/bangle look-alike). ``flat`` foreshortens each link
    across the strand, for a bracelet seen at a tilt.
    """
    wire = link * (0.2 + 0.14 * tight)
    ctx.tube = min(ctx.tube, wire * 1.3)
    if style in ("rope", "snake"):
        # a solid tube with twisted (rope) or ribbed (snake) grooves
        ctx.metal(_closed(path, closed), width=link * (0.55 if style == "rope" else 0.42))
        ctx.tube = max(ctx.tube, link * 0.4)
        pitch, turn = (link * 0.28, 1.0) if style == "rope" else (link * 0.16, math.pi / 2)
        pts, ang = _resample(path, pitch, closed)
        for (x, y), a in zip(pts, ang, strict=True):
            d = np.array([[math.cos(a + turn), math.sin(a + turn)]]) * link * 0.3
            ctx.dark(np.array([[x, y]]) + np.array([[-1.0], [1.0]]) * d, width=link * 0.09,
                     value=120)
        return
    if style == "ball":
        ctx.metal(_closed(path, closed), width=link * 0.1)
        pts, _ = _resample(path, link * (0.95 - 0.3 * tight), closed)
        for x, y in pts:
            ctx.metal(_circle(x, y, link * 0.32, 12))
        return
    pitch = link * ((0.72 if style != "curb" else 0.78) - 0.3 * tight)
    pts, ang = _resample(path, pitch, closed)
    for k, ((x, y), a) in enumerate(zip(pts, ang, strict=True)):
        if style == "box":
            sq = _ell(link * 0.42, link * 0.42 * flat, 4, x, y, a + math.pi / 4)
            ctx.metal(_closed(sq, True), width=wire)
        elif style == "curb":
            twist = 0.3 if k % 2 else -0.3
            ring = _ell(link * 0.5, link * 0.32 * flat, 14, x, y, a + twist)
            ctx.metal(_closed(ring, True), width=wire * 1.15)
        elif k % 2 == 0:  # cable: open links face-on, alternating with links seen edge-on
            ring = _ell(link * 0.55, link * 0.34 * flat, 14, x, y, a)
            ctx.metal(_closed(ring, True), width=wire)
        else:
            ctx.metal(_ell(link * 0.55, wire * 0.75, 10, x, y, a))


def _beads(ctx: _Ctx, path: Pts, closed: bool, radius: float, gap: float,
           material: str) -> None:
    """Beads on a thin thread; ``gap`` is the space between beads in bead diameters."""
    ctx.metal(_closed(path, closed), width=radius * 0.12)
    pts, _ = _resample(path, 2 * radius * (1 + gap), closed)
    for x, y in pts:
        if material == "metal":
            ctx.metal(_circle(x, y, radius, 16))
        else:
            ctx.stone(x, y, radius, cut="pearl")
    if material == "metal":
        ctx.tube = min(ctx.tube, radius * 1.4)


# ---------------------------------------------------------------------------------------------
# Class builders
# ---------------------------------------------------------------------------------------------

def _band(ctx: _Ctx, a: float, aspect: float, width: float, height: float,
          cy: float = 0.0) -> None:
    """A rigid ring band seen at a tilt: top surface, outer front wall and inner back wall."""
    half = np.linspace(0.0, math.pi, 40)
    top = np.stack([a * np.cos(half), cy - a * aspect * np.sin(half)], axis=1)  # right to left
    front = np.stack([a * np.cos(half), cy + height + a * aspect * np.sin(half)], axis=1)
    ctx.metal(np.vstack([top, front[::-1]]))
    # front wall (between the top rim and the lower rim) a little darker
    rim = np.stack([a * np.cos(half), cy + a * aspect * np.sin(half)], axis=1)
    ctx.dark(np.vstack([rim, front[::-1]]), value=55)
    ai, bi = a - width, (a - width) * aspect
    inner = _ell(ai, bi, 48, 0.0, cy)
    ctx.dark(inner, value=115)  # inside of the back wall
    # see-through hole: inside both the top and the bottom inner rims
    if height < 1.9 * bi:
        xm = ai * math.sqrt(max(0.0, 1 - (height / (2 * bi)) ** 2))
        xs = np.linspace(-xm, xm, 40)
        root = bi * np.sqrt(np.clip(1 - (xs / ai) ** 2, 0, 1))
        upper = np.stack([xs, cy + height - root], axis=1)
        lower = np.stack([xs[::-1], cy + root[::-1]], axis=1)
        hole = np.vstack([upper, lower])
        ctx.metal(hole, value=0)
        ctx.dark(hole, value=0)


def _build_bangle(ctx: _Ctx) -> None:
    rng = ctx.rng
    aspect = float(rng.uniform(0.35, 1.0))
    width = float(rng.uniform(0.10, 0.22))
    height = float(rng.uniform(0.10, 0.30)) * math.sqrt(1 - aspect**2)
    ctx.aspect = aspect
    ctx.tube = width * 0.9
    _band(ctx, 1.0, aspect, width, height)
    mid = 1.0 - width / 2
    ctx.path = _ell(mid, mid * aspect, 72)
    ctx.style = "plain"
    if ctx.amb and rng.random() < 0.7:
        # Engraved notches across the band: reads as segments, the mask stays one ring.
        ctx.style = "notched"
        n = int(rng.integers(16, 32))
        t = np.linspace(0, 2 * math.pi, n, endpoint=False) + rng.uniform(0, 1)
        for tk in t:
            c, s = math.cos(tk), math.sin(tk)
            r0 = 1.0 - width * 0.92
            outer_y = aspect * s + (height if s > 0 else 0.0)
            seg = np.array([[r0 * c, r0 * aspect * s], [0.99 * c, 0.99 * outer_y]])
            ctx.dark(seg, width=width * (0.10 + 0.08 * ctx.strength), value=150)
    elif ctx.amb:
        # A row of set stones along the band: at a glance, a bead bracelet.
        ctx.style = "studded"
        n = int(rng.integers(8, 15))
        for tk in np.linspace(0, 2 * math.pi, n, endpoint=False) + rng.uniform(0, 1):
            ctx.stone(mid * math.cos(tk), mid * aspect * math.sin(tk), width * 0.36,
                      cut="round", bezel=0.15, aspect=aspect)
    elif rng.random() < 0.35:
        ctx.style = "grooved"
        for f in (0.33, 0.66)[: int(rng.integers(1, 3))]:
            r = 1.0 - width * f
            ring = _ell(r, r * aspect, 64)
            ctx.dark(np.vstack([ring, ring[:1]]), width=width * 0.07, value=110)


def _build_bracelet(ctx: _Ctx) -> None:
    rng = ctx.rng
    aspect = float(rng.uniform(0.35, 1.0))
    ctx.aspect = aspect
    path = _ell(0.9, 0.9 * aspect, 96)
    ctx.path = path
    tight = ctx.strength if ctx.amb else 0.0
    style = str(rng.choice(["links", "beads", "curb"], p=[0.45, 0.35, 0.2]))
    if style == "beads":
        radius = float(rng.uniform(0.07, 0.11))
        gap = float(rng.uniform(0.25, 0.7)) if not ctx.amb else float(
            rng.uniform(-0.12, 0.08) + 0.25 * (1 - ctx.strength))
        material = "metal" if rng.random() < 0.5 else "gem"
        _beads(ctx, path, True, radius, gap, material)
        ctx.style = f"beads-{material}"
    else:
        link = float(rng.uniform(0.18, 0.26))
        _links(ctx, path, True, "cable" if style == "links" else "curb", link, tight,
               flat=0.55 + 0.45 * aspect)
        ctx.style = style
    if ctx.amb:
        ctx.style += "-tight"
    if rng.random() < 0.5:
        t = math.pi / 2 + rng.uniform(-0.4, 0.4)
        ctx.clasp(0.9 * math.cos(t), 0.9 * aspect * math.sin(t), t + math.pi / 2, 0.09, 0.03)
        ctx.style += "+clasp"


def _hang_path(rng: np.random.Generator) -> Pts:
    """A chain hanging from two points above the frame (a catenary-like U)."""
    half_w = float(rng.uniform(0.55, 0.95))
    k = float(rng.uniform(0.8, 2.8))
    x = np.linspace(-half_w, half_w, 80)
    depth = 2.0
    y = 1.0 - depth * (np.cosh(k * x / half_w) - 1) / (math.cosh(k) - 1)
    top = -1.0 - float(rng.uniform(0.2, 0.6))
    # extend the arms straight up beyond the frame
    left = np.array([[x[0] - 0.05 * (top + 1.0), top]])
    right = np.array([[x[-1] + 0.05 * (top + 1.0), top]])
    return np.vstack([left, np.stack([x, y], 1), right])


def _loop_path(rng: np.random.Generator) -> Pts:
    """A necklace laid flat: a teardrop loop, narrow at the clasp (top), round at the front."""
    a = float(rng.uniform(0.55, 0.85))
    b = 1.0
    t = np.linspace(0, 2 * math.pi, 120, endpoint=False)
    pinch = float(rng.uniform(0.3, 0.6))
    x = a * np.sin(t) * (1 - pinch * (1 + np.cos(t)) / 2)
    y = -b * np.cos(t)
    return np.stack([x, y], 1)


# A chain sold on its own is the heavier strand; a necklace's chain is finer and carries the
# ornament. Look-alikes swap weights (a fine chain with a tag, a heavy necklace cropped).
# Bracelets use big cable/curb links or beads, so a bare chain gets textures of its own.
STRAND_LINK: dict[str, tuple[float, float]] = {"heavy": (0.11, 0.16), "fine": (0.04, 0.065)}
STRAND_STYLES: dict[str, tuple[str, ...]] = {
    "heavy": ("rope", "box"),
    "fine": ("cable", "box", "ball"),
}


def _strand(ctx: _Ctx, path: Pts, closed: bool, weight: str, allow_beads: bool) -> str:
    """A metal chain (``heavy`` or ``fine``) or a bead strand along ``path``; its style name."""
    rng = ctx.rng
    if allow_beads and rng.random() < 0.45:
        material = str(rng.choice(["gem", "metal"], p=[0.7, 0.3]))
        _beads(ctx, path, closed, float(rng.uniform(0.035, 0.06)), float(rng.uniform(0.0, 0.5)),
               material)
        return f"beads-{material}"
    style = str(rng.choice(STRAND_STYLES[weight]))
    _links(ctx, path, closed, style, float(rng.uniform(*STRAND_LINK[weight])))
    return f"{weight}-{style}"


def _build_chain(ctx: _Ctx) -> None:
    """A bare chain: laid in an S or a coil, or hanging in a U; never an ornament.

    A chain photographed alone is a heavy strand, often lying open with both ends in view. The
    look-alike (``ambiguous``) is a fine chain hanging in a U with its clasp dangling at the
    front, which reads like a necklace with a tiny pendant.
    """
    rng = ctx.rng
    # A closed loop of links is a bracelet's silhouette, so a bare chain never lies closed.
    if ctx.amb or rng.random() < ctx.knobs["chain_u_layout"]:
        layout = "hang"
    else:
        layout = str(rng.choice(["curve", "coil"], p=[0.55, 0.45]))
    front: tuple[float, float] = (0.0, 1.0)
    ends: list[tuple[float, float, float]] = []  # (x, y, outward angle) of visible ends
    if layout == "hang":
        path, ctx.extent_top = _hang_path(rng), -1.0
        closed = False
    elif layout == "coil":
        turns = float(rng.uniform(1.3, 2.2))
        t = np.linspace(0.0, turns * 2 * math.pi, int(90 * turns))
        r = 0.25 + 0.75 * t / t[-1]
        path, closed = np.stack([r * np.cos(t), r * np.sin(t) * float(rng.uniform(0.7, 1.0))],
                                1), False
        ends = [(float(path[-1, 0]), float(path[-1, 1]), float(t[-1] + math.pi / 2))]
    else:
        x = np.linspace(-1.0, 1.0, 120)
        y = float(rng.uniform(0.25, 0.5)) * np.sin(x * float(rng.uniform(3.0, 5.5))
                                                    + float(rng.uniform(0, 6.3)))
        path, closed = np.stack([x, y], 1), False
        ends = [(1.0, float(y[-1]), 0.0), (-1.0, float(y[0]), math.pi)]
    style = _strand(ctx, path, closed, "fine" if ctx.amb else "heavy", allow_beads=False)
    ctx.style = f"{layout}-{style}"
    for x, y, ang in ends[:1]:
        ctx.clasp(x + 0.07 * math.cos(ang), y + 0.07 * math.sin(ang), ang, 0.06, 0.02)
    if ctx.amb:
        # A clasp and a tag dangling at the front: a pendant-like blob on a plain chain.
        fx, fy = front
        size = 0.05 + 0.05 * ctx.strength
        ctx.metal(np.array([[fx, fy], [fx, fy + size * 0.8]]), width=0.018)
        ctx.clasp(fx, fy + size * 1.6, math.pi / 2, size, 0.02)
        ctx.style += "+tag"


def _pendant_shape(ctx: _Ctx, cx: float, top: float, h: float, shape: str) -> None:
    """An ornament of height ``h`` hanging from ``top`` (its bail included)."""
    rng = ctx.rng
    bail_r = h * 0.09
    wire = max(h * 0.035, 0.012)
    ctx.bail(cx, top, bail_r, wire)
    body_top = top + 2 * bail_r
    bh = h - 2 * bail_r
    cy = body_top + bh / 2
    if shape == "drop":
        t = np.linspace(0, 2 * math.pi, 48)
        x = cx + bh * 0.38 * np.sin(t) * np.sin(t / 2) ** 0.8
        y = body_top + bh / 2 - bh / 2 * np.cos(t)
        ctx.metal(np.stack([x, y], 1))
        if rng.random() < 0.7:
            ctx.stone(cx, body_top + bh * 0.62, bh * 0.2, cut="pearl" if rng.random() < 0.4
                      else "oval", rot=math.pi / 2)
    elif shape == "heart":
        t = np.linspace(0, 2 * math.pi, 64)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = np.stack([x, y], 1) / 32 * bh * 1.05 + np.array([cx, cy])
        ctx.metal(pts)
        if rng.random() < 0.5:
            ctx.gem((pts - [cx, cy]) * 0.72 + [cx, cy], shade=150)
            ctx.stone(cx - bh * 0.12, cy - bh * 0.1, bh * 0.09, cut="pearl")
    elif shape == "gem":
        ctx.stone(cx, cy, bh * 0.42, cut=str(rng.choice(["round", "oval", "square"])),
                  bezel=0.14)
    else:  # medallion
        ctx.metal(_circle(cx, cy, bh * 0.48, 40))
        ring = _circle(cx, cy, bh * 0.38, 40)
        ctx.dark(np.vstack([ring, ring[:1]]), width=bh * 0.03, value=120)
        if rng.random() < 0.5:
            ctx.stone(cx, cy, bh * 0.17, cut="round")
        else:
            for k in range(8):
                t = k * math.pi / 4
                ctx.dark(np.array([[cx, cy], [cx + bh * 0.3 * math.cos(t),
                                              cy + bh * 0.3 * math.sin(t)]]),
                         width=bh * 0.025, value=110)


def _build_necklace(ctx: _Ctx) -> None:
    rng = ctx.rng
    layout = str(rng.choice(["hang", "loop"], p=[0.6, 0.4]))
    if layout == "hang":
        path, ctx.extent_top = _hang_path(rng), -1.0
        closed = False
    else:
        path, closed = _loop_path(rng), True
    strand = _strand(ctx, path, closed, "heavy" if ctx.amb else "fine", allow_beads=not ctx.amb)
    if layout == "loop":
        ctx.clasp(0.0, -1.0, -math.pi / 2, 0.05, 0.018)
    front_y = float(path[:, 1].max())
    ornament = str(rng.choice(["pendant", "stones"], p=[0.65, 0.35]))
    variant = ""
    if ctx.amb:
        variant = str(rng.choice(["cropped", "tiny"]))
    if ornament == "pendant":
        h = float(rng.uniform(0.35, 0.55))
        if variant == "tiny":
            h = float(rng.uniform(0.09, 0.16)) * (1.4 - 0.6 * ctx.strength)
        _pendant_shape(ctx, 0.0, front_y - 0.02, h,
                       str(rng.choice(["drop", "heart", "gem", "medallion"])))
    else:
        n = int(rng.integers(3, 8)) if variant != "tiny" else 1
        pts, _ = _resample(path, 0.09, closed)
        order = np.argsort(-pts[:, 1])[: n * 2 : 2] if n > 1 else np.argsort(-pts[:, 1])[:1]
        for i, (x, y) in enumerate(pts[order]):
            r = 0.07 * (1.0 - 0.1 * i) if variant != "tiny" else 0.045
            ctx.stone(float(x), float(y) + r * 0.6, r, cut="round", bezel=0.15)
    if variant == "cropped":
        ctx.force_crop = (math.pi / 2, 0.22 + 0.1 * ctx.strength, 0.32 + 0.12 * ctx.strength)
    ctx.style = f"{layout}-{strand}-{ornament}" + (f"-{variant}" if variant else "")


def _build_pendant(ctx: _Ctx) -> None:
    rng = ctx.rng
    shape = str(rng.choice(["drop", "heart", "gem", "medallion"]))
    h = 1.7
    top = -0.85
    chain = str(rng.choice(["none", "stub"], p=[0.45, 0.55]))
    if ctx.amb:
        chain = "long"
        h = 1.0 - 0.35 * ctx.strength
        top = 1.0 - h
    link = 0.05
    if chain == "stub":
        for side in (-1, 1):
            p = np.array([[0.0, top + 0.02], [side * 0.12, top - 0.5]])
            _links(ctx, p, False, "cable", link)
    elif chain == "long":
        for side in (-1, 1):
            p = np.array([[0.0, top + 0.02], [side * 0.55, -1.0], [side * 0.62, -1.4]])
            _links(ctx, p, False, "cable", link)
        ctx.extent_top = -1.0
    _pendant_shape(ctx, 0.0, top, h, shape)
    ctx.tube = max(ctx.tube, 0.05)
    ctx.style = f"{shape}-{chain}"


def _build_ring(ctx: _Ctx) -> None:
    rng = ctx.rng
    aspect = float(rng.uniform(0.3, 0.75))
    width = float(rng.uniform(0.12, 0.2))
    height = float(rng.uniform(0.25, 0.5)) * math.sqrt(1 - aspect**2)
    ctx.aspect = aspect
    ctx.tube = width * 0.9
    _band(ctx, 1.0, aspect, width, height)
    head = str(rng.choice(["solitaire", "halo", "trio", "signet"], p=[0.45, 0.25, 0.15, 0.15]))
    top = -aspect
    r = float(rng.uniform(0.22, 0.38))
    if head == "signet":
        ctx.metal(_ell(r * 1.2, r * 0.8, 32, 0.0, top - r * 0.2))
        ctx.dark(_ell(r * 0.7, r * 0.45, 24, 0.0, top - r * 0.2), width=r * 0.12, value=120)
        ctx.stone(0.0, top - r * 0.2, r * 0.35, cut="cabochon")
    elif head == "trio":
        for dx, f in ((-1.1, 0.6), (1.1, 0.6), (0.0, 1.0)):
            rr = r * f
            ctx.metal(_ell(rr * 0.35, rr, 12, dx * r, top - rr * 0.3))
            ctx.stone(dx * r, top - rr * 0.6, rr, cut="round")
            ctx.prongs(dx * r, top - rr * 0.6, rr, 0.035)
    else:
        cy = top - r * 0.7
        ctx.metal(np.array([[-r * 0.6, top + 0.02], [0.0, cy], [r * 0.6, top + 0.02]]),
                  width=0.05)
        if head == "halo":
            for k in range(12):
                t = k * math.pi / 6
                ctx.stone(r * 1.05 * math.cos(t), cy + r * 1.05 * math.sin(t), r * 0.2,
                          cut="round", bezel=0.2)
        ctx.stone(0.0, cy, r, cut=str(rng.choice(["round", "oval", "square"])))
        ctx.prongs(0.0, cy, r, 0.035)
    ctx.style = head


def _earring_item(ctx: _Ctx, style: str, hook: bool) -> None:
    """One earring in local coordinates (about 0.9 tall, centred on x = 0)."""
    rng = ctx.rng
    wire = 0.03
    y = -0.45
    if hook:
        t = np.linspace(-0.2, math.pi * 1.25, 24)
        hookp = np.stack([0.12 * np.cos(t) - 0.12, -0.58 - 0.16 * np.sin(t)], 1)
        ctx.metal(hookp, width=wire)
        ctx.metal(np.array([[0.0, -0.58], [0.0, -0.45]]), width=wire)
    if style == "stud":
        kind = str(rng.choice(["gem", "flower"]))
        if kind == "gem":
            ctx.stone(0.0, 0.0, 0.3, cut=str(rng.choice(["round", "square", "pearl"])),
                      bezel=0.15)
        else:
            for k in range(6):
                t = k * math.pi / 3
                ctx.stone(0.2 * math.cos(t), 0.2 * math.sin(t), 0.12, cut="round", bezel=0.1)
            ctx.stone(0.0, 0.0, 0.12, cut="round", bezel=0.1)
    elif style == "hoop":
        r = float(rng.uniform(0.3, 0.42))
        arc = _ell(r * 0.9, r, 48, 0.0, y + r + 0.05, t0=-math.pi / 2 + 0.25,
                   t1=3 * math.pi / 2 - 0.25, closed=False)
        ctx.metal(arc, width=float(rng.uniform(0.05, 0.1)))
        ctx.tube = min(ctx.tube, 0.08)
    elif style == "jhumka":
        ctx.stone(0.0, y + 0.1, 0.13, cut="round", bezel=0.2)
        bell = _ell(0.3, 0.3, 32, 0.0, 0.3, t0=math.pi, t1=2 * math.pi, closed=False)
        ctx.metal(np.vstack([bell, [[0.3, 0.32], [-0.3, 0.32]]]))
        ctx.metal(np.array([[0.0, y + 0.2], [0.0, 0.02]]), width=wire)
        for k in range(7):
            x = -0.27 + k * 0.09
            ctx.stone(x, 0.4, 0.04, cut="pearl")
        ctx.dark(np.array([[-0.28, 0.22], [0.28, 0.22]]), width=0.02, value=110)
    else:  # drop
        ctx.metal(_circle(0.0, y + 0.06, 0.06, 12))
        ctx.metal(np.array([[0.0, y + 0.1], [0.0, 0.05]]), width=wire * 0.8)
        shape = str(rng.choice(["drop", "gem", "pearl"]))
        if shape == "drop":
            t = np.linspace(0, 2 * math.pi, 40)
            x = 0.2 * np.sin(t) * np.sin(t / 2) ** 0.8
            yy = 0.25 - 0.22 * np.cos(t)
            ctx.metal(np.stack([x, yy], 1))
            ctx.stone(0.0, 0.3, 0.09, cut="oval", rot=math.pi / 2)
        else:
            ctx.stone(0.0, 0.25, 0.19, cut="pearl" if shape == "pearl" else "oval",
                      bezel=0.12 if shape == "gem" else 0.0, rot=math.pi / 2)
    ctx.tube = min(ctx.tube, 0.06)


def _build_earring(ctx: _Ctx) -> None:
    rng = ctx.rng
    pair = rng.random() < ctx.knobs["earring_pair"]
    style = str(rng.choice(["stud", "hoop", "drop", "jhumka"], p=[0.3, 0.25, 0.25, 0.2]))
    hook = (not pair) or (style in ("drop", "jhumka") and rng.random() < 0.5)
    if not pair and style == "stud":
        style = "drop"
    before = len(ctx.ops)
    _earring_item(ctx, style, hook)
    item = ctx.ops[before:]
    if pair:
        sep = float(rng.uniform(0.5, 0.65))
        dy = float(rng.uniform(-0.08, 0.08))
        del ctx.ops[before:]
        for side in (-1, 1):
            for kind, pts, width, value in item:
                moved = pts * np.array([float(side), 1.0]) + np.array([side * sep, side * dy])
                ctx.ops.append((kind, moved, width, value))
    ctx.style = f"{'pair' if pair else 'single'}-{style}" + ("+hook" if hook else "")


def _build_nose_pin(ctx: _Ctx) -> None:
    rng = ctx.rng
    style = str(rng.choice(["stud", "flower", "ring", "stem"], p=[0.35, 0.25, 0.2, 0.2]))
    if style == "stud":
        ctx.stone(0.0, 0.0, 0.75, cut=str(rng.choice(["round", "square"])), bezel=0.2)
    elif style == "flower":
        for k in range(5):
            t = k * 2 * math.pi / 5
            ctx.stone(0.5 * math.cos(t), 0.5 * math.sin(t), 0.32, cut="round", bezel=0.1)
        ctx.stone(0.0, 0.0, 0.3, cut="round", bezel=0.15)
    elif style == "ring":
        arc = _ell(0.85, 0.85, 40, t0=-math.pi / 2 + 0.35, t1=3 * math.pi / 2 - 0.35,
                   closed=False)
        ctx.metal(arc, width=0.14)
        ctx.stone(0.0, 0.85, 0.22, cut="pearl" if rng.random() < 0.5 else "round", bezel=0.2)
        ctx.tube = 0.12
    else:  # side view: a stud on a short bent post
        ctx.metal(np.array([[0.0, -0.2], [0.0, 0.6], [0.35, 0.9]]), width=0.12)
        ctx.stone(0.0, -0.45, 0.5, cut="round", bezel=0.2)
        ctx.tube = 0.12
    ctx.style = style


_BUILDERS: dict[str, Callable[[_Ctx], None]] = {
    "bangle": _build_bangle,
    "bracelet": _build_bracelet,
    "chain": _build_chain,
    "earring": _build_earring,
    "necklace": _build_necklace,
    "pendant": _build_pendant,
    "ring": _build_ring,
    "nose_pin": _build_nose_pin,
}


# =============================================================================================
# Plan: every random choice for one image, made before any pixel is drawn.
# =============================================================================================

@dataclass
class _Plan:
    cls: str
    size: int
    ops: list[tuple[str, Pts, float | None, int]]
    matrix: np.ndarray  # object -> pixel (1x) linear part
    shift: np.ndarray  # object -> pixel translation (1x), applied after centring
    origin: np.ndarray  # object-space point mapped to the frame centre + offset
    unit_px: float  # pixels (1x) per object unit
    tube_px: float
    path: Pts | None
    background: dict[str, Any]
    post: dict[str, float]
    meta: dict[str, Any]


def check_difficulty(difficulty: str) -> dict[str, Any]:
    if difficulty not in DIFFICULTIES:
        raise JewelNetError(
            f"unknown difficulty {difficulty!r}; choose one of: {', '.join(DIFFICULTIES)}")
    return DIFFICULTIES[difficulty]


def _check_class(cls: str) -> int:
    if cls not in CLASSES:
        raise JewelNetError(f"unknown class {cls!r}; choose one of: {', '.join(CLASSES)}")
    return CLASSES.index(cls)


def _ops_bbox(ops: Iterable[tuple[str, Pts, float | None, int]]) -> tuple[float, ...]:
    pts = np.vstack([p for kind, p, _w, v in ops if kind != "d" and v])
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()),
            float(pts[:, 1].max()))


def _plan(cls: str, rng: np.random.Generator, size: int, difficulty: str) -> _Plan:
    """Draw every random choice for one image. Cheap: used alone to rebuild metadata."""
    _check_class(cls)
    knobs = check_difficulty(difficulty)
    amb = bool(rng.random() < knobs["ambiguous"][cls])
    metal = str(rng.choice(list(METALS)))
    gem_colour = str(rng.choice(list(GEMS)))
    light = float(rng.uniform(-math.pi * 0.85, -math.pi * 0.15))  # from above, mostly
    ctx = _Ctx(rng=rng, amb=amb, strength=float(knobs["amb_strength"]), light=light,
               knobs=knobs)
    _BUILDERS[cls](ctx)

    # Framing: normalise the object's extent, then rotate, scale and place it.
    x0, y0, x1, y1 = _ops_bbox(ctx.ops)
    if ctx.extent_top is not None:
        y0 = max(y0, ctx.extent_top)
    origin = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    half = max(x1 - x0, y1 - y0) / 2
    lo, hi = CLASS_SCALE[cls]
    m_lo, m_hi = knobs["scale_mult"]
    scale = float(rng.uniform(lo, hi) * rng.uniform(m_lo, m_hi))
    rotation = float(rng.uniform(-1, 1) * knobs["rotation_deg"])
    unit_px = scale * size / 2 / half
    th = math.radians(rotation)
    c, s = math.cos(th), math.sin(th)
    matrix = unit_px * np.array([[c, -s], [s, c]])
    hx, hy = (x1 - x0) / 2 * unit_px, (y1 - y0) / 2 * unit_px
    ex, ey = abs(c) * hx + abs(s) * hy, abs(s) * hx + abs(c) * hy
    cropped = False
    crop_fraction = 0.0
    if ctx.force_crop is not None or rng.random() < knobs["crop_prob"]:
        cropped = True
        if ctx.force_crop is not None:
            direction, f_lo, f_hi = ctx.force_crop
            direction += th
        else:
            direction = float(rng.integers(0, 4)) * math.pi / 2 + float(rng.uniform(-0.3, 0.3))
            f_lo, f_hi = knobs["crop_fraction"]
        crop_fraction = float(rng.uniform(f_lo, f_hi))
        ux, uy = math.cos(direction), math.sin(direction)
        reach = abs(ux) * ex + abs(uy) * ey
        d = size / 2 - reach + 2 * crop_fraction * reach
        off_x, off_y = d * ux, d * uy
    else:
        room_x = max(0.0, size / 2 - ex - size * 0.02)
        room_y = max(0.0, size / 2 - ey - size * 0.02)
        lim = knobs["offset"] * size
        off_x = float(rng.uniform(-1, 1)) * min(room_x, lim)
        off_y = float(rng.uniform(-1, 1)) * min(room_y, lim)

    # Background
    p_skin = SKIN_PROB.get(cls, DEFAULT_SKIN_PROB)
    u = rng.random()
    if u < p_skin:
        kind = "skin"
        colour = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
    else:
        v = rng.random()
        kind = "texture" if v < knobs["texture_prob"] else (
            "gradient" if v < knobs["texture_prob"] + (1 - knobs["texture_prob"]) * 0.4
            else "plain")
        colour = STUDIO_COLOURS[int(rng.integers(len(STUDIO_COLOURS)))]
    jitter = rng.integers(-12, 13, size=3)
    colour = tuple(int(np.clip(ch + j, 0, 255)) for ch, j in zip(colour, jitter, strict=True))
    colour2 = STUDIO_COLOURS[int(rng.integers(len(STUDIO_COLOURS)))]
    background = {"kind": kind, "colour": colour, "colour2": colour2,
                  "angle": float(rng.uniform(0, 2 * math.pi)),
                  "amount": float(rng.uniform(0.1, 0.4)), "vignette": float(rng.uniform(0, 0.3))}

    blur = float(rng.uniform(*knobs["blur"])) * size / 256
    noise = float(rng.uniform(*knobs["noise"]))
    brightness = float(1 + rng.uniform(-1, 1) * knobs["brightness"])
    contrast = float(1 + rng.uniform(-1, 1) * knobs["contrast"])
    shadow = float(rng.uniform(*knobs["shadow"]))
    metal_jitter = float(rng.uniform(-0.08, 0.08))
    ripple = float(rng.uniform(2.0, 5.0))
    post = {"blur": blur, "noise": noise, "brightness": brightness, "contrast": contrast,
            "shadow": shadow, "light": light, "metal_jitter": metal_jitter, "ripple": ripple,
            "metal": metal, "gem": gem_colour}

    tube_px = max(0.6, ctx.tube * unit_px * 0.45)
    meta = {
        "class": cls,
        "style": ctx.style,
        "ambiguous": amb,
        "metal": metal,
        "gem_colour": gem_colour if ctx.uses_gem else "none",
        "background": kind,
        "bg_colour": "#{:02x}{:02x}{:02x}".format(*colour),
        "light_deg": round(math.degrees(light), 2),
        "rotation": round(rotation, 3),
        "scale": round(scale, 4),
        "offset_x": round(off_x / size, 4),
        "offset_y": round(off_y / size, 4),
        "cropped": cropped,
        "crop_fraction": round(crop_fraction, 4),
        "blur": round(blur, 3),
        "noise": round(noise, 3),
        "brightness": round(brightness, 4),
        "contrast": round(contrast, 4),
        "shadow": round(shadow, 4),
        "aspect": "" if ctx.aspect is None else round(ctx.aspect, 4),
    }
    return _Plan(cls=cls, size=size, ops=ctx.ops, matrix=matrix,
                 shift=np.array([size / 2 + off_x, size / 2 + off_y]), origin=origin,
                 unit_px=unit_px, tube_px=tube_px, path=ctx.path, background=background,
                 post=post, meta=meta)


# =============================================================================================
# Rendering
# =============================================================================================

@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates in [-1, 1], cached per size."""
    v = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    return v[None, :].repeat(size, 0), v[:, None].repeat(size, 1)


def _ramp(stops: list[tuple[float, tuple[float, float, float]]]) -> np.ndarray:
    """A 256-entry RGB lookup table through the given (position, colour) stops."""
    pos = np.array([p for p, _ in stops])
    cols = np.array([c for _, c in stops], dtype=np.float32)
    x = np.linspace(0, 1, 256)
    return np.stack([np.interp(x, pos, cols[:, k]) for k in range(3)], axis=1).astype(np.float32)


@lru_cache(maxsize=64)
def _metal_lut(metal: str, jitter_key: int) -> np.ndarray:
    dark, body, light = (np.array(c, dtype=np.float32) for c in METALS[metal])
    j = jitter_key / 100.0
    return _ramp([(0.0, tuple(dark * 0.55)), (0.25, tuple(dark)), (0.55 + j, tuple(body)),
                  (0.78 + j / 2, tuple(light)), (0.86, tuple(body * 1.02)),
                  (0.95, tuple(np.minimum(light * 1.08, 255))), (1.0, (255.0, 253.0, 245.0))])


@lru_cache(maxsize=16)
def _gem_lut(gem: str) -> np.ndarray:
    col = np.array(GEMS[gem], dtype=np.float32)
    return _ramp([(0.0, (10.0, 10.0, 12.0)), (0.35, tuple(col * 0.45)), (0.6, tuple(col)),
                  (0.85, tuple(np.minimum(col * 1.25 + 30, 255))), (1.0, (255.0, 255.0, 255.0))])


def _background(rng: np.random.Generator, spec: Mapping[str, Any], size: int) -> np.ndarray:
    xx, yy = _grid(size)
    base = np.array(spec["colour"], dtype=np.float32)
    kind = spec["kind"]
    if kind == "gradient":
        other = np.array(spec["colour2"], dtype=np.float32)
        t = (xx * math.cos(spec["angle"]) + yy * math.sin(spec["angle"])) * 0.5 + 0.5
        t = t[..., None] * spec["amount"] * 2
        img = base * (1 - t) + other * t
    else:
        img = np.broadcast_to(base, (size, size, 3)).astype(np.float32)
    if kind in ("texture", "skin"):
        coarse = rng.random((6, 6), dtype=np.float32)
        fine = rng.random((48, 48), dtype=np.float32)
        lo = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC))
        hi = np.asarray(Image.fromarray(fine).resize((size, size), Image.BILINEAR))
        amp = (26.0, 8.0) if kind == "texture" else (18.0, 5.0)
        img = img + ((lo - 0.5) * amp[0] + (hi - 0.5) * amp[1])[..., None]
        if kind == "skin":
            # a soft crease (nostril or earlobe edge) somewhere in the frame
            crease = Image.new("L", (size // 4, size // 4), 0)
            q = size // 4
            cx, cy = rng.uniform(0, q, size=2)
            r = rng.uniform(q * 0.3, q * 0.8)
            a0 = float(rng.uniform(0, 360))
            ImageDraw.Draw(crease).arc([cx - r, cy - r, cx + r, cy + r], a0, a0 + 120,
                                       fill=255, width=max(1, q // 14))
            crease = crease.filter(ImageFilter.GaussianBlur(q / 18)).resize(
                (size, size), Image.BILINEAR)
            img = img * (1 - np.asarray(crease, dtype=np.float32)[..., None] / 255 * 0.35)
    vig = spec["vignette"] * (xx**2 + yy**2) / 2
    return img * (1 - vig[..., None])


def _rasterize(plan: _Plan) -> tuple[Image.Image, Image.Image, Image.Image, Image.Image]:
    """Draw the ops at SUPERSAMPLE x and box-reduce: metal, dark, gem and gem-shade layers."""
    big = plan.size * SUPERSAMPLE
    layers = [Image.new("L", (big, big), 0) for _ in range(4)]
    dm, dd, dg, ds = (ImageDraw.Draw(im) for im in layers)
    m = plan.matrix.T * SUPERSAMPLE
    t = (plan.shift - plan.origin @ plan.matrix.T) * SUPERSAMPLE
    px = plan.unit_px * SUPERSAMPLE
    gem_seen = False

    def draw(d: ImageDraw.ImageDraw, pts: list[float], w: int | None, v: int) -> None:
        if w is None:
            if len(pts) >= 6:
                d.polygon(pts, fill=v)
        else:
            d.line(pts, fill=v, width=w, joint="curve")

    for kind, pts, width, value in plan.ops:
        flat = (pts @ m + t).ravel().tolist()
        w = None if width is None else max(1, int(round(width * px)))
        if kind == "m":
            draw(dm, flat, w, value)
            if gem_seen and value:
                draw(dg, flat, w, 0)
        elif kind == "d":
            draw(dd, flat, w, value)
        else:
            draw(dg, flat, w, 255)
            draw(ds, flat, w, value)
            gem_seen = True
    return tuple(im.reduce(SUPERSAMPLE) for im in layers)  # type: ignore[return-value]


@dataclass
class Sample:
    """One rendered image with its metadata, object mask and (for bands) centre path."""

    image: Image.Image
    meta: dict[str, Any]
    mask: np.ndarray  # bool, True on the object (metal or gem), before blur and noise
    path: np.ndarray | None  # (n, 2) pixel coordinates of a band's centre line


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """A fixed bank of standard normals; each image reads a window at a seeded offset.

    Drawing 200k fresh normals per image cost more than all the drawing; a window into a
    fixed bank is as good for sensor noise and still a pure function of the image's seed.
    """
    return np.random.default_rng(20240601).standard_normal(1 << 22, dtype=np.float32)


def _blur_float(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an (H, W, C) float image, edges replicated."""
    radius = max(1, int(math.ceil(2.5 * sigma)))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    h, w = img.shape[:2]
    pad = np.pad(img, ((radius, radius), (0, 0), (0, 0)), mode="edge")
    rows = pad[0:h] * k[0]
    for i in range(1, len(k)):
        rows += pad[i:i + h] * k[i]
    pad = np.pad(rows, ((0, 0), (radius, radius), (0, 0)), mode="edge")
    out = pad[:, 0:w] * k[0]
    for i in range(1, len(k)):
        out += pad[:, i:i + w] * k[i]
    return out


def _render_plan(plan: _Plan, rng: np.random.Generator) -> Sample:
    size = plan.size
    post = plan.post
    metal_im, dark_im, gem_im, gshade_im = _rasterize(plan)
    img = _background(rng, plan.background, size)

    # Drop shadow away from the light (whole frame: it reaches past the object).
    lx, ly = math.cos(post["light"]), math.sin(post["light"])
    sil = ImageChops.lighter(metal_im, gem_im)
    shadow_im = Image.new("L", (size, size), 0)
    dist = size * 0.025
    shadow_im.paste(sil.filter(ImageFilter.GaussianBlur(max(1.0, size * 0.02))),
                    (int(round(-lx * dist)), int(round(-ly * dist))))
    sh = np.asarray(shadow_im, dtype=np.float32) * (-post["shadow"] / 255)
    sh += 1.0
    img *= sh[..., None]

    # Object: shade and composite inside its bounding box only (nose pins are tiny).
    mask = np.zeros((size, size), dtype=bool)
    box = sil.getbbox()
    if box is not None:
        margin = int(math.ceil(3 * plan.tube_px)) + 2
        x0, y0 = max(0, box[0] - margin), max(0, box[1] - margin)
        x1, y1 = min(size, box[2] + margin), min(size, box[3] + margin)
        crop = (x0, y0, x1, y1)
        view = img[y0:y1, x0:x1]
        a = np.asarray(metal_im.crop(crop), dtype=np.float32) / 255
        g = np.asarray(gem_im.crop(crop), dtype=np.float32) / 255
        # metal: tube shading from the blurred silhouette, light gradient, ripples, engraving
        tube = np.asarray(metal_im.crop(crop).filter(ImageFilter.GaussianBlur(plan.tube_px)),
                          dtype=np.float32)
        xx, yy = (v[y0:y1, x0:x1] for v in _grid(size))
        shade = np.clip((tube - 76.5) * (1 / 158.0), 0, 1) ** 0.85
        shade *= 0.72 + 0.28 * (xx * lx + yy * ly)
        shade += 0.1 * np.sin((xx * ly - yy * lx) * (post["ripple"] * math.pi) + post["ripple"])
        shade *= 1 - np.asarray(dark_im.crop(crop), dtype=np.float32) * (0.85 / 255)
        idx = (np.clip(shade, 0, 1) * 255).astype(np.uint8)
        metal_rgb = _metal_lut(post["metal"], int(round(post["metal_jitter"] * 100)))[idx]
        view += (metal_rgb - view) * a[..., None]
        if plan.meta["gem_colour"] != "none":
            gem_rgb = _gem_lut(post["gem"])[np.asarray(gshade_im.crop(crop))]
            view += (gem_rgb - view) * g[..., None]
        mask[y0:y1, x0:x1] = (a > 0.5) | (g > 0.5)

    # Camera: contrast and brightness (one affine map), blur, sensor noise.
    img *= post["contrast"] * post["brightness"]
    img += 128.0 * (1 - post["contrast"]) * post["brightness"] + 0.5
    if post["blur"] > 0.25:
        img = _blur_float(img, post["blur"])
    if post["noise"] > 0:
        bank = _noise_bank()
        n = size * size * 3
        start = int(rng.integers(0, bank.size - n))
        img += bank[start:start + n].reshape(size, size, 3) * post["noise"]
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))

    path = None
    if plan.path is not None:
        path = plan.shift + (plan.path - plan.origin) @ plan.matrix.T
    return Sample(image=out, meta=dict(plan.meta), mask=mask, path=path)


def render_sample(cls: str, rng: np.random.Generator, size: int = 256,
                  difficulty: str = "thesis") -> Sample:
    """Render one image of ``cls`` with its metadata, object mask and band path."""
    if size < MIN_SIZE:
        raise JewelNetError(f"image size must be at least {MIN_SIZE} pixels, got {size}")
    plan_rng, pixel_rng = rng.spawn(2)
    return _render_plan(_plan(cls, plan_rng, size, difficulty), pixel_rng)


def render_image(cls: str, rng: np.random.Generator, size: int = 256,
                 difficulty: str = "thesis") -> tuple[Image.Image, dict[str, Any]]:
    """Render one RGB image of ``cls``; returns the image and its nuisance metadata."""
    sample = render_sample(cls, rng, size, difficulty)
    return sample.image, sample.meta


def image_rng(seed: int, cls: str, index: int) -> np.random.Generator:
    """The RNG of one data-set image: depends only on (seed, class, index)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), _check_class(cls),
                                                         int(index)]))


def image_meta(seed: int, cls: str, index: int, size: int, difficulty: str) -> dict[str, Any]:
    """Metadata of one data-set image without drawing it (the plan alone)."""
    plan_rng, _ = image_rng(seed, cls, index).spawn(2)
    return _plan(cls, plan_rng, size, difficulty).meta


# =============================================================================================
# Data set generation
# =============================================================================================

@dataclass(frozen=True)
class GenerationResult:
    """What :func:`generate_dataset` did."""

    path: Path
    written: int
    skipped: int
    seconds: float
    images_per_second: float  # rendered images only (skipped files are not counted)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.written + self.skipped


def resolve_counts(counts: str | int | Mapping[str, int]) -> dict[str, int]:
    """``thesis`` (Table 4.1), ``balanced`` (200 each), N per class, or a class -> N dict."""
    if isinstance(counts, Mapping):
        out = {}
        for name, n in counts.items():
            _check_class(name)
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
                raise JewelNetError(f"count for {name!r} must be a non-negative integer, got {n!r}")
            out[name] = int(n)
        return {c: out[c] for c in CLASSES if c in out}
    if isinstance(counts, bool):
        raise JewelNetError(f"bad counts {counts!r}; use thesis, balanced or a positive integer")
    if isinstance(counts, (int, np.integer)):
        n = int(counts)
    else:
        text = str(counts).strip().lower()
        if text == "thesis":
            return dict(THESIS_COUNTS)
        if text == "balanced":
            return {c: BALANCED_PER_CLASS for c in CLASSES}
        try:
            n = int(text)
        except ValueError:
            raise JewelNetError(
                f"bad --counts value {counts!r}; use thesis, balanced or a positive integer"
            ) from None
    if n < 1:
        raise JewelNetError(f"--counts must be at least 1 image per class, got {n}")
    return {c: n for c in CLASSES}


def _file_ok(path: Path, size: int) -> bool:
    """True if ``path`` is a complete PNG of the expected size (cheap: CRC check, no decode)."""
    try:
        with Image.open(path) as im:
            if im.format != "PNG" or im.size != (size, size) or im.mode != "RGB":
                return False
            im.verify()
        return True
    except Exception:  # noqa: BLE001 - any unreadable file is simply redrawn
        return False


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png_bytes(image: Image.Image) -> bytes:
    """Encode an RGB image as PNG, about 7x faster than Pillow's adaptive-filter encoder.

    Every row uses the "Up" filter (computed in numpy) and zlib's Huffman-only strategy:
    sensor noise leaves little for LZ77 to find, so this loses nothing in size. The output is
    a plain 8-bit RGB PNG that any decoder reads, and deterministic for a given zlib.
    """
    arr = np.asarray(image.convert("RGB"), dtype=np.uint8)
    h, w, _ = arr.shape
    rows = arr.reshape(h, w * 3)
    up = rows.copy()
    up[1:] -= rows[:-1]  # uint8 wraps modulo 256, as the PNG filter requires
    raw = np.concatenate([np.full((h, 1), 2, dtype=np.uint8), up], axis=1)
    comp = zlib.compressobj(6, zlib.DEFLATED, 15, 8, zlib.Z_HUFFMAN_ONLY)
    data = comp.compress(raw.tobytes()) + comp.flush()
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data)
            + _png_chunk(b"IEND", b""))


def _task(args: tuple[str, int, str, int, int, str]) -> tuple[dict[str, Any], bool]:
    """Render (or skip) one file; runs in the main process or a pool worker."""
    out_dir, seed, cls, index, size, difficulty = args
    rel = f"{cls}/{cls}_{index:04d}.png"
    target = Path(out_dir) / rel
    if target.exists() and _file_ok(target, size):
        meta = image_meta(seed, cls, index, size, difficulty)
        wrote = False
    else:
        sample = render_sample(cls, image_rng(seed, cls, index), size, difficulty)
        # No fsync: images are cheap to redraw, a rerun checks every file's PNG checksums, and
        # a thousand fsyncs would double the generation time.
        atomic_write_bytes(target, _png_bytes(sample.image), durable=False)
        meta = sample.meta
        wrote = True
    row = {"path": rel, "index": index, **meta}
    return row, wrote


def _settings(counts: Mapping[str, int], size: int, seed: int, difficulty: str,
              counts_arg: Any) -> dict[str, Any]:
    return {
        "generator": "JewelSynth",
        "version": VERSION,
        "seed": int(seed),
        "size": int(size),
        "difficulty": difficulty,
        "counts_arg": counts_arg if isinstance(counts_arg, (str, int)) else "custom",
        "counts": dict(counts),
        "total": int(sum(counts.values())),
        "knobs": DIFFICULTIES[difficulty],
    }


def _clean_temps(out: Path) -> int:
    """Remove temp files a killed run left beside its targets (``.<name>.png.<random>``)."""
    removed = 0
    for cls in CLASSES:
        folder = out / cls
        if folder.is_dir():
            for p in folder.glob(f".{cls}_*.png.*"):
                p.unlink(missing_ok=True)
                removed += 1
    for p in out.glob(".metadata.csv.*"):
        p.unlink(missing_ok=True)
    for p in out.glob(".jewelsynth.json.*"):
        p.unlink(missing_ok=True)
    return removed


# Settings that decide the pixels: a folder made with other values must not be topped up.
_IDENTITY_KEYS = ("generator", "version", "seed", "size", "difficulty", "knobs")


def _read_marker(out: Path) -> dict[str, Any] | None:
    try:
        old = json.loads((out / "jewelsynth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return old if isinstance(old, dict) else None


def _mismatch(old: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    want = json.loads(json.dumps(settings))  # tuples -> lists, as stored
    return [k for k in _IDENTITY_KEYS if old.get(k) != want[k]]


def _check_out_dir(out: Path, settings: Mapping[str, Any], replace_stale: bool) -> None:
    """Refuse to mix data sets: a foreign folder, or one made with other arguments.

    With ``replace_stale`` a JewelSynth folder made with other settings (say, before a
    recalibration) is deleted and regenerated; a folder without our marker never is.
    """
    if not out.exists():
        return
    if not out.is_dir():
        raise JewelNetError(f"{out} exists and is not a folder")
    if (out / "jewelsynth.json").exists():
        old = _read_marker(out)
        if old is None:
            raise JewelNetError(f"{out / 'jewelsynth.json'} is unreadable; delete {out} and "
                                "generate again")
        diff = _mismatch(old, settings)
        if not diff:
            return
        if replace_stale and old.get("generator") == "JewelSynth":
            shutil.rmtree(out)
            return
        shown = ", ".join(f"{k}={old.get(k)!r}" for k in diff if k != "knobs")
        if "knobs" in diff:
            shown = (shown + ", " if shown else "") + "difficulty knobs changed"
        raise JewelNetError(
            f"{out} holds a JewelSynth data set made with other arguments ({shown}); "
            "choose another --out or delete that folder")
    if any(out.iterdir()):
        raise JewelNetError(
            f"{out} is not empty and is not a JewelSynth data set (no jewelsynth.json); "
            "choose a new or empty folder")


def generate_dataset(out_dir: str | os.PathLike[str],
                     counts: str | int | Mapping[str, int] = "thesis", size: int = 256,
                     seed: int = 0, difficulty: str = "thesis", workers: int = 1,
                     progress: bool = True, replace_stale: bool = False) -> GenerationResult:
    """Write ``<out>/<class>/<class>_<index:04d>.png`` plus metadata.csv and jewelsynth.json.

    Files that already exist and decode are kept (each is a pure function of its seed), so a
    rerun completes an interrupted run without duplicates and with identical bytes. A folder
    made with other settings is refused, or with ``replace_stale`` regenerated from scratch.
    """
    if size < MIN_SIZE:
        raise JewelNetError(f"image size must be at least {MIN_SIZE} pixels, got {size}")
    if workers < 1:
        raise JewelNetError(f"workers must be at least 1, got {workers}")
    check_difficulty(difficulty)
    per_class = resolve_counts(counts)
    out = Path(out_dir)
    settings = _settings(per_class, size, seed, difficulty, counts)
    _check_out_dir(out, settings, replace_stale)
    out.mkdir(parents=True, exist_ok=True)
    _clean_temps(out)
    atomic_write_json(out / "jewelsynth.json", {**settings, "complete": False})

    # files beyond the requested counts (from an earlier, larger run) would leak into the set
    for cls in CLASSES:
        folder = out / cls
        if folder.is_dir():
            for p in folder.glob(f"{cls}_*.png"):
                stem = p.stem[len(cls) + 1:]
                if stem.isdigit() and int(stem) >= per_class.get(cls, 0):
                    p.unlink()

    tasks = [(str(out), int(seed), cls, i, int(size), difficulty)
             for cls, n in per_class.items() for i in range(n)]
    rows: list[dict[str, Any]] = []
    written = 0
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc=f"JewelSynth {difficulty}", unit="img", leave=False)
    try:
        if workers == 1:
            results: Iterable[tuple[dict[str, Any], bool]] = map(_task, tasks)
            pool = None
        else:
            import multiprocessing as mp

            pool = mp.get_context("spawn" if sys.platform == "darwin" else "fork").Pool(workers)
            results = pool.imap(_task, tasks, chunksize=8)
        for row, wrote in results:
            rows.append(row)
            written += int(wrote)
            if bar is not None:
                bar.update(1)
        if pool is not None:
            pool.close()
            pool.join()
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(META_FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in META_FIELDS})
    atomic_write_text(out / "metadata.csv", buf.getvalue())
    atomic_write_json(out / "jewelsynth.json", {**settings, "complete": True})
    skipped = len(tasks) - written
    rate = written / seconds if written and seconds > 0 else 0.0
    return GenerationResult(path=out, written=written, skipped=skipped, seconds=seconds,
                            images_per_second=rate, counts=per_class)


def dataset_complete(out_dir: str | os.PathLike[str], counts: str | int | Mapping[str, int],
                     size: int, seed: int, difficulty: str) -> bool:
    """True if ``out_dir`` holds exactly this data set, finished (cheap: no image decoding)."""
    out = Path(out_dir)
    if not (out / "jewelsynth.json").exists() or not (out / "metadata.csv").exists():
        return False
    old = _read_marker(out)
    per_class = resolve_counts(counts)
    want = _settings(per_class, size, seed, difficulty, counts)
    if old is None or not old.get("complete") or _mismatch(old, want) or \
            old.get("counts") != want["counts"]:
        return False
    return all((out / cls / f"{cls}_{i:04d}.png").is_file()
               for cls, n in per_class.items() for i in range(n))


# =============================================================================================
# Profiles
# =============================================================================================

def _profile(profile: Profile | str | None) -> Profile:
    return profile if isinstance(profile, Profile) else get_profile(profile)


def default_dataset_dir(profile: Profile | str | None = None,
                        experiment: str = "imbalanced") -> Path:
    """``data/jewelsynth`` for the thesis settings; ``data/jewelsynth-<profile>`` otherwise;
    the balanced experiment's folder carries a ``-balanced`` suffix."""
    prof = _profile(profile)
    thesis_look = prof.synth_size == 256 and prof.synth_difficulty == "thesis"
    if check_experiment(experiment) == "balanced":
        stem = DEFAULT_DATA_DIR.name if thesis_look and prof.balanced_counts == "balanced" \
            else f"{DEFAULT_DATA_DIR.name}-{prof.name}"
        return DEFAULT_DATA_DIR.with_name(f"{stem}-balanced")
    thesis = thesis_look and str(prof.synth_counts).lower() == "thesis"
    return DEFAULT_DATA_DIR if thesis else DEFAULT_DATA_DIR.with_name(
        f"{DEFAULT_DATA_DIR.name}-{prof.name}")


def ensure_dataset(profile: Profile | str | None = None, root: str | os.PathLike[str] = ".",
                   seed: int = 0, workers: int = 1, progress: bool = True,
                   experiment: str = "imbalanced") -> Path:
    """The JewelSynth folder of the profile's ``experiment``, generated or completed first if
    needed.

    A set left by an older generator version or other difficulty knobs is regenerated: the
    default folders hold nothing but generated images. Both experiments draw image *i* of a
    class from the same seed, so the balanced set shares its first images with the imbalanced
    one, as two samples of one collection would.
    """
    prof = _profile(profile)
    out = Path(root) / default_dataset_dir(prof, experiment)
    counts = prof.counts_for(experiment)
    if not dataset_complete(out, counts, prof.synth_size, seed, prof.synth_difficulty):
        generate_dataset(out, counts, prof.synth_size, seed, prof.synth_difficulty,
                         workers=workers, progress=progress, replace_stale=True)
    return out


# =============================================================================================
# Contact sheet
# =============================================================================================

def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType
        return ImageFont.load_default()


def contact_sheet(source: str | os.PathLike[str] | None = None, per_class: int = 6, *,
                  size: int = 256, seed: int = 0, difficulty: str = "thesis",
                  thumb: int = 128, mark_ambiguous: bool = False) -> Image.Image:
    """A grid, one labelled row per class: from a data set folder, or rendered in memory."""
    if per_class < 1:
        raise JewelNetError(f"per_class must be at least 1, got {per_class}")
    rows: list[tuple[str, list[tuple[Image.Image, bool]]]] = []
    if source is not None:
        folder = Path(source)
        if not folder.is_dir():
            raise JewelNetError(f"data folder not found: {folder}")
        amb: dict[str, bool] = {}
        meta_csv = folder / "metadata.csv"
        if meta_csv.exists():
            with open(meta_csv, newline="", encoding="utf-8") as fh:
                amb = {r["path"]: r.get("ambiguous") == "True" for r in csv.DictReader(fh)}
        names = [c for c in CLASSES if (folder / c).is_dir()]
        if not names:
            raise JewelNetError(f"{folder} has no class sub-folders")
        for cls in names:
            files = sorted((folder / cls).glob("*.png"))[:per_class]
            items = []
            for p in files:
                with Image.open(p) as im:
                    items.append((im.convert("RGB").resize((thumb, thumb), Image.LANCZOS),
                                  amb.get(f"{cls}/{p.name}", False)))
            rows.append((cls, items))
    else:
        for cls in CLASSES:
            items = []
            for i in range(per_class):
                s = render_sample(cls, image_rng(seed, cls, i), size, difficulty)
                items.append((s.image.resize((thumb, thumb), Image.LANCZOS),
                              bool(s.meta["ambiguous"])))
            rows.append((cls, items))
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
        for c, (im, is_amb) in enumerate(items):
            x = label_w + pad + c * (thumb + pad)
            sheet.paste(im, (x, y))
            if mark_ambiguous and is_amb:
                draw.rectangle([x, y, x + thumb - 1, y + thumb - 1], outline=(220, 30, 30),
                               width=3)
    return sheet


# =============================================================================================
# Command line
# =============================================================================================

def _resolve_cli(args: argparse.Namespace) -> tuple[str, int, str, Profile | None]:
    profile_name = getattr(args, "profile", None)
    prof = get_profile(profile_name) if (profile_name or getattr(args, "ensure", False)) else None
    counts = args.counts if args.counts is not None else (prof.synth_counts if prof else "thesis")
    size = args.size if args.size is not None else (prof.synth_size if prof else 256)
    difficulty = args.difficulty if args.difficulty is not None else (
        prof.synth_difficulty if prof else "thesis")
    return str(counts), int(size), str(difficulty), prof


def _ensure_experiments(prof: Profile | None, experiment: str, args: argparse.Namespace,
                        seed: int, workers: int, quiet: bool) -> int:
    """``--ensure --experiment E|all``: each experiment's folder under its profile."""
    if prof is None or not args.ensure or args.out or args.counts or args.preview:
        raise JewelNetError("--experiment goes with --ensure --profile P, without --out, "
                            "--counts or --preview")
    for name in EXPERIMENTS if experiment == "all" else (check_experiment(experiment),):
        out = default_dataset_dir(prof, name)
        done = dataset_complete(out, prof.counts_for(name), prof.synth_size, seed,
                                prof.synth_difficulty)
        ensure_dataset(prof, seed=seed, workers=workers, progress=not quiet, experiment=name)
        print(f"JewelSynth {name} experiment: {out}" + (" (already complete)" if done else ""))
    return 0


def run_synth(args: argparse.Namespace) -> int:
    """``jewelnet synth``: generate a data set and/or write a contact sheet."""
    counts, size, difficulty, prof = _resolve_cli(args)
    resolve_counts(counts)  # validates
    if size < MIN_SIZE:
        raise JewelNetError(f"--size must be at least {MIN_SIZE} pixels, got {size}")
    check_difficulty(difficulty)
    workers = getattr(args, "workers", None)
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise JewelNetError(f"--workers must be at least 1, got {workers}")
    quiet = bool(getattr(args, "quiet", False))
    seed = int(args.seed)
    out = Path(args.out) if args.out else None
    ensure = bool(getattr(args, "ensure", False))
    experiment = getattr(args, "experiment", None)
    if experiment is not None:
        return _ensure_experiments(prof, experiment, args, seed, workers, quiet)
    if out is None and (ensure or not args.preview):
        if prof is not None and (counts, size, difficulty) == (
                str(prof.synth_counts), prof.synth_size, prof.synth_difficulty):
            out = default_dataset_dir(prof)
        elif (counts.lower(), size, difficulty) == ("thesis", 256, "thesis"):
            out = DEFAULT_DATA_DIR
        else:
            raise JewelNetError("give --out for a data set whose --counts/--size/--difficulty "
                                "differ from the profile's")
    if out is not None:
        if ensure and dataset_complete(out, counts, size, seed, difficulty):
            print(f"JewelSynth data set already complete: {out}")
        else:
            res = generate_dataset(out, counts, size, seed, difficulty, workers=workers,
                                   progress=not quiet, replace_stale=ensure)
            print(f"JewelSynth: wrote {res.written} images, kept {res.skipped} already present, "
                  f"in {res.seconds:.1f} s ({res.images_per_second:.0f} images/s) -> {res.path}")
    if args.preview:
        start = time.perf_counter()
        sheet = contact_sheet(out, size=size, seed=seed, difficulty=difficulty)
        buf = io.BytesIO()
        sheet.save(buf, format="PNG")
        atomic_write_bytes(args.preview, buf.getvalue())
        print(f"contact sheet -> {args.preview} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":  # `make data`: python -m jewelnet_utils.images.synth --ensure ...
    from ..cli import main

    sys.exit(main(["synth", *sys.argv[1:]]))
