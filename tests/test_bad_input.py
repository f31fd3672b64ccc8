"""Bad input, end to end through the public command line and API.

Each case asserts what a user sees, once: a problem they can fix ends the command with exit
status 2 and one line on stderr naming the file or value (never a traceback), odd but valid
images are converted rather than refused, and an artifact written before the failure is left
byte for byte as it was. Finer-grained checks live in each module's own test file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from jewelnet_utils import cli
from jewelnet_utils.contracts import decode
from jewelnet_utils.contracts.config import JewelNetError
from jewelnet_utils.images import audit
from jewelnet_utils.split import pipeline, splitting

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def picture(size: int | tuple[int, int] = 64, seed: int = 0, label: int = 0) -> Image.Image:
    """A distinct RGB picture per ``seed`` (blocky random background, so perceptual hashes
    differ) with a label-dependent shape on top (so a tiny model has something to learn)."""
    width, height = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    img = Image.fromarray(blocks, "RGB").resize((width, height), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(img)
    r = min(width, height) // 4
    cx, cy = width // 2, height // 2
    colour = [(230, 40, 40), (40, 200, 60), (40, 90, 230), (240, 200, 30)][label % 4]
    box = (cx - r, cy - r, cx + r, cy + r)
    if label % 2:
        draw.rectangle(box, fill=colour)
    else:
        draw.ellipse(box, outline=colour, width=max(2, r // 3))
    return img


def image_folder(root: Path, counts: dict[str, int], size: int = 64, seed: int = 0) -> Path:
    """``root/<folder>/<i>.png`` for each folder and count; same arguments, same bytes."""
    for label, (folder, n) in enumerate(counts.items()):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            picture(size, seed=seed * 100_003 + label * 1_009 + i, label=label).save(
                root / folder / f"{i:03d}.png")
    return root


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """``jewelnet ARGV`` in this process: (exit status, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, command: str, *names: str) -> None:
    """Exactly one stderr line, from ``command``, naming every one of ``names``."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith(f"jewelnet {command}: error: "), lines[0]
    for name in names:
        assert name in lines[0], f"{name!r} not named in: {lines[0]}"


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder`` (to prove nothing changed)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def no_space(*_args: object, **_kwargs: object) -> None:
    """Stand-in for ``os.replace`` on a full disk."""
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture(autouse=True)
def _fresh_array_cache() -> None:
    pipeline.clear_cache()


# --------------------------------------------------------------------------------------------
# Files that are not usable images: named, skipped, and the rest of the folder still works
# --------------------------------------------------------------------------------------------
def _corrupt_jpeg(path: Path) -> Path:
    """A JPEG whose header is intact and whose compressed data is noise."""
    picture(64, seed=5).save(path, quality=90)
    good = path.read_bytes()
    scan = good.find(b"\xff\xda") + 14
    noise = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    path.write_bytes(good[:scan] + noise)
    return path


def _truncated_png(path: Path) -> Path:
    picture(64, seed=6).save(path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _huge_gray_png(path: Path, side: int = 10_000) -> Path:
    """A real 10,000 x 10,000 PNG, written row by row with zlib (about 100 kB on disk)."""
    import struct
    import zlib

    def chunk(tag: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + tag + payload
                + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF))

    comp = zlib.compressobj(6)
    row = b"\x00" + b"\x80" * side
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def test_unusable_files_are_named_and_skipped(tmp_path: Path, capsys) -> None:
    root = image_folder(tmp_path / "data", {"bangle": 4, "ring": 4, "chain": 4})
    bad = {
        "bangle/corrupt.jpg": _corrupt_jpeg(root / "bangle" / "corrupt.jpg"),
        "bangle/truncated.png": _truncated_png(root / "bangle" / "truncated.png"),
        "ring/notes.jpg": root / "ring" / "notes.jpg",
        "ring/dot.png": root / "ring" / "dot.png",
        "chain/huge.png": _huge_gray_png(root / "chain" / "huge.png"),
    }
    bad["ring/notes.jpg"].write_text("shopping list, not a photo\n")
    Image.new("RGB", (1, 1), (200, 10, 10)).save(bad["ring/dot.png"])

    code, out, err = run_cli(capsys, "audit", root)
    assert code == 0 and "Traceback" not in err
    for rel in bad:
        line = next((ln for ln in out.splitlines() if rel in ln), None)
        assert line is not None, f"audit does not name {rel}"
    reasons = {rel: next(ln for ln in out.splitlines() if rel in ln) for rel in bad}
    assert "corrupt or truncated" in reasons["bangle/corrupt.jpg"]
    assert "corrupt or truncated" in reasons["bangle/truncated.png"]
    assert "not an image" in reasons["ring/notes.jpg"]
    assert "too small (1x1" in reasons["ring/dot.png"]
    assert "too large (10000x10000" in reasons["chain/huge.png"]

    manifest_path = tmp_path / "split.json"
    code, _out, err = run_cli(capsys, "split", root, "--out", manifest_path)
    assert code == 0 and "Traceback" not in err
    manifest = json.loads(manifest_path.read_text())
    assert {s["path"] for s in manifest["skipped"]} == set(bad)
    assert len(manifest["files"]) == 12
    arrays = pipeline.load_split_arrays(manifest, "train", 32, data_dir=root)
    assert arrays.images.shape[1:] == (32, 32, 3)


@pytest.mark.slow
def test_huge_jpeg_is_read_at_reduced_scale(tmp_path: Path, capsys) -> None:
    """A 10,000 x 10,000 JPEG is usable: decoded at 1/2 scale instead of a 300 MB bitmap."""
    root = image_folder(tmp_path / "data", {"bangle": 3, "ring": 3})
    Image.new("L", (10_000, 10_000), 90).save(root / "ring" / "huge.jpg", quality=70)
    code, out, err = run_cli(capsys, "audit", root)
    assert code == 0 and "Traceback" not in err
    assert "huge.jpg" not in out  # not listed as unusable
    assert decode.load_image(root / "ring" / "huge.jpg").shape == (5_000, 5_000, 3)


def test_odd_pixel_formats_are_converted_not_rejected(tmp_path: Path, capsys) -> None:
    root = image_folder(tmp_path / "data", {"bangle": 3, "ring": 3})
    folder = root / "bangle"
    picture(64, seed=11).convert("L").save(folder / "gray.png")
    picture(64, seed=12).convert("RGBA").save(folder / "rgba.png")
    picture(64, seed=13).convert("CMYK").save(folder / "cmyk.jpg")
    deep = (np.asarray(picture(64, seed=14).convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(deep).save(folder / "deep16.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed rotated 90 degrees
    picture((80, 48), seed=15).save(folder / "rotated.jpg", exif=exif.tobytes())

    code, out, err = run_cli(capsys, "audit", root)
    assert code == 0 and "Traceback" not in err
    converted = next(ln for ln in out.splitlines() if ln.startswith("Converted on load"))
    for kind in ("grayscale", "rgba/palette", "cmyk", "16-bit", "exif-rotated"):
        assert kind in converted
    assert decode.load_image(folder / "rotated.jpg").shape == (80, 48, 3)
    assert decode.load_image(folder / "deep16.png").dtype == np.uint8

    manifest = splitting.make_split(root)
    assert manifest["skipped"] == []
    assert len(manifest["files"]) == 11
    for split in splitting.SPLITS:
        arrays = pipeline.load_split_arrays(manifest, split, 40)
        assert arrays.images.dtype == np.uint8 and arrays.images.shape[1:] == (40, 40, 3)


# --------------------------------------------------------------------------------------------
# Data sets that cannot be split: exit 2, one line, an older manifest left alone
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("counts", "named"),
    [
        ({"bangle": 4, "ring": 0}, ["'ring'", "empty"]),
        ({"bangle": 5}, ["only one class", "'bangle'"]),
        ({"bangle": 4, "ring": 2}, ["'ring'", "only 2 usable images"]),
    ],
    ids=["empty-class-folder", "one-class", "class-with-two-images"],
)
def test_unsplittable_data_sets(tmp_path: Path, capsys, counts: dict[str, int],
                                named: list[str]) -> None:
    root = image_folder(tmp_path / "data", counts)
    code, _out, err = run_cli(capsys, "audit", root)
    assert code == 2
    assert_one_line_error(err, "audit", *named)

    manifest = tmp_path / "split.json"
    manifest.write_text('{"previous": "manifest"}\n')
    code, _out, err = run_cli(capsys, "split", root, "--out", manifest)
    assert code == 2
    assert_one_line_error(err, "split", *named)
    assert manifest.read_text() == '{"previous": "manifest"}\n'


def test_names_with_spaces_and_non_ascii(tmp_path: Path, capsys) -> None:
    root = image_folder(tmp_path / "data", {"Nose Pin": 4, "bangle": 4})
    names = ["bague dorée 1.png", "鼻钉 2.png", "  leading space.png", "ring (copy).png"]
    for i, name in enumerate(names):
        picture(64, seed=500 + i).save(root / "Nose Pin" / name)

    out_path = tmp_path / "split.json"
    code, _out, err = run_cli(capsys, "split", root, "--out", out_path)
    assert code == 0 and "Traceback" not in err
    manifest = splitting.load_manifest(out_path)
    paths = {f["path"] for f in manifest["files"]}
    assert {f"Nose Pin/{name}" for name in names} <= paths
    assert {f["class"] for f in manifest["files"]} == {"nose_pin", "bangle"}
    total = sum(len(pipeline.load_split_arrays(manifest, s, 32)) for s in splitting.SPLITS)
    assert total == 12


def test_near_duplicate_lands_in_one_split(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "data", {"bangle": 8, "ring": 8})
    # The same photo re-encoded as a JPEG and slightly brightened: a near-duplicate.
    original = Image.open(root / "bangle" / "003.png").convert("RGB")
    brighter = Image.fromarray(np.clip(np.asarray(original, np.int16) + 3, 0, 255).astype("uint8"))
    brighter.save(root / "bangle" / "003 copy.jpg", quality=92)
    report = audit.audit_dataset(root)
    assert ["bangle/003 copy.jpg", "bangle/003.png"] in report.near_duplicates
    for seed in range(6):  # several seeds: a pair kept together by chance would not show
        manifest = splitting.make_split(root, seed=seed)
        where = {f["path"]: f["split"] for f in manifest["files"]}
        assert where["bangle/003.png"] == where["bangle/003 copy.jpg"]


# --------------------------------------------------------------------------------------------
# Unknown names and wrongly typed parameters
# --------------------------------------------------------------------------------------------
@pytest.fixture
def split_data(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny three-class folder and its split manifest."""
    root = image_folder(tmp_path / "data", {"bangle": 6, "ring": 6, "chain": 6})
    manifest = tmp_path / "split.json"
    splitting.save_manifest(splitting.make_split(root), manifest)
    return root, manifest


