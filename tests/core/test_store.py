"""The store: atomic saves, unreadable files skipped, kill -9 loses nothing earlier; the report."""

import json
import os
import signal
import subprocess
import sys
import time


from lab4.context import RunContext
from lab4.events import Result
from lab4.report import build_report, export_run, series_csv
from lab4.runner import execute
from lab4.store import Store
from lab4.tasks import TASKS


def _run(store, task, **params):
    r = execute(task, TASKS[task].spec.parse(params), RunContext())
    store.save_run(r)
    return r


def test_save_load_round_trip(tmp_path):
    store = Store(tmp_path)
    r = _run(store, "minimize", steps=20)
    loaded = store.load_run(r.id)
    assert loaded.to_json() == r.to_json()
    assert store.load_run(r.id[:-3]).id == r.id  # a unique prefix works
    assert loaded.versions["torch"] and loaded.started and loaded.ended


def test_unreadable_files_are_skipped_with_a_warning_never_deleted(tmp_path):
    store = Store(tmp_path)
    good = _run(store, "autograd")
    bad = {
        "truncated.json": '{"task": "autograd", "status": "ok", "metr',
        "edited.json": '{"hello": 1}',
        "future.json": json.dumps({"task": "autograd", "status": "exploded"}),
        "binary.json": "\udcff",
    }
    for name, text in bad.items():
        (store.runs_dir / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    listing = store.list_runs()
    assert [r.id for r in listing.runs] == [good.id]
    assert len(listing.warnings) == 4 and all("skipped" in w for w in listing.warnings)
    for name in bad:
        assert (store.runs_dir / name).exists()


def test_report_has_every_task_with_a_run_and_the_notes(tmp_path):
    store = Store(tmp_path)
    mini = _run(store, "minimize", steps=50)
    deriv = _run(store, "derivatives", points=100)
    store.save_note("derivatives", "Central differences win at h near 1e-2 in float32.")
    store.save_note("mlp", "to do: compare optimizers")
    text, warnings = build_report(store)
    assert warnings == []
    assert "## 2. Derivatives four ways" in text and "## 3. Minimise a generated function" in text
    assert "## 1." not in text  # no run and no note: not listed
    assert "## 4. Network by explicit autograd" in text and "to do: compare optimizers" in text
    assert "Central differences win at h near 1e-2 in float32." in text
    assert f"{mini.metrics['final_loss']:.6g}" in text
    assert f"{deriv.metrics['rmse_central']:.6g}" in text
    assert "```text" in text and "Error vs h" in text  # plots as text
    assert "\x1b[" not in text  # no colour codes in a Markdown file


def test_export_writes_json_and_csv(tmp_path):
    store = Store(tmp_path)
    r = _run(store, "minimize", steps=10)
    paths = export_run(store, r)
    assert json.loads(paths[0].read_text())["id"] == r.id
    lines = paths[1].read_text().splitlines()
    assert lines[0] == "series,x,y" and len(lines) == 1 + 2 * 11 + 11  # loss, distance, trajectory
    assert series_csv(r) == paths[1].read_text()


def test_sigkill_mid_run_leaves_earlier_runs_and_notes_intact(tmp_path):
    store = Store(tmp_path)
    earlier = [_run(store, "autograd"), _run(store, "minimize", steps=30)]
    store.save_note("minimize", "my notes\n")
    env = dict(os.environ, LAB4_DATA_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab4.cli", "run", "minimize", "--dim", "100000", "--steps", "10000000", "-q"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(3)  # let it start computing; the kill is the point, not the timing
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    listing = store.list_runs()
    assert listing.warnings == []
    assert [r.id for r in listing.runs] == [r.id for r in earlier]
    assert store.load_note("minimize") == "my notes\n"


def test_sigkill_during_writes_never_tears_a_file(tmp_path):
    """A writer saving runs in a loop is killed; every .json file left parses."""
    code = (
        "import sys\nfrom lab4.store import Store\nfrom lab4.events import Result\n"
        "s = Store(sys.argv[1])\nbig = {'loss': {'x': list(range(200000)), 'y': [0.5] * 200000}}\n"
        "i = 0\nwhile True:\n    s.save_run(Result(task='minimize', params={}, series=big, id=f'r{i % 3}'))\n    i += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)])
    deadline = time.time() + 60
    while time.time() < deadline and not list((tmp_path / "runs").glob("*.json")):
        time.sleep(0.05)  # wait until it is writing, then let it write a while
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    files = list((tmp_path / "runs").glob("*.json"))
    assert files
    for path in files:
        Result.from_json(json.loads(path.read_text()))
    assert Store(tmp_path).list_runs().warnings == []
