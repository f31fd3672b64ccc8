"""``jewelnet synth``, ``jewelnet audit`` and ``jewelnet split``: the commands that make or look
at an image folder."""

from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

from ..contracts.config import (
    DEFAULT_DATA_DIR,
    EXPERIMENTS,
    JewelNetError,
    Profile,
    check_experiment,
    get_profile,
)
from ..contracts.utils import atomic_write_bytes, atomic_write_json
from ..images import audit, synth
from ..images.duplicates import preview_sheet
from ..split import splitting


def run_audit(args: argparse.Namespace) -> int:
    """``jewelnet audit DATA_DIR [--json OUT] [--hash-threshold N] [--preview PNG]``: the
    report is printed (and written) even when the folder is unusable, then the exit is 2."""
    report = audit.audit_dataset(args.data_dir, hash_threshold=args.hash_threshold)
    print(audit.format_audit(report))
    if args.json_out:
        atomic_write_json(args.json_out, report.to_dict())
        print(f"Report written to {args.json_out}")
    if args.preview:
        rows = audit.preview_rows(report)
        preview_sheet(args.data_dir, rows, args.preview)
        print(f"Near-duplicate preview ({len(rows)} rows) written to {args.preview}")
    if not report.usable:
        raise JewelNetError(report.problem)
    return 0


def run_split(args: argparse.Namespace) -> int:
    """``jewelnet split DATA_DIR --out MANIFEST [--seed S] [--ratios A B C]``."""
    manifest = splitting.make_split(args.data_dir, seed=args.seed, ratios=args.ratios,
                               hash_threshold=args.hash_threshold)
    splitting.save_manifest(manifest, args.out)
    print(splitting.format_split_table(manifest))
    for cls in manifest["classes"]:
        present = {f["split"] for f in manifest["files"] if f["class"] == cls}
        missing = [s for s in splitting.SPLITS if s not in present]
        if missing:
            print(f"Warning: class {cls!r} has no images in {', '.join(missing)} "
                  "(its duplicate groups could not be spread)")
    if manifest["skipped"]:
        print(f"Skipped {len(manifest['skipped'])} unusable file(s); "
              "run `jewelnet audit` for details")
    print(f"Manifest written to {args.out}")
    return 0


def _resolve_cli(args: argparse.Namespace) -> tuple[str, int, str, Profile | None]:
    """(counts, size, difficulty, profile): each argument, else the profile's, else thesis."""
    profile_name = getattr(args, "profile", None)
    prof = get_profile(profile_name) if (profile_name or getattr(args, "ensure", False)) else None
    counts = args.counts if args.counts is not None else (prof.synth_counts if prof else "thesis")
    size = args.size if args.size is not None else (prof.synth_size if prof else 256)
    difficulty = args.difficulty if args.difficulty is not None else (
        prof.synth_difficulty if prof else "thesis")
    return str(counts), int(size), str(difficulty), prof


def _ensure_experiments(prof: Profile | None, experiment: str, args: argparse.Namespace,
                        seed: int, workers: int, quiet: bool) -> int:
    """``--ensure --experiment E|all``: each experiment's folder under its profile."""
    if prof is None or not args.ensure or args.out or args.counts or args.preview:
        raise JewelNetError("--experiment goes with --ensure --profile P, without --out, "
                            "--counts or --preview")
    for name in EXPERIMENTS if experiment == "all" else (check_experiment(experiment),):
        out = synth.default_dataset_dir(prof, name)
        done = synth.dataset_complete(out, prof.counts_for(name), prof.synth_size, seed,
                                prof.synth_difficulty)
        synth.ensure_dataset(prof, seed=seed, workers=workers, progress=not quiet, experiment=name)
        print(f"JewelSynth {name} experiment: {out}" + (" (already complete)" if done else ""))
    return 0


def run_synth(args: argparse.Namespace) -> int:
    """``jewelnet synth``: generate a data set and/or write a contact sheet."""
    counts, size, difficulty, prof = _resolve_cli(args)
    synth.resolve_counts(counts)  # validates
    if size < synth.MIN_SIZE:
        raise JewelNetError(f"--size must be at least {synth.MIN_SIZE} pixels, got {size}")
    synth.check_difficulty(difficulty)
    workers = getattr(args, "workers", None)
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise JewelNetError(f"--workers must be at least 1, got {workers}")
    quiet = bool(getattr(args, "quiet", False))
    seed = int(args.seed)
    out = Path(args.out) if args.out else None
    ensure = bool(getattr(args, "ensure", False))
    experiment = getattr(args, "experiment", None)
    if experiment is not None:
        return _ensure_experiments(prof, experiment, args, seed, workers, quiet)
    if out is None and (ensure or not args.preview):
        if prof is not None and (counts, size, difficulty) == (
                str(prof.synth_counts), prof.synth_size, prof.synth_difficulty):
            out = synth.default_dataset_dir(prof)
        elif (counts.lower(), size, difficulty) == ("thesis", 256, "thesis"):
            out = DEFAULT_DATA_DIR
        else:
            raise JewelNetError("give --out for a data set whose --counts/--size/--difficulty "
                                "differ from the profile's")
    if out is not None:
        if ensure and synth.dataset_complete(out, counts, size, seed, difficulty):
            print(f"JewelSynth data set already complete: {out}")
        else:
            res = synth.generate_dataset(out, counts, size, seed, difficulty, workers=workers,
                                   progress=not quiet, replace_stale=ensure)
            print(f"JewelSynth: wrote {res.written} images, kept {res.skipped} already present, "
                  f"in {res.seconds:.1f} s ({res.images_per_second:.0f} images/s) -> {res.path}")
    if args.preview:
        start = time.perf_counter()
        sheet = synth.contact_sheet(out, size=size, seed=seed, difficulty=difficulty)
        buf = io.BytesIO()
        sheet.save(buf, format="PNG")
        atomic_write_bytes(args.preview, buf.getvalue())
        print(f"contact sheet -> {args.preview} ({time.perf_counter() - start:.1f} s)")
    return 0
