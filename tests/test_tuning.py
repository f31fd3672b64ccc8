"""KerasTuner search: space, results files, the loop into training, resume, distribution.

Every search here runs the smoke budget (or a hand-set one or two trials of one epoch) on a
tiny Pillow-drawn dataset of 64 px images, so the file stays within a few minutes on two cores.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest
from PIL import Image, ImageDraw

from jewelnet_utils import cli
from jewelnet_utils.contracts import artifacts, config
from jewelnet_utils.contracts.config import JewelNetError
from jewelnet_utils.run import tuning
from jewelnet_utils.split import splitting

ROOT = Path(__file__).resolve().parents[1]
DIST_ENV = (tuning.ENV_ID, tuning.ENV_IP, tuning.ENV_PORT)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _draw(rng: np.random.Generator, label: int, size: int = 64) -> Image.Image:
    """Blocky random background plus a class-coloured shape: learnable, distinct per seed."""
    img = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize(
        (size, size), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(img)
    r = int(rng.uniform(8, 18))
    cx, cy = (int(v) for v in rng.uniform(r, size - r, 2))
    colour = tuple(int(c) for c in np.eye(3)[label % 3] * 200 + 40)
    shape = draw.ellipse if label % 2 else draw.rectangle
    shape((cx - r, cy - r, cx + r, cy + r), outline=colour, width=2 + label // 2)
    return img


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Eight classes x 7 images (about 5 train, 1 val, 1 test each) and their split."""
    root = tmp_path_factory.mktemp("tune-data")
    data_dir = root / "data"
    for label, cls in enumerate(config.CLASSES):
        (data_dir / cls).mkdir(parents=True)
        for i in range(7):
            _draw(np.random.default_rng(1000 * label + i), label).save(
                data_dir / cls / f"{i:03d}.png")
    split = root / "split.json"
    splitting.save_manifest(splitting.make_split(data_dir, seed=0), split)
    return data_dir, split


