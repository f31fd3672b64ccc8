"""The appendix "Protocol: thesis and ours", generated from the thesis's transcribed numbers
(``thesis.py``) and the profiles (``config.py``).

One :class:`Setting` per row: the thesis's value with its table and line, and a function that
reads our value from a profile. Where the thesis is ambiguous, or where we depart from it, the
row names a :class:`Reading`: prose held here, beside the setting, that lists the alternatives
and says why we chose ours. Readings never type a profile value: they refer to the table.

``jewelnet protocol --write book/protocol.md`` writes the page; a test regenerates it and fails
when the committed page differs, so the page cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ..contracts.config import MODEL_SPECS, MODEL_TITLES, MODELS, PROFILES, Profile
from ..contracts.thesis import PASSAGES, TABLE_4_1, TABLE_4_2, TABLE_4_4, TABLE_B_1, Cited
from ..contracts.utils import atomic_write_text

PAGE = Path("book/protocol.md")
PROFILE_COLUMNS = ("smoke", "cpu", "paper")
_SAME = object()  # Setting.expected default: the first cited value


@dataclass(frozen=True)
class Reading:
    """An ambiguity of the thesis (or a departure from it): what the thesis says, the
    readings it allows, the one we implement and why."""

    key: str
    title: str
    thesis_says: str
    alternatives: tuple[str, ...]
    ours: str
    why: str
    cites: tuple[Cited, ...] = ()


@dataclass(frozen=True)
class Setting:
    """One row: ``value(profile)`` is our setting; ``expected`` the thesis's value in the same
    units (default: the first cited value). A row without ``reading`` must match the thesis in
    the ``paper`` profile (tests check it)."""

    group: str
    label: str
    cites: tuple[Cited, ...]
    value: Callable[[Profile], Any]
    reading: str | None = None
    expected: Any = _SAME
    show: Callable[[Any], str] | None = None
    model: str | None = None  # per-model rows of Table B.1
    also: tuple[Cited, ...] = ()  # further places that print the same value (sources only)

    def thesis_value(self) -> Any:
        return self.cites[0].value if self.expected is _SAME else self.expected

    def shown(self, profile: Profile) -> str:
        value = self.value(profile)
        return (self.show or fmt)(value)


def fmt(value: Any) -> str:
    """Short text of a setting value (floats as %g, ranges as 'a to b', None as a dash)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return " to ".join(fmt(v) for v in value)
    return str(value)


# ------------------------------------------------------------------------------ readings