def test_unknown_model_name(split_data: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    root, manifest = split_data
    code, _out, err = run_cli(capsys, "train", "--model", "resnet18", "--data", root,
                              "--split", manifest, "--profile", "smoke", "--out",
                              tmp_path / "artifacts")
    assert code == 2
    assert_one_line_error(err, "train", "'resnet18'", "custom_cnn")
    assert not any((tmp_path / "artifacts").glob("resnet18*"))


def test_unknown_profile(split_data: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    root, manifest = split_data
    code, _out, err = run_cli(capsys, "train", "--model", "custom_cnn", "--data", root,
                              "--split", manifest, "--profile", "gpu-fast", "--out",
                              tmp_path / "artifacts")
    assert code == 2
    assert_one_line_error(err, "train", "'gpu-fast'", "smoke")


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"SEED": "42"}, ["SEED", "'42'"]),
        ({"SEED": 4.2}, ["SEED", "4.2"]),
        ({"PROFILE": 3}, ["PROFILE", "3"]),
        ({"WEIGHTS": ["imagenet"]}, ["WEIGHTS"]),
        ({"ARTIFACTS": 17}, ["ARTIFACTS", "17"]),
    ],
    ids=["seed-str", "seed-float", "profile-int", "weights-list", "artifacts-int"],
)
def test_papermill_parameter_of_wrong_type(tmp_path: Path, overrides: dict[str, object],
                                           named: list[str]) -> None:
    from jewelnet_utils import book as params

    good: dict[str, object] = {"PROFILE": "smoke", "DATA_DIR": None, "WEIGHTS": "none",
                               "SEED": 42, "ARTIFACTS": str(tmp_path / "artifacts")}
    params.check_params(**good, root=tmp_path)  # the baseline is accepted
    with pytest.raises(JewelNetError) as info:
        params.check_params(**{**good, **overrides}, root=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    for name in named:
        assert name in message
    render = getattr(info.value, "_render_traceback_", None)
    if render is not None:  # what a notebook shows instead of a stack trace
        assert len(render()) == 1


# --------------------------------------------------------------------------------------------
# ImageNet weights missing while offline
# --------------------------------------------------------------------------------------------
@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No cached weights (empty KERAS_HOME) and no network: name lookups fail at once."""
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))

    def unreachable(*_args: object, **_kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "network disabled by the test")

    monkeypatch.setattr(socket, "getaddrinfo", unreachable)
    monkeypatch.setattr(socket, "create_connection", unreachable)
    return home


def test_imagenet_weights_missing_offline(offline: Path, split_data: tuple[Path, Path],
                                          tmp_path: Path, capsys) -> None:
    root, manifest = split_data
    out = tmp_path / "artifacts"
    code, _out, err = run_cli(capsys, "train", "--model", "vgg16", "--weights", "imagenet",
                              "--data", root, "--split", manifest, "--profile", "smoke",
                              "--out", out)
    assert code == 2
    assert_one_line_error(err, "train", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                          "--weights none")
    assert list(offline.rglob("*.h5")) == []  # nothing half-downloaded left behind
    for config in out.rglob("config.json"):  # never a run that pretends to be finished
        assert json.loads(config.read_text()).get("status") != "complete"


# --------------------------------------------------------------------------------------------
# Training runs: a smoke run to damage, kill and compare against
# --------------------------------------------------------------------------------------------
def _train_argv(root: Path, manifest: Path, out: Path, *extra: object) -> list[object]:
    return ["train", "--model", "custom_cnn", "--data", root, "--split", manifest,
            "--profile", "smoke", "--out", out, *extra]


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Three classes of eight 64 px pictures and their split, shared by the training tests."""
    base = tmp_path_factory.mktemp("smoke")
    root = image_folder(base / "data", {"bangle": 8, "ring": 8, "chain": 8}, seed=3)
    manifest = base / "split.json"
    splitting.save_manifest(splitting.make_split(root, seed=42), manifest)
    return root, manifest


@pytest.fixture(scope="module")
def smoke_run(smoke_data: tuple[Path, Path],
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One complete ``jewelnet train`` smoke run of the custom CNN (the CLI, in process)."""
    root, manifest = smoke_data
    out = tmp_path_factory.mktemp("artifacts")
    assert cli.main([str(a) for a in _train_argv(root, manifest, out)]) == 0
    run = out / "custom_cnn-smoke-s42"
    assert json.loads((run / "config.json").read_text())["status"] == "complete"
    return run


@pytest.mark.slow
def test_unwritable_artifacts_folder(smoke_data: tuple[Path, Path], tmp_path: Path,
                                     capsys) -> None:
    root, manifest = smoke_data
    blocker = tmp_path / "artifacts"
    blocker.write_text("a regular file where the artifacts folder should be\n")
    code, _out, err = run_cli(capsys, *_train_argv(root, manifest, blocker))
    assert code == 2
    assert_one_line_error(err, "train", str(blocker))
    assert blocker.read_text() == "a regular file where the artifacts folder should be\n"


@pytest.mark.slow
def test_full_disk_during_training_keeps_the_other_runs(smoke_run: Path, smoke_data,
                                                        capsys, monkeypatch) -> None:
    root, manifest = smoke_data
    before = tree_digest(smoke_run)
    monkeypatch.setattr(os, "replace", no_space)
    code, _out, err = run_cli(capsys, *_train_argv(root, manifest, smoke_run.parent,
                                                   "--seed", 7))
    monkeypatch.undo()
    assert code == 2
    assert_one_line_error(err, "train", "No space left on device")
    assert tree_digest(smoke_run) == before
    leftovers = [p for p in smoke_run.parent.rglob(".*") if p.is_file()]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def test_full_disk_split_keeps_the_previous_manifest(smoke_data, tmp_path: Path, capsys,
                                                     monkeypatch) -> None:
    root, manifest = smoke_data
    before = manifest.read_bytes()
    monkeypatch.setattr(os, "replace", no_space)
    code, _out, err = run_cli(capsys, "split", root, "--out", manifest, "--seed", 9)
    monkeypatch.undo()
    assert code == 2
    assert_one_line_error(err, "split", str(manifest), "No space left on device")
    assert manifest.read_bytes() == before


@pytest.mark.slow
def test_failed_overwrite_keeps_the_previous_run(smoke_run: Path, smoke_data, capsys,
                                                 monkeypatch, tmp_path: Path) -> None:
    root, manifest = smoke_data
    copy = tmp_path / "artifacts"
    shutil.copytree(smoke_run, copy / smoke_run.name)
    before = tree_digest(copy / smoke_run.name)
    monkeypatch.setattr(os, "replace", no_space)
    code, _out, err = run_cli(capsys, *_train_argv(root, manifest, copy, "--overwrite"))
    monkeypatch.undo()
    assert code == 2
    assert_one_line_error(err, "train", "No space left on device")
    assert tree_digest(copy / smoke_run.name) == before


@pytest.mark.slow
def test_predict_names_each_bad_image_and_answers_the_rest(smoke_run: Path,
                                                           tmp_path: Path, capsys) -> None:
    good = tmp_path / "good photo é.png"
    picture(64, seed=77, label=1).save(good)
    corrupt = _corrupt_jpeg(tmp_path / "corrupt.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo\n")
    code, out, err = run_cli(capsys, "predict", "--run", smoke_run, corrupt, good, text)
    assert code == 1  # partial failure: the good image is still answered
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.strip()]
    assert len(errors) == 2
    assert str(corrupt) in errors[0] and str(text) in errors[1]
    answers = [line for line in out.splitlines() if line.strip()]
    assert len(answers) == 1 and answers[0].startswith(str(good))


SLAYER = textwrap.dedent("""
    import os, signal, sys
    from jewelnet_utils import cli
    from jewelnet_utils.run import train

    original = train.ThesisProtocol.on_train_batch_begin

    def kill_mid_epoch(self, batch, logs=None):
        # SIGKILL (no cleanup at all) at the second batch of the second epoch.
        if self.state["global_epochs"] == 1 and batch == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, batch, logs)

    train.ThesisProtocol.on_train_batch_begin = kill_mid_epoch
    sys.exit(cli.main(sys.argv[1:]))
""")


@pytest.mark.slow
def test_training_killed_mid_epoch_then_resumed(smoke_data: tuple[Path, Path],
                                                tmp_path: Path, capsys) -> None:
    root, manifest = smoke_data
    out = tmp_path / "artifacts"
    argv = [str(a) for a in _train_argv(root, manifest, out)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    killed = subprocess.run([sys.executable, "-c", SLAYER, *argv], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    run = out / "custom_cnn-smoke-s42"
    assert json.loads((run / "config.json").read_text())["status"] == "running"
    assert json.loads((run / "checkpoints" / "state.json").read_text())["global_epochs"] == 1
    assert not (run / "metrics.json").exists()

    code, _out, err = run_cli(capsys, *argv)  # forgetting --resume is a clear error
    assert code == 2
    assert_one_line_error(err, "train", str(run), "--resume")

    code, _out, err = run_cli(capsys, *argv, "--resume")
    assert code == 0 and "Traceback" not in err
    config = json.loads((run / "config.json").read_text())
    assert config["status"] == "complete" and "resumed_at" in config
    epochs = [line.split(",")[0] for line in
              (run / "history.csv").read_text().splitlines()[1:]]
    assert epochs == ["1", "2"]  # the killed epoch is redone once, none is repeated
    assert json.loads((run / "metrics.json").read_text())["num_test"] > 0


# --------------------------------------------------------------------------------------------
# Determinism: one seed, the same bytes
# --------------------------------------------------------------------------------------------
def test_same_seed_same_split_bytes(smoke_data: tuple[Path, Path], tmp_path: Path,
                                    capsys) -> None:
    root, _manifest = smoke_data
    paths = {name: tmp_path / f"{name}.json" for name in ("a", "b", "other")}
    for name, seed in (("a", 5), ("b", 5), ("other", 6)):
        code, _out, err = run_cli(capsys, "split", root, "--out", paths[name], "--seed", seed)
        assert code == 0, err
    assert paths["a"].read_bytes() == paths["b"].read_bytes()
    assert paths["a"].read_bytes() != paths["other"].read_bytes()


def test_same_seed_same_synthetic_bytes(tmp_path: Path, capsys) -> None:
    for name in ("a", "b"):
        code, _out, err = run_cli(capsys, "synth", "--out", tmp_path / name, "--counts", 2,
                                  "--size", 64, "--seed", 11, "--quiet")
        assert code == 0, err
    first, second = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert len([p for p in first if p.endswith(".png")]) == 16
    assert first == second


@pytest.mark.slow
def test_same_seed_same_smoke_metrics(smoke_run: Path, smoke_data: tuple[Path, Path],
                                      tmp_path: Path, capsys) -> None:
    root, manifest = smoke_data
    code, _out, err = run_cli(capsys, *_train_argv(root, manifest, tmp_path / "again"))
    assert code == 0, err
    again = tmp_path / "again" / smoke_run.name
    for name in ("metrics.json", "predictions_val.csv", "predictions_test.csv"):
        assert (again / name).read_bytes() == (smoke_run / name).read_bytes(), name
    history = [(smoke_run / "history.csv").read_text(), (again / "history.csv").read_text()]
    assert history[0] == history[1]
