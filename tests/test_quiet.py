"""Quiet commands: a `jewelnet` command's first line of output is ours, not TensorFlow's
start-up log; `jewelnet --verbose` brings those lines back.

The commands run in a fresh subprocess with no log-level variables set, as a user would run
them, so TensorFlow is imported for the first time inside the command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jewelnet_utils.contracts import quiet
from jewelnet_utils.split import splitting

ROOT = Path(__file__).resolve().parents[1]
QUIET_KEYS = (*quiet.QUIET_ENV, quiet.VERBOSE_ENV)


def _jewelnet(*args: str) -> list[str]:
    """Run ``jewelnet ARGS`` as a user would; stdout and stderr interleaved, in order."""
    env = {k: v for k, v in os.environ.items() if k not in QUIET_KEYS}
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    done = subprocess.run([sys.executable, "-m", "jewelnet_utils.cli", *args], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600, check=False)
    return [line for line in done.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("quiet")
    rng = np.random.default_rng(0)
    for cls in ("bangle", "ring", "chain"):
        (root / "photos" / cls).mkdir(parents=True)
        for i in range(4):
            blocks = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
            Image.fromarray(blocks).resize((48, 48)).save(root / "photos" / cls / f"{i}.png")
    split = root / "split.json"
    splitting.save_manifest(splitting.make_split(root / "photos"), split)
    return root / "photos", split


def _uses_tensorflow() -> bool:
    return os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow"


@pytest.mark.slow
def test_a_training_command_starts_with_our_line(photos, tmp_path):
    data_dir, split = photos
    lines = _jewelnet("train", "--model", "custom_cnn", "--data", str(data_dir), "--split",
                      str(split), "--profile", "smoke", "--out", str(tmp_path), "--weights",
                      "none")
    assert lines[0].startswith("[custom_cnn-smoke-s42] "), lines[:3]
    noise = [line for line in lines if quiet.is_native_log_line(line) or "cuInit" in line]
    assert noise == []
    assert lines[-1].startswith("Run written to")


def test_an_audit_starts_with_our_line(photos):
    data_dir, _split = photos
    assert _jewelnet("audit", str(data_dir))[0].startswith(f"Audit of {data_dir.as_posix()}")


@pytest.mark.skipif(not _uses_tensorflow(), reason="only TensorFlow logs at start-up")
def test_verbose_brings_the_start_up_lines_back(photos, tmp_path):
    """A command that imports TensorFlow and then stops at a bad value: with --verbose the
    native lines come first; without it our error line is the only line."""
    data_dir, split = photos
    args = ("train", "--model", "custom_cnn", "--data", str(data_dir), "--split", str(split),
            "--out", str(tmp_path), "--profile", "no-such-profile")
    loud = _jewelnet("--verbose", *args)
    assert any(quiet.is_native_log_line(line) for line in loud), loud
    assert loud[-1].startswith("jewelnet train: error: ")
    assert _jewelnet(*args) == [loud[-1]]


def test_captured_stderr_keeps_what_is_not_a_tensorflow_log_line(capfd):
    native = b"I0000 00:00:1795854403.277862    4795 port.cc:153] oneDNN custom operations\n"
    with quiet.filtered_native_stderr():
        os.write(2, native + b"a warning of our own\n")
    assert capfd.readouterr().err == "a warning of our own\n"
    with pytest.raises(RuntimeError), quiet.filtered_native_stderr():  # noqa: PT012
        os.write(2, native)
        raise RuntimeError("import failed")
    assert capfd.readouterr().err == native.decode()  # kept: it may explain the failure


def _kernel_stderr(source: str) -> list[str]:
    """Run one cell in a fresh Jupyter kernel (no log-level variables set); its stderr lines."""
    import nbclient
    import nbformat
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    # ipykernel stops forwarding native stderr when it sees PYTEST_CURRENT_TEST; a reader's
    # kernel forwards it.
    env = {k: v for k, v in os.environ.items()
           if k not in (*QUIET_KEYS, "PYTEST_CURRENT_TEST")}
    env["PYTHONPATH"] = str(ROOT)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        nbclient.NotebookClient(notebook, kernel_name="python3", timeout=300).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return [line for out in notebook.cells[0].outputs if out.get("name") == "stderr"
            for line in out["text"].splitlines()]


@pytest.mark.slow
@pytest.mark.skipif(not _uses_tensorflow(), reason="only TensorFlow logs at start-up")
def test_a_notebook_that_imports_the_package_first_is_quiet():
    """As in every notebook's imports cell: the package before Keras. The same cell without
    the package shows what a reader would otherwise see."""
    cell = "import keras\nimport tensorflow as tf\nprint(int(tf.constant(1) + 1))"
    noisy = _kernel_stderr(cell)
    assert any(quiet.is_native_log_line(line) for line in noisy), "no noise to silence here"
    assert _kernel_stderr("import jewelnet_utils\n" + cell) == []