READINGS: dict[str, Reading] = {r.key: r for r in (
    Reading(
        "epoch", "Epoch length and fresh augmentation",
        thesis_says="Table 4.1 lists an augmented training set of {augmented} images for "
                    "{train} originals, and section 4.2.3 says the random augmentations show "
                    "the network other versions of the images in every epoch.",
        alternatives=(
            "one epoch is one pass over the {train} originals, augmented on the fly (ten "
            "times fewer updates per epoch than the table's set suggests);",
            "one epoch is a fixed, pre-generated set of about ten augmented copies per "
            "original, reused in every epoch (the table read as a file on disk);",
            "one epoch is about ten passes over the originals, each image augmented afresh "
            "(the table's size, the text's fresh draws).",
        ),
        ours="The `paper` profile takes the last: `epoch_repeats` passes per epoch, the "
             "number of augmented views per original that Table 4.1 implies, drawn on the fly; "
             "stage 1 of the transfer models trains through the frozen backbone instead of "
             "on cached features. The `cpu` and `smoke` profiles use fewer passes and cache "
             "stage-1 features of a few augmented views, for time.",
        why="It is the only reading that satisfies both the table's size and the text's "
            "fresh draws, and patience and epoch counts then mean what the thesis's mean. "
            "The cached views were a measured saving on a CPU "
            "(`results/feature-cache-views.json`, shown in the VGG16 notebook); on a GPU "
            "the frozen backbone is cheap enough to keep every view fresh.",
        cites=(TABLE_4_1["augmented"], PASSAGES["augmented_train_set"],
               PASSAGES["augmentation_per_epoch"]),
    ),
    Reading(
        "fine-tune-lr", "The fine-tuning learning rate",
        thesis_says="Tables 4.4 and B.1 give one learning rate, {lr}, for every model; "
                    "section 4.4.1 asks for \"a smaller learning rate\" in stage 2 and gives "
                    "no value, and sections 4.4.2 and 4.5 speak of \"a small\" and \"the "
                    "lower\" rate.",
        alternatives=(
            "the tables' rate in both stages, \"smaller\" meaning small next to Adam's usual "
            "1e-3;",
            "a smaller rate in stage 2, commonly a tenth (1e-5), which the thesis never "
            "states.",
        ),
        ours="The `paper` and `cpu` profiles use the tables' rate in stage 2 as well; the "
             "`smoke` profile keeps a smaller one (their columns above).",
        why="The tables are the only place the thesis writes a number, and both list the "
            "same rate for every model; a rate we would have to invent is not the thesis's "
            "protocol. On the cpu book a tenth of it left the fine-tuned backbones almost "
            "where stage 1 had put them (results/transfer-recipe-2026-11-28.json).",
        cites=(TABLE_4_4["learning_rate"], TABLE_B_1["learning_rate"], PASSAGES["fine_tune_lr"],
               PASSAGES["resnet50_lr"]),
    ),
    Reading(
        "split", "Dividing the 50 epochs between two stages",
        thesis_says="Table 4.4 allows at most {max_epochs} epochs; section 4.4.1 trains the "
                    "transfer models in two stages without saying how long each lasts.",
        alternatives=(
            "up to {max_epochs} epochs in each stage (up to twice the budget);",
            "{max_epochs} epochs in all, split between the stages (ours).",
        ),
        ours="Up to `stage1_epochs` epochs of head-only training, then up to "
             "`stage2_epochs` of fine-tuning, adding up to the custom CNN's budget in the "
             "`paper` profile; early stopping can end either stage sooner. The `cpu` profile "
             "trains the head longer than it fine-tunes, and gives EfficientNetB2, the one "
             "model it fine-tunes whole, twice the fine-tuning epochs of the others.",
        why="Keeping the total at the table's maximum keeps the four models on one budget; "
            "the head of a frozen backbone converges quickly, so in the `paper` profile the "
            "larger share goes to fine-tuning. On a CPU the head trains on cached features "
            "for a fraction of a second per epoch while fine-tuning costs seconds per batch, "
            "so there the head gets the epochs. A whole backbone has more to adapt than a "
            "tail of it: after 4 epochs EfficientNetB2's validation accuracy was still rising "
            "steeply, and 8 brought it level with the other transfer models "
            "(results/effnet-fine-tune-depth-2026-11-28.json). The split is ours and the "
            "table shows it.",
        cites=(TABLE_4_4["max_epochs"], PASSAGES["vgg16_stages"]),
    ),
    Reading(
        "resnet50", "Table B.1's \"Frozen Layers\" and ResNet50's one stage",
        thesis_says="Section 4.4.2 keeps all layers except the final 50 frozen \"throughout "
                    "training\", one stage; section 4.4 and Listing C.1 describe a frozen "
                    "backbone first; Table B.1 writes \"Last 50\" (ResNet50, EfficientNetB2) "
                    "and \"Last 8\" (VGG16) under \"Frozen Layers\".",
        alternatives=(
            "ResNet50 in one stage with its last 50 layers trainable from the first epoch;",
            "two stages like the other transfer models, the last 50 layers unfrozen in "
            "stage 2 (ours);",
            "Table B.1 read literally: the last 50 (or 8) layers frozen and the rest trained, "
            "which contradicts every passage of the text.",
        ),
        ours="All three transfer models train in two stages, and the counts in Table B.1 are "
             "the backbone layers unfrozen in stage 2 (batch-normalisation layers stay "
             "frozen). The `cpu` profile departs from the table for EfficientNetB2 alone, "
             "which fine-tunes its whole backbone there.",
        why="One protocol for the three transfer models keeps their comparison fair, which "
            "section 4.6 asks for; a new head on a trainable backbone from the first epoch "
            "sends large, random gradients into the pretrained layers. The text agrees on "
            "which layers train, so we read B.1's heading as a slip. The `cpu` profile's "
            "EfficientNetB2 starts from our figure backbone, not ImageNet; with only its last "
            "50 layers free it stayed far behind the other transfer models, and with all of "
            "them free it caught up (results/effnet-fine-tune-depth-2026-11-28.json).",
        cites=(PASSAGES["resnet50_freezing"], PASSAGES["transfer_freezing"],
               PASSAGES["efficientnetb2_initial_freeze"], TABLE_B_1["frozen_layers"]),
    ),
    Reading(
        "normalisation", "VGG16 and ResNet50 input normalisation",
        thesis_says="Section 4.2.2 standardises the transfer models' inputs as (x − μ) / σ "
                    "with ImageNet statistics.",
        alternatives=(
            "(x − μ) / σ on RGB in [0, 1], as the formula reads;",
            "Keras's own `preprocess_input` for these backbones (\"caffe\" mode: RGB to "
            "BGR, ImageNet mean subtracted, no division), the input the published weights "
            "were trained on (ours).",
        ),
        ours="Each backbone's `preprocess_input` runs inside the model; EfficientNetB2 uses "
             "its built-in rescaling and normalisation.",
        why="Section 4.2.2 itself gives the purpose: to match the distribution the weights "
            "were trained on. Keras's VGG16 and ResNet50 weights come from Caffe and expect "
            "BGR inputs with the mean removed; the formula as written would feed them "
            "inputs about 60 times too small.",
        cites=(PASSAGES["transfer_normalisation"],),
    ),
    Reading(
        "augmentation", "Augmentation ranges and their meaning",
        thesis_says="Table 4.2 gives ranges of ranges for rotation, shear and zoom, and "
                    "names the transforms without saying how each is drawn.",
        alternatives=(
            "range of ranges: the lower end (ours), the upper end, or a value in between;",
            "shear: a coefficient, the tangent of the angle (ours), or degrees as Keras 2's "
            "`shear_range` nominally took them, where 0.15° would be invisible;",
            "zoom: one factor for both axes, keeping the aspect ratio (ours), or one per "
            "axis as Keras 2's `zoom_range` drew them;",
            "channel shift: one offset per colour channel (ours) or one offset added to all "
            "three channels as Keras 2 did; ±10% read as a tenth of the 0-255 range.",
        ),
        ours="The lower end of each range of ranges, shear as a coefficient, one zoom factor, "
             "one offset per channel, the geometric ones composed into one affine warp per "
             "image; the `cpu` profile scales every range down (its column above).",
        why="The lower end is the gentler, safer choice for small objects near the border; "
            "a shear in degrees would do nothing; one zoom factor keeps round things round "
            "(a bangle squashed along one axis looks like a different object); a colour "
            "cast per channel is what \"colour variation tolerance\" asks for.",
        cites=(TABLE_4_2["rotation_deg"], TABLE_4_2["shear"], TABLE_4_2["zoom"],
               TABLE_4_2["channel_shift"]),
    ),
    Reading(
        "duplicates", "Near-duplicates: grouped, not deleted",
        thesis_says="Section 3.1 deletes near-duplicate images and section 4.1 prohibits "
                    "them.",
        alternatives=(
            "delete all but one image of each near-duplicate group before splitting;",
            "keep them and place each group inside one split (ours).",
        ),
        ours="The audit groups images whose perceptual hashes are within a small Hamming "
             "distance, and the split keeps each group in one subset.",
        why="The thesis deletes them to avoid leakage between training and test; grouping "
            "prevents the same leak without discarding photos of a small data set, and a "
            "user who wants the thesis's rule can delete the groups the audit lists.",
        cites=(PASSAGES["near_duplicates_method"], PASSAGES["near_duplicates_dataset"]),
    ),
    Reading(
        "weights", "Which weights a run used",
        thesis_says="Section 4.4 fine-tunes networks pre-trained on ImageNet; Listing C.1 "
                    "loads Keras's ImageNet weights.",
        alternatives=(
            "Keras's ImageNet weights (the `paper` profile's default);",
            "a backbone pretrained by `jewelnet pretrain` on a task without the eight labels "
            "(the `cpu` profile's default, `pretext`: JewelSynth's non-jewelry figures);",
            "random initialisation (the `smoke` profile, and the baseline every pretrained "
            "run is compared with), or another pretrained file given with `--weights`.",
        ),
        ours="Every run records its weights, data, seed, profile and library versions, and "
             "the book refuses to show a results record that lacks any of them. The one GPU "
             "record committed so far (`results/paper-gpu-h200-jax-2026-11-26.json`) does "
             "not say which weights it used, and it stops before EfficientNetB2 finished; "
             "the book therefore shows only the line naming its missing fields.",
        why="Random and ImageNet weights give different numbers under the same protocol, so "
            "a number without its weights cannot be compared with the thesis's.",
        cites=(PASSAGES["pretrained_weights"],),
    ),
    Reading(
        "lr-schedule", "Learning-rate decay and plateau halving together",
        thesis_says="Table 4.4 combines Keras 2's per-update `decay` with halving the rate "
                    "after five epochs without improvement in validation loss (Listing C.2).",
        alternatives=(
            "a Keras 3 learning-rate schedule (which ReduceLROnPlateau cannot change);",
            "one callback that sets rate × multiplier / (1 + decay × updates) before every "
            "update and halves the multiplier on a plateau (ours).",
        ),
        ours="The second: Keras 3's Adam has no `decay` argument, so the callback "
             "reproduces Keras 2's formula and the plateau rule together.",
        why="It is the arithmetic Keras 2 applied, with both rules active as the thesis "
            "lists them.",
        cites=(TABLE_4_4["lr_decay"], PASSAGES["reduce_lr_monitor"]),
    ),
)}


