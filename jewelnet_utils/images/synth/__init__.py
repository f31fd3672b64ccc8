"""JewelSynth: procedural jewelry "photographs" for the eight thesis classes.

The thesis data set is not public, so the book needs a stand-in whose difficulty is known and
whose hard cases are the thesis's hard cases (sections 5.3-5.6): bangle/bracelet and
chain/necklace are confusable on purpose, pendants sometimes look like necklaces and nose pins
are small. Everything is drawn with numpy + Pillow from one seeded RNG per image, so a file
depends only on (seed, class, index) and never on generation order or worker count.

Difficulty is data: :data:`DIFFICULTIES` holds every knob (ambiguous fractions, nuisance
strengths, crop probability, scale ranges), and calibration against the Custom CNN only edits
that dict (measured numbers live in ``synth_calibration.json``).

One job per module, in the order an image is made: ``knobs`` (version, counts, difficulties,
palettes, metadata columns), ``geometry`` (paths, the drawing context, strands), ``jewelry``
(the eight class builders), ``plan`` (every random choice for one image), ``render`` (pixels),
``generate`` (data set folders) and ``sheet`` (contact sheet); ``shapes`` draws non-jewelry
figures for pretraining backbones; ``jewelnet synth`` is handled in
``cli/images.py``. Callers use the names below: ``from jewelnet_utils.images import synth``.
"""

from .generate import (
    GenerationResult,
    dataset_complete,
    default_dataset_dir,
    ensure_dataset,
    generate_dataset,
    png_bytes,
    resolve_counts,
)
from .knobs import (
    BALANCED_PER_CLASS,
    CLASS_SCALE,
    DIFFICULTIES,
    GEMS,
    META_FIELDS,
    METALS,
    MIN_SIZE,
    THESIS_COUNTS,
    VERSION,
    check_class,
    check_difficulty,
)
from .render import (
    Sample,
    image_meta,
    image_rng,
    render_image,
    render_sample,
    render_shape_sample,
)
from .shapes import SHAPE_NAMES, TEXTURES
from .sheet import contact_sheet, shapes_sheet

__all__ = [
    "BALANCED_PER_CLASS", "CLASS_SCALE", "DIFFICULTIES", "GEMS", "META_FIELDS", "METALS",
    "MIN_SIZE", "THESIS_COUNTS", "VERSION", "GenerationResult", "Sample", "check_class",
    "check_difficulty", "contact_sheet", "dataset_complete", "default_dataset_dir",
    "ensure_dataset", "generate_dataset", "image_meta", "image_rng", "png_bytes",
    "render_image", "render_sample", "render_shape_sample", "resolve_counts", "SHAPE_NAMES",
    "TEXTURES", "shapes_sheet",
]
