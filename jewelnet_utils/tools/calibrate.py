"""JewelSynth calibration: the generator's difficulty knobs judged by what the Custom CNN
makes of them.

A tool beside the pipeline: it generates a thesis-count set at one difficulty, splits it,
trains the Custom CNN under the cpu profile and records the test accuracy and the largest
confusions in ``synth_calibration.json`` (shipped beside this module). The appendix "How this
book was measured" shows the record with each run's verdict against the goals below.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import keras

from ..contracts import artifacts
from ..contracts.config import get_profile
from ..contracts.utils import atomic_write_json
from ..images import synth
from ..run.train import train_model
from ..split.splitting import make_split, save_manifest

CALIBRATION_FILE = Path(__file__).with_name("synth_calibration.json")
# What each difficulty must give the cpu-profile Custom CNN: "thesis" lands near the thesis's
# custom CNN accuracy (Table 5.1) without reaching it, "easy" is nearly solved, "hard" lands
# below "thesis"; and the thesis's own two hardest pairs must be the two largest confusions.
CALIBRATION_GOALS: dict[str, tuple[float, float]] = {"easy": (0.98, 1.0), "thesis": (0.85, 0.97)}
TARGET_PAIRS: tuple[str, str] = ("bangle/bracelet", "chain/necklace")


def confusion_pairs(labels: Iterable[str], preds: Iterable[str]) -> list[tuple[str, int]]:
    """Off-diagonal confusions with both directions summed, largest first ("a/b" sorted)."""
    counts: dict[str, int] = {}
    for label, pred in zip(labels, preds, strict=True):
        if label != pred:
            key = "/".join(sorted((label, pred)))
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def calibration_record(run_dir: str | os.PathLike[str], difficulty: str,
                       data_seed: int) -> dict[str, Any]:
    """Summarise one Custom CNN run on a JewelSynth set as a calibration measurement."""
    cfg = artifacts.read_config(run_dir)
    predictions = artifacts.read_predictions(run_dir, "test", cfg.classes)
    labels = [cfg.classes[i] for i in predictions["label"]]
    preds = [cfg.classes[i] for i in predictions["pred"]]
    correct = sum(label == pred for label, pred in zip(labels, preds, strict=True))
    pairs = confusion_pairs(labels, preds)
    return {
        "generator_version": synth.VERSION,
        "difficulty": difficulty,
        "data_seed": int(data_seed),
        "train_seed": cfg.seed,
        "profile": cfg.profile_name,
        "test_accuracy": round(correct / len(labels), 4),
        "n_test": len(labels),
        "top_pairs": [[k, v] for k, v in pairs[:4]],
        "train_s": round(artifacts.read_timings(run_dir).train_s, 1),
        "backend": keras.backend.backend(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }


def calibrate(difficulty: str, *, profile: str = "cpu", seed: int = 42, data_seed: int = 0,
              root: str | os.PathLike[str] = "artifacts/calibration", workers: int | None = None,
              overwrite: bool = False) -> dict[str, Any]:
    """Generate a thesis-count set at ``difficulty``, split it, train the Custom CNN in
    ``profile`` and return the calibration record (see :func:`record_calibration`)."""
    synth.check_difficulty(difficulty)
    prof = get_profile(profile)
    base = Path(root) / f"{difficulty}-d{data_seed}"
    data = base / "data"
    synth.generate_dataset(data, "thesis", prof.synth_size, data_seed, difficulty,
                     workers=workers or max(1, os.cpu_count() or 1), progress=True,
                     replace_stale=True)
    split = base / "split.json"
    save_manifest(make_split(data, seed=seed), split)
    run = train_model("custom_cnn", data, split, profile=prof.name, out_dir=base / "runs",
                      seed=seed, weights=None, overwrite=overwrite, progress=True)
    return calibration_record(run, difficulty, data_seed)


def load_calibration(path: str | os.PathLike[str] = CALIBRATION_FILE) -> dict[str, Any]:
    """The shipped calibration record: ``{"runs": [...], "exploration": [...], ...}``."""
    p = Path(path)
    if not p.is_file():
        return {"runs": []}
    return json.loads(p.read_text(encoding="utf-8"))


def record_calibration(record: Mapping[str, Any],
                       path: str | os.PathLike[str] = CALIBRATION_FILE) -> Path:
    """Add ``record`` to the calibration file, replacing an earlier run with the same key."""
    data = load_calibration(path)
    key = ("generator_version", "difficulty", "data_seed", "train_seed", "profile", "backend")
    runs = [r for r in data.get("runs", []) if any(r.get(k) != record.get(k) for k in key)]
    runs.append(dict(record))
    runs.sort(key=lambda r: (r["generator_version"], r["difficulty"], r["data_seed"],
                             r["train_seed"], r["backend"]))
    data["runs"] = runs
    return atomic_write_json(path, data)


def calibration_verdicts(data: Mapping[str, Any] | None = None,
                         version: str = synth.VERSION) -> list[dict[str, Any]]:
    """One row per calibration run of ``version`` with its verdict against the contract."""
    data = load_calibration() if data is None else data
    runs = [r for r in data.get("runs", []) if r.get("generator_version") == version]
    thesis = [r["test_accuracy"] for r in runs if r["difficulty"] == "thesis"]
    thesis_mean = sum(thesis) / len(thesis) if thesis else None
    rows = []
    for r in runs:
        top2 = {p for p, _ in r["top_pairs"][:2]}
        if r["difficulty"] in CALIBRATION_GOALS:
            lo, hi = CALIBRATION_GOALS[r["difficulty"]]
            goal = f"{lo:.0%}-{hi:.0%}" if hi < 1 else f">= {lo:.0%}"
            ok = lo <= r["test_accuracy"] <= hi
        else:
            goal = "below thesis"
            ok = thesis_mean is not None and r["test_accuracy"] < thesis_mean
        if r["difficulty"] == "thesis":
            goal += ", top pairs bangle/bracelet + chain/necklace"
            ok = ok and top2 == set(TARGET_PAIRS)
        rows.append({
            "difficulty": r["difficulty"], "data seed": r["data_seed"],
            "train seed": r["train_seed"], "backend": r["backend"],
            "test accuracy": r["test_accuracy"],
            "largest confusions": ", ".join(f"{p} ({n})" for p, n in r["top_pairs"][:3]),
            "goal": goal, "met": "yes" if ok else "no",
        })
    return rows


