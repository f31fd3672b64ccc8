"""Thesis beside ours: the reader-facing tables of the results chapter.

Everything here is arithmetic over what :func:`evaluate.evaluate_runs` returns (summary,
McNemar, per-class and efficiency tables) and the thesis's transcribed numbers. Each function
returns a small, rounded DataFrame with display names, ready to show in a notebook and to
``glue`` into a chapter. Nothing here trains, loads a model or reads a file.

Verdict words are fixed here so that every page uses the same ones:
- "holds": our result agrees with the claim and the test set supports it;
- "same direction, not significant": the point estimates agree, but McNemar's test cannot
  tell the two models apart;
- "does not hold": our result goes the other way;
- "not tested": a model involved has a warning (at chance, one class), so no verdict is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..contracts import thesis
from ..contracts.config import DISPLAY_NAMES, MODEL_TITLES

HOLDS = "holds"
SAME_DIRECTION = "same direction, not significant"
DOES_NOT_HOLD = "does not hold"
NOT_TESTED = "not tested"
# Significance level for "the test set supports the ranking" (two-sided exact McNemar).
ALPHA = 0.05

# Thesis 5.2: the order of Table 5.1, best first.
THESIS_ORDER: tuple[str, ...] = thesis.CLAIMS.value("ranking")

# Per-class tables the thesis prints (Table 5.2: custom CNN, Table 5.3: EfficientNetB2),
# keyed by our model names, with the table's own label for captions; rows by class key.
THESIS_PER_CLASS: dict[str, tuple[str, Mapping[str, Mapping[str, float]]]] = {
    model: (table.name, table.values())
    for model, table in (("custom_cnn", thesis.TABLE_5_2), ("efficientnetb2", thesis.TABLE_5_3))
}


def _pct(value: float) -> str:
    return "–" if value is None or np.isnan(value) else f"{100 * value:.1f}%"


def _interval(low: float, high: float) -> str:
    return f"{100 * low:.1f}–{100 * high:.1f}"


def short_warning(warning: str) -> str:
    """A few words for a table cell; the full warning stands on the evaluation page."""
    if not warning:
        return ""
    labels = [label for key, label in (("predicts", "one class"), ("chance", "at chance"))
              if key in warning]
    return ", ".join(labels) or "see warning"


def overall_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Table 5.1, thesis beside ours: accuracy and macro F1, each of ours with its interval,
    and a note for a model whose numbers are no finding."""
    rows = []
    for _, r in summary.iterrows():
        theirs = thesis.TABLE_5_1.values().get(r["model"], {})
        rows.append({
            "Model": MODEL_TITLES.get(r["model"], r["model"]),
            "Thesis accuracy": _pct(theirs.get("accuracy", np.nan)),
            "Our accuracy": _pct(r["Accuracy"]),
            "95% interval": _interval(r["Accuracy CI low"], r["Accuracy CI high"]),
            "Thesis F1": _pct(theirs.get("f1", np.nan)),
            "Our F1": _pct(r["F1"]),
            "F1 interval": _interval(r["F1 CI low"], r["F1 CI high"]),
            "Note": short_warning(r.get("Warning", "")),
        })
    return pd.DataFrame(rows).set_index("Model").rename_axis(None)


def _pair_row(mcnemar: pd.DataFrame, better: str, worse: str) -> pd.Series | None:
    hit = mcnemar[((mcnemar["model_a"] == better) & (mcnemar["model_b"] == worse))
                  | ((mcnemar["model_a"] == worse) & (mcnemar["model_b"] == better))]
    return None if hit.empty else hit.iloc[0]


def ranking_verdict(acc_better: float, acc_worse: float, p_value: float,
                    warned: bool) -> str:
    """Verdict on the claim "the first model is more accurate than the second"."""
    if warned:
        return NOT_TESTED
    if acc_better <= acc_worse:
        return DOES_NOT_HOLD
    return HOLDS if p_value < ALPHA else SAME_DIRECTION