def _reading_fields() -> dict[str, str]:
    """Thesis numbers the readings' prose refers to, from thesis.py."""
    return {"augmented": TABLE_4_1["augmented"].printed, "train": TABLE_4_1["train"].printed,
            "lr": TABLE_B_1["learning_rate"].printed.split(" / ")[0],
            "max_epochs": str(TABLE_4_4.value("max_epochs"))}


# ------------------------------------------------------------------------------ settings

def _per_epoch(p: Profile) -> str:
    text = f"{p.epoch_repeats} × the training split"
    if p.synth_counts == "thesis" and p.max_train_per_class is None:
        train = TABLE_4_1.value("train")
        text += f" ({p.epoch_repeats * train:,} on Table 4.1's {train:,})"
    return text


def _stage1_views(p: Profile) -> str:
    if p.feature_cache_views <= 0:
        return "fresh every epoch"
    return f"{p.feature_cache_views} cached view(s) per image"


def _transfer_epochs(p: Profile) -> str:
    text = f"{p.stage1_epochs} + {p.stage2_epochs}"
    departures = [f"{MODEL_TITLES[m]}: {p.stage1_epochs} + {n}"
                  for m, n in p.stage2_epochs_per_model.items()]
    return f"{text} ({'; '.join(departures)})" if departures else text


