"""The conda environment and the pip pins must describe the same library versions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def test_environment_yml_pins_match_requirements() -> None:
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = _pins([p for p in pip_section if isinstance(p, str)])
    assert len(conda_pins) >= 15, "environment.yml should pin the main libraries"
    mismatched = {
        name: (version, req.get(name)) for name, version in conda_pins.items()
        if req.get(name) != version
    }
    assert not mismatched, f"environment.yml and requirements.txt disagree: {mismatched}"


def test_core_stack_versions() -> None:
    """The brief fixes TensorFlow 2.21 with Keras 3 and Jupyter Book 1.x."""
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    assert req["tensorflow"].startswith("2.21.")
    assert req["keras"].startswith("3.")
    assert req["jupyter-book"].startswith("1.")
    for name in ("keras-tuner", "jupytext", "papermill", "scikit-learn", "seaborn",
                 "matplotlib", "imagehash", "pillow", "pytest"):
        assert name in req, f"{name} is not pinned in requirements.txt"


def test_cli_lists_every_subcommand(capsys) -> None:
    from jewelnet_utils.cli import COMMANDS, main

    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out
        with pytest.raises(SystemExit) as stop:
            main([name, "--help"])
        assert stop.value.code == 0
        assert "usage: jewelnet " + name in capsys.readouterr().out


def test_profiles_are_data(monkeypatch) -> None:
    from jewelnet_utils.contracts.config import MODELS, PROFILES, JewelNetError, get_profile

    paper = PROFILES["paper"]
    # Table 4.4 and B.1 values in the paper profile.
    assert paper.batch_size == 32 and paper.learning_rate == 1e-4 and paper.lr_decay == 1e-6
    assert paper.max_epochs == 50 and paper.early_stop_patience == 10
    assert paper.reduce_lr_patience == 5 and paper.reduce_lr_factor == 0.5
    assert [paper.input_size(m) for m in MODELS] == [224, 224, 224, 260]
    monkeypatch.setenv("PROFILE", "smoke")
    assert get_profile().name == "smoke"
    with pytest.raises(JewelNetError, match="gpu-fast") as err:
        get_profile("gpu-fast")
    assert "paper" in str(err.value)
