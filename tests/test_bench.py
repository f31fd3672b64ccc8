"""``jewelnet bench``: structure of its output and JSON, never its speed.

The speed goals are what the bench reports; asserting them here would make the suite fail on a
busy machine. These tests run the figures on tiny workloads (``--size`` overrides) and check
that every line parses as ``name: number unit (goal ...); detail`` and that the JSON the book
reads has its keys.
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from jewelnet_utils import cli
from jewelnet_utils.contracts.config import get_profile
from jewelnet_utils.tools import bench

LINE = re.compile(bench.LINE_PATTERN)
FIGURE_KEYS = {"value", "unit", "goal", "goal_met", "line", "detail", "data", "seconds"}
TINY = [
    "--size", "retrieval_n=300,1200", "--size", "retrieval_queries=4",
    "--size", "synth_images=8",
]


def run_bench(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = cli.main(["bench", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return code, out, err


def figure_lines(out: str) -> dict[str, re.Match[str]]:
    """Parsed figure lines by name; every line but the closing ones must parse."""
    found = {}
    for line in out.splitlines():
        if line.startswith(("total:", "wrote ")):
            continue
        match = LINE.match(line)
        assert match is not None, f"line does not parse: {line!r}"
        found[match["name"]] = match
    return found


def test_quick_retrieval_and_synth_print_parsable_lines_and_json(tmp_path: Path, capsys,
                                                                 monkeypatch) -> None:
    out_json = tmp_path / "reports" / "bench.json"
    monkeypatch.chdir(tmp_path)
    code, out, err = run_bench(capsys, "--quick", "--only", "retrieval", "synth", *TINY,
                               "--json", out_json)
    assert code == 0, err
    # Where it wrote, relative to where it ran: no folder of the machine on a book page.
    assert re.search(r"^wrote reports/bench\.json$", out, re.M), out
    lines = figure_lines(out)
    assert list(lines) == ["retrieval", "synth"]
    assert lines["retrieval"]["unit"] == "ms" and "at 1.2k" in lines["retrieval"]["goal"]
    assert lines["synth"]["unit"] == "images/s" and lines["synth"]["goal"] == ">= 100 images/s"
    assert re.search(r"^total: \d+ s for 2 figure\(s\) \(--quick\)$", out, re.M)

    report = json.loads(out_json.read_text())
    assert {"version", "created", "command", "quick", "machine", "sizes", "figures", "errors",
            "total_seconds"} <= set(report)
    assert report["quick"] is True and report["errors"] == {}
    machine = report["machine"]
    assert {"cpu_count", "platform", "processor", "python", "libraries"} <= set(machine)
    assert {"numpy", "faiss-cpu", "keras", "tensorflow"} <= set(machine["libraries"])
    assert report["sizes"]["retrieval_n"] == [300, 1200]
    for name, match in lines.items():
        figure = report["figures"][name]
        assert set(figure) == FIGURE_KEYS
        assert figure["line"] == match.group(0)
        assert isinstance(figure["goal_met"], bool)
        assert bench._num(figure["value"]) == match["value"]

    by_size = report["figures"]["retrieval"]["data"]["by_size"]
    assert set(by_size) == {"300", "1.2k"}
    for row in by_size.values():
        assert 0.0 <= row["ivf_recall_at_10"] <= 1.0
        # Exact against exact on random directions (no ties): the same ten items every time.
        assert row["faiss_flat_recall"] == 1.0
        # Milliseconds per query, not seconds or microseconds; the ratios are of these numbers.
        assert 0 < row["numpy_ms"] < 1000 and 0 < row["ivf_ms"] < 1000
        assert row["speedup_ivf_vs_numpy"] == pytest.approx(row["numpy_ms"] / row["ivf_ms"])
    assert report["figures"]["retrieval"]["value"] == by_size["1.2k"]["ivf_ms"]
    synth = report["figures"]["synth"]["data"]
    assert synth["images"] == 8 and synth["size"] == 256
    assert synth["workers"] == bench._cpus()  # one worker process per CPU
    # Measured in a child interpreter, one rate per worker count.
    assert set(synth["images_per_s_by_workers"]) == {"1", str(bench._cpus())}
    assert all(0 < rate < 10_000 for rate in synth["images_per_s_by_workers"].values())
    assert report["figures"]["synth"]["value"] == synth["images_per_s_by_workers"][
        str(bench._cpus())]
    for workers, rates in synth["all_rates"].items():  # the best of every repeat counts
        assert len(rates) == synth["repeats"] == bench.QUICK_SIZES.synth_repeats
        assert synth["images_per_s_by_workers"][workers] == max(rates)
    assert f"{bench._plural(bench._cpus(), 'worker')} (one per CPU)" in lines["synth"]["detail"]
    assert not list(tmp_path.glob("reports/.bench.json*"))  # no temp file left beside it


def test_report_table_description_and_newest_record(tmp_path: Path, capsys) -> None:
    """What the book shows: one table row per figure, met or not as the goal says, and the
    newest full (or quick) record of a results folder, skipping files that are not reports."""
    quick = bench.run(quick=True, only=["retrieval"], size_overrides=TINY[1::2],
                      json_out=tmp_path / "bench-quick.json")
    capsys.readouterr()
    table = bench.results_table(quick)
    assert list(table.columns) == ["figure", "what", "measured", "goal", "met", "details"]
    assert list(table["figure"]) == ["retrieval"]
    row = table.iloc[0]
    figure = quick["figures"]["retrieval"]
    assert row["met"] == ("yes" if figure["goal_met"] else "no")
    assert row["measured"] == f"{bench._num(figure['value'])} ms" and row["goal"] == figure["goal"]
    text = bench.describe_run(quick)
    assert text.startswith("`jewelnet bench --quick` on " + quick["created"])
    assert f"{quick['machine']['cpus_available']} CPUs" in text

    broken = {**quick, "figures": {}, "errors": {"synth": "RuntimeError: no fonts"}}
    assert bench.results_table(broken).iloc[0][["figure", "measured", "met"]].tolist() == [
        "synth", "error", "no"]

    (tmp_path / "bench-junk.json").write_text("not json")
    (tmp_path / "bench-list.json").write_text("[1, 2]")
    for name, created in (("bench-old.json", "2026-01-01T00:00:00+00:00"),
                          ("bench-new.json", "2026-06-01T00:00:00+00:00")):
        (tmp_path / name).write_text(json.dumps({**quick, "quick": False, "created": created}))
    assert bench.newest_record(tmp_path) == tmp_path / "bench-new.json"
    assert bench.newest_record(tmp_path, quick=True) == tmp_path / "bench-quick.json"
    assert bench.newest_record(tmp_path / "nowhere") is None


def test_a_failing_figure_is_reported_and_the_others_still_run(tmp_path: Path, capsys,
                                                               monkeypatch) -> None:
    def broken(*_args: Any) -> None:
        raise RuntimeError("renderer exploded\nsecond line is not shown")

    monkeypatch.setattr(bench, "bench_synth", broken)
    out_json = tmp_path / "bench.json"
    code, out, _err = run_bench(capsys, "--quick", "--only", "synth", "retrieval", *TINY,
                                "--json", out_json)
    assert code == 1
    assert "retrieval: " in out and LINE.search(out.split("synth: ")[0])
    assert "synth: error (RuntimeError: renderer exploded)" in out
    assert "second line" not in out
    report = json.loads(out_json.read_text())
    assert set(report["figures"]) == {"retrieval"}
    assert report["errors"] == {"synth": "RuntimeError: renderer exploded"}


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--only", "warp-speed"], ["'warp-speed'", "retrieval", "memory"]),
        (["--size", "warp=9"], ["'warp=9'", "retrieval_n"]),
        (["--size", "retrieval_n"], ["'retrieval_n'", "KEY=VALUE"]),
        (["--size", "synth_images=many"], ["'synth_images=many'"]),
        (["--size", "synth_images=0"], ["'synth_images=0'", "too small"]),
        (["--size", "memory_models=custom_cnn,resnet18"], ["'resnet18'", "vgg16"]),
        (["--size", "memory_profile=gpu-fast"], ["'gpu-fast'", "smoke"]),
    ],
    ids=["unknown-figure", "unknown-size-key", "size-without-value", "size-not-a-number",
         "size-zero", "unknown-model", "unknown-profile"],
)
def test_bad_arguments_are_one_line_and_exit_2(capsys, argv: list[str],
                                               named: list[str]) -> None:
    code, out, err = run_bench(capsys, *argv)
    assert code == 2 and out == ""
    assert "Traceback" not in err and err.count("\n") == 1
    assert err.startswith("jewelnet bench: error: ")
    for name in named:
        assert name in err


def test_unwritable_json_fails_before_measuring(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the reports folder should be\n")
    target = blocker / "bench.json"
    code, out, err = run_bench(capsys, "--only", "retrieval", "--json", target)
    assert code == 2
    assert out == ""  # nothing was measured
    assert err.count("\n") == 1 and f"cannot write {target}" in err


def test_full_disk_keeps_the_previous_results(tmp_path: Path, capsys, monkeypatch) -> None:
    out_json = tmp_path / "bench.json"
    out_json.write_text('{"previous": "results"}\n')

    def no_space(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", no_space)
    code, _out, err = run_bench(capsys, "--quick", "--only", "retrieval", *TINY,
                                "--json", out_json)
    assert code == 2
    assert "Traceback" not in err and err.count("\n") == 1
    assert f"cannot write {out_json}: No space left" in err
    assert out_json.read_text() == '{"previous": "results"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]


def test_result_line_goal_and_number_format() -> None:
    goal = bench.Goal(">=", 3, "x")
    assert goal.text() == ">= 3x" and goal.met(3.0) and not goal.met(2.99)
    assert bench.Goal("<", 5, "ms", "per query at 1M").text() == "< 5 ms per query at 1M"
    result = bench.Result("pipeline", 3.456, "x", goal, "a vs b")
    assert result.line() == "pipeline: 3.46x (goal >= 3x); a vs b"
    timed = bench.Result("inference", 12.34, "ms", bench.Goal("<", 50, "ms"), "d")
    match = LINE.match(timed.line())
    assert match and match["value"] == "12.3" and match["unit"] == "ms"
    assert [bench._num(v) for v in (0.01234, 1.234, 12.34, 1234.5)] == [
        "0.0123", "1.23", "12.3", "1234"]
    assert [bench._count(n) for n in (300, 1200, 100_000, 1_000_000)] == [
        "300", "1.2k", "100k", "1M"]


def test_size_overrides_parse_each_type() -> None:
    sizes = bench.QUICK_SIZES.override(
        ["retrieval_n=1000,5e3", "memory_models=custom_cnn,vgg16", "pipeline_size=96",
         "memory-profile=cpu"])
    assert sizes.retrieval_n == (1000, 5000)
    assert sizes.memory_models == ("custom_cnn", "vgg16")
    assert sizes.pipeline_size == 96 and sizes.memory_profile == "cpu"
    assert bench.QUICK_SIZES.pipeline_size == 224  # the preset itself is untouched


def test_feature_cache_runs_at_a_real_profiles_stage1_settings() -> None:
    """Epochs, passes per epoch and cached views decide the ratio (about epochs x passes /
    views), so both presets take them from a profile meant for real runs, never from the
    smoke profile's one epoch and one view. The full run, the one held to the goal, also
    takes the profile's own epochs; --quick may run fewer (its line then says so)."""
    assert bench.FULL_SIZES.cache_epochs == 0  # the profile's own stage1_epochs
    quick_profile = get_profile(bench.QUICK_SIZES.cache_profile)
    assert 0 <= bench.QUICK_SIZES.cache_epochs <= quick_profile.stage1_epochs
    for sizes in (bench.QUICK_SIZES, bench.FULL_SIZES):
        profile = get_profile(sizes.cache_profile)
        assert profile.name != "smoke"
        assert profile.stage1_epochs * profile.epoch_repeats > profile.feature_cache_views >= 1