def ranking_claims(summary: pd.DataFrame, mcnemar: pd.DataFrame) -> pd.DataFrame:
    """Each adjacent step of the thesis's order, with our accuracies, McNemar p and verdict."""
    by_model = summary.set_index("model")
    warnings = by_model["Warning"] if "Warning" in by_model else pd.Series("", by_model.index)
    rows = []
    for better, worse in zip(THESIS_ORDER, THESIS_ORDER[1:], strict=False):
        if better not in by_model.index or worse not in by_model.index:
            continue
        pair = _pair_row(mcnemar, better, worse)
        p_value = float(pair["p_value"]) if pair is not None else np.nan
        acc_b, acc_w = by_model.loc[better, "Accuracy"], by_model.loc[worse, "Accuracy"]
        warned = bool(warnings.get(better)) or bool(warnings.get(worse))
        rows.append({
            "Thesis claim (Table 5.1)": f"{MODEL_TITLES[better]} > {MODEL_TITLES[worse]}",
            "Ours": f"{_pct(acc_b)} vs {_pct(acc_w)}",
            "McNemar p": "–" if np.isnan(p_value) else f"{p_value:.3g}",
            "Verdict": ranking_verdict(acc_b, acc_w, p_value, warned),
        })
    return pd.DataFrame(rows).set_index("Thesis claim (Table 5.1)")


def ordering_verdict(ranking: pd.DataFrame) -> str:
    """One sentence on the thesis's whole order from :func:`ranking_claims`' verdicts."""
    verdicts = list(ranking["Verdict"])
    held = verdicts.count(HOLDS)
    if verdicts and held == len(verdicts):
        return f"holds at every step ({held} of {held})"
    failed = [claim for claim, v in zip(ranking.index, verdicts, strict=True) if v != HOLDS]
    return (f"does not hold as a whole: {held} of {len(verdicts)} steps hold; not "
            f"supported: {'; '.join(failed)}")


def largest_confusions(confusion: np.ndarray, classes: Sequence[str],
                       top: int = 2) -> list[tuple[str, str]]:
    """The ``top`` class pairs with the most errors between them, both directions counted."""
    counts = np.asarray(confusion)
    mutual = counts + counts.T
    pairs = [(int(mutual[i, j]), classes[i], classes[j])
             for i in range(len(classes)) for j in range(i + 1, len(classes))]
    pairs.sort(key=lambda item: (-item[0], item[1], item[2]))
    return [(a, b) for n, a, b in pairs[:top] if n > 0]


def confusion_claim(confusions: Mapping[str, np.ndarray], classes: Sequence[str],
                    warnings: Mapping[str, str]) -> pd.DataFrame:
    """Thesis 5.6: bangle/bracelet and chain/necklace are each model's main confusions."""
    claimed = {frozenset(p) for p in thesis.CLAIMS.value("confusable_pairs")}
    rows = []
    for model, matrix in confusions.items():
        top = largest_confusions(matrix, classes, top=len(claimed))
        found = {frozenset(p) for p in top}
        if warnings.get(model):
            verdict = NOT_TESTED
        else:
            verdict = HOLDS if found == claimed else DOES_NOT_HOLD
        rows.append({
            "Model": MODEL_TITLES.get(model, model),
            "Our two largest confusions": ", ".join(
                f"{DISPLAY_NAMES.get(a, a)}/{DISPLAY_NAMES.get(b, b)}" for a, b in top) or "none",
            "Verdict": verdict,
        })
    return pd.DataFrame(rows).set_index("Model").rename_axis(None)


def per_class_comparison(model: str, per_class: pd.DataFrame) -> pd.DataFrame | None:
    """Thesis per-class table beside ours (precision, recall, F1), or None when the thesis
    prints no per-class table for ``model``."""
    if model not in THESIS_PER_CLASS:
        return None
    _label, printed = THESIS_PER_CLASS[model]
    ours = per_class.set_index("class")
    rows = []
    for cls, name in DISPLAY_NAMES.items():
        theirs = printed.get(cls)
        if theirs is None or cls not in ours.index:
            continue
        rows.append({"Class": name,
                     "Recall (thesis)": f"{theirs['recall']:.2f}",
                     "Recall (ours)": f"{ours.loc[cls, 'Recall']:.2f}",
                     "Precision (thesis)": f"{theirs['precision']:.2f}",
                     "Precision (ours)": f"{ours.loc[cls, 'Precision']:.2f}",
                     "F1 (thesis)": f"{theirs['f1']:.2f}",
                     "F1 (ours)": f"{ours.loc[cls, 'F1']:.2f}",
                     "Our test images": int(ours.loc[cls, "Support"])})
    return pd.DataFrame(rows).set_index("Class").rename_axis(None)


