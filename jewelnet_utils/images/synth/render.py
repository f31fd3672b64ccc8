"""JewelSynth's renderer: rasterise a plan, then background, shadow, shading and camera.

``render_sample`` and ``render_image`` draw one image; ``image_rng`` gives a data-set image
its own RNG, so a file depends only on (seed, class, index).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from ...contracts.config import JewelNetError
from .knobs import GEMS, METALS, MIN_SIZE, SUPERSAMPLE, check_class
from .plan import Plan, make_plan, make_shape_plan
from .shapes import SHAPES


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
    """The shading ramp of one metal, its middle stops moved by ``jitter_key`` hundredths."""
    dark, body, light = (np.array(c, dtype=np.float32) for c in METALS[metal])
    j = jitter_key / 100.0
    return _ramp([(0.0, tuple(dark * 0.55)), (0.25, tuple(dark)), (0.55 + j, tuple(body)),
                  (0.78 + j / 2, tuple(light)), (0.86, tuple(body * 1.02)),
                  (0.95, tuple(np.minimum(light * 1.08, 255))), (1.0, (255.0, 253.0, 245.0))])


@lru_cache(maxsize=16)
def _gem_lut(gem: str) -> np.ndarray:
    """The shading ramp of one gem colour, dark core to white sparkle."""
    col = np.array(GEMS[gem], dtype=np.float32)
    return _ramp([(0.0, (10.0, 10.0, 12.0)), (0.35, tuple(col * 0.45)), (0.6, tuple(col)),
                  (0.85, tuple(np.minimum(col * 1.25 + 30, 255))), (1.0, (255.0, 255.0, 255.0))])


def _paint_background(rng: np.random.Generator, spec: Mapping[str, Any],
                      size: int) -> np.ndarray:
    """The backdrop the plan chose, as a float (H, W, 3) image with its vignette."""
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


def _rasterize(plan: Plan) -> tuple[Image.Image, Image.Image, Image.Image, Image.Image]:
    """Draw the ops at SUPERSAMPLE x and box-reduce: metal, dark, gem and gem-shade layers."""
    big = plan.size * SUPERSAMPLE
    layers = [Image.new("L", (big, big), 0) for _ in range(4)]
    metal_pen, dark_pen, gem_pen, shade_pen = (ImageDraw.Draw(im) for im in layers)
    linear = plan.matrix.T * SUPERSAMPLE
    shift = (plan.shift - plan.origin @ plan.matrix.T) * SUPERSAMPLE
    px = plan.unit_px * SUPERSAMPLE
    gem_seen = False

    def draw(d: ImageDraw.ImageDraw, pts: list[float], w: int | None, v: int) -> None:
        if w is None:
            if len(pts) >= 6:
                d.polygon(pts, fill=v)
        else:
            d.line(pts, fill=v, width=w, joint="curve")

    for kind, pts, width, value in plan.ops:
        flat = (pts @ linear + shift).ravel().tolist()
        w = None if width is None else max(1, int(round(width * px)))
        if kind == "m":
            draw(metal_pen, flat, w, value)
            if gem_seen and value:
                draw(gem_pen, flat, w, 0)
        elif kind == "d":
            draw(dark_pen, flat, w, value)
        else:
            draw(gem_pen, flat, w, 255)
            draw(shade_pen, flat, w, value)
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


def _drop_shadow(img: np.ndarray, silhouette: Image.Image, finish: Mapping[str, Any],
                 size: int) -> None:
    """Darken ``img`` in place with the object's shadow, cast away from the light.

    It covers the whole frame, not the object's box: a shadow reaches past its object.
    """
    lx, ly = math.cos(finish["light"]), math.sin(finish["light"])
    shadow_im = Image.new("L", (size, size), 0)
    dist = size * 0.025
    shadow_im.paste(silhouette.filter(ImageFilter.GaussianBlur(max(1.0, size * 0.02))),
                    (int(round(-lx * dist)), int(round(-ly * dist))))
    sh = np.asarray(shadow_im, dtype=np.float32) * (-finish["shadow"] / 255)
    sh += 1.0
    img *= sh[..., None]


def _paint_object(img: np.ndarray, plan: Plan, layers: tuple[Image.Image, ...],
                  box: tuple[int, int, int, int]) -> np.ndarray:
    """Shade metal and gems into ``img`` (in place) inside ``box`` plus a margin, since
    nose pins are tiny; the object's mask (metal or gem over half coverage)."""
    size, finish = plan.size, plan.finish
    metal_im, dark_im, gem_im, gem_shade_im = layers
    lx, ly = math.cos(finish["light"]), math.sin(finish["light"])
    margin = int(math.ceil(3 * plan.tube_px)) + 2
    x0, y0 = max(0, box[0] - margin), max(0, box[1] - margin)
    x1, y1 = min(size, box[2] + margin), min(size, box[3] + margin)
    crop = (x0, y0, x1, y1)
    view = img[y0:y1, x0:x1]
    metal_cover = np.asarray(metal_im.crop(crop), dtype=np.float32) / 255
    gem_cover = np.asarray(gem_im.crop(crop), dtype=np.float32) / 255
    # metal: tube shading from the blurred silhouette, light gradient, ripples, engraving
    tube = np.asarray(metal_im.crop(crop).filter(ImageFilter.GaussianBlur(plan.tube_px)),
                      dtype=np.float32)
    xx, yy = (v[y0:y1, x0:x1] for v in _grid(size))
    shade = np.clip((tube - 76.5) * (1 / 158.0), 0, 1) ** 0.85
    shade *= 0.72 + 0.28 * (xx * lx + yy * ly)
    shade += 0.1 * np.sin((xx * ly - yy * lx) * (finish["ripple"] * math.pi)
                          + finish["ripple"])
    shade *= 1 - np.asarray(dark_im.crop(crop), dtype=np.float32) * (0.85 / 255)
    idx = (np.clip(shade, 0, 1) * 255).astype(np.uint8)
    metal_rgb = _metal_lut(finish["metal"], int(round(finish["metal_jitter"] * 100)))[idx]
    view += (metal_rgb - view) * metal_cover[..., None]
    if plan.meta["gem_colour"] != "none":
        gem_rgb = _gem_lut(finish["gem"])[np.asarray(gem_shade_im.crop(crop))]
        view += (gem_rgb - view) * gem_cover[..., None]
    mask = np.zeros((size, size), dtype=bool)
    mask[y0:y1, x0:x1] = (metal_cover > 0.5) | (gem_cover > 0.5)
    return mask


