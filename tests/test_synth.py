"""JewelSynth: determinism, counts, files, metadata, restartability, visual cues and the CLI."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from jewelnet_utils.cli import main
from jewelnet_utils.contracts import artifacts
from jewelnet_utils.contracts.config import CLASSES, PROFILES, JewelNetError
from jewelnet_utils.images import synth
from jewelnet_utils.tools import calibrate

ROOT = Path(__file__).resolve().parents[1]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _sample(cls: str, i: int, size: int = 128, difficulty: str = "easy") -> synth.Sample:
    return synth.render_sample(cls, synth.image_rng(7, cls, i), size, difficulty)


def _parts(mask: np.ndarray) -> tuple[int, int]:
    """(connected pieces, enclosed holes) of a binary mask, ignoring specks under 4 px."""
    lab, n = ndimage.label(mask)
    pieces = int((np.bincount(lab.ravel())[1:] >= 4).sum()) if n else 0
    lab_bg, n_bg = ndimage.label(~mask)
    border = set(np.unique(np.concatenate([lab_bg[0], lab_bg[-1], lab_bg[:, 0],
                                           lab_bg[:, -1]]))) - {0}
    sizes = np.bincount(lab_bg.ravel())
    holes = sum(1 for k in range(1, n_bg + 1) if k not in border and sizes[k] >= 4)
    return pieces, holes


# ---- counts and arguments --------------------------------------------------------------------

def test_counts_thesis_balanced_and_int() -> None:
    thesis = synth.resolve_counts("thesis")
    assert list(thesis) == list(CLASSES)
    assert sum(thesis.values()) == 1217
    assert thesis["earring"] == 163 and thesis["bangle"] == 140
    assert synth.resolve_counts("balanced") == {c: 200 for c in CLASSES}
    assert synth.resolve_counts(3) == {c: 3 for c in CLASSES}
    assert synth.resolve_counts("5") == {c: 5 for c in CLASSES}
    assert synth.resolve_counts({"ring": 2, "bangle": 1}) == {"bangle": 1, "ring": 2}


@pytest.mark.parametrize("bad", ["lots", "0", -2, 0, "1.5", True])
def test_counts_rejects_bad_values(bad: object) -> None:
    with pytest.raises(JewelNetError):
        synth.resolve_counts(bad)  # type: ignore[arg-type]


def test_bad_class_difficulty_and_size() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(JewelNetError, match="unknown class"):
        synth.render_image("tiara", rng)
    with pytest.raises(JewelNetError, match="unknown difficulty"):
        synth.render_image("ring", rng, difficulty="nightmare")
    with pytest.raises(JewelNetError, match="at least 32"):
        synth.render_image("ring", rng, size=16)


# ---- single images ---------------------------------------------------------------------------

@pytest.mark.parametrize("difficulty", ["easy", "thesis", "hard"])
def test_every_class_renders_rgb_of_the_requested_size(difficulty: str) -> None:
    for cls in CLASSES:
        image, meta = synth.render_image(cls, synth.image_rng(1, cls, 0), 96, difficulty)
        assert image.mode == "RGB" and image.size == (96, 96)
        assert meta["class"] == cls
        assert set(synth.META_FIELDS) - {"path", "index"} <= set(meta)
        assert np.asarray(image).std() > 2  # not a blank frame


def test_same_rng_same_pixels_other_seed_other_pixels() -> None:
    a, meta_a = synth.render_image("necklace", synth.image_rng(3, "necklace", 4), 64)
    b, meta_b = synth.render_image("necklace", synth.image_rng(3, "necklace", 4), 64)
    c, _ = synth.render_image("necklace", synth.image_rng(4, "necklace", 4), 64)
    assert a.tobytes() == b.tobytes() and meta_a == meta_b
    assert a.tobytes() != c.tobytes()


# SHA-256 of the pixels of a tiny set (one 64 px image per class and difficulty, seed 0), per
# generator version. Pixels that change without a VERSION bump fail here; after a deliberate
# change, bump synth.VERSION and add its checksum (printed by the failing assertion).
GOLDEN_PIXELS_SHA256 = {
    "1.8": "3ab3396dae2e277e740aa1cc2d1a85f68ca251e534f9d7edd7f2df7e0246e91e",
}


def _tiny_set_sha256() -> str:
    digest = hashlib.sha256()
    for difficulty in ("easy", "thesis", "hard"):
        for cls in CLASSES:
            image, _ = synth.render_image(cls, synth.image_rng(0, cls, 0), 64, difficulty)
            digest.update(np.asarray(image, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def test_pixels_match_the_golden_checksum_of_this_generator_version() -> None:
    assert synth.VERSION in GOLDEN_PIXELS_SHA256, (
        f"JewelSynth {synth.VERSION} has no golden checksum; add {_tiny_set_sha256()!r}")
    got = _tiny_set_sha256()
    assert got == GOLDEN_PIXELS_SHA256[synth.VERSION], (
        f"JewelSynth {synth.VERSION} draws other pixels than when its checksum was recorded "
        f"(now {got}); bump synth.VERSION when pixels change on purpose")


def test_metadata_alone_matches_the_rendered_metadata() -> None:
    for cls in CLASSES:
        rendered = _sample(cls, 2, 64, "thesis").meta
        assert synth.image_meta(7, cls, 2, 64, "thesis") == rendered


def test_png_writer_round_trips_and_verifies() -> None:
    arr = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    data = synth.png_bytes(Image.fromarray(arr))
    with Image.open(io.BytesIO(data)) as im:
        im.verify()
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        assert np.array_equal(np.asarray(im), arr)


# ---- cues: the shapes carry what tells the classes apart ---------------------------------------

def test_bangle_is_one_closed_band_even_when_notched(monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(6):
        assert _parts(_sample("bangle", i).mask) == (1, 1), f"bangle {i}"
    knobs = dict(synth.DIFFICULTIES["easy"])
    knobs["ambiguous"] = {**knobs["ambiguous"], "bangle": 1.0}
    monkeypatch.setitem(synth.DIFFICULTIES, "easy", knobs)
    for i in range(4):
        s = _sample("bangle", i)
        assert s.meta["ambiguous"] and s.meta["style"] in ("notched", "studded")
        assert _parts(s.mask) == (1, 1), f"{s.meta['style']} bangle {i}"


def test_bracelet_at_easy_is_made_of_pieces() -> None:
    # Links leave holes, beads leave gaps (only a thread joins them, which opening removes).
    for i in range(8):
        s = _sample("bracelet", i)
        pieces, holes = _parts(ndimage.binary_opening(s.mask))
        assert pieces + holes >= 6, f"bracelet {i} ({s.meta['style']}): {pieces}, {holes}"
        assert s.path is not None and len(s.path) > 10


def test_tight_bracelet_fills_its_path_more_than_an_easy_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def fill(s: synth.Sample) -> float:
        x, y = np.round(s.path).astype(int).T
        inside = (x >= 0) & (x < s.mask.shape[1]) & (y >= 0) & (y < s.mask.shape[0])
        return float(ndimage.binary_opening(s.mask)[y[inside], x[inside]].mean())

    loose = [fill(_sample("bracelet", i)) for i in range(8)]
    knobs = dict(synth.DIFFICULTIES["easy"])
    knobs["ambiguous"] = {**knobs["ambiguous"], "bracelet": 1.0}
    knobs["amb_strength"] = 1.0
    monkeypatch.setitem(synth.DIFFICULTIES, "easy", knobs)
    tight = [fill(_sample("bracelet", i)) for i in range(8)]
    assert np.mean(tight) > np.mean(loose) + 0.1
    assert np.mean(tight) > 0.85


def test_nose_pin_is_small_and_others_are_not() -> None:
    for i in range(6):
        assert _sample("nose_pin", i, difficulty="thesis").mask.mean() < 0.035
    for cls in ("bangle", "ring", "pendant", "earring"):
        assert np.mean([_sample(cls, i).mask.mean() for i in range(3)]) > 0.04, cls


def test_earring_is_a_pair_or_has_a_hook() -> None:
    for i in range(10):
        s = _sample("earring", i)
        pieces, _ = _parts(s.mask)
        if s.meta["style"].startswith("pair"):
            assert pieces >= 2, f"earring {i} {s.meta['style']}"
        else:
            assert "+hook" in s.meta["style"]


def test_ring_carries_a_stone_and_chain_no_ornament() -> None:
    for i in range(6):
        assert _sample("ring", i).meta["gem_colour"] != "none"
        chain = _sample("chain", i)
        assert chain.meta["gem_colour"] == "none" and "+tag" not in chain.meta["style"]


# ---- data sets -------------------------------------------------------------------------------

def test_generate_writes_the_layout_and_is_byte_identical(tmp_path: Path) -> None:
    a = synth.generate_dataset(tmp_path / "a", counts=2, size=48, seed=5, progress=False)
    b = synth.generate_dataset(tmp_path / "b", counts=2, size=48, seed=5, workers=2,
                               progress=False)
    c = synth.generate_dataset(tmp_path / "c", counts=2, size=48, seed=6, progress=False)
    assert (a.written, a.skipped, a.total) == (16, 0, 16)
    assert a.images_per_second == pytest.approx(16 / a.seconds)
    files_a, files_b, files_c = (_files(r.path) for r in (a, b, c))
    assert files_a == files_b  # worker count does not matter
    pngs = [k for k in files_a if k.endswith(".png")]
    assert sorted(pngs) == sorted(f"{cls}/{cls}_{i:04d}.png" for cls in CLASSES for i in range(2))
    assert all(files_a[k] != files_c[k] for k in pngs)  # another seed, other images
    for rel in pngs:
        with Image.open(a.path / rel) as im:
            assert im.mode == "RGB" and im.size == (48, 48)
    # a data-set file is exactly render_image with the file's own RNG
    image, _ = synth.render_image("ring", synth.image_rng(5, "ring", 1), 48, "thesis")
    with Image.open(a.path / "ring/ring_0001.png") as im:
        assert np.array_equal(np.asarray(im), np.asarray(image))


def test_metadata_csv_and_settings(tmp_path: Path) -> None:
    res = synth.generate_dataset(tmp_path / "d", counts={"bangle": 2, "nose_pin": 3}, size=48,
                                 difficulty="hard", progress=False)
    with open(res.path / "metadata.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == synth.META_FIELDS
    assert [r["path"] for r in rows] == [f"bangle/bangle_{i:04d}.png" for i in range(2)] + [
        f"nose_pin/nose_pin_{i:04d}.png" for i in range(3)]
    assert {r["class"] for r in rows} == {"bangle", "nose_pin"}
    assert {r["metal"] for r in rows} <= set(synth.METALS)
    assert {r["background"] for r in rows} <= {"plain", "gradient", "texture", "skin"}
    settings = json.loads((res.path / "jewelsynth.json").read_text())
    assert settings["complete"] is True and settings["total"] == 5
    assert settings["difficulty"] == "hard" and settings["version"] == synth.VERSION


def test_rerun_completes_an_interrupted_run_with_the_same_bytes(tmp_path: Path) -> None:
    out = tmp_path / "set"
    first = synth.generate_dataset(out, counts=3, size=48, progress=False)
    before = _files(out)
    (out / "chain/chain_0002.png").unlink()
    (out / "ring/ring_0000.png").unlink()
    half = before["pendant/pendant_0001.png"]
    (out / "pendant/pendant_0001.png").write_bytes(half[: len(half) // 2])  # killed mid-write
    (out / "bangle/.bangle_0001.png.999.tmp").write_bytes(b"garbage")
    (out / "metadata.csv").unlink()
    second = synth.generate_dataset(out, counts=3, size=48, progress=False)
    assert (second.written, second.skipped) == (3, first.total - 3)
    assert second.images_per_second == pytest.approx(3 / second.seconds)  # rendered ones only
    assert _files(out) == before  # same bytes, no temp or duplicate files


def test_smaller_rerun_drops_extra_files_and_other_arguments_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "set"
    synth.generate_dataset(out, counts=3, size=48, progress=False)
    synth.generate_dataset(out, counts=2, size=48, progress=False)
    assert len(list(out.rglob("*.png"))) == 16
    with pytest.raises(JewelNetError, match="other arguments"):
        synth.generate_dataset(out, counts=2, size=64, progress=False)
    foreign = tmp_path / "photos"
    (foreign / "ring").mkdir(parents=True)
    (foreign / "ring" / "a.jpg").write_bytes(b"x")
    with pytest.raises(JewelNetError, match="not a JewelSynth data set"):
        synth.generate_dataset(foreign, counts=1, size=48, progress=False)


def test_recalibrated_knobs_are_never_mixed_in(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = dataclasses.replace(PROFILES["smoke"], name="tiny", synth_counts="1", synth_size=40,
                               synth_difficulty="easy")
    path = synth.ensure_dataset(tiny, root=tmp_path, progress=False)
    before = _files(path)
    monkeypatch.setitem(synth.DIFFICULTIES, "easy",
                        {**synth.DIFFICULTIES["easy"], "rotation_deg": 1.0})
    with pytest.raises(JewelNetError, match="knobs changed"):
        synth.generate_dataset(path, counts=1, size=40, difficulty="easy", progress=False)
    synth.ensure_dataset(tiny, root=tmp_path, progress=False)  # regenerates: it is ours
    after = _files(path)
    assert after.keys() == before.keys() and after != before


def test_default_dir_and_ensure(tmp_path: Path) -> None:
    assert synth.default_dataset_dir("cpu") == Path("data/jewelsynth")
    assert synth.default_dataset_dir("paper") == Path("data/jewelsynth")
    assert synth.default_dataset_dir("smoke") == Path("data/jewelsynth-smoke")
    tiny = dataclasses.replace(PROFILES["smoke"], name="tiny", synth_counts="1", synth_size=40)
    path = synth.ensure_dataset(tiny, root=tmp_path, progress=False)
    assert path == tmp_path / "data/jewelsynth-tiny"
    assert len(list(path.rglob("*.png"))) == 8
    stamp = (path / "metadata.csv").stat().st_mtime_ns
    assert synth.ensure_dataset(tiny, root=tmp_path, progress=False) == path
    assert (path / "metadata.csv").stat().st_mtime_ns == stamp  # complete: left alone
    (path / "ring/ring_0000.png").unlink()
    synth.ensure_dataset(tiny, root=tmp_path, progress=False)
    assert (path / "ring/ring_0000.png").is_file()


def test_contact_sheet_from_memory_and_from_a_folder(tmp_path: Path) -> None:
    sheet = synth.contact_sheet(per_class=2, size=48, thumb=40)
    assert sheet.mode == "RGB" and sheet.height >= 8 * 40 and sheet.width > 2 * 40
    res = synth.generate_dataset(tmp_path / "s", counts=1, size=48, progress=False)
    from_dir = synth.contact_sheet(res.path, per_class=3, thumb=40)
    assert from_dir.height == sheet.height
    with pytest.raises(JewelNetError):
        synth.contact_sheet(tmp_path / "missing")


# ---- command line ----------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--counts", "many"], "--counts"),
    (["--counts", "0"], "at least 1"),
    (["--counts", "1", "--size", "16"], "at least 32"),
    (["--counts", "1", "--size", "48", "--workers", "0"], "workers"),
    (["--counts", "1", "--size", "48", "--profile", "laptop"], "unknown profile"),
])
def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 argv: list[str], message: str) -> None:
    assert main(["synth", "--out", str(tmp_path / "x"), "--quiet", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jewelnet synth: error:") and message in err and "\n" not in err


def test_cli_generates_and_previews(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, preview = tmp_path / "set", tmp_path / "sheet.png"
    assert main(["synth", "--out", str(out), "--counts", "1", "--size", "48", "--quiet",
                 "--preview", str(preview)]) == 0
    text = capsys.readouterr().out
    assert "images/s" in text and len(list(out.rglob("*.png"))) == 8
    with Image.open(preview) as im:
        assert im.format == "PNG"
    memory = tmp_path / "memory.png"
    assert main(["synth", "--preview", str(memory), "--size", "48"]) == 0
    assert memory.is_file() and not (tmp_path / "data").exists()


def test_make_data_command_ensures_the_profile_set(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "jewelnet_utils.cli", "synth", "--ensure", "--profile",
           "smoke", "--quiet"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "data/jewelsynth-smoke"
    assert len(list(folder.rglob("*.png"))) == 8 * int(PROFILES["smoke"].synth_counts)
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0 and "already complete" in again.stdout


# --- calibration bookkeeping ------------------------------------------------------------------

def test_confusion_pairs_sum_both_directions_and_sort() -> None:
    labels = ["bangle", "bracelet", "bracelet", "chain", "necklace", "ring"]
    preds = ["bracelet", "bangle", "bangle", "necklace", "necklace", "ring"]
    assert calibrate.confusion_pairs(labels, preds) == [("bangle/bracelet", 3),
                                                        ("chain/necklace", 1)]


def _calib_run(tmp_path: Path, name: str, rows: list[tuple[str, str]]) -> Path:
    """A finished run folder holding only what calibration_record reads, written by the
    run folder's own writers."""
    run = tmp_path / name
    run.mkdir()
    classes = sorted({c for pair in rows for c in pair})
    artifacts.write_config(run, {
        "model": "custom_cnn", "profile": {"name": "cpu"}, "seed": 7, "weights": "none",
        "classes": classes, "input_size": 96, "data_dir": "data", "data_hash": "0" * 64,
        "library_versions": {}, "status": "complete"})
    labels = [classes.index(t) for t, _ in rows]
    probs = np.eye(len(classes))[[classes.index(p) for _, p in rows]]
    artifacts.write_predictions(run, "test", [f"{t}/{i}.png" for i, (t, _) in enumerate(rows)],
                                labels, probs, classes)
    artifacts.write_timings(run, artifacts.Timings(
        feature_cache_s=0.0, stage1_s=12.34, stage2_s=0.0, train_s=12.34, checkpoint_s=0.0,
        wall_s_this_session=13.0, epochs={"stage1": 1}, stopped_early={"stage1": False},
        cpu_s={}, images_per_s={}, cache_views=0, num_train=1))
    return run


