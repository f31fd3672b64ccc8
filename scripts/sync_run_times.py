"""Measured "Time to run" for every notebook, per profile, written into its Prerequisites.

    python scripts/sync_run_times.py --record PROFILE   # read book/executed/PROFILE, then sync
    python scripts/sync_run_times.py                    # rewrite the bullets from the records
    python scripts/sync_run_times.py --check            # exit 1 if a notebook's bullet differs

A record, ``results/notebook-times-<profile>.json``, holds the seconds papermill measured for
each executed notebook of one build (``metadata.papermill.duration``). ``make times
PROFILE=...`` records a build after ``make notebooks``. The bullet in each notebook's
Prerequisites is generated from the records, never typed, and a test checks it is in sync.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jewelnet_utils.contracts import records  # noqa: E402
from jewelnet_utils.contracts.config import DEFAULT_SEED, get_profile  # noqa: E402
from jewelnet_utils.contracts.utils import atomic_write_json  # noqa: E402

PROFILE_ORDER = ("smoke", "cpu", "paper")
# The bullet runs until the next bullet, an empty comment line, a blank line or the next cell.
BULLET = re.compile(r"^# - \*\*Time to run:\*\*.*?(?=^# - \*\*|^#?[ \t]*$|^# %%|\Z)",
                    re.M | re.S)


def record_path(profile: str) -> Path:
    return ROOT / "results" / f"notebook-times-{profile}.json"


def record(profile: str) -> Path:
    """Write the record of the notebooks executed for ``profile``."""
    executed = sorted((ROOT / "book" / "executed" / profile).glob("[0-9][0-9]-*.ipynb"))
    if not executed:
        raise SystemExit(f"no executed notebooks in book/executed/{profile}; "
                         f"run: make notebooks PROFILE={profile}")
    seconds = {}
    for path in executed:
        duration = nbformat.read(path, 4).metadata.get("papermill", {}).get("duration")
        if duration is None:
            raise SystemExit(f"{path}: no papermill duration (was it executed by papermill?)")
        seconds[path.stem] = round(float(duration), 1)
    prof = get_profile(profile)
    out = record_path(profile)
    atomic_write_json(out, {
        "what": "seconds papermill measured for each notebook of one build",
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "seconds": seconds,
        "provenance": records.provenance(weights=prof.default_weights or "none",
                                         data=f"JewelSynth, counts {prof.synth_counts}",
                                         seed=DEFAULT_SEED, profile=profile),
    })
    return out


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def bullet(stem: str) -> str:
    """The Prerequisites line for notebook ``stem`` from every profile's record."""
    parts = []
    for profile in PROFILE_ORDER:
        path = record_path(profile)
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        value = data.get("seconds", {}).get(stem)
        text = "not measured yet" if value is None else _duration(value)
        parts.append(f"`{profile}` {text}")
    cpus = {json.loads(record_path(p).read_text())["cpus"] for p in PROFILE_ORDER
            if record_path(p).is_file()}
    where = f"measured on {min(cpus)} CPU cores, " if cpus else ""
    return (f"# - **Time to run:** {' · '.join(parts)}\n"
            f"#   ({where}written by `scripts/sync_run_times.py`)\n")


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.py"))


def sync(check: bool) -> list[Path]:
    stale = []
    for path in notebooks():
        text = path.read_text(encoding="utf-8")
        found = BULLET.search(text)
        if found is None:
            raise SystemExit(f"{path}: no '- **Time to run:**' bullet in its Prerequisites")
        wanted = bullet(path.stem)
        if found.group() == wanted:
            continue
        stale.append(path)
        if not check:
            path.write_text(text[:found.start()] + wanted + text[found.end():], encoding="utf-8")
            subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--to", "ipynb",
                            "--update", str(path)], check=True)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", metavar="PROFILE", choices=PROFILE_ORDER)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.record:
        print(f"wrote {record(args.record).relative_to(ROOT)}")
    stale = sync(args.check)
    for path in stale:
        print(f"{'differs' if args.check else 'rewrote'}: {path.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