def _aug(name: str) -> Callable[[Profile], Any]:
    return lambda p: getattr(p.augmentation, name)


def _constant(value: Any) -> Callable[[Profile], Any]:
    """A setting fixed in the code (same in every profile), not in a profile."""
    return lambda p: value


DATA = "Data and epochs (Table 4.1, sections 3.1, 4.1, 4.2.3)"
AUGMENT = "Preprocessing and augmentation (Table 4.2, section 4.2)"
TRAINING = "Training (Table 4.4, Listing C.2)"
PER_MODEL = "Per model (Table B.1, sections 4.3-4.5)"


def _general_settings() -> list[Setting]:
    return _data_settings() + _augmentation_settings() + _training_settings()


def _data_settings() -> list[Setting]:
    return [
        Setting(DATA, "training images per epoch", (TABLE_4_1["augmented"],), _per_epoch,
                reading="epoch"),
        Setting(DATA, "stage-1 augmentation (transfer models)",
                (PASSAGES["augmentation_per_epoch"],), _stage1_views, reading="epoch"),
        Setting(DATA, "near-duplicate images", (PASSAGES["near_duplicates_method"],
                                                PASSAGES["near_duplicates_dataset"]),
                _constant("grouped inside one split"), reading="duplicates"),
        Setting(DATA, "pretrained weights (transfer models)", (PASSAGES["pretrained_weights"],),
                lambda p: {"pretext": "pretext (our backbone, pretrained on figures)"}.get(
                    p.default_weights or "", p.default_weights or "none (random initialisation)"),
                reading="weights"),
    ]


def _augmentation_settings() -> list[Setting]:
    return [
        Setting(AUGMENT, "VGG16/ResNet50 input normalisation",
                (PASSAGES["transfer_normalisation"],),
                _constant("Keras preprocess_input (caffe)"), reading="normalisation"),
        Setting(AUGMENT, "rotation (degrees)", (TABLE_4_2["rotation_deg"],),
                _aug("rotation_deg"), reading="augmentation"),
        Setting(AUGMENT, "width shift", (TABLE_4_2["width_shift"],), _aug("width_shift")),
        Setting(AUGMENT, "height shift", (TABLE_4_2["height_shift"],), _aug("height_shift")),
        Setting(AUGMENT, "shear (coefficient)", (TABLE_4_2["shear"],), _aug("shear"),
                reading="augmentation"),
        Setting(AUGMENT, "zoom", (TABLE_4_2["zoom"],), _aug("zoom"), reading="augmentation"),
        Setting(AUGMENT, "horizontal flip", (TABLE_4_2["horizontal_flip"],),
                _aug("horizontal_flip")),
        Setting(AUGMENT, "brightness factor", (TABLE_4_2["brightness"],), _aug("brightness")),
        Setting(AUGMENT, "channel shift (of 255)", (TABLE_4_2["channel_shift"],),
                _aug("channel_shift"), reading="augmentation"),
        Setting(AUGMENT, "fill mode", (TABLE_4_2["fill_mode"],), _aug("fill_mode")),
    ]


