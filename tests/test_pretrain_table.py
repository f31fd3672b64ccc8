"""The reader's table of the pretext-transfer record (notebook 04, the results chapter)."""

import json
from pathlib import Path

from jewelnet_utils.run import pretrain

RECORD = Path(__file__).resolve().parents[1] / "results" / "pretrain-2026-11-28.json"


def test_transfer_table_reads_every_row_of_the_record():
    record = json.loads(RECORD.read_text(encoding="utf-8"))
    table = pretrain.transfer_table(record)
    assert len(table) == len(record["backbones"])
    best = record["backbones"][-1]
    last = table.iloc[-1]
    low, high = best["runs"]["pretext"]["test_accuracy_ci95"]
    assert last["Test, our backbone"] == (f"{100 * best['runs']['pretext']['test_accuracy']:.1f}%"
                                          f" [{100 * low:.1f}, {100 * high:.1f}]")
    # That row reuses the v2 row's random-init run, as its record says.
    assert last["Test, random init"] == table.iloc[1]["Test, random init"]
    assert last["Gain (points)"] == f"{best['gain_points']:+.1f}"
    assert table.iloc[0]["Source task (turn or figure)"] == "–"  # recipe v1 had no turns
    assert table.iloc[0]["Pretext recipe"] == "recipe v1: unlabelled jewelry, 6 epochs at 64 px"


def test_transfer_table_names_the_figure_source_and_its_accuracy():
    record = json.loads((RECORD.parent / "pretrain-shapes-2026-11-28.json").read_text())
    table = pretrain.transfer_table(record)
    vgg = table.loc["VGG16"]
    task = record["backbones"][-1]["pretrain"]["source_task"]
    assert vgg["Pretext recipe"] == "recipe s1: figures, 10 epochs at 48 px"
    chance = task["shape_accuracy_baseline"]
    assert vgg["Source task (turn or figure)"] == (
        f"{100 * task['shape_accuracy']:.0f}% (chance {100 * chance:.0f}%)")


def _variant(name, call, model="efficientnetb2", size=64, epochs=22, batch=16, depth="off",
             accuracies=(0.1, 0.2)):
    return {"name": name, "device_call": call, "model": model, "stochastic_depth": depth,
            "optimizer": "Adam, warm-up + cosine (the package's)",
            "recipe": {"input_size": size, "epochs": epochs, "batch_size": batch},
            "epochs": [{"epoch": i + 1, "shape_accuracy": a} for i, a in enumerate(accuracies)]}


def test_recipe_curves_keep_only_variants_comparable_epoch_for_epoch():
    record = {"variants": [
        _variant("kept", 1, accuracies=(0.1, 0.3, 0.5)),
        _variant("old", 2, depth="Keras default (0.2)", batch=32),
        _variant("vgg", 1, model="vgg16"),
        _variant("small", 1, size=48),
        _variant("long", 1, epochs=88),
        _variant("stopped before its first epoch", 1, accuracies=()),
    ]}
    curves = pretrain.recipe_curves(record)
    assert sorted(curves["variant"].unique()) == [
        "stochastic depth off, batch 16, Adam, 22-epoch schedule (first sweep)",
        "stochastic depth on, batch 32, Adam, 22-epoch schedule (second sweep)"]
    kept = curves[curves["variant"].str.contains("first")]
    assert kept["figure accuracy (train)"].tolist() == [0.1, 0.3, 0.5]
    assert kept["epoch"].tolist() == [1, 2, 3]


def test_committed_sweep_shows_the_adopted_recipe():
    record = json.loads((RECORD.parent / "pretrain-effnet-sweep-2026-11-28.json").read_text())
    curves = pretrain.recipe_curves(record)
    adopted = [v for v in curves["variant"].unique() if "batch 32" in v]
    assert adopted == ["stochastic depth off, batch 32, Adam, 22-epoch schedule (second sweep)"]


def test_describe_record_says_when_stochastic_depth_was_off():
    record = {"model": "efficientnetb2", "key": "k", "wall_s": 10.0, "cpu_count": 2,
              "recipe": {"source": "shapes", "images": 4800, "epochs": 20, "input_size": 64,
                         "stochastic_depth": False}}
    assert "64 px, stochastic depth off (recipe k" in pretrain.describe_record(record)
    record["recipe"]["stochastic_depth"] = True
    assert "stochastic depth" not in pretrain.describe_record(record)
