"""comparison.py: the thesis-beside-ours tables and their verdicts, on hand-made inputs."""

import numpy as np
import pandas as pd

from jewelnet_utils.contracts.config import CLASSES
from jewelnet_utils.report import comparison as cmp


def _summary(acc: dict[str, float], warnings: dict[str, str] | None = None) -> pd.DataFrame:
    rows = []
    for model, a in acc.items():
        rows.append({"model": model, "run": f"{model}-cpu-s42", "n": 185, "Accuracy": a,
                     "Accuracy CI low": a - 0.05, "Accuracy CI high": a + 0.05, "F1": a - 0.01,
                     "F1 CI low": a - 0.06, "F1 CI high": a + 0.04,
                     "Warning": (warnings or {}).get(model, "")})
    return pd.DataFrame(rows)


def _mcnemar(p: dict[tuple[str, str], float]) -> pd.DataFrame:
    return pd.DataFrame([{"model_a": a, "model_b": b, "p_value": v} for (a, b), v in p.items()])


def test_ranking_verdicts():
    assert cmp.ranking_verdict(0.9, 0.8, 0.01, warned=False) == cmp.HOLDS
    assert cmp.ranking_verdict(0.9, 0.8, 0.20, warned=False) == cmp.SAME_DIRECTION
    assert cmp.ranking_verdict(0.8, 0.9, 0.01, warned=False) == cmp.DOES_NOT_HOLD
    assert cmp.ranking_verdict(0.8, 0.8, 1.0, warned=False) == cmp.DOES_NOT_HOLD  # a tie
    assert cmp.ranking_verdict(0.9, 0.8, 0.01, warned=True) == cmp.NOT_TESTED


def test_ranking_claims_follow_the_thesis_order_and_find_pairs_either_way():
    summary = _summary({"custom_cnn": 0.88, "vgg16": 0.80, "resnet50": 0.70,
                        "efficientnetb2": 0.90})
    # McNemar rows in the order evaluate writes them (custom_cnn first), not the claim's.
    mcnemar = _mcnemar({("custom_cnn", "vgg16"): 0.01, ("custom_cnn", "resnet50"): 0.001,
                        ("vgg16", "efficientnetb2"): 0.3})
    table = cmp.ranking_claims(summary, mcnemar)
    assert list(table.index) == ["EfficientNetB2 > VGG16", "VGG16 > Custom CNN",
                                 "Custom CNN > ResNet50"]
    assert list(table["Verdict"]) == [cmp.SAME_DIRECTION, cmp.DOES_NOT_HOLD, cmp.HOLDS]
    assert table.loc["Custom CNN > ResNet50", "McNemar p"] == "0.001"


def test_ordering_verdict_holds_only_when_every_step_holds():
    summary = _summary({"custom_cnn": 0.88, "vgg16": 0.80, "resnet50": 0.70,
                        "efficientnetb2": 0.90})
    mcnemar = _mcnemar({("custom_cnn", "vgg16"): 0.01, ("custom_cnn", "resnet50"): 0.001,
                        ("vgg16", "efficientnetb2"): 0.3})
    verdict = cmp.ordering_verdict(cmp.ranking_claims(summary, mcnemar))
    assert verdict.startswith("does not hold as a whole: 1 of 3 steps hold")
    assert "EfficientNetB2 > VGG16; VGG16 > Custom CNN" in verdict
    ordered = _summary({"efficientnetb2": 0.95, "vgg16": 0.9, "custom_cnn": 0.85,
                        "resnet50": 0.8})
    all_significant = _mcnemar({("custom_cnn", "vgg16"): 0.01, ("custom_cnn", "resnet50"): 0.01,
                                ("vgg16", "efficientnetb2"): 0.01})
    assert cmp.ordering_verdict(cmp.ranking_claims(ordered, all_significant)) == (
        "holds at every step (3 of 3)")


def test_a_warned_model_makes_its_claims_untested():
    summary = _summary({"custom_cnn": 0.88, "vgg16": 0.13, "resnet50": 0.70,
                        "efficientnetb2": 0.90}, {"vgg16": "accuracy 13% is not above chance"})
    mcnemar = _mcnemar({("custom_cnn", "vgg16"): 1e-9, ("vgg16", "efficientnetb2"): 1e-9,
                        ("custom_cnn", "resnet50"): 0.001})
    verdicts = cmp.ranking_claims(summary, mcnemar)["Verdict"].tolist()
    assert verdicts == [cmp.NOT_TESTED, cmp.NOT_TESTED, cmp.HOLDS]
    overall = cmp.overall_table(summary)
    assert overall.loc["VGG16", "Note"] == "at chance"
    assert overall.loc["Custom CNN", "Note"] == ""
    assert overall.loc["Custom CNN", "Thesis accuracy"] == "93.8%"
    assert overall.loc["Custom CNN", "95% interval"] == "83.0–93.0"


