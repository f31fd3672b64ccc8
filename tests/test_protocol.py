"""The `paper` profile against the thesis, the generated appendix "Protocol: thesis and ours",
the preflight before a book build, and the provenance every results record must carry."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from pathlib import Path

import pytest

from jewelnet_utils import cli
from jewelnet_utils.contracts import config, records
from jewelnet_utils.contracts.config import PROFILES, JewelNetError
from jewelnet_utils.contracts.thesis import PASSAGES, TABLE_4_1, TABLE_4_2, TABLE_4_4, TABLE_B_1
from jewelnet_utils.run import models
from jewelnet_utils.tools import preflight, protocol

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / protocol.PAGE
PAPER = PROFILES["paper"]
# Records committed before provenance was required; the book shows each as one refusal line.
LEGACY_RECORDS = {"paper-gpu-h200-jax-2026-11-26.json"}


# ------------------------------------------------------------------------------ the profile

def test_paper_epoch_is_the_augmented_training_set_in_fresh_views() -> None:
    train, augmented = TABLE_4_1.value("train"), TABLE_4_1.value("augmented")
    assert abs(PAPER.epoch_repeats * train - augmented) < train / 2
    assert PAPER.feature_cache_views == 0  # stage 1 on fresh augmentation, nothing cached


def test_paper_follows_table_4_4() -> None:
    assert PAPER.learning_rate == PAPER.fine_tune_lr == TABLE_4_4.value("learning_rate")
    assert PAPER.max_epochs == TABLE_4_4.value("max_epochs")
    assert PAPER.stage1_epochs + PAPER.stage2_epochs == TABLE_4_4.value("max_epochs")
    assert (PAPER.early_stop_patience, PAPER.reduce_lr_patience, PAPER.reduce_lr_factor) == (
        TABLE_4_4.value("early_stop_patience"), TABLE_4_4.value("reduce_lr_patience"),
        TABLE_4_4.value("reduce_lr_factor"))


def test_paper_matches_the_thesis_wherever_no_reading_is_named() -> None:
    unexplained = [(s.label, s.value(PAPER), s.thesis_value()) for s in protocol.settings()
                   if s.reading is None and s.value(PAPER) != s.thesis_value()]
    assert unexplained == []


def test_transcriptions_not_yet_moved_to_thesis_py_agree_with_it() -> None:
    from jewelnet_utils.tools import audit_thesis

    totals = tuple(TABLE_4_1.value(c) for c in audit_thesis.TABLE_4_1_COLUMNS)
    assert totals == audit_thesis.TABLE_4_1_TOTAL
    claimed = {m: claim["input_size"] for m, claim in models.THESIS_CLAIMS.items()}
    assert claimed == TABLE_B_1.value("input_size")


@pytest.mark.slow
def test_a_profile_without_cached_views_trains_stage_one_on_fresh_augmentation(
        make_image_folder, tmp_path: Path) -> None:
    from jewelnet_utils.run import train
    from jewelnet_utils.split import splitting

    data_dir = make_image_folder({c: 6 for c in ("bangle", "chain", "ring")}, size=40)
    split = tmp_path / "split.json"
    splitting.save_manifest(splitting.make_split(data_dir, seed=1), split)
    profile = dataclasses.replace(
        PROFILES["smoke"], name="fresh", input_sizes={m: 32 for m in config.MODELS},
        batch_size=8, stage1_epochs=1, stage2_epochs=0, feature_cache_views=0,
        max_train_per_class=None)
    run = train.train_model("vgg16", data_dir, split, profile, tmp_path / "runs", seed=1,
                            weights=None, progress=False)
    cfg = json.loads((run / "config.json").read_text())
    timings = json.loads((run / "timings.json").read_text())
    assert (cfg["feature_cache"], cfg["feature_cache_views"]) == (False, 0)
    assert timings["feature_cache_s"] == 0 and timings["stage1_s"] > 0


# ------------------------------------------------------------------------------ the appendix

def test_committed_appendix_is_what_the_code_generates() -> None:
    assert protocol.render() == PAGE.read_text(encoding="utf-8"), (
        "book/protocol.md is out of date or was edited by hand; run `make protocol`")


def test_appendix_changes_with_a_profile_value(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = dataclasses.replace(PAPER, epoch_repeats=3)
    monkeypatch.setitem(config.PROFILES, "paper", changed)
    page = protocol.render()
    assert page != PAGE.read_text(encoding="utf-8")
    assert "3 × the training split" in page


def test_appendix_has_a_column_per_profile_and_cites_lines() -> None:
    page = protocol.render()
    header = next(line for line in page.splitlines() if line.startswith("| setting"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "setting", "thesis (where)", "smoke", "cpu", "paper", "reading"]
    rows = [line for line in page.splitlines()
            if line.startswith("| ") and not line.startswith("| setting")]
    assert len(rows) == len(protocol.settings())
    assert all(re.search(r"line \d+", row) for row in rows)


def test_appendix_covers_tables_4_2_4_4_and_b_1() -> None:
    cited = {id(c) for s in protocol.settings() for c in (*s.cites, *s.also)}
    for table in (TABLE_4_2, TABLE_4_4, TABLE_B_1):
        uncovered = [key for key in table if id(table[key]) not in cited]
        assert uncovered == [], f"{table.name} rows missing from the appendix: {uncovered}"


def test_every_point_of_the_issue_has_a_reading_with_alternatives() -> None:
    points = {"epoch", "fine-tune-lr", "split", "resnet50", "normalisation", "augmentation",
              "duplicates", "weights"}
    assert points <= set(protocol.READINGS)
    used = {s.reading for s in protocol.settings()}
    for key, reading in protocol.READINGS.items():
        assert key in used, f"reading {key} is not attached to any setting"
        assert len(reading.alternatives) >= 2 and reading.cites
    page = protocol.render()
    assert page.count("(protocol-") == len(protocol.READINGS)  # one target per reading
    assert PASSAGES["near_duplicates_method"].source in page


BUILT_PAGE = ROOT / "_build" / "smoke" / "html" / "book" / "protocol.html"


def _built_rows(page: Path) -> dict[str, list[str]]:
    """Table rows of a built page: first cell -> all cells, as plain text (the book's
    typographer turns ' into a curly apostrophe; undo it)."""
    import html

    rows: dict[str, list[str]] = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page.read_text(encoding="utf-8"), re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).replace("\u2019", "'").strip()
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if cells:
            rows[cells[0]] = cells
    return rows


