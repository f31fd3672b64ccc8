"""Shared helpers (utils.py): timing and the CPU model."""

from __future__ import annotations

import pytest

from jewelnet_utils.contracts import utils


def test_median_ms_is_the_median_in_milliseconds_within_the_budget(monkeypatch):
    """A fake clock: the calls take 10, 20, 90, 30 and 40 ms: the median is 30 ms (the mean
    would be 38); with a 25 ms budget timing stops after the third call (at least three are
    always timed), whose median is 20 ms."""
    durations = [0.010, 0.020, 0.090, 0.030, 0.040]
    clock = {"now": 0.0, "calls": 0}

    def work():
        clock["now"] += durations[clock["calls"]]
        clock["calls"] += 1

    monkeypatch.setattr(utils.time, "perf_counter", lambda: clock["now"])
    assert utils.median_ms(work, repeats=5, budget_s=100.0) == pytest.approx(30.0)
    clock.update(now=0.0, calls=0)
    assert utils.median_ms(work, repeats=5, budget_s=0.025) == pytest.approx(20.0)
    assert clock["calls"] == 3


def test_median_ms_without_a_budget_times_every_call(monkeypatch):
    clock = {"now": 0.0, "calls": 0}

    def work():
        clock["now"] += 1.0
        clock["calls"] += 1

    monkeypatch.setattr(utils.time, "perf_counter", lambda: clock["now"])
    assert utils.median_ms(work, repeats=7) == pytest.approx(1000.0)
    assert clock["calls"] == 7


def test_cpu_model_reads_the_model_name_line(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Example CPU @ 2.0GHz\nflags\t: x\n")
    real_path = utils.Path
    monkeypatch.setattr(utils, "Path", lambda p: info if p == "/proc/cpuinfo" else real_path(p))
    assert utils.cpu_model() == "Example CPU @ 2.0GHz"
    info.write_text("processor\t: 0\n")
    assert utils.cpu_model() is None
    monkeypatch.setattr(utils, "Path", lambda p: tmp_path / "missing")
    assert utils.cpu_model() is None


def test_atomic_write_bytes_flushes_to_disk_only_when_durable(monkeypatch, tmp_path):
    synced = []
    monkeypatch.setattr(utils.os, "fsync", lambda fd: synced.append(fd))
    target = tmp_path / "sub" / "file.bin"
    utils.atomic_write_bytes(target, b"first")
    assert target.read_bytes() == b"first" and len(synced) == 1
    utils.atomic_write_bytes(target, b"second", durable=False)
    assert target.read_bytes() == b"second" and len(synced) == 1
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]  # no temp file left