def _training_settings() -> list[Setting]:
    lr = TABLE_4_4.value("learning_rate")
    return [
        Setting(TRAINING, "optimizer", (TABLE_4_4["optimizer"],), _constant("adam"),
                also=(TABLE_B_1["optimizer"],)),
        Setting(TRAINING, "learning rate", (TABLE_4_4["learning_rate"],),
                lambda p: p.learning_rate, also=(TABLE_B_1["learning_rate"],)),
        Setting(TRAINING, "learning-rate decay per update", (TABLE_4_4["lr_decay"],),
                lambda p: p.lr_decay, reading="lr-schedule", also=(TABLE_B_1["lr_decay"],)),
        Setting(TRAINING, "fine-tuning learning rate (stage 2)",
                (TABLE_4_4["learning_rate"], PASSAGES["fine_tune_lr"]),
                lambda p: p.fine_tune_lr, reading="fine-tune-lr", expected=lr),
        Setting(TRAINING, "loss", (TABLE_4_4["loss"],), _constant("categorical_crossentropy")),
        Setting(TRAINING, "batch size", (TABLE_4_4["batch_size"],), lambda p: p.batch_size,
                also=(TABLE_B_1["batch_size"],)),
        Setting(TRAINING, "maximum epochs (custom CNN)", (TABLE_4_4["max_epochs"],),
                lambda p: p.max_epochs, also=(TABLE_B_1["max_epochs"],)),
        Setting(TRAINING, "maximum epochs, stage 1 + stage 2 (transfer models)",
                (TABLE_4_4["max_epochs"],), _transfer_epochs, reading="split"),
        Setting(TRAINING, "early-stopping patience", (TABLE_4_4["early_stop_patience"],),
                lambda p: p.early_stop_patience, also=(TABLE_B_1["early_stop_patience"],)),
        Setting(TRAINING, "early stopping monitors", (TABLE_4_4["early_stop_monitor"],),
                _constant("val_accuracy")),
        Setting(TRAINING, "best weights restored at the end",
                (PASSAGES["restore_best_weights"],), _constant(True)),
        Setting(TRAINING, "LR reduction patience", (TABLE_4_4["reduce_lr_patience"],),
                lambda p: p.reduce_lr_patience),
        Setting(TRAINING, "LR reduction factor", (TABLE_4_4["reduce_lr_factor"],),
                lambda p: p.reduce_lr_factor),
        Setting(TRAINING, "LR reduction monitors", (PASSAGES["reduce_lr_monitor"],),
                _constant("val_loss")),
        Setting(TRAINING, "checkpoint keeps the best", (TABLE_4_4["checkpoint"],),
                _constant("val_accuracy")),
        Setting(TRAINING, "class weights", (TABLE_4_4["class_weights"],), _constant(True)),
    ]


def _model_settings(model: str) -> list[Setting]:
    """Table B.1's rows for one model; the values come from ``MODEL_SPECS`` (the same in
    every profile) and the profile's input sizes."""
    title = MODEL_TITLES[model]
    spec = MODEL_SPECS[model]
    row = partial(Setting, PER_MODEL, model=model)

    def at(key: str) -> Any:
        return TABLE_B_1.value(key)[model]

    rows = [
        row(f"{title}: input size", (TABLE_B_1["input_size"],),
            lambda p: p.input_size(model), expected=at("input_size"),
            also=(TABLE_4_4["input_size_efficientnetb2" if model == "efficientnetb2"
                            else "input_size"],)),
        row(f"{title}: dropout FC1, FC2", (TABLE_B_1["dropout_fc1"], TABLE_B_1["dropout_fc2"]),
            _constant(spec.dropout), expected=(at("dropout_fc1"), at("dropout_fc2")),
            show=lambda v: ", ".join(map(fmt, v))),
        row(f"{title}: L2 regularisation", (TABLE_B_1["l2"],), _constant(spec.l2),
            expected=at("l2"), show=lambda v: fmt(v) if v else "—"),
    ]
    if not spec.two_stage:
        rows.append(row(f"{title}: frozen layers", (TABLE_B_1["frozen_layers"],),
                        _constant(spec.trainable_tail), expected=at("frozen_layers")))
    else:
        rows.append(row(f"{title}: backbone layers trained in stage 2",
                        (TABLE_B_1["frozen_layers"],), lambda p: p.trainable_tail(model),
                        reading="resnet50", expected=at("frozen_layers"),
                        show=lambda v: f"last {v}"))
    return rows