@pytest.mark.skipif(not BUILT_PAGE.is_file(), reason="the smoke book is not built; run "
                    "`make book PROFILE=smoke` (`make test` builds it first)")
def test_built_appendix_shows_the_current_profiles() -> None:
    rows = _built_rows(BUILT_PAGE)
    for setting in protocol.settings():
        shown = [setting.shown(PROFILES[n]) for n in protocol.PROFILE_COLUMNS]
        assert rows.get(setting.label, [])[2:5] == shown, (
            f"the built page's row {setting.label!r} is stale; rebuild the book")
    text = BUILT_PAGE.read_text(encoding="utf-8")
    assert all(f'id="protocol-{key}"' in text for key in protocol.READINGS)


def test_appendix_is_in_the_table_of_contents() -> None:
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert "- file: book/protocol\n" in toc


def test_protocol_command_writes_the_page(tmp_path: Path, capsys) -> None:
    out = tmp_path / "protocol.md"
    assert cli.main(["protocol", "--write", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == protocol.render()


# ------------------------------------------------------------------------------ preflight

WEIGHT_FILES = [spec[0] for name, spec in models.BACKBONE_WEIGHTS.items()]


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Keras cache, with downloads failing as they do offline."""
    home = tmp_path / "keras"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))

    def offline(name: str, cache_dir: Path) -> Path:
        raise OSError("network unreachable")

    monkeypatch.setattr(models, "_download_backbone_weights", offline)
    return home


def _cache_all_weights(home: Path) -> None:
    for name in WEIGHT_FILES:
        (home / "models" / name).write_bytes(b"stand-in")


def _fake_bench(folder: Path, steps_per_s: float = 2.0, batch: int = 32) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    record = {"created": "2026-01-01T00:00:00+00:00", "quick": False, "figures": {
        "pipeline_vs_compute": {"data": {"pipeline_steps_per_s": steps_per_s,
                                         "batch_size": batch, "size": 112}}}}
    path = folder / "bench-2026-01-01.json"
    path.write_text(json.dumps(record))
    return path


@pytest.mark.parametrize("name", ["smoke", "cpu"])
def test_preflight_passes_small_profiles_in_one_line(name: str, keras_home: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "accelerator", lambda: pytest.fail("no device check"))
    lines = preflight.preflight(PROFILES[name], environ={})
    assert len(lines) == 1 and lines[0].endswith("go")


def test_preflight_stops_at_once_on_missing_weights(keras_home: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "accelerator", lambda: pytest.fail("checked after weights"))
    with pytest.raises(JewelNetError) as err:
        preflight.preflight(PAPER, environ={})
    message = str(err.value)
    assert message.startswith("ImageNet weights for vgg16 are not available")
    assert str(keras_home / "models") in message and "--weights none" in message
    assert "resnet50, efficientnetb2 are missing too" in message


def test_preflight_cli_missing_weights_is_one_line_exit_2(keras_home: Path, capsys) -> None:
    assert cli.main(["preflight", "--profile", "paper"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "vgg16_weights_tf_dim_ordering" in err


def test_preflight_with_cached_weights_and_a_gpu_goes(keras_home: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _cache_all_weights(keras_home)
    monkeypatch.setattr(preflight, "accelerator", lambda: "/physical_device:GPU:0")
    lines = preflight.preflight(PAPER, environ={})
    assert str(keras_home / "models") in lines[0]
    assert lines[-1] == "preflight: accelerator /physical_device:GPU:0: go"


def _same_cost_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "model_macs", lambda sizes: dict.fromkeys(sizes, 1000))


def test_estimate_scales_the_measured_cost_by_epochs_and_images(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _same_cost_models(monkeypatch)
    record = json.loads(_fake_bench(tmp_path).read_text())
    seconds = preflight.estimate_cpu_seconds(PAPER, record)
    images = TABLE_4_1.value("train") * PAPER.epoch_repeats
    per_image = 1 / 64  # 2 steps/s of 32 images
    assert seconds["custom_cnn"] == pytest.approx(PAPER.max_epochs * images * per_image)
    transfer = (PAPER.stage1_epochs * preflight.FROZEN_SHARE + PAPER.stage2_epochs) * images
    assert seconds["vgg16"] == pytest.approx(transfer * per_image)
    longer = dataclasses.replace(PAPER, stage2_epochs_per_model={"resnet50": 40})
    seconds = preflight.estimate_cpu_seconds(longer, record)
    extra = (40 - PAPER.stage2_epochs) * images * per_image
    assert seconds["resnet50"] == pytest.approx(transfer * per_image + extra)
    assert seconds["vgg16"] == pytest.approx(transfer * per_image)


def test_appendix_epochs_row_names_a_model_with_its_own_stage2_budget() -> None:
    """The epochs row shows a profile's per-model stage-2 count beside the shared one."""
    row = next(s for s in protocol.settings() if s.label.startswith("maximum epochs, stage 1"))
    assert row.shown(PAPER) == f"{PAPER.stage1_epochs} + {PAPER.stage2_epochs}"
    cpu = PROFILES["cpu"]
    assert row.shown(cpu) == (f"{cpu.stage1_epochs} + {cpu.stage2_epochs} (EfficientNetB2: "
                              f"{cpu.stage1_epochs} + {cpu.stage2_epochs_for('efficientnetb2')})")


def test_preflight_without_accelerator_needs_paper_on_cpu(
        keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    _cache_all_weights(keras_home)
    _same_cost_models(monkeypatch)
    monkeypatch.setattr(preflight, "accelerator", lambda: None)
    results = tmp_path / "results"
    _fake_bench(results)
    with pytest.raises(preflight.NoAccelerator, match="PAPER_ON_CPU=1") as stop:
        preflight.preflight(PAPER, results_dir=results, environ={})
    estimate = "\n".join(stop.value.lines)
    assert "bench-2026-01-01.json" in estimate and re.search(r"total +[\d.]+ h", estimate)
    assert capsys.readouterr().out == ""  # the command prints, not the check
    lines = preflight.preflight(PAPER, results_dir=results, environ={"PAPER_ON_CPU": "1"})
    assert lines[-1].endswith("going on because PAPER_ON_CPU=1")


def test_preflight_cli_shows_the_estimate_above_its_one_line_error(
        keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    _cache_all_weights(keras_home)
    _same_cost_models(monkeypatch)
    monkeypatch.setattr(preflight, "accelerator", lambda: None)
    monkeypatch.chdir(tmp_path)  # the command reads results/ where it runs
    monkeypatch.delenv("PAPER_ON_CPU", raising=False)
    _fake_bench(tmp_path / "results")
    assert cli.main(["preflight", "--profile", "paper"]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("preflight: ImageNet weights of vgg16") and "total" in out
    assert err.splitlines() == [err.strip()] and "PAPER_ON_CPU=1" in err


def test_make_notebooks_runs_preflight_before_data_and_notebooks() -> None:
    out = subprocess.run(["make", "-n", "notebooks", "PROFILE=paper"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    order = [out.find("preflight --profile paper"), out.find("jewelnet_utils.cli synth"),
             out.find("papermill")]
    assert -1 not in order and order == sorted(order)


# ------------------------------------------------------------------------------ records

def test_committed_records_carry_provenance_or_are_known_legacy() -> None:
    refused = {p.name for p in (ROOT / "results").glob("*.json")
               if records.missing_fields(json.loads(p.read_text(encoding="utf-8")))}
    assert refused == LEGACY_RECORDS


def test_book_refuses_a_record_without_provenance_in_one_line(capsys) -> None:
    path = ROOT / "results" / "paper-gpu-h200-jax-2026-11-26.json"
    assert records.load_record(path, "results/" + path.name) is None
    line = capsys.readouterr().out.strip()
    assert line.splitlines() == [line]
    assert line.startswith("results/paper-gpu-h200-jax-2026-11-26.json is not shown")
    assert "weights, data, seed, profile, library versions" in line


def test_refusal_names_only_the_missing_fields(tmp_path: Path, capsys) -> None:
    block = records.provenance("imagenet", "photos", None, "paper", {"keras": "3"})
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"provenance": block, "value": 1}))
    assert records.load_record(path, "run.json") is None
    assert "does not record its seed (" in capsys.readouterr().out
    block["seed"] = 42
    path.write_text(json.dumps({"provenance": block, "value": 1}))
    assert records.load_record(path)["value"] == 1


def test_bench_writes_complete_provenance() -> None:
    from jewelnet_utils.tools import bench

    assert records.missing_fields({"provenance": bench._provenance(bench.QUICK_SIZES)}) == []


def test_make_book_weights_imagenet_asks_preflight_for_imagenet(keras_home: Path, capsys,
                                                                 monkeypatch) -> None:
    """`make book PROFILE=cpu WEIGHTS=imagenet` checks ImageNet weights before any notebook:
    missing, one line and exit 2; cached, found where Keras keeps them."""
    assert cli.main(["preflight", "--profile", "cpu"]) == 0
    assert cli.main(["preflight", "--profile", "cpu", "--weights", "imagenet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ImageNet weights for vgg16" in err
    assert preflight.needed_weights(PAPER, "none") == []
    _cache_all_weights(keras_home)
    lines = preflight.preflight(PROFILES["cpu"], environ={}, weights="imagenet")
    assert lines == [f"preflight: ImageNet weights of vgg16, resnet50, efficientnetb2 found in "
                     f"{keras_home / 'models'}"]
