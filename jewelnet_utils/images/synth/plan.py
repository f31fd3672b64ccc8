"""JewelSynth's plan: every random choice for one image, made before any pixel is drawn.

The plan is cheap (no pixels), so the metadata of a file that already exists is rebuilt from
its plan alone. The order of the RNG draws below is part of the generator's output: changing
it draws other images and needs a new ``VERSION``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .geometry import DrawingContext, Op, Points
from .jewelry import BUILDERS
from .knobs import (
    BACKGROUND_JITTER,
    BLUR_REFERENCE_SIZE,
    CLASS_SCALE,
    CROP_ANGLE_JITTER,
    DEFAULT_SKIN_PROB,
    FRAME_MARGIN,
    GEMS,
    GRADIENT_AMOUNT,
    GRADIENT_SHARE,
    LIGHT_ANGLE,
    METAL_RAMP_JITTER,
    METALS,
    MIN_TUBE_BLUR_PX,
    RIPPLE,
    SHAPE_SCALE,
    SHAPE_SKIN_PROB,
    SKIN_PROB,
    SKIN_TONES,
    STUDIO_COLOURS,
    TUBE_BLUR_PER_WIDTH,
    VIGNETTE,
    check_class,
    check_difficulty,
)
from .shapes import SHAPES, turn_ops


@dataclass
class Plan:
    """What the renderer needs to draw one image, and the image's metadata."""

    cls: str
    size: int
    ops: list[Op]
    matrix: np.ndarray  # object -> pixel (1x) linear part
    shift: np.ndarray  # object -> pixel translation (1x), applied after centring
    origin: np.ndarray  # object-space point mapped to the frame centre + offset
    unit_px: float  # pixels (1x) per object unit
    tube_px: float  # blur sigma of the metal's tube shading, pixels
    path: Points | None
    background: dict[str, Any]
    finish: dict[str, Any]  # light, metal and gem palette, shadow, camera (blur, noise, gain)
    meta: dict[str, Any]


@dataclass(frozen=True)
class _Framing:
    """Where the object lands in the frame: rotation, scale and offset or crop."""

    origin: np.ndarray
    matrix: np.ndarray
    unit_px: float
    scale: float
    rotation: float  # degrees
    offset: tuple[float, float]  # pixels from the frame centre
    cropped: bool
    crop_fraction: float


