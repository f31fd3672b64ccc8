"""Arithmetic checks of the thesis's own tables (used by notebook 10).

The thesis's numbers come from ``thesis.py`` (each row with its table and line); this module
only holds views of them shaped for the checks. Nothing here trains or loads a
model: every check recomputes a reported number from other reported numbers and returns a list
of rows (plain dicts) ending in a ``verdict`` column, ready for ``pandas.DataFrame``.

Rounding: the thesis prints ratios with four decimals and percentages with two, so a value
``v`` printed with ``d`` decimals stands for any true value in ``[v - 0.5e-d, v + 0.5e-d]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from ..contracts import thesis
from ..contracts.thesis import TABLE_6_1

OK = "consistent"
BAD = "inconsistent"
POSSIBLE_FOR_EACH = "possible for each"

# --------------------------------------------------------------------------------------------
# The thesis's tables, shaped for the checks
# --------------------------------------------------------------------------------------------

CLASS_ORDER = ("Bangle", "Bracelet", "Chain", "Earring", "Necklace", "Pendant", "Ring", "Nose Pin")

# Views of thesis.py's transcriptions in the shapes the checks below take: rows keyed by the
# label the thesis prints, in the thesis's row order.
TABLE_4_1_COLUMNS = ("original", "train", "val", "test", "augmented")
TABLE_4_1: dict[str, tuple[int, ...]] = {
    thesis.printed_label(row): tuple(row.value[c] for c in TABLE_4_1_COLUMNS)
    for row in thesis.TABLE_4_1_CLASSES.rows.values()}
TABLE_4_1_TOTAL = tuple(thesis.TABLE_4_1.value(c) for c in TABLE_4_1_COLUMNS)

# Section 3.1 (thesis line 452): the first experiment used a balanced set of 1,600 images
# (200 per class); every experiment used a 70/15/15 split.
BALANCED_TOTAL = 1600
SPLIT_RATIOS = (0.70, 0.15, 0.15)

METRICS = ("accuracy", "precision", "recall", "f1", "fpr", "fnr")


def _by_label(table: thesis.Table) -> dict[str, dict[str, float]]:
    """A result table's rows (macro average left out) keyed by printed label."""
    return {thesis.printed_label(row): dict(row.value)
            for key, row in table.rows.items() if key != "macro"}


TABLE_5_1 = _by_label(thesis.TABLE_5_1)
TABLE_5_2 = _by_label(thesis.TABLE_5_2)
TABLE_5_2_MACRO = dict(thesis.TABLE_5_2.value("macro"))
TABLE_5_3 = _by_label(thesis.TABLE_5_3)
TABLE_5_3_MACRO = dict(thesis.TABLE_5_3.value("macro"))

# Table 4.3: four Conv2D + BatchNorm + MaxPool(2x2) blocks (3x3 kernels, section 4.3), then
# Flatten + Dense, Dense, Dense(classes); with the printed output sides of the four blocks.
TABLE_4_3: dict[str, Any] = thesis.TABLE_4_3.values()

# Table 6.2: approximate parameter count and input side per model.
TABLE_6_2_PARAMS: dict[str, tuple[float, int]] = {
    thesis.printed_label(row): (float(row.value["params"]), row.value["input_size"])
    for row in thesis.TABLE_6_2.rows.values()}

# Which thesis table each model's row comes from, for captions.
SOURCES = {
    f"TABLE_{table.name.split()[1].replace('.', '_')}": f"{table.name} (thesis line {table.line})"
    for table in (thesis.TABLE_4_1, thesis.TABLE_4_3, thesis.TABLE_5_1, thesis.TABLE_5_2,
                  thesis.TABLE_5_3, thesis.TABLE_6_2)}
SOURCES["TABLE_6_1"] = f"Table 6.1 (thesis line {thesis.TABLE_6_1_LINE})"

# --------------------------------------------------------------------------------------------
# Small arithmetic helpers
# --------------------------------------------------------------------------------------------


def half_unit(decimals: int) -> float:
    """Half of the last printed digit: the rounding slack of a value shown with ``decimals``."""
    return 0.5 * 10.0 ** (-decimals)


def rounds_to(value: float, printed: float, decimals: int) -> bool:
    """Whether ``value`` is printed as ``printed`` with ``decimals`` decimals.

    Ties (exactly half a unit away) count as a match, since the thesis does not say how it
    rounded.
    """
    return abs(value - printed) <= half_unit(decimals) + 1e-12


