"""The store: one SQLite database, compact series, nothing lost; the report and the exports."""

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from array import array

import numpy as np
import pytest
import torch

from lab4.core.context import RunContext
from lab4.core.events import Points, Result, ResultBuilder, Steps
from lab4.engine.runner import execute, sweep
from lab4.present.report import build_report, export_run, series_csv
from lab4.store import SCHEMA_VERSION, Store, StoreError, decode_series, encode_series
from lab4.tasks import TASKS
from tests import HANG_S
from tests.fake_tasks import held_path


def wait_for_file(path, proc, timeout=HANG_S):
    """Until ``path`` exists; fails if ``proc`` ended first or after ``timeout`` s (a hang)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None, f"the process ended ({proc.returncode}) before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.005)


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
    with pytest.raises(KeyError):
        store.load_run("nosuch")


@pytest.mark.parametrize(
    "values, float32",
    [
        ([0.5, float("nan"), 1e-30, -3.25, float("inf")], True),
        ([0.1, 0.2, 1 / 3], True),  # not float32 values: kept in float64, exactly
        (list(np.random.default_rng(0).standard_normal(1000)), False),
    ],
)
def test_series_encoding_is_exact(values, float32):
    x = [3, 5, 7, 9, 11][: len(values)] if len(values) <= 5 else list(range(len(values)))
    decoded = decode_series(encode_series(x, values, float32))
    assert np.array_equal(decoded["y"], np.array(values, dtype=float), equal_nan=True)
    assert np.array_equal(decoded["x"], np.array(x, dtype=float))
    irregular = [0.0, 0.5, 2.0, 2.5, 9.0][: len(values)]
    assert np.array_equal(decode_series(encode_series(irregular, values, float32))["x"], irregular)


@pytest.mark.slow
def test_a_20000_step_mlp_run_stores_under_100_kb(tmp_path):
    store = Store(tmp_path)
    r = _run(store, "mlp", steps=20000, hidden="16")
    db = sqlite3.connect(store.db_path)
    series = db.execute("SELECT sum(length(y) + coalesce(length(x), 0)) FROM series").fetchone()[0]
    row = db.execute(
        "SELECT length(params) + length(metrics) + length(observations) + length(tables) "
        "+ length(artifacts) + length(versions) FROM runs JOIN details ON run_id = id"
    ).fetchone()[0]
    assert len(r.series["loss"]["y"]) == 20001
    assert series + row < 100_000, (series, row)
    assert store.load_run(r.id).to_json() == r.to_json()


def test_old_json_runs_are_imported_once_and_left_on_disk(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    good = execute("autograd", TASKS["autograd"].spec.defaults(), RunContext())
    (runs / f"{good.id}.json").write_text(json.dumps(good.to_json()))
    bad = {
        "truncated.json": '{"task": "autograd", "status": "ok", "metr',
        "edited.json": '{"hello": 1}',
        "future.json": json.dumps({"task": "autograd", "status": "exploded"}),
        "binary.json": "\udcff",
    }
    for name, text in bad.items():
        (runs / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    before = {p.name: p.read_bytes() for p in runs.iterdir()}
    store = Store(tmp_path)
    listing = store.list_runs()
    assert [r.id for r in listing.runs] == [good.id]
    assert sum("not imported" in w for w in listing.warnings) == 4
    assert store.load_run(good.id).to_json()["series"] == json.loads(json.dumps(good.to_json()))["series"]
    assert {p.name: p.read_bytes() for p in runs.iterdir()} == before  # untouched
    # once: a file added later is not imported, and the warnings are not repeated
    (runs / "later.json").write_text(json.dumps(execute("autograd", TASKS["autograd"].spec.defaults()).to_json()))
    again = Store(tmp_path).list_runs()
    assert [r.id for r in again.runs] == [good.id] and again.warnings == []


def test_three_concurrent_writers_lose_nothing(tmp_path):
    code = (
        "import sys\nfrom lab4.store import Store\nfrom lab4.core.events import Result\n"
        "s = Store(sys.argv[1])\n"
        "for i in range(40):\n"
        "    r = Result(task='minimize', params={'steps': i}, id=f'{sys.argv[2]}-{i}', started=f'{i:04d}')\n"
        "    r.series = {'loss': {'x': list(range(2000)), 'y': [1.0 / (k + 1) for k in range(2000)]}}\n"
        "    s.save_run(r)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), name]) for name in ("app", "cli", "app2")]
    assert [p.wait(timeout=HANG_S) for p in procs] == [0, 0, 0]
    store = Store(tmp_path)
    ids = {r.id for r in store.list_runs().runs}
    assert ids == {f"{name}-{i}" for name in ("app", "cli", "app2") for i in range(40)}
    assert len(store.load_run("cli-39").series["loss"]["y"]) == 2000


def test_sigkill_during_writes_loses_at_most_the_run_in_flight(tmp_path):
    """A writer saving big runs in a loop is killed; every saved run is whole."""
    code = (
        "import sys\nfrom lab4.store import Store\nfrom lab4.core.events import Result\n"
        "s = Store(sys.argv[1])\nbig = {'loss': {'x': list(range(300000)), 'y': [0.5 + k * 1e-6 for k in range(300000)]}}\n"
        "i = 0\nwhile True:\n    s.save_run(Result(task='minimize', params={}, series=big, id=f'r{i:05d}', started=f'{i:05d}'))\n"
        "    print(i, flush=True)\n    i += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    for _ in range(3):  # three runs committed; the kill lands while the fourth is being written
        proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=HANG_S)
    store = Store(tmp_path)
    runs = store.list_runs().runs
    assert runs, "nothing saved before the kill"
    assert [r.id for r in runs] == [f"r{i:05d}" for i in range(len(runs))]  # no gap, no torn run
    for r in runs[-2:]:
        assert len(store.load_run(r.id).series["loss"]["y"]) == 300000


def test_sigkill_mid_run_leaves_earlier_runs_and_notes_intact(tmp_path):
    store = Store(tmp_path)
    earlier = [_run(store, "autograd"), _run(store, "minimize", steps=30)]
    store.save_note("minimize", "my notes\n")
    env = dict(os.environ, LAB4_DATA_DIR=str(tmp_path))
    gate = tmp_path / "gate"  # never opened: the run is held in progress until the kill
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab4.cli", "run", "gated", "--steps", "5", "--gate", str(gate)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_file(held_path(str(gate)), proc)  # mid-run
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=HANG_S)
    listing = Store(tmp_path).list_runs()
    assert listing.warnings == []
    assert [r.id for r in listing.runs] == [r.id for r in earlier]
    assert store.load_note("minimize") == "my notes\n"


@pytest.mark.parametrize(
    "content, words",
    [
        (b"SQLite format 3\x00" + b"\xff" * 2000, "damaged or is not a lab4 database"),
        (b"hello, this is a text file" * 50, "damaged or is not a lab4 database"),
    ],
)
def test_a_damaged_database_is_reported_never_touched(tmp_path, content, words):
    (tmp_path / "lab4.sqlite").write_bytes(content)
    store = Store(tmp_path)
    for call in (store.list_runs, store.count, lambda: store.save_run(Result(task="autograd", params={}, id="x"))):
        with pytest.raises(StoreError, match=words) as info:
            call()
        assert str(tmp_path / "lab4.sqlite") in str(info.value) and "left untouched" in str(info.value)
    assert (tmp_path / "lab4.sqlite").read_bytes() == content


def test_a_foreign_database_is_refused(tmp_path):
    db = sqlite3.connect(tmp_path / "lab4.sqlite")
    db.execute("CREATE TABLE customers (name TEXT)")
    db.execute("INSERT INTO customers VALUES ('ada')")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a lab4 database .*customers"):
        Store(tmp_path).list_runs()
    assert sqlite3.connect(tmp_path / "lab4.sqlite").execute("SELECT name FROM customers").fetchall() == [("ada",)]


def test_a_newer_schema_is_read_but_never_written(tmp_path):
    store = Store(tmp_path)
    kept = _run(store, "autograd")
    db = sqlite3.connect(store.db_path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    newer = Store(tmp_path)
    listing = newer.list_runs()
    assert [r.id for r in listing.runs] == [kept.id]
    assert any("newer lab4" in w for w in listing.warnings)
    with pytest.raises(StoreError, match="newer lab4"):
        newer.save_run(Result(task="autograd", params={}, id="new"))
    assert [r.id for r in Store(tmp_path).list_runs().runs] == [kept.id]


def test_schema_version_and_application_id_are_recorded(tmp_path):
    Store(tmp_path).count()
    db = sqlite3.connect(tmp_path / "lab4.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA application_id").fetchone()[0] == 0x4C414234
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_read_only_directory_lists_old_runs_and_refuses_saves(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    old = execute("autograd", TASKS["autograd"].spec.defaults())
    (runs / f"{old.id}.json").write_text(json.dumps(old.to_json()))
    if os.geteuid() == 0:
        (tmp_path / "lab4.sqlite").mkdir()  # even root cannot open a directory as a database
    else:
        os.chmod(tmp_path, 0o500)
    try:
        store = Store(tmp_path)
        assert [r.id for r in store.list_runs().runs] == [old.id]
        with pytest.raises(StoreError, match="not saved"):
            store.save_run(Result(task="autograd", params={}, id="new"))
    finally:
        os.chmod(tmp_path, 0o700)


def test_ten_thousand_runs_list_without_series(tmp_path):
    store = Store(tmp_path, specs={task_id: task.spec for task_id, task in TASKS.items()})
    store.save_runs(
        [
            Result(
                id=f"r{i:05d}",
                task="mlp" if i % 2 else "minimize",
                started=f"2026-01-01T{i:05d}",
                params={"optimizer": ["gd", "momentum"][i % 2], "lr": 0.01},
                metrics={"final_loss": 1.0 / (i + 1)},
                series={"loss": {"x": [0, 1, 2], "y": [3.0, 2.0, 1.0]}},
            )
            for i in range(10000)
        ]
    )
    listing = store.list_runs("mlp", where={"optimizer": "momentum"}, sort="final_loss", limit=100)
    assert listing.total == 5000 and len(listing.runs) == 100
    assert listing.runs[0].metrics["final_loss"] == min(1.0 / (i + 1) for i in range(1, 10000, 2))
    assert all(r.series == {} for r in listing.runs)
    page = store.list_runs(descending=True, limit=10, offset=10)
    assert [r.id for r in page.runs] == [f"r{i:05d}" for i in range(9989, 9979, -1)]
    assert store.latest("minimize").id == "r09998"


def test_marks_and_groups(tmp_path):
    store = Store(tmp_path)
    spec = TASKS["minimize"].spec
    results = [r for _, r in sweep("minimize", spec.parse({"steps": 30}), {"optimizer": ["gd", "momentum"]})]
    for r in results:
        store.save_run(r)
    single = _run(store, "minimize", steps=10)
    assert store.latest_group("minimize") == results[0].group != ""
    assert [r.label for r in store.list_runs(group=results[0].group).runs] == ["optimizer=gd", "optimizer=momentum"]
    store.set_marked([single.id])
    assert [r.id for r in store.list_runs(marked=True).runs] == [single.id]
    assert store.load_run(single.id).marked


def test_report_holds_the_latest_comparison_and_marked_runs(tmp_path):
    store = Store(tmp_path)
    spec = TASKS["mlp"].spec
    base = spec.parse({"steps": 60, "hidden": "8"})
    for _, r in sweep("mlp", base, {"optimizer": ["gd", "momentum", "nesterov"]}):
        store.save_run(r)
    cancelled = Result(
        task="mlp", params=dict(r.params), status="cancelled", step=3, id="zz-cancelled", started="9999"
    )  # newer, but a cancelled run is chosen only when nothing else exists
    store.save_run(cancelled)
    mini = _run(store, "minimize", steps=50)
    deriv = _run(store, "derivatives", points=100)
    store.set_marked([deriv.id])
    store.save_note("derivatives", "Central differences win at h near 1e-2 in float32.")
    store.save_note("autograd", "to do: try relu")
    text, warnings = build_report(store)
    assert warnings == []
    mlp = text.split("\n## 4.")[1].split("\n## ")[0]
    for optimizer in ("gd", "momentum", "nesterov"):
        assert f"| {optimizer} |" in mlp  # one row per run of the comparison
    assert "Compare `optimizer=gd,momentum,nesterov`" in mlp and "zz-cancelled" not in mlp
    assert "## 3. Minimise a generated function" in text and f"{mini.metrics['final_loss']:.6g}" in text
    assert "### Marked run" in text and f"{deriv.metrics['rmse_central']:.6g}" in text
    assert "## 1. Autograd gradient" in text and "to do: try relu" in text
    assert "```text" in text and "\x1b[" not in text  # plots as text, no colour codes
    only, _ = build_report(store, run_ids=[mini.id])
    assert "## 3." in only and "## 4." not in only


def test_report_falls_back_to_a_cancelled_run_only_when_nothing_else(tmp_path):
    store = Store(tmp_path)
    store.save_run(
        Result(
            task="minimize",
            params=TASKS["minimize"].spec.to_json(TASKS["minimize"].spec.defaults()),
            status="cancelled",
            step=7,
            id="only-cancelled",
            started="1",
        )
    )
    text, _ = build_report(store)
    assert "only-cancelled" in text and "cancelled at step 7" in text


def test_export_writes_json_and_csv(tmp_path):
    store = Store(tmp_path)
    r = _run(store, "minimize", steps=10)
    paths = export_run(store, store.load_run(r.id))
    assert json.loads(paths[0].read_text())["id"] == r.id
    lines = paths[1].read_text().splitlines()
    assert lines[0] == "series,x,y" and len(lines) == 1 + sum(len(s["x"]) for s in r.series.values())
    for name in ("loss", "distance", "trajectory"):  # 10 steps: 11 points each
        assert sum(line.startswith(name + ",") for line in lines) == 11
    assert series_csv(r) == paths[1].read_text()


def test_result_series_are_compact_arrays():
    """A float32 run's values take 4 bytes each and its step axis none (a count); float64 values
    take 8; both read back from JSON as the same numbers."""
    r = execute("minimize", TASKS["minimize"].spec.parse({"steps": 5}), RunContext())
    loss = r.series["loss"]
    assert isinstance(loss["y"], array) and loss["y"].typecode == "f"
    assert isinstance(loss["x"], Steps) and list(loss["x"]) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0][: len(loss["y"])]
    back = Result.from_json(json.loads(json.dumps(r.to_json())))
    assert list(back.series["loss"]["y"]) == list(loss["y"])
    assert list(back.series["loss"]["x"]) == list(loss["x"])
    r64 = execute("minimize", TASKS["minimize"].spec.parse({"steps": 5}), RunContext(dtype="float64"))
    assert r64.series["loss"]["y"].typecode == "d"


@pytest.mark.parametrize("typecode", ["f", "d"])
def test_a_series_in_json_keeps_every_finite_value_and_writes_null_for_the_rest(typecode):
    """``to_json`` (the store's files, ``--json``, exports) writes a series in one pass: each finite
    value as it is (the extremes, -0.0 and subnormals included), NaN and +-inf as null."""
    values = [0.5, -0.0, 5e-324, 1e-30, -3.25, float("nan"), float("inf"), float("-inf"), 1e38, -1e38]
    if typecode == "d":
        values += [1.7976931348623157e308, -1.7976931348623157e308]
    y = array(typecode, values)
    r = Result(task="minimize", params={}, series={"loss": {"x": Steps(len(y)), "y": y}})
    out = json.loads(json.dumps(r.to_json(), allow_nan=False))["series"]["loss"]
    assert out["y"] == [v if math.isfinite(v) else None for v in y.tolist()]
    assert math.copysign(1.0, out["y"][1]) == -1.0  # -0.0 stays negative
    assert out["x"] == [float(k) for k in range(len(y))]


def test_a_series_widens_when_its_values_or_steps_stop_fitting():
    b = ResultBuilder(Result(task="minimize", params={}, dtype="float32"))
    b.add(Points("loss", [0, 1, 2], [1.0, 0.5, 0.25]))
    s = b.result.series["loss"]
    assert isinstance(s["x"], Steps) and s["y"].typecode == "f"
    b.add(Points("loss", [3, 5], [0.1, 0.125]))  # 0.1 is not a float32; 5 skips a step
    s = b.result.series["loss"]
    assert s["y"].typecode == "d" and list(s["y"]) == [1.0, 0.5, 0.25, 0.1, 0.125]
    assert list(s["x"]) == [0.0, 1.0, 2.0, 3.0, 5.0]
    steps = Steps(6)  # reads as the sequence it stands for
    assert list(steps[1:5:2]) == [1.0, 3.0] and steps[-1] == 5.0 and steps == [0, 1, 2, 3, 4, 5]
    assert steps != [0, 1, 2] and steps != None and np.array_equal(np.asarray(steps), np.arange(6.0))  # noqa: E711


def test_a_minimize_runs_drawn_grids_are_stored_in_six_digits_of_the_function_itself(tmp_path):
    """The level sets and the theory's phase map are only drawn: kept to 6 significant digits
    (issue 19: a 10-step minimize run stored 31 KB of them). Each level-set value is still f at
    its grid point, evaluated here apart in float64, to that precision."""
    import sqlite3

    from lab4.maths.landscapes import generate_function

    params = TASKS["minimize"].spec.parse({"steps": 10})
    r = execute("minimize", params, RunContext())
    land = r.artifacts["landscape"]
    f = generate_function(params["dim"], params["complexity"], 0)  # float64 on the CPU
    for j in (0, 17, len(land["y"]) - 1):
        for i in (0, 23, len(land["x"]) - 1):
            exact = float(f(torch.tensor([land["x"][i], land["y"][j]], dtype=torch.float64)))
            # the run evaluated f in float32 (eps 6e-8 per term) and kept 6 digits (5e-7)
            assert math.isclose(land["z"][j][i], exact, rel_tol=1e-5), (i, j)
    digits = [len(repr(abs(v)).split("e")[0].replace(".", "").strip("0")) for row in land["z"] for v in row]
    assert max(digits) <= 6
    Store(tmp_path).save_run(r)
    with sqlite3.connect(tmp_path / "lab4.sqlite") as db:
        (stored,) = db.execute("SELECT length(artifacts) FROM details").fetchone()
    assert stored < 16_000


def test_a_float32_series_and_its_step_count_are_stored_without_widening():
    """A float32 run's values go to the database in 4 bytes and its steps as a range, read from
    the arrays the run kept (no float64 copy of 10,000,000 values on the way): decoded, they are
    the same numbers."""
    y = array("f", [3.0, 1.5, 0.1, float("nan"), 1e-30])
    row = encode_series(Steps(5), y, float32=True)
    assert (row["x_kind"], row["x0"], row["dx"], row["y_kind"]) == ("range", 0.0, 1.0, "f4")
    back = decode_series(row)
    assert list(back["x"]) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert np.array_equal(back["y"], np.array(y, dtype=np.float64), equal_nan=True)
    trajectory_x = array("f", [0.5, 0.25, 0.125])  # not a count: kept as values
    row = encode_series(trajectory_x, array("f", [1.0, 2.0, 3.0]), float32=True)
    assert row["x_kind"] == "f8" and list(decode_series(row)["x"]) == [0.5, 0.25, 0.125]
