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
