"""The thesis's numbers, transcribed once, each with the table (or section) and line it is read
from.

Line numbers refer to the plain-text edition of the thesis that the project works from (its
README indexes the sections). Other modules read these objects instead of retyping a number:
``config.py`` builds the ``paper`` profile from them and ``protocol.py`` prints them beside our
own settings. Each entry keeps three things: the value in a form code can compare, the cell as
the thesis prints it, and where it stands.

Transcriptions that still live elsewhere (Tables 5.x in ``audit_thesis.py``, Table 6.2 in
``models.THESIS_CLAIMS``) are meant to move here, as further :class:`Table` objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

MODEL_ORDER = ("custom_cnn", "vgg16", "resnet50", "efficientnetb2")  # Table B.1's columns


@dataclass(frozen=True)
class Cited:
    """One number (or phrase) of the thesis: ``value`` for code, ``printed`` as the thesis
    prints it, ``source`` such as "Table 4.4, line 1226"."""

    value: Any
    printed: str
    source: str

    def __str__(self) -> str:
        return f"{self.printed} ({self.source})"


@dataclass(frozen=True)
class Table:
    """A transcribed table (or a set of passages): its name, the line of its caption and its
    entries by key."""

    name: str
    line: int
    rows: Mapping[str, Cited] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Cited:
        return self.rows[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def value(self, key: str) -> Any:
        return self.rows[key].value


def _row(table: str, line: int, value: Any, printed: str) -> Cited:
    return Cited(value, printed, f"{table}, line {line}")


def _per_model(line: int, *values: Any, printed: tuple[str, ...] | None = None) -> Cited:
    """A Table B.1 row: one value per model, in the table's column order."""
    shown = printed or tuple(str(v) for v in values)
    return Cited(dict(zip(MODEL_ORDER, values, strict=True)), " / ".join(shown),
                 f"Table B.1, line {line}")


# Table 4.1 (caption line 880): only the totals row (line 891) so far; the per-class rows are
# in audit_thesis.TABLE_4_1 until that module reads them from here.
TABLE_4_1 = Table("Table 4.1", 880, {
    "original": _row("Table 4.1", 891, 1217, "1,217"),
    "train": _row("Table 4.1", 891, 851, "851"),
    "val": _row("Table 4.1", 891, 181, "181"),
    "test": _row("Table 4.1", 891, 185, "185"),
    "augmented": _row("Table 4.1", 891, 8519, "8,519"),
})

# Table 4.2 (caption line 957). A "range of ranges" keeps both ends: (lower, upper).
TABLE_4_2 = Table("Table 4.2", 957, {
    "rotation_deg": _row("Table 4.2", 960, (20.0, 25.0), "±20° to ±25°"),
    "width_shift": _row("Table 4.2", 961, 0.2, "±20%"),
    "height_shift": _row("Table 4.2", 962, 0.2, "±20%"),
    "shear": _row("Table 4.2", 963, (0.15, 0.2), "±0.15 to ±0.2"),
    "zoom": _row("Table 4.2", 964, (0.2, 0.3), "±20% to ±30%"),
    "horizontal_flip": _row("Table 4.2", 965, True, "Enabled"),
    "brightness": _row("Table 4.2", 966, (0.8, 1.2), "0.8 to 1.2 range"),
    "channel_shift": _row("Table 4.2", 967, 0.1, "±10%"),
    "fill_mode": _row("Table 4.2", 968, "nearest", "Nearest neighbor"),
})

# Table 4.4 (caption line 1220): the protocol shared by all four models.
TABLE_4_4 = Table("Table 4.4", 1220, {
    "optimizer": _row("Table 4.4", 1223, "adam", "Adam"),
    "learning_rate": _row("Table 4.4", 1223, 1e-4, "lr=10⁻⁴"),
    "lr_decay": _row("Table 4.4", 1223, 1e-6, "decay=10⁻⁶"),
    "loss": _row("Table 4.4", 1224, "categorical_crossentropy", "Categorical Cross-Entropy"),
    "batch_size": _row("Table 4.4", 1225, 32, "32"),
    "max_epochs": _row("Table 4.4", 1226, 50, "50"),
    "early_stop_patience": _row("Table 4.4", 1227, 10, "Patience = 10"),
    "early_stop_monitor": _row("Table 4.4", 1227, "val_accuracy", "monitor: val_accuracy"),
    "reduce_lr_patience": _row("Table 4.4", 1228, 5, "Patience = 5"),
    "reduce_lr_factor": _row("Table 4.4", 1228, 0.5, "factor = 0.5"),
    "checkpoint": _row("Table 4.4", 1229, "val_accuracy", "Save best validation accuracy"),
    "input_size": _row("Table 4.4", 1230, 224, "224 × 224 × 3 (VGG/ResNet/CNN)"),
    "input_size_efficientnetb2": _row("Table 4.4", 1231, 260, "260 × 260 × 3"),
    "class_weights": _row("Table 4.4", 1232, True, "Computed to handle minor class imbalance"),
})