@pytest.fixture(autouse=True)
def _single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """No distributed-tuning variables leak in from the environment."""
    for name in DIST_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def smoke_search(dataset: tuple[Path, Path],
                 tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The smoke profile's search (Hyperband, two trials of one epoch) of the custom CNN."""
    for name in DIST_ENV:
        os.environ.pop(name, None)
    out = tmp_path_factory.mktemp("tune-smoke")
    best = tuning.run_search("custom_cnn", *dataset, profile="smoke", out_dir=out, verbose=0)
    return best, out / "custom_cnn"


_FIT = tuning.JewelHyperModel.fit


class _FitCounter:
    """Stands in for JewelHyperModel.fit: counts trials trained, can interrupt one."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.calls = 0
        self.interrupt_at = interrupt_at

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def fit(hypermodel: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self.interrupt_at:
                raise KeyboardInterrupt  # like Ctrl-C in the middle of a trial
            return _FIT(hypermodel, *args, **kwargs)

        monkeypatch.setattr(tuning.JewelHyperModel, "fit", fit)


# --------------------------------------------------------------------------- search space

@pytest.mark.parametrize("name", config.MODELS)
def test_search_space_covers_the_hand_tuned_settings(name: str) -> None:
    space = tuning.search_space(name, "cpu")
    spec = config.MODEL_SPECS[name]
    expected = {"learning_rate", "batch_size", "dense1", "dense2", "dropout1", "dropout2", "l2",
                "aug_strength"}
    assert set(space) == (expected | {"trainable_tail"} if spec.two_stage else expected)
    assert space["learning_rate"]["sampling"] == "log"
    assert space["learning_rate"]["min"] < config.PROFILES["cpu"].learning_rate \
        < space["learning_rate"]["max"]
    # The thesis configuration is a point of the space (Tables 4.4, B.1).
    defaults = {k: v["default"] for k, v in space.items()}
    assert (defaults["dense1"], defaults["dense2"]) == spec.dense_units
    assert (defaults["dropout1"], defaults["dropout2"]) == spec.dropout
    assert defaults["l2"] == spec.l2 and defaults["aug_strength"] == 1.0
    assert defaults["batch_size"] == config.PROFILES["cpu"].batch_size
    for key, entry in space.items():
        if entry["type"] == "choice":
            assert entry["default"] in entry["values"], key
        else:
            assert entry["min"] <= entry["default"] <= entry["max"], key
    if spec.two_stage:  # the profile's tail: Table B.1's unless the profile departs
        assert defaults["trainable_tail"] == config.PROFILES["cpu"].trainable_tail(name)
        assert 0 in space["trainable_tail"]["values"]


def test_hypermodel_declares_the_space_and_builds_the_defaults() -> None:
    import keras_tuner as kt

    hypermodel = tuning.build_hypermodel("vgg16", profile="smoke", weights=None)
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    assert set(hp.values) == set(tuning.search_space("vgg16", "smoke"))
    assert model.get_layer("fc1").units == 512 and model.get_layer("embedding").units == 256
    assert model.input_shape[1:] == (48, 48, 3)  # the smoke profile's VGG16 size
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-4)


def test_budgets_per_profile() -> None:
    smoke = tuning.tuner_budget("smoke")
    assert (smoke["algorithm"], smoke["max_epochs"], smoke["max_trials"]) == ("hyperband", 1, 2)
    assert tuning.tuner_budget("cpu", algorithm="bayesian")["algorithm"] == "bayesian"
    paper = tuning.tuner_budget("paper")
    assert paper["max_trials"] > tuning.tuner_budget("cpu")["max_trials"]
    assert paper["max_epochs"] > tuning.tuner_budget("cpu")["max_epochs"]


# --------------------------------------------------------------------------- a smoke search

@pytest.mark.slow
def test_smoke_search_writes_best_json_and_trials_csv(smoke_search: tuple[dict, Path]) -> None:
    best, folder = smoke_search
    on_disk = artifacts.read_tuning_result(folder)  # best.json's one reader
    assert on_disk.fields == best and on_disk.hparams == best["hparams"]
    for key in ("model", "profile", "algorithm", "seed", "hparams", "val_accuracy", "trials"):
        assert key in best, key
    assert (best["model"], best["profile"], best["algorithm"], best["seed"]) == (
        "custom_cnn", "smoke", "hyperband", 42)
    assert best["trials"] == 2 and 0.0 <= best["val_accuracy"] <= 1.0
    assert set(best["hparams"]) == set(tuning.search_space("custom_cnn"))

    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 2
    for col in ["trial_id", "tuner_id", "status", "val_accuracy",
                *tuning.search_space("custom_cnn")]:
        assert col in trials.columns, col
    assert (trials["status"] == "COMPLETED").all()
    assert (trials["tuner_id"] == "tuner0").all()
    assert (trials["hb_epochs"] == 1).all()  # two trials of one epoch
    assert trials["val_accuracy"].max() == pytest.approx(best["val_accuracy"])
    assert (folder / "kt" / "oracle.json").is_file()


@pytest.mark.slow
def test_best_json_reaches_the_built_model(smoke_search: tuple[dict, Path]) -> None:
    from jewelnet_utils.run import models, train

    best, folder = smoke_search
    hp = train.load_hparams(folder / "best.json", "custom_cnn")  # train.py's reader
    assert hp == best["hparams"]
    model = models.build_model("custom_cnn", input_size=64, weights=None, hparams=hp)
    assert model.get_layer("fc1").units == hp["dense1"]
    assert model.get_layer("embedding").units == hp["dense2"]
    assert model.get_layer("dropout1").rate == pytest.approx(hp["dropout1"])
    assert model.get_layer("dropout2").rate == pytest.approx(hp["dropout2"])


@pytest.mark.slow
def test_jewelnet_train_hparams_closes_the_loop(smoke_search: tuple[dict, Path],
                                                dataset: tuple[Path, Path],
                                                tmp_path: Path) -> None:
    """`jewelnet train --hparams best.json` trains with the searched values."""
    from jewelnet_utils.run import models

    best, folder = smoke_search
    data_dir, split = dataset
    code = cli.main(["train", "--model", "custom_cnn", "--data", str(data_dir), "--split",
                     str(split), "--profile", "smoke", "--out", str(tmp_path), "--hparams",
                     str(folder / "best.json")])
    assert code == 0
    run = tmp_path / config.run_name("custom_cnn", "smoke", 42)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["status"] == "complete" and cfg["hparams"] == best["hparams"]
    assert cfg["batch_size"] == best["hparams"]["batch_size"]
    assert cfg["learning_rate"] == pytest.approx(best["hparams"]["learning_rate"])
    trained = models.load_model(run / "model.keras")
    assert trained.get_layer("fc1").units == best["hparams"]["dense1"]
    assert trained.get_layer("dropout1").rate == pytest.approx(best["hparams"]["dropout1"])


@pytest.mark.slow
def test_trials_table_and_hparam_plot(smoke_search: tuple[dict, Path]) -> None:
    from matplotlib.figure import Figure

    _best, folder = smoke_search
    table = tuning.trials_table(folder)
    assert list(table.columns[:4]) == ["trial_id", "tuner_id", "status", "val_accuracy"]
    fig = tuning.plot_hparams(table, title="smoke")
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in panels] == list(tuning.search_space("custom_cnn"))
    assert panels[0].get_xscale() == "log"  # learning rate


# --------------------------------------------------------------------------- resume, overwrite

@pytest.mark.slow
def test_resume_continues_and_overwrite_starts_again(dataset: tuple[Path, Path],
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    def search(counter: _FitCounter, **kwargs: Any) -> dict[str, Any]:
        counter.install(monkeypatch)
        args = {"profile": "smoke", "out_dir": tmp_path, "algorithm": "random", "max_trials": 2,
                "verbose": 0, **kwargs}
        return tuning.run_search("custom_cnn", *dataset, **args)

    folder = tmp_path / "custom_cnn"
    # Interrupted in the second trial: the first is finished and on disk.
    with pytest.raises(KeyboardInterrupt):
        search(_FitCounter(interrupt_at=2))
    first = folder / "kt" / "trial_0" / "trial.json"
    saved = first.read_bytes()
    assert json.loads(saved)["status"] == "COMPLETED"

    # The rerun retries only the interrupted trial.
    counter = _FitCounter()
    best = search(counter)
    assert counter.calls == 1 and best["trials"] == best["completed_trials"] == 2
    assert first.read_bytes() == saved
    # Nothing left to do: no training at all, and reopening the project prints no line
    # naming this machine's folders. A larger budget extends the same search.
    counter = _FitCounter()
    capsys.readouterr()
    assert search(counter)["trials"] == 2 and counter.calls == 0
    assert str(tmp_path) not in capsys.readouterr().out
    counter = _FitCounter()
    assert search(counter, max_trials=3)["trials"] == 3 and counter.calls == 1
    assert first.read_bytes() == saved
    # Random search never reloads weights, so no checkpoint is kept.
    assert not list(folder.glob("kt/trial_*/checkpoint*"))

    # Another algorithm in the same folder needs --overwrite ...
    with pytest.raises(JewelNetError, match="overwrite"):
        search(_FitCounter(), algorithm="bayesian", max_trials=1)
    # ... which starts from nothing.
    counter = _FitCounter()
    best = search(counter, algorithm="bayesian", max_trials=1, overwrite=True)
    assert counter.calls == 1 and best["trials"] == 1 and best["algorithm"] == "bayesian"
    assert len(pd.read_csv(folder / "trials.csv")) == 1
    assert json.loads((folder / "search.json").read_text())["algorithm"] == "bayesian"


# --------------------------------------------------------------------------- distributed

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int, proc: subprocess.Popen, timeout: float) -> bool:
    """True once ``proc`` itself listens on ``port`` (another process holding the port does
    not count); False if it exits or times out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            sockets = psutil.Process(proc.pid).net_connections("tcp")
        except psutil.Error:
            return False
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in sockets):
            return True
        time.sleep(0.5)
    return False