def settings() -> list[Setting]:
    """Every row of the appendix, in page order."""
    rows = _general_settings()
    for model in MODELS:
        rows += _model_settings(model)
    return rows


# ------------------------------------------------------------------------------ the page

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _thesis_cell(setting: Setting) -> str:
    also = "".join(f"; {c.source}" for c in setting.also)
    if setting.model is not None:  # Table B.1: this model's column of each cited row
        column = list(MODELS).index(setting.model)
        values = " / ".join(c.printed.split(" / ")[column] for c in setting.cites)
        return f"{values} ({setting.cites[0].source}{also})"
    cells = [f"{c.printed} ({c.source})" for c in setting.cites]
    cells[0] = cells[0][:-1] + also + ")"
    return "; ".join(cells)


def _table(group: str, rows: list[Setting]) -> list[str]:
    head = ["setting", "thesis (where)", *PROFILE_COLUMNS, "reading"]
    lines = [f"## {group}", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for s in rows:
        ours = [s.shown(PROFILES[name]) for name in PROFILE_COLUMNS]
        reading = f"{{ref}}`{READINGS[s.reading].title} <protocol-{s.reading}>`" \
            if s.reading else "as the thesis"
        lines.append("| " + " | ".join(_cell(c) for c in
                                       (s.label, _thesis_cell(s), *ours, reading)) + " |")
    return [*lines, ""]


def _reading_section(reading: Reading) -> list[str]:
    fields = _reading_fields()
    lines = [f"(protocol-{reading.key})=", f"### {reading.title}", "",
             "**The thesis.** " + reading.thesis_says.format(**fields) + " ("
             + "; ".join(c.source for c in reading.cites) + ")", "",
             "**Readings it allows:**", ""]
    lines += [f"- {alt.format(**fields)}" for alt in reading.alternatives]
    lines += ["", "**Ours.** " + reading.ours.format(**fields), "",
              "**Why.** " + reading.why.format(**fields), ""]
    return lines


def render() -> str:
    """The whole appendix page (MyST Markdown)."""
    lines = [
        "<!-- Generated by `jewelnet protocol --write book/protocol.md` from",
        "     jewelnet_utils/contracts/thesis.py, contracts/config.py and tools/protocol.py.",
        "     Do not edit by hand: a test regenerates this page and fails when it differs. -->",
        "# Protocol: thesis and ours",
        "",
        "This appendix sets the thesis's {cite}`nishi2026jewelnet` training protocol for its "
        "custom CNN, VGG16 {cite}`simonyan2015vgg`, ResNet50 {cite}`he2016resnet` and "
        "EfficientNetB2 {cite}`tan2019efficientnet` beside ours, setting by setting. "
        "Each row gives the thesis's value with the table (or section) and the line of the "
        "thesis text it comes from, then our value in each profile: `smoke` (every code path "
        "in minutes), `cpu` (the default book) and `paper` (the thesis's protocol, meant for "
        "a GPU). Where the thesis is ambiguous, or where we depart from it, the last column "
        "names a reading, explained below the tables with its alternatives and the reason "
        "for our choice. Rows marked *as the thesis* hold the thesis's value in the `paper` "
        "profile.",
        "",
        "The page is generated from the transcribed thesis numbers"
        " (`jewelnet_utils/contracts/thesis.py`) and the profiles"
        " (`jewelnet_utils/contracts/config.py`), so it changes when they change.",
        "",
    ]
    rows = settings()
    for group in (DATA, AUGMENT, TRAINING, PER_MODEL):
        lines += _table(group, [s for s in rows if s.group == group])
    lines += ["## Readings", ""]
    for reading in READINGS.values():
        lines += _reading_section(reading)
    return "\n".join(lines).rstrip() + "\n"


def write_page(path: str | Path = PAGE) -> Path:
    """Write the appendix page (atomically) and return its path."""
    path = Path(path)
    atomic_write_text(path, render())
    return path


__all__ = ["Reading", "Setting", "READINGS", "settings", "render", "write_page"]
