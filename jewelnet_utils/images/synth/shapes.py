"""JewelSynth's other objects: seventeen non-jewelry shapes, for pretraining backbones.

A backbone pretrained to tell these shapes apart learns outlines, strokes, link and bead
textures, stones and holes, drawn with JewelSynth's own metals, lights, backdrops and camera,
and never sees a piece of jewelry or one of the eight class labels. The shapes are geometric
figures (polygons, stars, crosses, grids, plates, gears, ladders); none is one of the eight
pieces, and none is built by a jewelry builder. They share the renderer and its parts (links,
beads, stones), so this source sits much closer to JewelSynth than ImageNet sits to real photos.

Each builder draws its figure with a *texture* it picks itself (a plain wire, a link chain, a
rope, a ball chain or beads; plates and gears are solid, grids and scatters are stones) and
returns the texture's name: the source task asks for both the shape and the texture.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .geometry import DrawingContext, Points, circle, draw_beads, draw_links, ellipse

# Textures a stroked figure may be drawn with (the link styles are JewelSynth's own).
STROKE_TEXTURES = ("wire", "rope", "cable", "box", "ball", "beads")
TEXTURES = (*STROKE_TEXTURES, "solid", "stones")


def _stroke(ctx: DrawingContext, path: Points, closed: bool, texture: str, link: float,
            bead_material: str) -> None:
    """Draw one centre line with ``texture`` at link size ``link``."""
    if texture == "wire":
        ctx.metal(np.vstack([path, path[:1]]) if closed else path, width=link * 0.45)
        ctx.tube = min(ctx.tube, link * 0.5)
    elif texture == "beads":
        draw_beads(ctx, path, closed, link * 0.45, float(ctx.rng.uniform(0.0, 0.4)),
                   bead_material)
    else:
        draw_links(ctx, path, closed, texture, link)


def _strokes(ctx: DrawingContext, paths: list[tuple[Points, bool]]) -> str:
    """Draw every (path, closed) of a figure with one randomly chosen texture."""
    texture = str(ctx.rng.choice(STROKE_TEXTURES))
    link = float(ctx.rng.uniform(0.07, 0.15))  # one link size for the whole figure
    bead_material = str(ctx.rng.choice(["gem", "metal"]))
    for path, closed in paths:
        _stroke(ctx, path, closed, texture, link, bead_material)
    return texture


def _polygon(n: int, radius: float = 1.0, phase: float = 0.0) -> Points:
    t = phase + np.arange(n) * 2 * math.pi / n
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _densify(corners: Points, closed: bool, per_edge: int = 12) -> Points:
    """Straight edges between corners as point paths (strands need many points)."""
    pts = np.vstack([corners, corners[:1]]) if closed else corners
    edges = [np.linspace(a, b, per_edge, endpoint=False) for a, b in zip(pts[:-1], pts[1:],
                                                                          strict=True)]
    out = np.vstack(edges)
    return out if closed else np.vstack([out, pts[-1:]])


def _line(ctx: DrawingContext) -> str:
    return _strokes(ctx, [(_densify(np.array([[-1.0, 0.0], [1.0, 0.0]]), False), False)])


def _zigzag(ctx: DrawingContext) -> str:
    teeth = int(ctx.rng.integers(3, 7))
    x = np.linspace(-1.0, 1.0, 2 * teeth + 1)
    y = np.where(np.arange(len(x)) % 2 == 0, -1.0, 1.0) * float(ctx.rng.uniform(0.25, 0.6))
    return _strokes(ctx, [(_densify(np.stack([x, y], 1), False), False)])


def _outline(sides: int) -> Callable[[DrawingContext], str]:
    def build(ctx: DrawingContext) -> str:
        return _strokes(ctx, [(_densify(_polygon(sides), True), True)])
    return build


def _star(ctx: DrawingContext) -> str:
    points = int(ctx.rng.integers(5, 7))
    inner = float(ctx.rng.uniform(0.35, 0.55))
    radius = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    t = -math.pi / 2 + np.arange(2 * points) * math.pi / points
    corners = np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)
    return _strokes(ctx, [(_densify(corners, True, 8), True)])


def _cross(ctx: DrawingContext) -> str:
    arm = float(ctx.rng.uniform(0.6, 1.0))
    return _strokes(ctx, [(_densify(np.array([[-1.0, 0.0], [1.0, 0.0]]), False), False),
                          (_densify(np.array([[0.0, -arm], [0.0, arm]]), False), False)])


def _lemniscate(ctx: DrawingContext) -> str:
    t = np.linspace(0, 2 * math.pi, 120, endpoint=False)
    denom = 1 + np.sin(t) ** 2
    path = np.stack([np.cos(t) / denom, np.sin(t) * np.cos(t) / denom], axis=1)
    return _strokes(ctx, [(path / np.abs(path).max(), True)])


def _trefoil(ctx: DrawingContext) -> str:
    t = np.linspace(0, 2 * math.pi, 150, endpoint=False)
    r = 0.45 + 0.55 * np.abs(np.cos(1.5 * t))
    return _strokes(ctx, [(np.stack([r * np.cos(t), r * np.sin(t)], axis=1), True)])


def _arrow(ctx: DrawingContext) -> str:
    head = float(ctx.rng.uniform(0.3, 0.5))
    return _strokes(ctx, [(_densify(np.array([[-1.0, 0.0], [1.0, 0.0]]), False), False),
                          (_densify(np.array([[1 - head, -head], [1.0, 0.0], [1 - head, head]]),
                                    False), False)])


def _ladder(ctx: DrawingContext) -> str:
    gap = float(ctx.rng.uniform(0.3, 0.5))
    rungs = int(ctx.rng.integers(3, 6))
    paths = [(_densify(np.array([[-1.0, s * gap], [1.0, s * gap]]), False), False)
             for s in (-1, 1)]
    for x in np.linspace(-0.8, 0.8, rungs):
        paths.append((_densify(np.array([[x, -gap], [x, gap]]), False, 6), False))
    return _strokes(ctx, paths)


def _bars(ctx: DrawingContext) -> str:
    count = int(ctx.rng.integers(2, 5))
    ys = np.linspace(-0.6, 0.6, count)
    return _strokes(ctx, [(_densify(np.array([[-1.0, y], [1.0, y]]), False), False) for y in ys])


def _grid(ctx: DrawingContext) -> str:
    side = int(ctx.rng.integers(3, 5))
    r = float(ctx.rng.uniform(0.12, 0.2))
    cut = str(ctx.rng.choice(["round", "square", "pearl"]))
    for x in np.linspace(-1 + r, 1 - r, side):
        for y in np.linspace(-1 + r, 1 - r, side):
            ctx.stone(float(x), float(y), r, cut=cut)
    return "stones"


def _scatter(ctx: DrawingContext) -> str:
    rng = ctx.rng
    for _ in range(int(rng.integers(5, 11))):
        ctx.stone(float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)),
                  float(rng.uniform(0.08, 0.16)), cut=str(rng.choice(["round", "oval", "pearl"])))
    return "stones"


def _plate(ctx: DrawingContext) -> str:
    sides = int(ctx.rng.integers(3, 7))
    ctx.metal(_polygon(sides, 1.0, float(ctx.rng.uniform(0, math.pi))))
    for _ in range(int(ctx.rng.integers(1, 4))):
        cx, cy = ctx.rng.uniform(-0.3, 0.3, 2)
        ctx.dark(circle(float(cx), float(cy), float(ctx.rng.uniform(0.08, 0.18)), 16), value=0)
    ctx.tube = 0.3
    return "solid"


def _gear(ctx: DrawingContext) -> str:
    teeth = int(ctx.rng.integers(8, 15))
    t = np.linspace(0, 2 * math.pi, teeth * 8, endpoint=False)
    r = np.where((t * teeth / (2 * math.pi)) % 1 < 0.5, 1.0, 0.8)
    ctx.metal(np.stack([r * np.cos(t), r * np.sin(t)], axis=1))
    ctx.dark(circle(0.0, 0.0, float(ctx.rng.uniform(0.15, 0.35)), 24), value=0)
    ctx.tube = 0.3
    return "solid"


def _crescent(ctx: DrawingContext) -> str:
    outer = ellipse(1.0, 1.0, 48, t0=-math.pi / 2, t1=math.pi / 2, closed=False)
    bite = float(ctx.rng.uniform(0.3, 0.6))
    inner = ellipse(bite, 1.0, 48, t0=math.pi / 2, t1=-math.pi / 2, closed=False)
    ctx.metal(np.vstack([outer, inner]))
    ctx.tube = 0.25
    return "solid"


SHAPES: dict[str, Callable[[DrawingContext], str]] = {
    "line": _line, "zigzag": _zigzag, "triangle": _outline(3), "square": _outline(4),
    "hexagon": _outline(6), "star": _star, "cross": _cross, "lemniscate": _lemniscate,
    "trefoil": _trefoil, "arrow": _arrow, "ladder": _ladder, "bars": _bars, "grid": _grid,
    "scatter": _scatter, "plate": _plate, "gear": _gear, "crescent": _crescent,
}
SHAPE_NAMES = tuple(SHAPES)


def turn_ops(ctx: DrawingContext, angle: float) -> None:
    """Rotate every drawn operation about the origin (the figures have no upright)."""
    c, s = math.cos(angle), math.sin(angle)
    turn = np.array([[c, s], [-s, c]])
    ctx.ops[:] = [(kind, pts @ turn, width, value) for kind, pts, width, value in ctx.ops]