def fractions_matching(printed: float, n: int, decimals: int = 4) -> list[int]:
    """All ``k`` in ``0..n`` for which ``k / n`` is printed as ``printed``."""
    if n <= 0:
        return []
    centre = printed * n
    lo, hi = max(0, math.floor(centre) - 1), min(n, math.ceil(centre) + 1)
    return [k for k in range(lo, hi + 1) if rounds_to(k / n, printed, decimals)]


def denominators_matching(printed: float, n_range: Iterable[int], decimals: int = 4) -> list[int]:
    """The ``n`` in ``n_range`` for which some ``k / n`` is printed as ``printed``."""
    return [n for n in n_range if fractions_matching(printed, n, decimals)]


def f1_from(precision: float, recall: float) -> float:
    """Harmonic mean of precision and recall (0 when both are 0)."""
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _verdict(ok: bool) -> str:
    return OK if ok else BAD


def _ratio_text(ks: Sequence[int], n: int) -> str:
    return ", ".join(f"{k}/{n}" for k in ks) if ks else "none"


# --------------------------------------------------------------------------------------------
# Checks. Each returns a list of rows with a final "verdict" key.
# --------------------------------------------------------------------------------------------


def check_macro_averages(
    per_class: dict[str, dict[str, float]],
    macro_row: dict[str, float],
    overall_row: dict[str, float] | None = None,
    decimals: int = 4,
) -> list[dict[str, Any]]:
    """Recompute each macro average as the mean of the per-class rows.

    The mean of values that were each rounded can be off by at most one half unit, and the
    printed average by another half unit, so a difference of up to one unit is ``consistent``.
    When ``overall_row`` (the model's Table 5.1 row) is given, it is compared as well.
    """
    rows = []
    tolerance = 2 * half_unit(decimals) + 1e-12
    for metric in macro_row:
        values = [row[metric] for row in per_class.values()]
        mean = sum(values) / len(values)
        reported = macro_row[metric]
        row: dict[str, Any] = {
            "metric": metric,
            "mean of per-class rows": round(mean, 5),
            "reported macro average": reported,
            "difference": round(reported - mean, 5),
        }
        ok = abs(reported - mean) <= tolerance
        if overall_row is not None and metric in overall_row:
            # Table 5.1's accuracy is the overall accuracy, not a mean of one-vs-rest
            # accuracies; check_ovr_accuracy relates the two.
            if metric == "accuracy":
                row["Table 5.1 value"] = "n/a"
            else:
                row["Table 5.1 value"] = overall_row[metric]
                ok = ok and abs(overall_row[metric] - reported) <= tolerance
        row["verdict"] = _verdict(ok)
        rows.append(row)
    return rows


def check_ovr_accuracy(per_class: dict[str, dict[str, float]], overall_accuracy: float,
                       decimals: int = 4) -> list[dict[str, Any]]:
    """Relate the per-class (one-vs-rest) accuracies to the overall accuracy.

    Every misclassified image is one false negative (its class) and one false positive (the
    predicted class), so with ``C`` classes the mean one-vs-rest accuracy is
    ``1 - 2 e / (C N)`` while the overall accuracy is ``1 - e / N``. Hence
    ``overall = 1 - C / 2 * (1 - mean one-vs-rest accuracy)``.
    """
    classes = len(per_class)
    mean = sum(r["accuracy"] for r in per_class.values()) / classes
    implied = 1 - classes / 2 * (1 - mean)
    # Each printed accuracy carries half a unit of slack; the identity multiplies it by C / 2.
    slack = classes / 2 * half_unit(decimals) + half_unit(decimals) + 1e-12
    return [{
        "mean one-vs-rest accuracy": round(mean, 5),
        "implied overall accuracy": f"{implied * 100:.2f}%",
        "reported overall accuracy": f"{overall_accuracy * 100:.2f}%",
        "difference (points)": round((overall_accuracy - implied) * 100, 3),
        "verdict": _verdict(abs(overall_accuracy - implied) <= slack),
    }]


