"""``jewelnet audit`` and ``jewelnet split``: the commands that look at a photo folder."""

from __future__ import annotations

import argparse

from ..contracts.config import JewelNetError
from ..contracts.utils import atomic_write_json
from ..images import data
from ..images.duplicates import preview_sheet


def run_audit(args: argparse.Namespace) -> int:
    """``jewelnet audit DATA_DIR [--json OUT] [--hash-threshold N] [--preview PNG]``: the
    report is printed (and written) even when the folder is unusable, then the exit is 2."""
    report = data.audit_dataset(args.data_dir, hash_threshold=args.hash_threshold)
    print(data.format_audit(report))
    if args.json_out:
        atomic_write_json(args.json_out, report.to_dict())
        print(f"Report written to {args.json_out}")
    if args.preview:
        rows = data.preview_rows(report)
        preview_sheet(args.data_dir, rows, args.preview)
        print(f"Near-duplicate preview ({len(rows)} rows) written to {args.preview}")
    if not report.usable:
        raise JewelNetError(report.problem)
    return 0


def run_split(args: argparse.Namespace) -> int:
    """``jewelnet split DATA_DIR --out MANIFEST [--seed S] [--ratios A B C]``."""
    manifest = data.make_split(args.data_dir, seed=args.seed, ratios=args.ratios,
                               hash_threshold=args.hash_threshold)
    data.save_manifest(manifest, args.out)
    print(data.format_split_table(manifest))
    for cls in manifest["classes"]:
        present = {f["split"] for f in manifest["files"] if f["class"] == cls}
        missing = [s for s in data.SPLITS if s not in present]
        if missing:
            print(f"Warning: class {cls!r} has no images in {', '.join(missing)} "
                  "(its duplicate groups could not be spread)")
    if manifest["skipped"]:
        print(f"Skipped {len(manifest['skipped'])} unusable file(s); "
              "run `jewelnet audit` for details")
    print(f"Manifest written to {args.out}")
    return 0