# Table B.1 (caption line 1839): one value per model (Custom CNN, VGG16, ResNet50,
# EfficientNetB2).
TABLE_B_1 = Table("Table B.1", 1839, {
    "optimizer": _per_model(1842, "adam", "adam", "adam", "adam",
                            printed=("Adam",) * 4),
    "learning_rate": _per_model(1843, 1e-4, 1e-4, 1e-4, 1e-4, printed=("10⁻⁴",) * 4),
    "lr_decay": _per_model(1844, 1e-6, 1e-6, 1e-6, 1e-6, printed=("10⁻⁶",) * 4),
    "batch_size": _per_model(1845, 32, 32, 32, 32),
    "max_epochs": _per_model(1846, 50, 50, 50, 50),
    "early_stop_patience": _per_model(1847, 10, 10, 10, 10),
    "dropout_fc1": _per_model(1848, 0.5, 0.3, 0.3, 0.5),
    "dropout_fc2": _per_model(1849, 0.3, 0.3, 0.3, 0.3),
    "l2": _per_model(1850, 0.01, 0.0, 0.0, 0.01, printed=("0.01", "—", "—", "0.01")),
    # The row is headed "Frozen Layers", yet sections 4.4.1-4.5 make the same counts the
    # *trainable* top of the backbone; the value keeps the count, the reading is protocol.py's.
    "frozen_layers": _per_model(1851, None, 8, 50, 50,
                                printed=("None", "Last 8", "Last 50", "Last 50")),
    "input_size": _per_model(1852, 224, 224, 224, 260,
                             printed=("224×224",) * 3 + ("260×260",)),
})

# Passages of the text (sections 3-4 and Listing C.2) that settle, or leave open, a setting.
PASSAGES = Table("Text", 0, {
    "near_duplicates_method": _row("Section 3.1", 458, "deleted",
                                   "near duplicate images are deleted"),
    "near_duplicates_dataset": _row("Section 4.1", 860, "prohibited",
                                    "duplicates and near-duplicates are prohibited"),
    "augmented_train_set": _row("Section 4.1", 893, 8519,
                                "the augmented training set has 8,519 images instead of 851"),
    "resize_interpolation": _row("Section 4.2.1", 919, ("bilinear", "area"),
                                 "bilinear when enlarging, area when shrinking"),
    "custom_cnn_scaling": _row("Section 4.2.2", 927, 1 / 255, "I / 255"),
    "transfer_normalisation": _row("Section 4.2.2", 933, "imagenet_mean_std",
                                   "(I − μ) / σ with ImageNet mean and standard deviation"),
    "augmentation_per_epoch": _row("Section 4.2.3", 951, "fresh",
                                   "random, so each epoch sees other instances"),
    "pretrained_weights": _row("Section 4.4", 1025, "imagenet",
                               "transfer learning from ImageNet"),
    "transfer_freezing": _row("Section 4.4", 1033, "frozen_base_then_top",
                              "convolutional layers frozen, higher layers trained"),
    "vgg16_stages": _row("Section 4.4.1", 1067, 2, "stage 1 head only, stage 2 last 8 layers"),
    "fine_tune_lr": _row("Section 4.4.1", 1069, None,
                         "a smaller learning rate in stage 2, no value given"),
    "resnet50_freezing": _row("Section 4.4.2", 1113, 50,
                              "all layers except the final 50 frozen throughout training"),
    "resnet50_lr": _row("Section 4.4.2", 1117, None, "a small learning rate, no value given"),
    "efficientnetb2_freezing": _row("Section 4.5", 1176, 50,
                                    "the last 50 layers trainable, the rest frozen"),
    "efficientnetb2_initial_freeze": _row("Listing C.1", 1870, True,
                                          "base_model.trainable = False, initially"),
    "max_epochs": _row("Section 4.6", 1202, 50,
                       "at most 50 epochs, usually fewer through early stopping"),
    "restore_best_weights": _row("Listing C.2", 1895, True, "restore_best_weights=True"),
    "reduce_lr_monitor": _row("Listing C.2", 1902, "val_loss", "monitor='val_loss'"),
})


@dataclass(frozen=True)
class Study:
    """One row of Table 6.1 (prior work), as printed: who, on what task and data, with which
    model, and the accuracy the thesis quotes for it."""

    study: str
    task: str
    dataset: str
    models: str
    accuracy: str
    line: int

    @property
    def source(self) -> str:
        return f"Table 6.1, line {self.line}"


TABLE_6_1_LINE = 1557
TABLE_6_1: tuple[Study, ...] = tuple(Study(*fields, line=line) for line, fields in (
    (1560, ("Singh & Kaewprapha (2018)", "5-class jewelry", "Private", "AlexNet+SVM, InceptionV3",
            "88–91%")),
    (1561, ("Vaibhav et al. (2019)", "Indian jewelry", "Private", "Shallow CNN", "≈90%")),
    (1562, ("Freire et al. (2022)", "Gemstone class.", "Private", "Transfer Learning", "84%")),
    (1563, ("Alcalde-Llargo (2023)", "Recognition+captioning", "Private", "VGG16+GRU", "93%")),
    (1564, ("Alcalde-Llargo (2025)", "Identification+desc.", "Private", "VGG16+GRU",
            "94.01%")),
    (1565, ("Huang & Cui (2024)", "Gemstone class.", "Private", "MCNN+", "81%")),
    (1566, ("Meng et al. (2025)", "Jade quality", "Private", "DL model", "≈85%")),
    (1567, ("This study (Custom CNN)", "8-class fine-grained", "1,217 images", "Custom CNN",
            "93.78%")),
    (1568, ("This study (VGG16)", "8-class fine-grained", "1,217 images", "VGG16", "94.19%")),
    (1569, ("This study (EfficientNetB2)", "8-class fine-grained", "1,217 images",
            "EfficientNetB2", "95.21%")),
))


def augmented_passes() -> int:
    """Augmented views per training image that Table 4.1's augmented column implies (8,519
    for 851 originals: ten, to the nearest whole pass)."""
    return round(TABLE_4_1.value("augmented") / TABLE_4_1.value("train"))


__all__ = ["Cited", "Table", "TABLE_4_1", "TABLE_4_2", "TABLE_4_4", "TABLE_B_1", "PASSAGES",
           "MODEL_ORDER", "Study", "TABLE_6_1", "TABLE_6_1_LINE", "augmented_passes"]