def _camera(img: np.ndarray, finish: Mapping[str, Any], rng: np.random.Generator,
            size: int) -> Image.Image:
    """Contrast and brightness (one affine map), blur and sensor noise; the 8-bit image."""
    img *= finish["contrast"] * finish["brightness"]
    img += 128.0 * (1 - finish["contrast"]) * finish["brightness"] + 0.5
    if finish["blur"] > 0.25:
        img = _blur_float(img, finish["blur"])
    if finish["noise"] > 0:
        bank = _noise_bank()
        n = size * size * 3
        start = int(rng.integers(0, bank.size - n))
        img += bank[start:start + n].reshape(size, size, 3) * finish["noise"]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _render_plan(plan: Plan, rng: np.random.Generator) -> Sample:
    """Draw a plan; ``rng`` feeds only pixel-level randomness (texture, noise)."""
    size = plan.size
    layers = _rasterize(plan)
    metal_im, _dark_im, gem_im, _gem_shade_im = layers
    img = _paint_background(rng, plan.background, size)
    silhouette = ImageChops.lighter(metal_im, gem_im)
    _drop_shadow(img, silhouette, plan.finish, size)
    box = silhouette.getbbox()
    if box is None:
        mask = np.zeros((size, size), dtype=bool)
    else:
        mask = _paint_object(img, plan, layers, box)
    out = _camera(img, plan.finish, rng, size)
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
    return _render_plan(make_plan(cls, plan_rng, size, difficulty), pixel_rng)


def render_shape_sample(shape: str, seed: int, index: int, size: int = 256,
                        difficulty: str = "thesis") -> Sample:
    """Render non-jewelry figure ``index`` of ``shape`` (``shapes.SHAPES``) for data seed
    ``seed``; it depends only on those three values."""
    if shape not in SHAPES:
        raise JewelNetError(f"unknown shape {shape!r}; choose one of: {', '.join(SHAPES)}")
    rng = np.random.default_rng(np.random.SeedSequence(
        [int(seed), 1000 + list(SHAPES).index(shape), int(index)]))
    plan_rng, pixel_rng = rng.spawn(2)
    return _render_plan(make_shape_plan(shape, plan_rng, size, difficulty), pixel_rng)


def render_image(cls: str, rng: np.random.Generator, size: int = 256,
                 difficulty: str = "thesis") -> tuple[Image.Image, dict[str, Any]]:
    """Render one RGB image of ``cls``; returns the image and its nuisance metadata."""
    sample = render_sample(cls, rng, size, difficulty)
    return sample.image, sample.meta


def image_rng(seed: int, cls: str, index: int) -> np.random.Generator:
    """The RNG of one data-set image: depends only on (seed, class, index)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), check_class(cls),
                                                         int(index)]))


def image_meta(seed: int, cls: str, index: int, size: int, difficulty: str) -> dict[str, Any]:
    """Metadata of one data-set image without drawing it (the plan alone)."""
    plan_rng, _ = image_rng(seed, cls, index).spawn(2)
    return make_plan(cls, plan_rng, size, difficulty).meta
