"""How many augmented views does the stage-1 feature cache need? (writes a results JSON)

Trains VGG16 in the ``cpu`` profile on the default JewelSynth set with 1, 2 and 4 cached views
and with stage 1 through the frozen backbone (no cache), twice: from random initialisation
(the profile's default) and from a stand-in for pretrained features. ImageNet weights cannot
be downloaded where this project is built, so the stand-in is a VGG16 trained end to end on a
*different* JewelSynth set (data seed 1); only its backbone is kept, the head starts afresh.

    python scripts/feature_cache_views.py --out results/feature-cache-views.json

About 50 minutes on two CPU cores. Notebook 04 shows the file this writes.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from datetime import datetime, timezone
from pathlib import Path

from jewelnet_utils.contracts import artifacts, records
from jewelnet_utils.contracts.utils import atomic_write_json
from jewelnet_utils.images import synth
from jewelnet_utils.report import evaluate
from jewelnet_utils.run import models, train
from jewelnet_utils.split import pipeline, splitting
from jewelnet_utils.tools import bench

MODEL = "vgg16"
SETTINGS = (1, 2, 4, 0)  # cached views; 0 = stage 1 through the frozen backbone


def pretrain_stand_in(work: Path, passes: int, seed: int = 7) -> Path:
    """VGG16 trained end to end on JewelSynth data seed 1, saved with a fresh random head."""
    import keras

    from jewelnet_utils.contracts.config import get_profile
    from jewelnet_utils.split import augment

    out = work / "vgg16-stand-in-backbone.keras"
    if out.is_file():
        return out
    source = work / "jewelsynth-seed1"
    synth.generate_dataset(source, counts="thesis", size=128, seed=1, difficulty="thesis")
    manifest = splitting.make_split(source, seed=1)
    prof = get_profile("cpu")
    size = prof.input_size(MODEL)
    tr = pipeline.load_split_arrays(manifest, "train", size, data_dir=source)
    va = pipeline.load_split_arrays(manifest, "val", size, data_dir=source)
    keras.utils.set_random_seed(seed)
    model = models.build_model(MODEL, num_classes=8, input_size=size, weights=None)
    for layer in model.layers:  # everything learns, the backbone included
        layer.trainable = True
    models.backbone_of(model).trainable = True
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    aug = augment.build_augmenter(prof.augmentation, seed=seed)
    train_ds = pipeline.make_dataset(tr.images, tr.labels, 8, 32, training=True, augment=aug,
                                 seed=seed).repeat()
    model.fit(train_ds, steps_per_epoch=-(-len(tr) // 32), epochs=passes, verbose=2,
              validation_data=pipeline.make_dataset(va.images, va.labels, 8, 32))
    fresh = models.build_model(MODEL, num_classes=8, input_size=size, weights=None)
    models.backbone_of(fresh).set_weights(models.backbone_of(model).get_weights())
    fresh.save(out)
    return out


def one_run(work: Path, data_dir: Path, split: Path, views: int, weights: str | None,
            tag: str, seed: int) -> dict:
    import dataclasses

    from jewelnet_utils.contracts.config import get_profile

    prof = dataclasses.replace(get_profile("cpu"), feature_cache_views=max(views, 1))
    start = time.time()
    run = train.train_model(MODEL, data_dir, split, profile=prof, out_dir=work / f"{tag}-v{views}",
                            seed=seed, weights=weights, overwrite=True,
                            feature_cache=views > 0, progress=False)
    return summarize(run, views, tag, seed, time.time() - start)


def summarize(run: Path, views: int, tag: str, seed: int, wall_s: float) -> dict:
    """One row of the results: stage-1 best validation accuracy, final accuracies, timings."""
    loaded = evaluate.load_run(run)
    metrics = artifacts.read_metrics(run).as_dict()
    history = loaded.history
    stage1_val = history.loc[history["stage"] == 1, "val_accuracy"].tolist()
    timings = dataclasses.asdict(loaded.timings)
    stage1 = bench._plural(views, "cached view") if views else "frozen backbone"
    return {"backbone": tag, "stage1": stage1,
            "views": views, "seed": seed, "stage1_best_val_accuracy": max(stage1_val),
            "val_accuracy": metrics.get("val_accuracy"),
            "test_accuracy": metrics.get("test_accuracy"), "num_test": metrics.get("num_test"),
            "wall_s": round(wall_s, 1), "timings": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/feature-cache-views.json")
    parser.add_argument("--work", default="artifacts/feature-cache-views")
    parser.add_argument("--pretrain-passes", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data_dir = Path(synth.ensure_dataset("cpu"))
    split = work / "split.json"
    splitting.save_manifest(splitting.make_split(data_dir, seed=42), split)
    stand_in = pretrain_stand_in(work, args.pretrain_passes)
    rows = [one_run(work, data_dir, split, views, weights, tag, args.seed)
            for tag, weights in (("random init", None), ("stand-in pretrained", str(stand_in)))
            for views in SETTINGS]
    atomic_write_json(Path(args.out), {
        "what": "VGG16 stage 1 with K cached views vs through the frozen backbone",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python scripts/feature_cache_views.py",
        "profile": "cpu", "model": MODEL, "dataset": f"JewelSynth {synth.VERSION} (cpu profile)",
        "stand_in": f"VGG16 trained end to end for {args.pretrain_passes} passes on JewelSynth "
                    "data seed 1 (128 px, thesis difficulty), head re-initialised",
        "provenance": records.provenance(
            "per row: none (random initialisation) or the stand-in backbone described under "
            "stand_in", f"JewelSynth {synth.VERSION} (cpu profile)", args.seed, "cpu"),
        "machine": bench.machine_info(), "rows": rows})


if __name__ == "__main__":
    main()
