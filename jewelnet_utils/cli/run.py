"""``jewelnet train``, ``pretrain`` and ``tune``: the commands that fit models."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..contracts import artifacts
from ..contracts.config import JewelNetError, get_profile
from ..contracts.utils import atomic_write_json
from ..run import pretrain


def run_train(args: argparse.Namespace) -> int:
    """``jewelnet train --model M --data DIR --split SPLIT [...]``."""
    from ..run import train

    profile = get_profile(args.profile)
    if args.cache_views is not None:
        if args.cache_views < 1:
            raise JewelNetError(f"--cache-views must be at least 1, got {args.cache_views}; to "
                                "train stage 1 through the frozen backbone use "
                                "--no-feature-cache")
        # The run records the changed profile (config.json), so --resume notices a change.
        profile = dataclasses.replace(profile, feature_cache_views=args.cache_views)
    run_dir = train.train_model(
        args.model, args.data, args.split, profile=profile, out_dir=args.out, seed=args.seed,
        weights=train.PROFILE_DEFAULT if args.weights is None else args.weights,
        hparams=args.hparams, resume=args.resume, overwrite=args.overwrite,
        strategy=args.strategy, feature_cache=not args.no_feature_cache, progress=True,
    )
    print(f"Run written to {run_dir}")
    return 0


def run_pretrain(args: argparse.Namespace) -> int:
    """``jewelnet pretrain``: build (or reuse) each requested backbone; optional results JSON."""
    profile = get_profile(args.profile)
    names = pretrain.backbones_needed(profile) if args.model == "auto" else (
        pretrain.BACKBONES if args.model == "all" else (args.model,))
    if not names:
        print(f"pretrain: the {profile.name} profile's default weights are "
              f"{profile.default_weights or 'none'}; no pretext backbone needed")
    records = []
    for name in names:
        record = pretrain.pretrain(pretrain.recipe_for(name, profile), progress=not args.quiet,
                                   force=args.force)
        print(f"pretrain {name}: {'reused' if record['reused'] else 'wrote'} {record['path']}")
        records.append(record)
    if args.json_out:
        atomic_write_json(args.json_out, {"profile": profile.name, "backbones": records})
    return 0


def run_tune(args: argparse.Namespace) -> int:
    """``jewelnet tune``: search, then print where the results are and the best values."""
    from ..run import tuning

    result = tuning.run_search(
        args.model, args.data, args.split, profile=args.profile, out_dir=args.out,
        algorithm=args.algorithm, seed=args.seed, overwrite=args.overwrite,
        max_trials=args.max_trials, max_epochs=args.max_epochs, verbose=args.verbose,
    )
    if result.get("role") == "worker":
        print(f"worker {result['tuner_id']}: ran trials {', '.join(result['trials_run']) or '-'}"
              f" in {result['seconds']:.0f} s")
        return 0
    best = artifacts.best_file(Path(args.out) / args.model)
    print(f"{result['trials']} trials ({result['algorithm']}) in "
          f"{result['search_seconds']:.0f} s; best val_accuracy {result[tuning.OBJECTIVE]:.4f}")
    print("best hyperparameters: " + ", ".join(f"{k}={v}" for k, v in result["hparams"].items()))
    print(f"wrote {best} and {best.with_name('trials.csv')}; train with "
          f"`jewelnet train --model {args.model} --hparams {best} ...`")
    return 0