def check_rate_identities(per_class: dict[str, dict[str, float]],
                          decimals: int = 4) -> list[dict[str, Any]]:
    """Per row: FNR must equal 1 - recall and F1 must be the harmonic mean of P and R."""
    rows = []
    slack = 2 * half_unit(decimals) + 1e-12
    for name, r in per_class.items():
        f1 = f1_from(r["precision"], r["recall"])
        # F1 from rounded P and R: allow the propagated rounding error (derivative <= 1 each).
        f1_ok = abs(f1 - r["f1"]) <= 3 * half_unit(decimals) + 1e-12
        fnr_ok = abs((1 - r["recall"]) - r["fnr"]) <= slack
        rows.append({
            "class": name,
            "F1 from P and R": round(f1, 4),
            "reported F1": r["f1"],
            "1 - recall": round(1 - r["recall"], 4),
            "reported FNR": r["fnr"],
            "verdict": _verdict(f1_ok and fnr_ok),
        })
    return rows


def check_accuracy_denominators(
    accuracies: dict[str, float], test_sizes: Sequence[int], decimals: int = 4
) -> list[dict[str, Any]]:
    """For each reported accuracy, is it ``k / N`` (after rounding) for each test size ``N``?

    A classifier scored on ``N`` images can only reach accuracies ``k / N``; a printed value no
    ``k`` can produce cannot come from a test set of that size.
    """
    rows = []
    for name, acc in accuracies.items():
        row: dict[str, Any] = {"model": name, "reported accuracy": f"{acc * 100:.2f}%"}
        possible = []
        for n in test_sizes:
            ks = fractions_matching(acc, n, decimals)
            row[f"k/N for N={n}"] = _ratio_text(ks, n)
            possible.append(bool(ks))
        row["verdict"] = _sizes_verdict(test_sizes, possible)
        rows.append(row)
    return rows


def _sizes_verdict(test_sizes: Sequence[int], possible: Sequence[bool]) -> str:
    """Name the sizes that were tried, so a verdict never claims more than was searched."""
    searched = _and_list(test_sizes)
    if all(possible):
        return f"{POSSIBLE_FOR_EACH} N searched ({searched})"
    if not any(possible):
        return f"impossible for each N searched ({searched})"
    fitting = [n for n, ok in zip(test_sizes, possible, strict=True) if ok]
    return f"possible for N = {_and_list(fitting)} only"