def test_calibration_record_verdicts_and_replacement(tmp_path: Path) -> None:
    good = [("bangle", "bangle")] * 88 + [("bangle", "bracelet")] * 5 + \
        [("chain", "necklace")] * 4 + [("earring", "pendant")] * 3
    rec = calibrate.calibration_record(_calib_run(tmp_path, "a", good), "thesis", 0)
    assert rec["test_accuracy"] == 0.88 and rec["n_test"] == 100
    assert rec["top_pairs"][:2] == [["bangle/bracelet", 5], ["chain/necklace", 4]]
    assert rec["train_seed"] == 7 and rec["train_s"] == 12.3
    path = tmp_path / "cal.json"
    calibrate.record_calibration(rec, path)
    # A pair other than the thesis's two in second place fails even inside the accuracy band.
    bad = [("bangle", "bangle")] * 88 + [("bangle", "bracelet")] * 5 + \
        [("earring", "pendant")] * 4 + [("chain", "necklace")] * 3
    bad_rec = calibrate.calibration_record(_calib_run(tmp_path, "b", bad), "thesis", 1)
    calibrate.record_calibration(bad_rec, path)
    easy = calibrate.calibration_record(_calib_run(tmp_path, "c", [("ring", "ring")] * 97
                                               + [("chain", "necklace")] * 3), "easy", 0)
    hard = calibrate.calibration_record(_calib_run(tmp_path, "d", [("ring", "ring")] * 60
                                               + [("chain", "necklace")] * 40), "hard", 0)
    calibrate.record_calibration(easy, path)
    calibrate.record_calibration(hard, path)
    rows = {(r["difficulty"], r["data seed"]): r for r in calibrate.calibration_verdicts(
        calibrate.load_calibration(path))}
    assert rows[("thesis", 0)]["met"] == "yes" and rows[("thesis", 1)]["met"] == "no"
    assert rows[("easy", 0)]["met"] == "no"  # 97 % < 98 %
    assert rows[("hard", 0)]["met"] == "yes"  # 60 % is below the thesis mean
    # Re-recording the same key replaces instead of duplicating.
    calibrate.record_calibration({**easy, "test_accuracy": 0.99}, path)
    runs = calibrate.load_calibration(path)["runs"]
    assert len(runs) == 4
    assert [r["test_accuracy"] for r in runs if r["difficulty"] == "easy"] == [0.99]


