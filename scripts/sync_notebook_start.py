"""Write the notebooks' first code cell (the hosted-runtime start) from one template.

The repository URL lives in ``_config.yml`` (``repository.url``, which also builds the book's
Colab, Binder and Kaggle links); this script puts it, and the cell below, into every
``notebooks/NN-*.py`` and updates the paired ``.ipynb`` with jupytext. Only that cell changes.

    python scripts/sync_notebook_start.py          # rewrite the cells
    python scripts/sync_notebook_start.py --check  # exit 1 if a notebook's cell differs
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HEADER = '# %% tags=["hide-input"]\n'
# Everything else a hosted start needs lives in jewelnet_utils/hosted.py, installed by this cell.
TEMPLATE = '''\
# Colab / Kaggle / Binder only (inert on a local checkout): get the repository, install
# jewelnet_utils WITHOUT touching the runtime's TensorFlow, Keras or NumPy, then install only
# the missing packages, check versions and report the GPU (jewelnet_utils/hosted.py).
import os
import subprocess
import sys

REPO_URL = "{url}"  # written from _config.yml
ON_KAGGLE = "KAGGLE_KERNEL_RUN_TYPE" in os.environ
ON_BINDER = "BINDER_SERVICE_HOST" in os.environ
if "google.colab" in sys.modules or ON_KAGGLE or ON_BINDER:
    home = "/kaggle/working" if ON_KAGGLE else "/content"
    checkout = os.path.abspath("..") if ON_BINDER else os.path.join(home, "jewelnet-book")
    if not os.path.isdir(checkout):
        subprocess.run(["git", "clone", "--depth", "1", REPO_URL, checkout], check=True)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", checkout]
    subprocess.run(pip, check=True)
    sys.path.insert(0, checkout)  # importable without a restart
    from jewelnet_utils.hosted import prepare_runtime

    prepare_runtime(checkout)
'''


def repository_url() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"]


def start_cell() -> str:
    """The cell's source, as it appears in every notebook (without the cell marker)."""
    return TEMPLATE.format(url=repository_url())


def _cell_span(text: str, path: Path) -> tuple[int, int]:
    """Character span of the code cell that defines REPO_URL (marker line included)."""
    starts = [m.start() for m in re.finditer(r"^# %%.*$", text, re.M)]
    spans = zip(starts, [*starts[1:], len(text)], strict=True)
    found = [(a, b) for a, b in spans if "\nREPO_URL = " in text[a:b]]
    if len(found) != 1:
        raise SystemExit(f"{path}: expected one cell defining REPO_URL, found {len(found)}")
    return found[0]


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    wanted = HEADER + start_cell() + "\n"
    stale = []
    for path in notebooks():
        text = path.read_text(encoding="utf-8")
        a, b = _cell_span(text, path)
        if text[a:b] == wanted:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text[:a] + wanted + text[b:], encoding="utf-8")
            subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--to", "ipynb",
                            "--update", str(path)], check=True)
    for path in stale:
        print(f"{'differs' if args.check else 'rewrote'}: {path.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