def _and_list(values: Sequence[int]) -> str:
    items = [str(v) for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def check_shared_test_size(accuracies: dict[str, float], n_range: Iterable[int],
                           decimals: int = 4) -> list[dict[str, Any]]:
    """Could the models of one table have been scored on one test set?

    Every model scored on the same ``N`` images has an accuracy ``k / N``, so the ``N`` in
    ``n_range`` that fit every accuracy at once are the only candidate sizes of a shared test
    set. The last row says whether any exists.
    """
    n_range = list(n_range)
    span = f"{n_range[0]}-{n_range[-1]}"
    rows = []
    for name, acc in accuracies.items():
        fits = denominators_matching(acc, n_range, decimals)
        rows.append({"model": name, "reported accuracy": f"{acc * 100:.2f}%",
                     f"test sizes N in {span} that fit": ", ".join(map(str, fits)) or "none",
                     "smallest N": fits[0] if fits else "none",
                     "verdict": OK if fits else BAD})
    shared = fitting_test_sizes(accuracies.values(), n_range, decimals)
    rows.append({"model": "all models at once", "reported accuracy": "",
                 f"test sizes N in {span} that fit": ", ".join(map(str, shared)) or "none",
                 "smallest N": shared[0] if shared else "none",
                 "verdict": OK if shared else f"no shared test set of {span} images"})
    return rows


def fitting_test_sizes(values: Iterable[float], n_range: Iterable[int],
                       decimals: int = 4) -> list[int]:
    """Test sizes ``N`` for which every value in ``values`` is some ``k / N``."""
    values = list(values)
    return [n for n in n_range if all(fractions_matching(v, n, decimals) for v in values)]


def check_per_class_accuracy(per_class: dict[str, dict[str, float]], test_sizes: Sequence[int],
                             decimals: int = 4) -> list[dict[str, Any]]:
    """One-vs-rest accuracy of a class is ``1 - errors / N`` over the whole test set, so each
    per-class accuracy (Table 5.2) must be some ``k / N`` for the test size ``N`` used."""
    return check_accuracy_denominators(
        {name: r["accuracy"] for name, r in per_class.items()}, test_sizes, decimals
    )


def implied_supports(per_class: dict[str, dict[str, float]], n_range: Iterable[int],
                     decimals: int = 4) -> dict[str, list[int] | None]:
    """Class sizes in ``n_range`` that could give each printed recall (``None``: recall 1 or 0,
    which every size can give)."""
    n_range = list(n_range)
    out: dict[str, list[int] | None] = {}
    for name, r in per_class.items():
        rec = r["recall"]
        out[name] = None if rec in (0.0, 1.0) else denominators_matching(rec, n_range, decimals)
    return out


def check_supports(per_class: dict[str, dict[str, float]], expected: dict[str, int],
                   n_range: Iterable[int], label: str, decimals: int = 4) -> list[dict[str, Any]]:
    """Compare the class sizes a recall value allows with the sizes a split says."""
    rows = []
    for name, cands in implied_supports(per_class, n_range, decimals).items():
        want = expected[name]
        ok = True if cands is None else want in cands
        rows.append({
            "class": name,
            "reported recall": per_class[name]["recall"],
            "class sizes that fit": "any" if cands is None else (
                ", ".join(map(str, cands)) or "none in range"),
            f"size in {label}": want,
            "verdict": _verdict(ok),
        })
    return rows


def error_counts(recall: float, precision: float, max_class_size: int,
                 decimals: int = 4) -> set[tuple[int, int, int]]:
    """Every (class size, false negatives, false positives) that prints as ``recall`` and
    ``precision``, for class sizes up to ``max_class_size``.

    Recall is ``TP / n`` and precision ``TP / (TP + FP)``; both share ``TP``, which is what
    ties a class's misses to its false alarms.
    """
    found = set()
    for n in range(1, max_class_size + 1):
        for tp in fractions_matching(recall, n, decimals):
            if tp == 0:
                continue
            for fp in range(0, 2 * max_class_size + 1):
                if rounds_to(tp / (tp + fp), precision, decimals):
                    found.add((n, n - tp, fp))
    return found


def check_error_balance(per_class: dict[str, dict[str, float]], max_class_size: int = 40,
                        decimals: int = 4) -> list[dict[str, Any]]:
    """Total false negatives must equal total false positives.

    Each wrong prediction is one false negative (of its true class) and one false positive (of
    the predicted class), so over a whole confusion matrix the two sums are equal. For every
    class this lists the counts its printed recall and precision allow, with at most
    ``max_class_size`` test images per class (Table 4.1 has at most 25), then compares the
    range of possible sums. The last row is the verdict on the table as a whole.
    """
    rows, fn_range, fp_range = [], [0, 0], [0, 0]
    for name, r in per_class.items():
        options = error_counts(r["recall"], r["precision"], max_class_size, decimals)
        fns = sorted({fn for _n, fn, _fp in options})
        fps = sorted({fp for _n, _fn, fp in options})
        sizes = sorted({n for n, _fn, _fp in options})
        fn_range = [fn_range[0] + fns[0], fn_range[1] + fns[-1]] if fns else fn_range
        fp_range = [fp_range[0] + fps[0], fp_range[1] + fps[-1]] if fps else fp_range
        rows.append({"class": name, "recall": r["recall"], "precision": r["precision"],
                     "class sizes that fit": _span_text(sizes),
                     "false negatives": _span_text(fns), "false positives": _span_text(fps),
                     "verdict": OK if options else BAD})
    overlap = fn_range[0] <= fp_range[1] and fp_range[0] <= fn_range[1]
    rows.append({"class": "Total", "recall": "", "precision": "",
                 "class sizes that fit": f"at most {max_class_size} per class",
                 "false negatives": _span_text(sorted(set(fn_range))),
                 "false positives": _span_text(sorted(set(fp_range))),
                 "verdict": OK if overlap else BAD})
    return rows


def _span_text(values: Sequence[int]) -> str:
    """'none', '5' or '3-7' for a sorted list of counts."""
    if not values:
        return "none"
    return str(values[0]) if values[0] == values[-1] else f"{values[0]}-{values[-1]}"


def check_prior_work_comparability(studies: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """Table 6.1 ranks the thesis above earlier studies. A ranking by accuracy needs the same
    task and test data; each earlier row is checked for both against the thesis's own rows.
    The last row is the verdict on the ranking."""
    studies = list(TABLE_6_1 if studies is None else studies)
    own = [s for s in studies if s.study.startswith("This study")]
    own_tasks = {s.task for s in own}
    own_data = {s.dataset for s in own}
    rows = []
    for s in studies:
        if s in own:
            continue
        same_task, same_data = s.task in own_tasks, s.dataset in own_data
        rows.append({"study": s.study, "task": s.task, "data": s.dataset,
                     "reported accuracy": s.accuracy, "same task": same_task,
                     "same data": same_data,
                     "verdict": "comparable" if same_task and same_data else "not comparable"})
    comparable = sum(r["verdict"] == "comparable" for r in rows)
    rows.append({"study": "ranking in Table 6.1", "task": "", "data": "",
                 "reported accuracy": "", "same task": "", "same data": "",
                 "verdict": f"{comparable} of {len(rows)} earlier studies comparable"})
    return rows


def check_table_4_1_sums() -> list[dict[str, Any]]:
    """Rows must add up (original = train + val + test) and columns must match the totals."""
    rows = []
    for name, (orig, tr, va, te, _aug) in TABLE_4_1.items():
        rows.append({"row": name, "stated": orig, "recomputed": tr + va + te,
                     "what": "train + val + test", "verdict": _verdict(orig == tr + va + te)})
    for i, col in enumerate(TABLE_4_1_COLUMNS):
        total = sum(v[i] for v in TABLE_4_1.values())
        rows.append({"row": f"Total {col}", "stated": TABLE_4_1_TOTAL[i], "recomputed": total,
                     "what": "column sum", "verdict": _verdict(total == TABLE_4_1_TOTAL[i])})
    return rows


def check_split_ratios(tolerance: float = 0.01) -> list[dict[str, Any]]:
    """The split columns against the stated 70/15/15 per class and overall."""
    rows = []
    for name, (orig, *split, _aug) in [*TABLE_4_1.items(), ("Total", TABLE_4_1_TOTAL)]:
        shares = [s / orig for s in split]
        ok = all(abs(s - r) <= tolerance + 1 / orig for s, r in zip(shares, SPLIT_RATIOS,
                                                                     strict=True))
        rows.append({"row": name, "train share": round(shares[0], 4),
                     "val share": round(shares[1], 4), "test share": round(shares[2], 4),
                     "verdict": _verdict(ok)})
    return rows


def check_augmented_factor(train_factor: int = 10,
                           whole_factor: int = 7) -> list[dict[str, Any]]:
    """Which count is the "Augmented" column a multiple of: the training split or the class?

    The text describes the augmented set as the training set enlarged about tenfold
    (``train_factor``). A column that is an exact multiple of the whole class (train,
    validation and test together) instead means the validation and test images were counted
    among the augmented ones too.
    """
    rows = []
    for name, (orig, tr, _v, _t, aug) in [*TABLE_4_1.items(), ("Total", TABLE_4_1_TOTAL)]:
        rows.append({"row": name, "class images": orig, "train": tr, "stated augmented": aug,
                     "augmented / class": round(aug / orig, 4),
                     "augmented / train": round(aug / tr, 4),
                     f"= {whole_factor} x class": aug == whole_factor * orig,
                     f"= {train_factor} x train": aug == train_factor * tr,
                     "verdict": OK if aug == whole_factor * orig else BAD})
    return rows


def check_augmented_counts(factor: int = 10) -> list[dict[str, Any]]:
    """Is the "Augmented" column ``factor`` times the training column?"""
    rows = []
    for name, (_o, tr, _v, _t, aug) in [*TABLE_4_1.items(), ("Total", TABLE_4_1_TOTAL)]:
        rows.append({"row": name, "train": tr, f"{factor} x train": factor * tr,
                     "stated augmented": aug, "difference": aug - factor * tr,
                     "verdict": _verdict(aug == factor * tr)})
    return rows


def balanced_split_sizes(total: int = BALANCED_TOTAL,
                         ratios: Sequence[float] = SPLIT_RATIOS) -> dict[str, int]:
    """Split sizes of the balanced experiment (200 per class, 70/15/15)."""
    train = round(total * ratios[0])
    val = round(total * ratios[1])
    return {"train": train, "val": val, "test": total - train - val}


# --------------------------------------------------------------------------------------------
# Custom CNN size (Table 4.3 against Table 6.2)
# --------------------------------------------------------------------------------------------


def conv_pool_sides(input_size: int, blocks: int, kernel: int = 3,
                    padding: str = "valid") -> list[int]:
    """Feature-map side after each Conv(kernel, stride 1) + MaxPool(2) block."""
    sides, side = [], input_size
    for _ in range(blocks):
        if padding == "valid":
            side = side - kernel + 1
        side //= 2
        sides.append(side)
    return sides


def custom_cnn_param_count(
    input_size: int = TABLE_4_3["input_size"],
    filters: Sequence[int] = TABLE_4_3["filters"],
    dense: Sequence[int] = TABLE_4_3["dense"],
    classes: int = TABLE_4_3["classes"],
    kernel: int = TABLE_4_3["kernel"],
    padding: str = "valid",
    head: str = "flatten",
    batchnorm: bool = True,
    channels: int = 3,
) -> dict[str, int]:
    """Parameter count of the Table 4.3 network, by layer group.

    ``padding``: "valid" reproduces the output shapes printed in Table 4.3, "same" keeps the
    side until each pool. ``head``: "flatten" as in Table 4.3, or "gap" (global average
    pooling) as an alternative reading. Batch-norm counts 4 numbers per channel (2 trainable).
    """
    counts = {"conv": 0, "batchnorm": 0, "dense": 0}
    c_in = channels
    for f in filters:
        counts["conv"] += kernel * kernel * c_in * f + f
        if batchnorm:
            counts["batchnorm"] += 4 * f
        c_in = f
    side = conv_pool_sides(input_size, len(filters), kernel, padding)[-1]
    width = c_in * side * side if head == "flatten" else c_in
    for units in (*dense, classes):
        counts["dense"] += width * units + units
        width = units
    counts["total"] = counts["conv"] + counts["batchnorm"] + counts["dense"]
    return counts


def check_table_4_3_shapes() -> list[dict[str, Any]]:
    """Do the printed output shapes follow from 3x3 convolutions and 2x2 pooling?"""
    rows = []
    size, printed = TABLE_4_3["input_size"], TABLE_4_3["output_sides"]
    for padding in ("valid", "same"):
        sides = conv_pool_sides(size, len(printed), TABLE_4_3["kernel"], padding)
        rows.append({"padding": padding, "computed sides": ", ".join(map(str, sides)),
                     "Table 4.3 sides": ", ".join(map(str, printed)),
                     "verdict": _verdict(tuple(sides) == tuple(printed))})
    return rows


def check_custom_cnn_size(claim: float = TABLE_6_2_PARAMS["Custom CNN"][0],
                          tolerance: float = 0.25,
                          built: int | None = None) -> list[dict[str, Any]]:
    """Table 4.3's network at its input size against the parameter count Table 6.2 claims.

    ``tolerance`` is how far from the claim a count may be and still read as "≈" (25%).
    ``built``: a count from actually building the model (``models.count_params``), if known.
    """
    readings = [
        ("Table 4.3 as printed (valid padding, Flatten)", "valid", "flatten"),
        ("same padding, Flatten", "same", "flatten"),
        ("valid padding, global average pooling", "valid", "gap"),
    ]
    rows = []
    for label, padding, head in readings:
        total = custom_cnn_param_count(padding=padding, head=head)["total"]
        rows.append(_size_row(label, total, claim, tolerance))
    if built is not None:
        rows.append(_size_row(
            f"our build_model('custom_cnn', input_size={TABLE_4_3['input_size']})", built,
            claim, tolerance))
    return rows


def _size_row(label: str, total: int, claim: float, tolerance: float) -> dict[str, Any]:
    return {
        "reading": label,
        "parameters": total,
        "millions": round(total / 1e6, 2),
        "Table 6.2 claim (millions)": claim / 1e6,
        "ratio to claim": round(total / claim, 2),
        "verdict": _verdict(abs(total / claim - 1) <= tolerance),
    }


def summary(rows: Iterable[dict[str, Any]]) -> str:
    """"k of n rows consistent" for a check's rows."""
    rows = list(rows)
    good = sum(1 for r in rows
               if r["verdict"] == OK or str(r["verdict"]).startswith(POSSIBLE_FOR_EACH))
    return f"{good} of {len(rows)} rows consistent"