def _ops_bbox(ops: Iterable[Op]) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of what shows: metal and gems, engraving and holes aside."""
    pts = np.vstack([p for kind, p, _w, v in ops if kind != "d" and v])
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()),
            float(pts[:, 1].max()))


def _draw_piece(cls: str, rng: np.random.Generator,
                knobs: Mapping[str, Any]) -> tuple[DrawingContext, str, str]:
    """Build the piece of jewelry; its context, metal and gem colour."""
    look_alike = bool(rng.random() < knobs["ambiguous"][cls])
    metal = str(rng.choice(list(METALS)))
    gem_colour = str(rng.choice(list(GEMS)))
    light = float(rng.uniform(*LIGHT_ANGLE))
    ctx = DrawingContext(rng=rng, look_alike=look_alike, strength=float(knobs["amb_strength"]),
                         light=light, knobs=knobs)
    BUILDERS[cls](ctx)
    return ctx, metal, gem_colour


def _offset(ctx: DrawingContext, rng: np.random.Generator, size: int,
            knobs: Mapping[str, Any], theta: float,
            reach: tuple[float, float]) -> tuple[float, float, bool, float]:
    """(x, y) pixel offset from the frame centre, whether it crops and by what share.

    ``reach`` is the rotated object's half extent in pixels along x and y.
    """
    reach_x, reach_y = reach
    if ctx.force_crop is not None or rng.random() < knobs["crop_prob"]:
        if ctx.force_crop is not None:
            direction, f_lo, f_hi = ctx.force_crop
            direction += theta
        else:
            side = float(rng.integers(0, 4)) * math.pi / 2
            direction = side + float(rng.uniform(-CROP_ANGLE_JITTER, CROP_ANGLE_JITTER))
            f_lo, f_hi = knobs["crop_fraction"]
        crop_fraction = float(rng.uniform(f_lo, f_hi))
        ux, uy = math.cos(direction), math.sin(direction)
        along = abs(ux) * reach_x + abs(uy) * reach_y
        # the centre moves so that crop_fraction of the extent along the direction leaves
        distance = size / 2 - along + 2 * crop_fraction * along
        return distance * ux, distance * uy, True, crop_fraction
    room_x = max(0.0, size / 2 - reach_x - size * FRAME_MARGIN)
    room_y = max(0.0, size / 2 - reach_y - size * FRAME_MARGIN)
    max_offset = knobs["offset"] * size
    off_x = float(rng.uniform(-1, 1)) * min(room_x, max_offset)
    off_y = float(rng.uniform(-1, 1)) * min(room_y, max_offset)
    return off_x, off_y, False, 0.0


def _frame(ctx: DrawingContext, scale_range: tuple[float, float], rng: np.random.Generator,
           size: int, knobs: Mapping[str, Any]) -> _Framing:
    """Normalise the object's extent, then rotate, scale and place it."""
    left, top, right, bottom = _ops_bbox(ctx.ops)
    if ctx.extent_top is not None:
        top = max(top, ctx.extent_top)
    origin = np.array([(left + right) / 2, (top + bottom) / 2])
    half = max(right - left, bottom - top) / 2
    lo, hi = scale_range
    mult_lo, mult_hi = knobs["scale_mult"]
    scale = float(rng.uniform(lo, hi) * rng.uniform(mult_lo, mult_hi))
    rotation = float(rng.uniform(-1, 1) * knobs["rotation_deg"])
    unit_px = scale * size / 2 / half
    theta = math.radians(rotation)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    matrix = unit_px * np.array([[cos_t, -sin_t], [sin_t, cos_t]])
    half_w, half_h = (right - left) / 2 * unit_px, (bottom - top) / 2 * unit_px
    reach = (abs(cos_t) * half_w + abs(sin_t) * half_h,
             abs(sin_t) * half_w + abs(cos_t) * half_h)
    off_x, off_y, cropped, crop_fraction = _offset(ctx, rng, size, knobs, theta, reach)
    return _Framing(origin=origin, matrix=matrix, unit_px=unit_px, scale=scale,
                    rotation=rotation, offset=(off_x, off_y), cropped=cropped,
                    crop_fraction=crop_fraction)


def _background(skin_prob: float, rng: np.random.Generator,
                knobs: Mapping[str, Any]) -> dict[str, Any]:
    """Skin (worn jewelry) or a studio backdrop: plain, gradient or textured."""
    if rng.random() < skin_prob:
        kind = "skin"
        colour = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
    else:
        draw = rng.random()
        textured = knobs["texture_prob"]
        kind = "texture" if draw < textured else (
            "gradient" if draw < textured + (1 - textured) * GRADIENT_SHARE else "plain")
        colour = STUDIO_COLOURS[int(rng.integers(len(STUDIO_COLOURS)))]
    jitter = rng.integers(-BACKGROUND_JITTER, BACKGROUND_JITTER + 1, size=3)
    colour = tuple(int(np.clip(ch + j, 0, 255)) for ch, j in zip(colour, jitter, strict=True))
    colour2 = STUDIO_COLOURS[int(rng.integers(len(STUDIO_COLOURS)))]
    return {"kind": kind, "colour": colour, "colour2": colour2,
            "angle": float(rng.uniform(0, 2 * math.pi)),
            "amount": float(rng.uniform(*GRADIENT_AMOUNT)),
            "vignette": float(rng.uniform(*VIGNETTE))}


def _finish(rng: np.random.Generator, knobs: Mapping[str, Any], size: int, light: float,
            metal: str, gem_colour: str) -> dict[str, Any]:
    """Shadow, metal shading and the camera's blur, noise, brightness and contrast."""
    blur = float(rng.uniform(*knobs["blur"])) * size / BLUR_REFERENCE_SIZE
    noise = float(rng.uniform(*knobs["noise"]))
    brightness = float(1 + rng.uniform(-1, 1) * knobs["brightness"])
    contrast = float(1 + rng.uniform(-1, 1) * knobs["contrast"])
    shadow = float(rng.uniform(*knobs["shadow"]))
    metal_jitter = float(rng.uniform(-METAL_RAMP_JITTER, METAL_RAMP_JITTER))
    ripple = float(rng.uniform(*RIPPLE))
    return {"blur": blur, "noise": noise, "brightness": brightness, "contrast": contrast,
            "shadow": shadow, "light": light, "metal_jitter": metal_jitter, "ripple": ripple,
            "metal": metal, "gem": gem_colour}


