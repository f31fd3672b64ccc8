"""The thesis's numbers, transcribed once, each with the table (or section) and line it is read
from.

Line numbers refer to the plain-text edition of the thesis that the project works from (its
README indexes the sections). Other modules read these objects instead of retyping a number:
``config.py`` builds the ``paper`` profile from them and ``protocol.py`` prints them beside our
own settings. Each entry keeps three things: the value in a form code can compare, the cell as
the thesis prints it, and where it stands.

The result tables (4.1 per class, 5.1-5.3, 6.2) are kept as the thesis prints them: each row
is the table's line of text, tab-separated cells and all, and the numbers code compares are
parsed from those cells. So a row can be checked against the thesis text by eye (or by string
comparison), and no number is typed twice. ``tests/test_thesis_numbers.py`` fails when one of
the result tables' distinctive figures is typed anywhere else in the code, notebooks or
chapters, and when a row differs from the thesis line it cites.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
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

    def values(self) -> dict[str, Any]:
        """Every row's value by key, in the table's row order."""
        return {key: cited.value for key, cited in self.rows.items()}


def _row(table: str, line: int, value: Any, printed: str) -> Cited:
    return Cited(value, printed, f"{table}, line {line}")


def _per_model(line: int, *values: Any, printed: tuple[str, ...] | None = None) -> Cited:
    """A Table B.1 row: one value per model, in the table's column order."""
    shown = printed or tuple(str(v) for v in values)
    return Cited(dict(zip(MODEL_ORDER, values, strict=True)), " / ".join(shown),
                 f"Table B.1, line {line}")


# Table 4.1 (caption line 880): the totals row (line 891); the per-class rows are
# TABLE_4_1_CLASSES below.
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