def test_largest_confusions_count_both_directions():
    cm = np.zeros((len(CLASSES), len(CLASSES)), int)
    b, br, ch, ne, ri = (CLASSES.index(c) for c in
                         ("bangle", "bracelet", "chain", "necklace", "ring"))
    cm[b, br], cm[br, b] = 3, 3       # 6 in all
    cm[ch, ne] = 5                     # 5 one way only
    cm[ri, b] = 4                      # 4
    assert cmp.largest_confusions(cm, CLASSES) == [("bangle", "bracelet"), ("chain", "necklace")]
    table = cmp.confusion_claim({"vgg16": cm}, CLASSES, {})
    assert table.loc["VGG16", "Verdict"] == cmp.HOLDS
    cm[ri, b] = 9
    table = cmp.confusion_claim({"vgg16": cm, "resnet50": cm}, CLASSES, {"resnet50": "x"})
    assert table.loc["VGG16", "Verdict"] == cmp.DOES_NOT_HOLD
    assert table.loc["VGG16", "Our two largest confusions"] == "Bangle/Ring, Bangle/Bracelet"
    assert table.loc["ResNet50", "Verdict"] == cmp.NOT_TESTED


def test_per_class_comparison_only_where_the_thesis_prints_a_table():
    per_class = pd.DataFrame({"class": list(CLASSES), "Precision": 0.5, "Recall": 0.25,
                              "F1": 1 / 3, "Support": 23})
    assert cmp.per_class_comparison("vgg16", per_class) is None
    table = cmp.per_class_comparison("efficientnetb2", per_class)
    assert table.loc["Bracelet", "Recall (thesis)"] == "0.78"  # Table 5.3
    assert table.loc["Bracelet", "Recall (ours)"] == "0.25"
    assert table.loc["Nose Pin", "Our test images"] == 23
    assert len(table) == len(CLASSES)


def test_efficiency_tables_round_and_name_the_models():
    eff = pd.DataFrame([{"Model": "vgg16", "Input Size": "64 × 64", "Parameters": 14_846_280,
                         "FLOPs (G)": 1.2345, "Model File (MB)": 59.4, "Train Time (min)": 3.21,
                         "Inference 1 img compiled (ms)": np.nan}])
    size, time = cmp.efficiency_tables(eff)
    assert size.loc["VGG16", "Parameters (M)"] == "14.8"
    assert size.loc["VGG16", "Thesis parameters"] == "≈138M"
    assert size.loc["VGG16", "Multiply-adds (G)"] == "1.23"
    assert time.loc["VGG16", "Training (min)"] == "3.2"
    assert time.loc["VGG16", "One image (ms)"] == "–"  # not measured in this build


def test_training_summary_shows_stages_not_internals():
    from types import SimpleNamespace

    from jewelnet_utils.contracts.artifacts import Timings
    from jewelnet_utils.report.evaluate import training_summary

    timings = Timings(feature_cache_s=12.0, stage1_s=30.0, stage2_s=150.0, train_s=192.0,
                      checkpoint_s=1.0, wall_s_this_session=200.0,
                      epochs={"stage1": 10, "stage2": 2},
                      stopped_early={"stage1": True, "stage2": False}, cpu_s={},
                      images_per_s={}, cache_views=1, num_train=851)
    table = training_summary(SimpleNamespace(timings=timings))
    assert list(table.index) == ["stage 1", "stage 2"]
    assert table.loc["stage 1", "epochs"] == 10 and bool(table.loc["stage 1", "stopped early"])
    assert table.loc["stage 2", "minutes"] == 2.5
    assert list(table.columns) == ["epochs", "stopped early", "minutes"]


def test_experiments_table_sets_both_experiments_beside_table_5_1():
    imbalanced = _summary({"custom_cnn": 0.9, "vgg16": 0.5}, {"vgg16": "predicts one class"})
    balanced = _summary({"custom_cnn": 0.8, "vgg16": 0.7}).assign(n=240)
    table = cmp.experiments_table({"imbalanced": imbalanced, "balanced": balanced})
    assert list(table.columns) == ["Thesis (Table 5.1)", "Imbalanced (n = 185)",
                                   "Balanced (n = 240)"]
    assert table.loc["Custom CNN", "Thesis (Table 5.1)"] == "93.8%"  # Table 5.1, 93.78
    assert table.loc["Custom CNN", "Balanced (n = 240)"] == "80.0% [75.0–85.0]"
    assert table.loc["VGG16", "Imbalanced (n = 185)"].endswith("(one class)")
    only_one = cmp.experiments_table({"imbalanced": imbalanced})
    assert list(only_one.columns) == ["Thesis (Table 5.1)", "Imbalanced (n = 185)"]


def test_epoch_table_indexes_history_rows_by_epoch():
    from jewelnet_utils.report.evaluate import epoch_table

    rows = [{"epoch": 1, "stage": 1, "loss": 2.123456, "accuracy": 0.25, "val_loss": 2.0,
             "val_accuracy": 0.3, "learning_rate": 1e-4},
            {"epoch": 2, "stage": 1, "loss": 1.5, "accuracy": 0.5, "val_loss": 1.9,
             "val_accuracy": 0.35, "learning_rate": 1e-4}]
    table = epoch_table(rows)
    assert list(table.index) == [1, 2] and table.index.name == "epoch"
    assert table.loc[1, "loss"] == 2.1235 and list(table.columns)[0] == "stage"
