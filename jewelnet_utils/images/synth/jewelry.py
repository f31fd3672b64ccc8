"""JewelSynth's jewelry: one builder per class, each drawing into a DrawingContext.

A builder makes the random choices of its piece (style, proportions, look-alike variant) from
the context's RNG and emits drawing operations in object coordinates; ``BUILDERS`` maps each
class to its builder.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .geometry import DrawingContext, Points, circle, draw_beads, draw_links, ellipse, resample


def _band(ctx: DrawingContext, a: float, aspect: float, width: float, height: float,
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
    inner = ellipse(ai, bi, 48, 0.0, cy)
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


def _rigid_band(ctx: DrawingContext, aspect: tuple[float, float], width: tuple[float, float],
                height: tuple[float, float]) -> tuple[float, float, float]:
    """A band (bangle, ring shank) of proportions drawn from the ranges; (aspect, width,
    height). Seen from straight above (aspect 1) its outer wall does not show at all."""
    rng = ctx.rng
    tilt = float(rng.uniform(*aspect))
    band_width = float(rng.uniform(*width))
    wall = float(rng.uniform(*height)) * math.sqrt(1 - tilt**2)
    ctx.aspect = tilt
    ctx.tube = band_width * 0.9
    _band(ctx, 1.0, tilt, band_width, wall)
    return tilt, band_width, wall


def _build_bangle(ctx: DrawingContext) -> None:
    rng = ctx.rng
    aspect, width, height = _rigid_band(ctx, aspect=(0.35, 1.0), width=(0.10, 0.22),
                                        height=(0.10, 0.30))
    mid = 1.0 - width / 2
    ctx.path = ellipse(mid, mid * aspect, 72)
    ctx.style = "plain"
    if ctx.look_alike and rng.random() < 0.7:
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
    elif ctx.look_alike:
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
            ring = ellipse(r, r * aspect, 64)
            ctx.dark(np.vstack([ring, ring[:1]]), width=width * 0.07, value=110)


def _build_bracelet(ctx: DrawingContext) -> None:
    rng = ctx.rng
    aspect = float(rng.uniform(0.35, 1.0))
    ctx.aspect = aspect
    path = ellipse(0.9, 0.9 * aspect, 96)
    ctx.path = path
    tight = ctx.strength if ctx.look_alike else 0.0
    style = str(rng.choice(["links", "beads", "curb"], p=[0.45, 0.35, 0.2]))
    if style == "beads":
        radius = float(rng.uniform(0.07, 0.11))
        gap = float(rng.uniform(0.25, 0.7)) if not ctx.look_alike else float(
            rng.uniform(-0.12, 0.08) + 0.25 * (1 - ctx.strength))
        material = "metal" if rng.random() < 0.5 else "gem"
        draw_beads(ctx, path, True, radius, gap, material)
        ctx.style = f"beads-{material}"
    else:
        link = float(rng.uniform(0.18, 0.26))
        draw_links(ctx, path, True, "cable" if style == "links" else "curb", link, tight,
               flat=0.55 + 0.45 * aspect)
        ctx.style = style
    if ctx.look_alike:
        ctx.style += "-tight"
    if rng.random() < 0.5:
        t = math.pi / 2 + rng.uniform(-0.4, 0.4)
        ctx.clasp(0.9 * math.cos(t), 0.9 * aspect * math.sin(t), t + math.pi / 2, 0.09, 0.03)
        ctx.style += "+clasp"


def _hang_path(rng: np.random.Generator) -> Points:
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


def _loop_path(rng: np.random.Generator) -> Points:
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


def _strand(ctx: DrawingContext, path: Points, closed: bool, weight: str, allow_beads: bool) -> str:
    """A metal chain (``heavy`` or ``fine``) or a bead strand along ``path``; its style name."""
    rng = ctx.rng
    if allow_beads and rng.random() < 0.45:
        material = str(rng.choice(["gem", "metal"], p=[0.7, 0.3]))
        draw_beads(ctx, path, closed, float(rng.uniform(0.035, 0.06)), float(rng.uniform(0.0, 0.5)),
               material)
        return f"beads-{material}"
    style = str(rng.choice(STRAND_STYLES[weight]))
    draw_links(ctx, path, closed, style, float(rng.uniform(*STRAND_LINK[weight])))
    return f"{weight}-{style}"


def _build_chain(ctx: DrawingContext) -> None:
    """A bare chain: laid in an S or a coil, or hanging in a U; never an ornament.

    A chain photographed alone is a heavy strand, often lying open with both ends in view. The
    look-alike (``ambiguous``) is a fine chain hanging in a U with its clasp dangling at the
    front, which reads like a necklace with a tiny pendant.
    """
    rng = ctx.rng
    # A closed loop of links is a bracelet's silhouette, so a bare chain never lies closed.
    if ctx.look_alike or rng.random() < ctx.knobs["chain_u_layout"]:
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
    style = _strand(ctx, path, closed, "fine" if ctx.look_alike else "heavy", allow_beads=False)
    ctx.style = f"{layout}-{style}"
    for x, y, ang in ends[:1]:
        ctx.clasp(x + 0.07 * math.cos(ang), y + 0.07 * math.sin(ang), ang, 0.06, 0.02)
    if ctx.look_alike:
        # A clasp and a tag dangling at the front: a pendant-like blob on a plain chain.
        fx, fy = front
        size = 0.05 + 0.05 * ctx.strength
        ctx.metal(np.array([[fx, fy], [fx, fy + size * 0.8]]), width=0.018)
        ctx.clasp(fx, fy + size * 1.6, math.pi / 2, size, 0.02)
        ctx.style += "+tag"


def _pendant_shape(ctx: DrawingContext, cx: float, top: float, h: float, shape: str) -> None:
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
        ctx.metal(circle(cx, cy, bh * 0.48, 40))
        ring = circle(cx, cy, bh * 0.38, 40)
        ctx.dark(np.vstack([ring, ring[:1]]), width=bh * 0.03, value=120)
        if rng.random() < 0.5:
            ctx.stone(cx, cy, bh * 0.17, cut="round")
        else:
            for k in range(8):
                t = k * math.pi / 4
                ctx.dark(np.array([[cx, cy], [cx + bh * 0.3 * math.cos(t),
                                              cy + bh * 0.3 * math.sin(t)]]),
                         width=bh * 0.025, value=110)


def _build_necklace(ctx: DrawingContext) -> None:
    rng = ctx.rng
    layout = str(rng.choice(["hang", "loop"], p=[0.6, 0.4]))
    if layout == "hang":
        path, ctx.extent_top = _hang_path(rng), -1.0
        closed = False
    else:
        path, closed = _loop_path(rng), True
    strand = _strand(ctx, path, closed, "heavy" if ctx.look_alike else "fine",
                     allow_beads=not ctx.look_alike)
    if layout == "loop":
        ctx.clasp(0.0, -1.0, -math.pi / 2, 0.05, 0.018)
    front_y = float(path[:, 1].max())
    ornament = str(rng.choice(["pendant", "stones"], p=[0.65, 0.35]))
    variant = ""
    if ctx.look_alike:
        variant = str(rng.choice(["cropped", "tiny"]))
    if ornament == "pendant":
        h = float(rng.uniform(0.35, 0.55))
        if variant == "tiny":
            h = float(rng.uniform(0.09, 0.16)) * (1.4 - 0.6 * ctx.strength)
        _pendant_shape(ctx, 0.0, front_y - 0.02, h,
                       str(rng.choice(["drop", "heart", "gem", "medallion"])))
    else:
        n = int(rng.integers(3, 8)) if variant != "tiny" else 1
        pts, _ = resample(path, 0.09, closed)
        order = np.argsort(-pts[:, 1])[: n * 2 : 2] if n > 1 else np.argsort(-pts[:, 1])[:1]
        for i, (x, y) in enumerate(pts[order]):
            r = 0.07 * (1.0 - 0.1 * i) if variant != "tiny" else 0.045
            ctx.stone(float(x), float(y) + r * 0.6, r, cut="round", bezel=0.15)
    if variant == "cropped":
        ctx.force_crop = (math.pi / 2, 0.22 + 0.1 * ctx.strength, 0.32 + 0.12 * ctx.strength)
    ctx.style = f"{layout}-{strand}-{ornament}" + (f"-{variant}" if variant else "")


def _build_pendant(ctx: DrawingContext) -> None:
    rng = ctx.rng
    shape = str(rng.choice(["drop", "heart", "gem", "medallion"]))
    h = 1.7
    top = -0.85
    chain = str(rng.choice(["none", "stub"], p=[0.45, 0.55]))
    if ctx.look_alike:
        chain = "long"
        h = 1.0 - 0.35 * ctx.strength
        top = 1.0 - h
    link = 0.05
    if chain == "stub":
        for side in (-1, 1):
            p = np.array([[0.0, top + 0.02], [side * 0.12, top - 0.5]])
            draw_links(ctx, p, False, "cable", link)
    elif chain == "long":
        for side in (-1, 1):
            p = np.array([[0.0, top + 0.02], [side * 0.55, -1.0], [side * 0.62, -1.4]])
            draw_links(ctx, p, False, "cable", link)
        ctx.extent_top = -1.0
    _pendant_shape(ctx, 0.0, top, h, shape)
    ctx.tube = max(ctx.tube, 0.05)
    ctx.style = f"{shape}-{chain}"


def _build_ring(ctx: DrawingContext) -> None:
    rng = ctx.rng
    aspect = _rigid_band(ctx, aspect=(0.3, 0.75), width=(0.12, 0.2), height=(0.25, 0.5))[0]
    head = str(rng.choice(["solitaire", "halo", "trio", "signet"], p=[0.45, 0.25, 0.15, 0.15]))
    top = -aspect
    r = float(rng.uniform(0.22, 0.38))
    if head == "signet":
        ctx.metal(ellipse(r * 1.2, r * 0.8, 32, 0.0, top - r * 0.2))
        ctx.dark(ellipse(r * 0.7, r * 0.45, 24, 0.0, top - r * 0.2), width=r * 0.12, value=120)
        ctx.stone(0.0, top - r * 0.2, r * 0.35, cut="cabochon")
    elif head == "trio":
        for dx, f in ((-1.1, 0.6), (1.1, 0.6), (0.0, 1.0)):
            rr = r * f
            ctx.metal(ellipse(rr * 0.35, rr, 12, dx * r, top - rr * 0.3))
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


def _earring_item(ctx: DrawingContext, style: str, hook: bool) -> None:
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
        arc = ellipse(r * 0.9, r, 48, 0.0, y + r + 0.05, t0=-math.pi / 2 + 0.25,
                   t1=3 * math.pi / 2 - 0.25, closed=False)
        ctx.metal(arc, width=float(rng.uniform(0.05, 0.1)))
        ctx.tube = min(ctx.tube, 0.08)
    elif style == "jhumka":
        ctx.stone(0.0, y + 0.1, 0.13, cut="round", bezel=0.2)
        bell = ellipse(0.3, 0.3, 32, 0.0, 0.3, t0=math.pi, t1=2 * math.pi, closed=False)
        ctx.metal(np.vstack([bell, [[0.3, 0.32], [-0.3, 0.32]]]))
        ctx.metal(np.array([[0.0, y + 0.2], [0.0, 0.02]]), width=wire)
        for k in range(7):
            x = -0.27 + k * 0.09
            ctx.stone(x, 0.4, 0.04, cut="pearl")
        ctx.dark(np.array([[-0.28, 0.22], [0.28, 0.22]]), width=0.02, value=110)
    else:  # drop
        ctx.metal(circle(0.0, y + 0.06, 0.06, 12))
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


def _build_earring(ctx: DrawingContext) -> None:
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


def _build_nose_pin(ctx: DrawingContext) -> None:
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
        arc = ellipse(0.85, 0.85, 40, t0=-math.pi / 2 + 0.35, t1=3 * math.pi / 2 - 0.35,
                   closed=False)
        ctx.metal(arc, width=0.14)
        ctx.stone(0.0, 0.85, 0.22, cut="pearl" if rng.random() < 0.5 else "round", bezel=0.2)
        ctx.tube = 0.12
    else:  # side view: a stud on a short bent post
        ctx.metal(np.array([[0.0, -0.2], [0.0, 0.6], [0.35, 0.9]]), width=0.12)
        ctx.stone(0.0, -0.45, 0.5, cut="round", bezel=0.2)
        ctx.tube = 0.12
    ctx.style = style


BUILDERS: dict[str, Callable[[DrawingContext], None]] = {
    "bangle": _build_bangle,
    "bracelet": _build_bracelet,
    "chain": _build_chain,
    "earring": _build_earring,
    "necklace": _build_necklace,
    "pendant": _build_pendant,
    "ring": _build_ring,
    "nose_pin": _build_nose_pin,
}
