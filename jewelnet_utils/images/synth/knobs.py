"""JewelSynth's numbers: version, counts, difficulty knobs, palettes and metadata columns.

Every value that decides what an image looks like and is not geometry of one piece of jewelry
lives here, so calibration and readers find them in one place.
"""

from __future__ import annotations

import math
from typing import Any

from ...contracts import thesis
from ...contracts.config import CLASSES, JewelNetError

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
# The non-jewelry figures of ``shapes`` (pretraining only): any size from a nose pin's to a
# bangle's, and skin behind a few of them, drawn independently of the figure.
SHAPE_SCALE: tuple[float, float] = (0.12, 0.9)
SHAPE_SKIN_PROB = 0.15

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


# ---------------------------------------------------------------------------------------------
# Scene knobs every difficulty shares (the difficulty-specific ones are in DIFFICULTIES).
# ---------------------------------------------------------------------------------------------
# Light direction range, radians in object coordinates (y down): from above, mostly.
LIGHT_ANGLE: tuple[float, float] = (-math.pi * 0.85, -math.pi * 0.15)
# An object that is not cropped on purpose keeps this share of the frame clear at each side.
FRAME_MARGIN = 0.02
# A deliberate crop leaves through one of the four sides, turned by up to this many radians.
CROP_ANGLE_JITTER = 0.3
# Share of untextured studio backgrounds drawn as a two-colour gradient (the rest are plain).
GRADIENT_SHARE = 0.4
# Each channel of the background colour moves by up to this many grey levels, so backdrops
# are not a handful of exact colours.
BACKGROUND_JITTER = 12
GRADIENT_AMOUNT: tuple[float, float] = (0.1, 0.4)  # share of the second colour at the far side
VIGNETTE: tuple[float, float] = (0.0, 0.3)  # darkening at the corners
# The difficulty's blur sigmas are pixels of a frame this wide; other sizes scale them.
BLUR_REFERENCE_SIZE = 256
METAL_RAMP_JITTER = 0.08  # shifts the metal ramp's body and highlight stops: no two alike
RIPPLE: tuple[float, float] = (2.0, 5.0)  # waves of reflected light across the metal
# The tube shading blurs the metal mask by about half the wire's width, so a wire shades from
# its edges to a bright middle; the floor keeps some shading on hairline wires.
TUBE_BLUR_PER_WIDTH = 0.45
MIN_TUBE_BLUR_PX = 0.6


def check_difficulty(difficulty: str) -> dict[str, Any]:
    """The knobs of ``difficulty``; a clear error naming the choices otherwise."""
    if difficulty not in DIFFICULTIES:
        raise JewelNetError(
            f"unknown difficulty {difficulty!r}; choose one of: {', '.join(DIFFICULTIES)}")
    return DIFFICULTIES[difficulty]


def check_class(cls: str) -> int:
    """The index of ``cls`` in ``CLASSES``; a clear error naming the choices otherwise."""
    if cls not in CLASSES:
        raise JewelNetError(f"unknown class {cls!r}; choose one of: {', '.join(CLASSES)}")
    return CLASSES.index(cls)