def _number(value: Any, digits: int) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if np.isnan(value) else f"{value:,.{digits}f}"


def efficiency_tables(efficiency: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 6.2 in two readable halves: size (parameters, compute, file) and time (training,
    one-image inference), each of ours beside the thesis's approximate claim."""
    size_rows, time_rows = [], []
    for _, r in efficiency.iterrows():
        title = MODEL_TITLES.get(r["Model"], r["Model"])
        row = thesis.TABLE_6_2.rows.get(r["Model"])
        claims = thesis.printed_cells(row, thesis.TABLE_6_2_COLUMNS) if row else {}
        size_rows.append({
            "Model": title, "Input": r["Input Size"], "Thesis input": claims.get("Input Size", ""),
            "Parameters (M)": _number(r["Parameters"] / 1e6, 1),
            "Thesis parameters": claims.get("Parameters", ""),
            "Multiply-adds (G)": _number(r["FLOPs (G)"], 2),
            "Thesis FLOPs": claims.get("FLOPs", ""),
            "File (MB)": _number(r["Model File (MB)"], 0)})
        time_rows.append({
            "Model": title, "Training (min)": _number(r["Train Time (min)"], 1),
            "Thesis training": claims.get("Train Time", ""),
            "One image (ms)": _number(r["Inference 1 img compiled (ms)"], 1),
            "Thesis inference": claims.get("Inference", "")})
    return (pd.DataFrame(size_rows).set_index("Model").rename_axis(None),
            pd.DataFrame(time_rows).set_index("Model").rename_axis(None))


EXPERIMENT_TITLES = {"imbalanced": "Imbalanced", "balanced": "Balanced"}


def pretraining_table(gain: pd.DataFrame) -> pd.DataFrame:
    """The reader's view of :func:`evaluate.pretraining_gain`: per model, the run from the
    pretrained backbone beside the run from random initialisation, with the verdict on
    "pre-training helps" in this module's words (the discordant counts and the number of
    test images stay in the gain table, to keep five columns on a page)."""
    rows = {}
    for row in gain.itertuples():
        verdict = ranking_verdict(row.accuracy_pretrained, row.accuracy_random, row.p_value,
                                  warned=False)
        rows[MODEL_TITLES.get(row.model, row.model)] = {
            "Pretrained": f"{_pct(row.accuracy_pretrained)} "
                          f"[{_interval(row.ci_low_pretrained, row.ci_high_pretrained)}]",
            "Random init": f"{_pct(row.accuracy_random)} "
                           f"[{_interval(row.ci_low_random, row.ci_high_random)}]",
            "Gain (points)": f"{row.gain_points:+.1f}",
            "McNemar p": f"{row.p_value:.2g}",
            "Pre-training helps": verdict,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def experiments_table(summaries: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Both thesis experiments beside Table 5.1: per model, the thesis's accuracy, then ours in
    each experiment with its 95% interval. Column titles carry each test set's size, because
    the two experiments are scored on different images and cannot be paired."""
    columns: dict[str, dict[str, str]] = {}
    models: list[str] = []
    for experiment, summary in summaries.items():
        title = f"{EXPERIMENT_TITLES.get(experiment, experiment)} (n = {int(summary['n'].iloc[0])})"
        for _, r in summary.iterrows():
            if r["model"] not in models:
                models.append(r["model"])
            note = short_warning(r.get("Warning", ""))
            cell = (f"{_pct(r['Accuracy'])} "
                    f"[{_interval(r['Accuracy CI low'], r['Accuracy CI high'])}]")
            columns.setdefault(title, {})[r["model"]] = cell + (f" ({note})" if note else "")
    thesis_5_1 = thesis.TABLE_5_1.values()
    table = pd.DataFrame({
        "Thesis (Table 5.1)": {m: _pct(thesis_5_1.get(m, {}).get("accuracy", np.nan))
                               for m in models},
        **columns,
    }).reindex(models).fillna("–")
    return table.rename(index=lambda m: MODEL_TITLES.get(m, m))
