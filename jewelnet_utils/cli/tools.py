"""``jewelnet calibrate``, ``bench``, ``protocol`` and ``preflight``: the tools beside the
pipeline."""

from __future__ import annotations

import argparse
import json

from ..contracts.config import get_profile
from ..tools import bench, preflight, protocol


def run_calibrate(args: argparse.Namespace) -> int:
    """``jewelnet calibrate``: measure the Custom CNN on each difficulty, print, record."""
    from ..tools import calibrate

    for difficulty in args.difficulty:
        record = calibrate.calibrate(difficulty, profile=args.profile, seed=args.seed,
                                     data_seed=args.data_seed, root=args.root,
                                     overwrite=args.overwrite)
        print(json.dumps(record))
        if args.record:
            print(f"recorded in {calibrate.record_calibration(record, args.record)}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    """``jewelnet bench``: run the selected figures (each prints its line as it finishes);
    a figure that breaks makes the exit status 1, the others still run."""
    report = bench.run(quick=args.quick, only=args.only, size_overrides=args.size,
                       json_out=args.json_out)
    return 1 if report["errors"] else 0


def run_protocol(args: argparse.Namespace) -> int:
    """``jewelnet protocol [--write PATH]``: print the appendix page, or write it."""
    if args.write:
        print(f"wrote {protocol.write_page(args.write)}")
    else:
        print(protocol.render(), end="")
    return 0


def run_preflight(args: argparse.Namespace) -> int:
    """``jewelnet preflight [--profile P] [--weights W]``: without a GPU for a GPU profile,
    the estimate is shown above the error so the choice it asks for is an informed one."""
    try:
        lines = preflight.preflight(get_profile(args.profile), weights=args.weights)
    except preflight.NoAccelerator as stop:
        _print_lines(stop.lines)
        raise
    _print_lines(lines)
    return 0


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line)
