"""'Time to run' in every notebook's Prerequisites is generated from measured records."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("sync_run_times",
                                              ROOT / "scripts" / "sync_run_times.py")
sync_run_times = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(sync_run_times)


def test_every_notebook_states_the_recorded_times():
    assert sync_run_times.sync(check=True) == [], (
        "a notebook's 'Time to run' differs from results/notebook-times-*.json: run "
        "python scripts/sync_run_times.py")


def test_the_bullet_comes_from_the_records(tmp_path, monkeypatch):
    records = {"smoke": {"seconds": {"03-custom-cnn": 21.4}, "cpus": 2},
               "cpu": {"seconds": {"03-custom-cnn": 612.0}, "cpus": 2}}
    for profile, data in records.items():
        (tmp_path / f"notebook-times-{profile}.json").write_text(json.dumps(data))
    monkeypatch.setattr(sync_run_times, "record_path",
                        lambda profile: tmp_path / f"notebook-times-{profile}.json")
    line = sync_run_times.bullet("03-custom-cnn")
    assert "`smoke` 21 s · `cpu` 10 min · `paper` not measured yet" in line
    assert "(measured on 2 CPU cores, written by" in line
    assert "`smoke` not measured yet" in sync_run_times.bullet("99-unknown")


def test_a_typed_time_is_caught(tmp_path, monkeypatch):
    notebook = tmp_path / "03-custom-cnn.py"
    notebook.write_text("# ## Prerequisites\n#\n# - **Time to run:** about a minute\n#\n")
    monkeypatch.setattr(sync_run_times, "notebooks", lambda: [notebook])
    assert sync_run_times.sync(check=True) == [notebook]