def test_shipped_calibration_covers_this_generator_version() -> None:
    """Changing the generator without re-running `jewelnet calibrate` fails here."""
    rows = calibrate.calibration_verdicts()
    assert {r["difficulty"] for r in rows} >= {"easy", "thesis", "hard"}, \
        "synth_calibration.json has no runs for this generator version: run `jewelnet calibrate`"
    assert all(r["met"] in ("yes", "no") and 0 < r["test accuracy"] <= 1 for r in rows)


def test_each_experiment_has_its_own_folder_and_counts(tmp_path: Path) -> None:
    assert synth.default_dataset_dir("cpu", "balanced") == Path("data/jewelsynth-balanced")
    assert synth.default_dataset_dir("smoke", "balanced") == Path("data/jewelsynth-smoke-balanced")
    assert PROFILES["cpu"].counts_for("balanced") == "balanced"
    assert synth.resolve_counts("balanced") == {c: 200 for c in CLASSES}  # thesis line 452
    tiny = dataclasses.replace(PROFILES["smoke"], name="tiny", synth_counts="1",
                               balanced_counts="2", synth_size=40)
    imbalanced = synth.ensure_dataset(tiny, root=tmp_path, progress=False)
    balanced = synth.ensure_dataset(tiny, root=tmp_path, progress=False, experiment="balanced")
    assert balanced == tmp_path / "data/jewelsynth-tiny-balanced" != imbalanced
    assert len(list(balanced.rglob("*.png"))) == 16 and len(list(imbalanced.rglob("*.png"))) == 8
    with pytest.raises(JewelNetError, match="unknown experiment 'equal'"):
        synth.ensure_dataset(tiny, root=tmp_path, progress=False, experiment="equal")