def test_every_figure_is_selectable_and_ordered() -> None:
    assert list(bench.FIGURES) == ["pipeline", "pipeline_vs_compute", "feature_cache",
                                   "inference", "retrieval", "synth", "memory"]
    assert bench._selected(["memory", "pipeline"]) == ["pipeline", "memory"]
    assert bench._selected(None) == list(bench.FIGURES)


@pytest.mark.slow
def test_every_figure_runs_on_a_tiny_workload(tmp_path: Path, capsys) -> None:
    """All seven figures end to end, including the training child processes (about a minute
    on two idle cores): the numbers are meaningless, the shape of the output is not."""
    tiny = [
        "pipeline_images=32", "pipeline_size=64", "pipeline_repeats=1",
        "compute_steps=2", "compute_repeats=1",
        "cache_per_class=3", "cache_epochs=1",
        "inference_size=64", "inference_runs=2", "inference_batch=4",
        "retrieval_n=300", "retrieval_queries=3", "synth_images=8",
        "memory_models=custom_cnn", "memory_per_class=3",
    ]
    argv = ["--quick", "--json", tmp_path / "bench.json"]
    for item in tiny:
        argv += ["--size", item]
    code, out, err = run_bench(capsys, *argv)
    assert code == 0, out + err
    lines = figure_lines(out)
    assert list(lines) == list(bench.FIGURES)
    report = json.loads((tmp_path / "bench.json").read_text())
    assert set(report["figures"]) == set(bench.FIGURES)
    memory = report["figures"]["memory"]["data"]["peak_rss_gib"]
    assert set(memory) == {"custom_cnn"}
    assert all(0.1 < gib < 64 for gib in memory.values())  # a process, not a rounding error
    cache = report["figures"]["feature_cache"]["data"]
    assert cache["epochs"] == 1 and cache["timings"]["cached"]["feature_cache_s"] > 0
    assert cache["timings"]["frozen"]["feature_cache_s"] == 0
    # The headline is the CPU-seconds ratio; the wall-clock ratio is kept beside it.
    assert cache["cached_cpu_s"] > 0 and cache["frozen_cpu_s"] > 0
    assert float(lines["feature_cache"]["value"]) == pytest.approx(
        cache["frozen_cpu_s"] / cache["cached_cpu_s"], rel=0.01)
    assert cache["wall_ratio"] == pytest.approx(cache["frozen_s"] / cache["cached_s"])
    assert cache["views"] == get_profile(cache["profile"]).feature_cache_views
    cpu_epochs = get_profile("cpu").stage1_epochs
    assert f"1 epoch (the cpu profile has {cpu_epochs})" in lines["feature_cache"]["detail"]
    inference = report["figures"]["inference"]["data"]
    assert inference["predict_ms"] > 0 and inference["batch"] == 4
    # The frozen graph computes what the model computes.
    assert inference["max_abs_diff_vs_tf_function"]["frozen tf.function"] < 1e-3