# Table 4.3 (caption line 993): the custom CNN, layer by layer; the kernel size is in the text.
TABLE_4_3 = Table("Table 4.3", 993, {
    "input_size": _row("Table 4.3", 996, 224, "224 × 224 × 3"),
    "filters": Cited((32, 64, 128, 256), "32 / 64 / 128 / 256", "Table 4.3, lines 997-1000"),
    "output_sides": Cited((111, 54, 26, 12), "111 / 54 / 26 / 12 (output shapes)",
                          "Table 4.3, lines 997-1000"),
    "dense": Cited((512, 256), "512 / 256", "Table 4.3, lines 1001-1002"),
    "classes": _row("Table 4.3", 1003, 8, "8"),
    "kernel": _row("Section 4.3", 987, 3, "3×3 kernels"),
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


# --------------------------------------------------------------------------------------------
# Result tables, row by row as printed (cells separated by tabs, as in the text edition)
# --------------------------------------------------------------------------------------------

# Row labels of Tables 5.1 and 6.2 and our names for those models.
MODEL_LABELS = {"Custom CNN": "custom_cnn", "VGG16": "vgg16", "ResNet50": "resnet50",
                "EfficientNetB2": "efficientnetb2"}


def _percent(cell: str) -> float:
    """"93.78%" -> 0.9378, rounded to the printed digits so it equals the typed ratio."""
    digits = len(cell.rstrip("%").partition(".")[2])
    return round(float(cell.rstrip("%")) / 100, digits + 2)


def _count(cell: str) -> int:
    return int(cell.replace(",", ""))


def _scaled(unit: str, scale: float, cast: Callable[[float], Any]) -> Callable[[str], Any]:
    """A parser for cells like "≈5M" or "<30 ms": the number between sign and unit, scaled."""
    def parse(cell: str) -> Any:
        return cast(float(cell.lstrip("≈<").removesuffix(unit).strip()) * scale)
    return parse


def _side(cell: str) -> int:
    """"224 × 224" -> 224 (the thesis's inputs are square)."""
    width, height = (int(side) for side in cell.split("×"))
    if width != height:
        raise ValueError(f"not a square input size: {cell!r}")
    return width


def _row_key(label: str) -> str:
    """Our key for a printed row label: a model name, "macro", or a class key ("nose_pin")."""
    if label in MODEL_LABELS:
        return MODEL_LABELS[label]
    if label == "Macro Avg":
        return "macro"
    return label.lower().replace(" ", "_")


def _printed_table(name: str, line: int, first_row_line: int,
                   columns: Mapping[str, Callable[[str], Any]], *rows: str) -> Table:
    """A result table from its printed rows (consecutive lines from ``first_row_line``); each
    value is a dict of the parsed cells by column, ``printed`` the row exactly as printed."""
    parsed = {}
    for offset, row in enumerate(rows):
        label, *cells = row.split("\t")
        if len(cells) != len(columns):
            raise ValueError(f"{name}: row {label!r} has {len(cells)} cells, not {len(columns)}")
        value = {col: parse(cell) for (col, parse), cell in zip(columns.items(), cells,
                                                                 strict=True)}
        parsed[_row_key(label)] = Cited(value, row, f"{name}, line {first_row_line + offset}")
    return Table(name, line, parsed)


def printed_label(cited: Cited) -> str:
    """The row label as the thesis prints it ("Custom CNN", "Nose Pin", "Macro Avg")."""
    return cited.printed.split("\t", 1)[0]


_RATIO = float
_METRICS = {"accuracy": _percent, "precision": _RATIO, "recall": _RATIO, "f1": _RATIO,
            "fpr": _RATIO, "fnr": _RATIO}

# Table 4.1 (caption line 880), per class; the totals row is TABLE_4_1 above.
TABLE_4_1_CLASSES = _printed_table(
    "Table 4.1", 880, 883,
    {"original": _count, "train": _count, "val": _count, "test": _count, "augmented": _count},
    "Bangle\t140\t98\t21\t21\t980",
    "Bracelet\t147\t103\t22\t22\t1,029",
    "Chain\t153\t107\t23\t23\t1,071",
    "Earring\t163\t114\t24\t25\t1,141",
    "Necklace\t162\t113\t24\t25\t1,134",
    "Pendant\t150\t105\t22\t23\t1,050",
    "Ring\t152\t106\t23\t23\t1,064",
    "Nose Pin\t150\t105\t22\t23\t1,050",
)

# Table 5.1 (caption line 1332): test metrics of the four models, accuracy printed in percent.
TABLE_5_1 = _printed_table(
    "Table 5.1", 1332, 1335, _METRICS,
    "Custom CNN\t93.78%\t0.9398\t0.9378\t0.9381\t0.0089\t0.0622",
    "ResNet50\t87.97%\t0.8826\t0.8797\t0.8799\t0.0172\t0.1202",
    "VGG16\t94.19%\t0.9470\t0.9419\t0.9420\t0.0083\t0.0581",
    "EfficientNetB2\t95.21%\t0.9533\t0.9506\t0.9497\t0.0075\t0.0494",
)

# Table 5.2 (caption line 1364): the Custom CNN per class, then the macro average ("macro").
TABLE_5_2 = _printed_table(
    "Table 5.2", 1364, 1367, _METRICS,
    "Bangle\t98.34%\t0.9062\t0.9667\t0.9355\t0.0142\t0.0333",
    "Bracelet\t99.59%\t1.0000\t0.9667\t0.9831\t0.0000\t0.0333",
    "Chain\t97.51%\t0.8750\t0.9333\t0.9032\t0.0190\t0.0667",
    "Earring\t98.76%\t0.9655\t0.9333\t0.9492\t0.0047\t0.0667",
    "Necklace\t97.93%\t0.9032\t0.9333\t0.9180\t0.0142\t0.0667",
    "Nose Pin\t98.34%\t0.9355\t0.9355\t0.9355\t0.0095\t0.0645",
    "Pendant\t98.76%\t1.0000\t0.9000\t0.9474\t0.0000\t0.1000",
    "Ring\t98.34%\t0.9333\t0.9333\t0.9333\t0.0095\t0.0667",
    "Macro Avg\t98.45%\t0.9398\t0.9378\t0.9381\t0.0089\t0.0622",
)

# Table 5.3 (caption line 1409): EfficientNetB2 per class. No accuracy column, and FNR is
# printed before FPR here.
TABLE_5_3 = _printed_table(
    "Table 5.3", 1409, 1412,
    {"precision": _RATIO, "recall": _RATIO, "f1": _RATIO, "fnr": _RATIO, "fpr": _RATIO},
    "Bangle\t0.9565\t0.9565\t0.9565\t0.0435\t0.0061",
    "Bracelet\t1.0000\t0.7826\t0.8780\t0.2174\t0.0000",
    "Chain\t0.9524\t0.9091\t0.9302\t0.0909\t0.0061",
    "Earring\t0.9565\t1.0000\t0.9778\t0.0000\t0.0061",
    "Necklace\t1.0000\t1.0000\t1.0000\t0.0000\t0.0000",
    "Nose Pin\t0.8800\t0.9565\t0.9167\t0.0435\t0.0180",
    "Pendant\t0.9565\t1.0000\t0.9778\t0.0000\t0.0061",
    "Ring\t0.9565\t1.0000\t0.9778\t0.0000\t0.0061",
    "Macro Avg\t0.9533\t0.9506\t0.9497\t0.0494\t0.0068",
)

# Table 6.2 (caption line 1647): approximate size and cost claims. Parameters as a count,
# FLOPs in multiply-accumulates, training in minutes, inference as an upper bound in ms.
TABLE_6_2_COLUMNS = ("Parameters", "Input Size", "FLOPs", "Train Time", "Inference")
TABLE_6_2 = _printed_table(
    "Table 6.2", 1647, 1650,
    {"params": _scaled("M", 1e6, int), "input_size": _side, "flops": _scaled("B", 1e9, float),
     "train_time_min": _scaled("min", 1, int), "inference_ms": _scaled("ms", 1, int)},
    "Custom CNN\t≈5M\t224 × 224\t≈0.5B\t≈45 min\t<30 ms",
    "VGG16\t≈138M\t224 × 224\t≈15.5B\t≈30 min\t<50 ms",
    "ResNet50\t≈25M\t224 × 224\t≈4.1B\t≈40 min\t<45 ms",
    "EfficientNetB2\t≈9M\t260 × 260\t≈1.0B\t≈35 min\t<50 ms",
)


def printed_cells(cited: Cited, columns: tuple[str, ...]) -> dict[str, str]:
    """A printed row's cells (label left out) by the given column names."""
    return dict(zip(columns, cited.printed.split("\t")[1:], strict=True))


# Sections 5.2 and 5.8: the claims drawn from the tables and from the recommender.
CLAIMS = Table("Claims", 0, {
    "ranking": _row("Section 5.2", 1354,
                    ("efficientnetb2", "vgg16", "custom_cnn", "resnet50"),
                    "EfficientNetB2 > VGG16 > Custom CNN > ResNet50"),
    "intra_class_similarity": _row("Section 5.8", 1532, 0.92,
                                   "same-class similarity always exceeds 0.92"),
    "inter_class_similarity": _row("Section 5.8", 1534, 0.75,
                                   "different-class similarity lower than 0.75"),
    "confusable_pairs": Cited((("bangle", "bracelet"), ("chain", "necklace")),
                              "bangle–bracelet, then chains and necklaces",
                              "Section 5.6, lines 1455 and 1462"),
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


__all__ = ["Cited", "Table", "TABLE_4_1", "TABLE_4_1_CLASSES", "TABLE_4_2", "TABLE_4_3",
           "TABLE_4_4",
           "TABLE_B_1", "PASSAGES", "MODEL_ORDER", "MODEL_LABELS", "TABLE_5_1", "TABLE_5_2",
           "TABLE_5_3", "TABLE_6_2", "TABLE_6_2_COLUMNS", "CLAIMS", "printed_label",
           "printed_cells", "Study", "TABLE_6_1", "TABLE_6_1_LINE", "augmented_passes"]
