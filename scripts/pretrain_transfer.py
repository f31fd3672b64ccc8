"""Does our pretext backbone transfer? (writes results/pretrain-<date>.json)

For each backbone: ``jewelnet pretrain`` (or its cached result) on unlabelled JewelSynth seed 1,
then the profile's training run on the default JewelSynth set twice, from that backbone
(``--weights pretext``) and from random initialisation (``--weights none``), same seed.
Records the source-task scores, the test accuracies with their n, a 95 % bootstrap interval and
the exact McNemar p-value of each pair, and wall/CPU seconds with the load average.

    python scripts/pretrain_transfer.py --models vgg16 resnet50 efficientnetb2

Pretraining takes 10-20 minutes per backbone on two CPU cores; each training run a few.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from jewelnet_utils.contracts import artifacts, records
from jewelnet_utils.contracts.config import get_profile
from jewelnet_utils.contracts.utils import atomic_write_json, library_versions
from jewelnet_utils.images import synth
from jewelnet_utils.report import evaluate
from jewelnet_utils.run import pretrain, train
from jewelnet_utils.split import splitting


def one_run(model: str, weights: str, prof, data_dir: Path, split: Path, out: Path,
            seed: int) -> dict:
    """Train once and summarise: accuracy with n and interval, wall/CPU seconds, load."""
    wall0, load0 = time.time(), os.getloadavg()
    run = train.train_model(model, data_dir, split, profile=prof, out_dir=out / weights,
                            seed=seed, weights=weights, overwrite=True, progress=False)
    loaded = evaluate.load_run(run)
    y_true, y_pred = loaded.labels("test")
    ci = evaluate.bootstrap_ci(y_true, y_pred, seed=seed)
    cfg = loaded.config.fields
    return {"weights": weights, "weights_file": cfg.get("weights_file"),
            "weights_recipe": cfg.get("weights_recipe"),
            "test_accuracy": float((y_true == y_pred).mean()), "num_test": int(len(y_true)),
            "test_accuracy_ci95": [ci.low, ci.high],
            "val_accuracy": artifacts.read_metrics(run).val_accuracy,
            "wall_s": round(time.time() - wall0, 1), "cpu_s": loaded.timings.cpu_s,
            "load_average": {"start": list(load0), "end": list(os.getloadavg())},
            "correct": (y_true == y_pred).tolist()}


def compare(model: str, prof, data_dir: Path, split: Path, out: Path, seed: int) -> dict:
    """Pretrain (or reuse) one backbone and train from it and from random init."""
    record = pretrain.pretrain(pretrain.recipe_for(model, prof))
    runs = {w: one_run(model, w, prof, data_dir, split, out, seed) for w in ("pretext", "none")}
    b, c, p = evaluate.mcnemar_exact(runs["pretext"].pop("correct"), runs["none"].pop("correct"))
    return {"model": model, "pretrain": {k: v for k, v in record.items() if k != "history"},
            "pretrain_history": record.get("history"), "runs": runs,
            "gain_points": round(100 * (runs["pretext"]["test_accuracy"]
                                        - runs["none"]["test_accuracy"]), 1),
            "mcnemar": {"only_pretext_right": b, "only_none_right": c, "p": p}}


# Each row trains the same model twice: once from our pretext backbone, once from scratch.
WEIGHTS_COMPARED = "pretext (our cached backbone) against none (random initialisation), per row"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(pretrain.BACKBONES))
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", default="artifacts/pretrain-transfer")
    parser.add_argument("--out", default=None, help="default: results/pretrain-<date>.json")
    args = parser.parse_args()
    prof = get_profile(args.profile)
    data_dir = synth.ensure_dataset(prof)
    split = Path(args.work) / "split.json"
    splitting.ensure_split(data_dir, split, seed=args.seed)
    out = Path(args.out or f"results/pretrain-{datetime.now(timezone.utc):%Y-%m-%d}.json")
    rows = []
    for model in args.models:
        rows.append(compare(model, prof, data_dir, split, Path(args.work), args.seed))
        atomic_write_json(out, {  # after every backbone, so a long run keeps what it measured
            "what": "pretext-pretrained backbone vs random init, same recipe and seed",
            "command": "python scripts/pretrain_transfer.py --models " + " ".join(args.models),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "profile": prof.name, "seed": args.seed, "dataset": str(data_dir),
            "generator_version": synth.VERSION, "cpu_count": os.cpu_count(),
            "libraries": library_versions(), "backbones": rows,
            "provenance": records.provenance(
                weights=WEIGHTS_COMPARED, data=f"JewelSynth {synth.VERSION} ({data_dir})",
                seed=args.seed, profile=prof.name)})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