def _metadata(cls: str, ctx: DrawingContext, metal: str, gem_colour: str, size: int,
              framing: _Framing, background: Mapping[str, Any],
              finish: Mapping[str, Any]) -> dict[str, Any]:
    """One row of metadata.csv (less path and index), rounded for reading."""
    off_x, off_y = framing.offset
    return {
        "class": cls,
        "style": ctx.style,
        "ambiguous": ctx.look_alike,
        "metal": metal,
        "gem_colour": gem_colour if ctx.uses_gem else "none",
        "background": background["kind"],
        "bg_colour": "#{:02x}{:02x}{:02x}".format(*background["colour"]),
        "light_deg": round(math.degrees(ctx.light), 2),
        "rotation": round(framing.rotation, 3),
        "scale": round(framing.scale, 4),
        "offset_x": round(off_x / size, 4),
        "offset_y": round(off_y / size, 4),
        "cropped": framing.cropped,
        "crop_fraction": round(framing.crop_fraction, 4),
        "blur": round(finish["blur"], 3),
        "noise": round(finish["noise"], 3),
        "brightness": round(finish["brightness"], 4),
        "contrast": round(finish["contrast"], 4),
        "shadow": round(finish["shadow"], 4),
        "aspect": "" if ctx.aspect is None else round(ctx.aspect, 4),
    }


def make_plan(cls: str, rng: np.random.Generator, size: int, difficulty: str) -> Plan:
    """Draw every random choice for one image. Cheap: used alone to rebuild metadata."""
    check_class(cls)
    knobs = check_difficulty(difficulty)
    ctx, metal, gem_colour = _draw_piece(cls, rng, knobs)
    framing = _frame(ctx, CLASS_SCALE[cls], rng, size, knobs)
    background = _background(SKIN_PROB.get(cls, DEFAULT_SKIN_PROB), rng, knobs)
    return _assemble(cls, size, ctx, framing, background,
                     _finish(rng, knobs, size, ctx.light, metal, gem_colour), metal, gem_colour)


def make_shape_plan(shape: str, rng: np.random.Generator, size: int, difficulty: str) -> Plan:
    """The plan of one non-jewelry figure (``shapes.SHAPES``) under the same camera: its
    metadata holds the shape and texture names; ``class`` is the shape, never a jewelry class."""
    knobs = check_difficulty(difficulty)
    metal = str(rng.choice(list(METALS)))
    gem_colour = str(rng.choice(list(GEMS)))
    ctx = DrawingContext(rng=rng, look_alike=False, strength=0.0,
                         light=float(rng.uniform(*LIGHT_ANGLE)), knobs=knobs)
    texture = SHAPES[shape](ctx)
    turn_ops(ctx, float(rng.uniform(0, 2 * math.pi)))
    framing = _frame(ctx, SHAPE_SCALE, rng, size, knobs)
    background = _background(SHAPE_SKIN_PROB, rng, knobs)
    plan = _assemble(shape, size, ctx, framing, background,
                     _finish(rng, knobs, size, ctx.light, metal, gem_colour), metal, gem_colour)
    plan.meta["texture"] = texture
    return plan


def _assemble(cls: str, size: int, ctx: DrawingContext, framing: _Framing,
              background: dict[str, Any], finish: dict[str, Any], metal: str,
              gem_colour: str) -> Plan:
    tube_px = max(MIN_TUBE_BLUR_PX, ctx.tube * framing.unit_px * TUBE_BLUR_PER_WIDTH)
    off_x, off_y = framing.offset
    return Plan(cls=cls, size=size, ops=ctx.ops, matrix=framing.matrix,
                shift=np.array([size / 2 + off_x, size / 2 + off_y]), origin=framing.origin,
                unit_px=framing.unit_px, tube_px=tube_px, path=ctx.path, background=background,
                finish=finish,
                meta=_metadata(cls, ctx, metal, gem_colour, size, framing, background, finish))