def _start_chief(args: list[str], env: dict[str, str],
                 first_port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start the chief on a free port and wait until it serves. A port picked by binding and
    closing a socket can be taken by someone else before the chief binds it; then the chief
    fails to bind and exits, and we try another port."""
    for attempt in range(3):
        port = str(first_port if attempt == 0 and first_port else _free_port())
        proc = subprocess.Popen(args, cwd=ROOT, env={**env, tuning.ENV_PORT: port,
                                                     tuning.ENV_ID: "chief"},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if _listening(int(port), proc, timeout=180):
            return proc, port
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate()[0]
    pytest.fail(f"the chief never served on a free port; its last output:\n{output[-3000:]}")


@pytest.mark.slow
def test_distributed_chief_and_two_workers_share_the_trials(dataset: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    data_dir, split = dataset
    args = [sys.executable, "-m", "jewelnet_utils.cli", "tune", "--model", "custom_cnn", "--data",
            str(data_dir), "--split", str(split), "--profile", "smoke", "--out", str(tmp_path),
            "--algorithm", "random", "--max-trials", "4", "--verbose", "0"]
    base = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", tuning.ENV_IP: "127.0.0.1"}
    procs: dict[str, subprocess.Popen] = {}
    # The first port offered is already taken, as when another program grabs the free port
    # first: the chief must be restarted on another one.
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        procs["chief"], port = _start_chief(args, base, first_port=taken.getsockname()[1])
        assert port != str(taken.getsockname()[1])
        taken.close()
        for tuner_id in ("tuner1", "tuner2"):
            procs[tuner_id] = subprocess.Popen(
                args, cwd=ROOT, env={**base, tuning.ENV_PORT: port, tuning.ENV_ID: tuner_id},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        outputs = {k: p.communicate(timeout=600)[0] for k, p in procs.items()}
    finally:
        taken.close()
        for proc in procs.values():  # never leave a process behind, even on a timeout
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for tuner_id, proc in procs.items():
        assert proc.returncode == 0, f"{tuner_id} failed:\n{outputs[tuner_id][-3000:]}"

    folder = tmp_path / "custom_cnn"
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 4 and (trials["status"] == "COMPLETED").all()
    # Every trial was trained by a worker (the chief only hands them out). How the four are
    # shared depends on scheduling, so only the total is fixed.
    assert set(trials["tuner_id"]) <= {"tuner1", "tuner2"}, trials["tuner_id"].tolist()
    assert json.loads((folder / "best.json").read_text())["trials"] == 4
    # Each worker connected to the chief and was told the search had ended: it printed its
    # summary line (with "-" when it got no trial) and exited 0.
    ran = {}
    for worker in ("tuner1", "tuner2"):
        line = next(ln for ln in outputs[worker].splitlines()
                    if ln.startswith(f"worker {worker}: ran trials"))
        listed = line.split("ran trials", 1)[1].rsplit(" in ", 1)[0].strip()
        ran[worker] = [] if listed == "-" else listed.split(", ")
    assert sum(len(v) for v in ran.values()) == 4
    for worker, trial_ids in ran.items():
        assert (trials["tuner_id"] == worker).sum() == len(trial_ids), (worker, trial_ids)


# --------------------------------------------------------------------------- bad arguments

def test_bad_arguments_give_clear_errors(dataset: tuple[Path, Path], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir, split = dataset

    def search(model: str = "custom_cnn", **kwargs: Any) -> None:
        tuning.run_search(model, data_dir, kwargs.pop("split", split),
                          **{"profile": "smoke", "out_dir": tmp_path, **kwargs})

    with pytest.raises(JewelNetError, match="unknown model 'alexnet'"):
        search("alexnet")
    with pytest.raises(JewelNetError, match="unknown search algorithm 'grid'"):
        search(algorithm="grid")
    with pytest.raises(JewelNetError, match="unknown profile"):
        search(profile="laptop")
    with pytest.raises(JewelNetError, match="max_trials"):
        search(algorithm="random", max_trials=0)
    with pytest.raises(JewelNetError, match="max_epochs"):
        search(max_epochs=0)
    with pytest.raises(JewelNetError, match="missing.json"):
        search(split=tmp_path / "missing.json")

    # A different search already in the folder is never mixed with this one.
    (tmp_path / "custom_cnn").mkdir()
    (tmp_path / "custom_cnn" / "search.json").write_text(json.dumps(
        {"model": "custom_cnn", "profile": "smoke", "algorithm": "random", "seed": 42}))
    with pytest.raises(JewelNetError, match="algorithm='random'.*--overwrite"):
        search()
    with pytest.raises(JewelNetError, match="seed=42"):
        search(algorithm="random", seed=7)

    # Distributed mode needs all three variables and a real port.
    monkeypatch.setenv(tuning.ENV_IP, "127.0.0.1")
    with pytest.raises(JewelNetError, match="KERASTUNER_ORACLE_PORT and KERASTUNER_TUNER_ID"):
        search()
    monkeypatch.setenv(tuning.ENV_PORT, "http")
    monkeypatch.setenv(tuning.ENV_ID, "tuner1")
    with pytest.raises(JewelNetError, match="not a TCP port"):
        search()
    monkeypatch.delenv(tuning.ENV_IP)

    with pytest.raises(JewelNetError, match="tuning folder not found"):
        tuning.trials_table(tmp_path / "nowhere")
    (tmp_path / "other.json").write_text('{"val_accuracy": 1}')
    with pytest.raises(JewelNetError, match="not a best.json"):
        artifacts.read_tuning_result(tmp_path / "other.json")


def test_cli_reports_errors_in_one_line(dataset: tuple[Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    data_dir, split = dataset
    code = cli.main(["tune", "--model", "custom_cnn", "--data", str(data_dir), "--split",
                     str(split), "--profile", "smoke", "--out", str(tmp_path),
                     "--max-trials", "-1", "--algorithm", "random"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("jewelnet tune: error:") and "max_trials" in err
    assert len(err.splitlines()) == 1
