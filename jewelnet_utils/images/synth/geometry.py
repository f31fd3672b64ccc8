"""JewelSynth's geometry: point paths, the drawing context builders write into, and strands.

Builders emit drawing operations in object coordinates (y down, roughly [-1, 1]); the plan
frames them and the renderer rasterises them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Points = np.ndarray  # (n, 2) float x, y
# One drawing operation: kind ("m" metal, "d" dark engraving, "g" gem), points, line width in
# object units (None: a filled polygon) and value (coverage for metal, shade for gems).
Op = tuple[str, Points, float | None, int]


def ellipse(a: float, b: float, n: int = 48, cx: float = 0.0, cy: float = 0.0,
            rot: float = 0.0, t0: float = 0.0, t1: float = 2 * math.pi,
            closed: bool = True) -> Points:
    """Points of an ellipse (or an arc of it), rotated by ``rot`` radians."""
    t = np.linspace(t0, t1, n, endpoint=not closed)
    x, y = a * np.cos(t), b * np.sin(t)
    if rot:
        c, s = math.cos(rot), math.sin(rot)
        x, y = x * c - y * s, x * s + y * c
    return np.stack([x + cx, y + cy], axis=1)


def circle(cx: float, cy: float, r: float, n: int = 16) -> Points:
    """Points of a circle of radius ``r`` about (``cx``, ``cy``)."""
    return ellipse(r, r, n, cx, cy)


def resample(path: Points, step: float, closed: bool) -> tuple[Points, np.ndarray]:
    """Evenly spaced points along a polyline and the tangent angle at each."""
    pts = np.vstack([path, path[:1]]) if closed else path
    seg = np.hypot(*np.diff(pts, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = float(cum[-1])
    count = max(2, int(round(total / max(step, 1e-6))))
    stations = np.linspace(0.0, total, count, endpoint=not closed)
    eps = total * 1e-3

    def at(distance: np.ndarray) -> Points:
        if closed:
            distance = np.mod(distance, total)
        else:
            distance = np.clip(distance, 0.0, total)
        return np.stack([np.interp(distance, cum, pts[:, 0]),
                         np.interp(distance, cum, pts[:, 1])], axis=1)

    out = at(stations)
    fwd, back = at(stations + eps), at(stations - eps)
    ang = np.arctan2(fwd[:, 1] - back[:, 1], fwd[:, 0] - back[:, 0])
    return out, ang


@dataclass
class DrawingContext:
    """What a class builder reads (rng, flags, palette) and writes (ops, hints)."""

    rng: np.random.Generator
    look_alike: bool  # drawn as a deliberate look-alike of the confusable class
    strength: float  # how far a look-alike goes, 0..1 (the ``amb_strength`` knob)
    light: float  # light direction, radians, object coordinates
    knobs: Mapping[str, Any] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    tube: float = 0.06  # typical wire width (object units): sets the metal shading blur
    style: str = ""
    aspect: float | None = None
    extent_top: float | None = None  # framing ignores what lies above this (arms off frame)
    path: Points | None = None  # centre line of a band, for cue tests
    force_crop: tuple[float, float, float] | None = None  # direction, min and max fraction
    uses_gem: bool = False
    scale_mult: float = 1.0  # class-specific tweak of the frame fill

    # --- emitters -------------------------------------------------------------------------
    def metal(self, pts: Points, width: float | None = None, value: int = 255) -> None:
        self.ops.append(("m", pts, width, value))

    def dark(self, pts: Points, width: float | None = None, value: int = 120) -> None:
        self.ops.append(("d", pts, width, value))

    def gem(self, pts: Points, width: float | None = None, shade: int = 160) -> None:
        self.uses_gem = True
        self.ops.append(("g", pts, width, shade))

    # --- composite parts ------------------------------------------------------------------
    def stone(self, cx: float, cy: float, r: float, cut: str = "round", bezel: float = 0.0,
              aspect: float = 1.0, rot: float = 0.0) -> None:
        """A faceted or smooth gem, optionally in a metal bezel."""
        if bezel:
            self.metal(ellipse(r * (1 + bezel), r * (1 + bezel) * aspect, 24, cx, cy, rot))
        lx, ly = math.cos(self.light), math.sin(self.light)
        if cut in ("pearl", "cabochon"):
            for k, (f, shade) in enumerate(((1.0, 120), (0.82, 165), (0.58, 200), (0.3, 235))):
                off = r * 0.28 * k / 3
                self.gem(ellipse(r * f, r * f * aspect, 20, cx + lx * off, cy + ly * off, rot),
                         shade=shade)
            return
        n = 4 if cut == "square" else 8
        phase = math.pi / 4 if cut == "square" else math.pi / 8
        t = phase + np.arange(n) * 2 * math.pi / n + rot
        outer = np.stack([cx + r * np.cos(t), cy + r * aspect * np.sin(t)], axis=1)
        inner = np.stack([cx + 0.55 * r * np.cos(t), cy + 0.55 * r * aspect * np.sin(t)], axis=1)
        if cut == "oval":
            outer = ellipse(r, r * 0.72 * aspect, 16, cx, cy, rot)
            inner = ellipse(r * 0.55, r * 0.4 * aspect, 16, cx, cy, rot)
        self.gem(outer, shade=125)
        m = len(outer)
        for i in range(m):
            j = (i + 1) % m
            tri = np.array([outer[i], outer[j], inner[j], inner[i]])
            facing = math.cos(math.atan2(tri[:, 1].mean() - cy, tri[:, 0].mean() - cx)
                              - self.light)
            self.gem(tri, shade=int(130 + 70 * facing))
        self.gem(inner, shade=205)
        self.gem(circle(cx + lx * r * 0.3, cy + ly * r * 0.3, r * 0.14, 10), shade=252)

    def prongs(self, cx: float, cy: float, r: float, width: float, count: int = 4) -> None:
        """Short metal claws holding a stone of radius ``r`` at its diagonals."""
        for k in range(count):
            t = math.pi / 4 + k * 2 * math.pi / count
            p = np.array([[cx + 0.85 * r * math.cos(t), cy + 0.85 * r * math.sin(t)],
                          [cx + 1.12 * r * math.cos(t), cy + 1.12 * r * math.sin(t)]])
            self.metal(p, width)

    def bail(self, cx: float, top: float, r: float, wire: float) -> None:
        """The small loop a pendant hangs from."""
        self.metal(ellipse(r * 0.75, r, 20, cx, top + r), width=wire)

    def clasp(self, cx: float, cy: float, ang: float, size: float, wire: float) -> None:
        """Lobster clasp: a teardrop body and a jump ring."""
        body = ellipse(size, size * 0.45, 16, cx, cy, ang)
        self.metal(body)
        self.dark(ellipse(size * 0.5, size * 0.16, 10, cx, cy, ang), value=90)
        rx, ry = cx + math.cos(ang) * size * 1.35, cy + math.sin(ang) * size * 1.35
        self.metal(circle(rx, ry, size * 0.42, 14), width=wire)


# ---------------------------------------------------------------------------------------------
# Strands: link chains and beads along a path (shared by bracelet, chain and necklace).
# ---------------------------------------------------------------------------------------------

def _ends_joined(path: Points, closed: bool) -> Points:
    """The path with its first point repeated at the end when it is ``closed``."""
    return np.vstack([path, path[:1]]) if closed else path


def draw_links(ctx: DrawingContext, path: Points, closed: bool, style: str, link: float,
               tight: float = 0.0, flat: float = 1.0) -> None:
    """A metal chain along ``path``.

    ``tight`` in 0..1 packs the links and thickens the wire until the holes close and the
    strand reads as one band (the bracelet/bangle look-alike). ``flat`` foreshortens each link
    across the strand, for a bracelet seen at a tilt.
    """
    wire = link * (0.2 + 0.14 * tight)
    ctx.tube = min(ctx.tube, wire * 1.3)
    if style in ("rope", "snake"):
        # a solid tube with twisted (rope) or ribbed (snake) grooves
        ctx.metal(_ends_joined(path, closed), width=link * (0.55 if style == "rope" else 0.42))
        ctx.tube = max(ctx.tube, link * 0.4)
        pitch, turn = (link * 0.28, 1.0) if style == "rope" else (link * 0.16, math.pi / 2)
        pts, ang = resample(path, pitch, closed)
        for (x, y), a in zip(pts, ang, strict=True):
            d = np.array([[math.cos(a + turn), math.sin(a + turn)]]) * link * 0.3
            ctx.dark(np.array([[x, y]]) + np.array([[-1.0], [1.0]]) * d, width=link * 0.09,
                     value=120)
        return
    if style == "ball":
        ctx.metal(_ends_joined(path, closed), width=link * 0.1)
        pts, _ = resample(path, link * (0.95 - 0.3 * tight), closed)
        for x, y in pts:
            ctx.metal(circle(x, y, link * 0.32, 12))
        return
    pitch = link * ((0.72 if style != "curb" else 0.78) - 0.3 * tight)
    pts, ang = resample(path, pitch, closed)
    for k, ((x, y), a) in enumerate(zip(pts, ang, strict=True)):
        if style == "box":
            sq = ellipse(link * 0.42, link * 0.42 * flat, 4, x, y, a + math.pi / 4)
            ctx.metal(_ends_joined(sq, True), width=wire)
        elif style == "curb":
            twist = 0.3 if k % 2 else -0.3
            ring = ellipse(link * 0.5, link * 0.32 * flat, 14, x, y, a + twist)
            ctx.metal(_ends_joined(ring, True), width=wire * 1.15)
        elif k % 2 == 0:  # cable: open links face-on, alternating with links seen edge-on
            ring = ellipse(link * 0.55, link * 0.34 * flat, 14, x, y, a)
            ctx.metal(_ends_joined(ring, True), width=wire)
        else:
            ctx.metal(ellipse(link * 0.55, wire * 0.75, 10, x, y, a))


def draw_beads(ctx: DrawingContext, path: Points, closed: bool, radius: float, gap: float,
               material: str) -> None:
    """Beads on a thin thread; ``gap`` is the space between beads in bead diameters."""
    ctx.metal(_ends_joined(path, closed), width=radius * 0.12)
    pts, _ = resample(path, 2 * radius * (1 + gap), closed)
    for x, y in pts:
        if material == "metal":
            ctx.metal(circle(x, y, radius, 16))
        else:
            ctx.stone(x, y, radius, cut="pearl")
    if material == "metal":
        ctx.tube = min(ctx.tube, radius * 1.4)
