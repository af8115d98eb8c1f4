"""`lab4` as a real process against hostile files and faulty disks (issue 19): exit codes,
messages without tracebacks, and files written only where they belong."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lab4.store import Store
from tests.core.test_store_safety import exported, make_run, zero_a_page_of
from tests.core.test_store_safety import mounted as mounted  # a fixture

ROOT = Path(__file__).resolve().parents[2]


def lab4(*args, data: Path | None = None, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    if data is not None:
        env["LAB4_DATA_DIR"] = str(data)
    done = subprocess.run(
        [sys.executable, "-m", "lab4.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=cwd,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


# ---- item 1: ids that are paths


def test_a_path_as_an_id_is_refused_on_import_and_export_stays_inside(tmp_path):
    data = tmp_path / "data"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    hostile = tmp_path / "hostile.json"
    hostile.write_text(
        json.dumps(
            {
                "task": "minimize",
                "runs": [
                    exported(make_run(1), id=str(outside / "name")),
                    exported(make_run(2), id="../../x"),
                    exported(make_run(3)),
                ],
            }
        )
    )
    done = lab4("import", hostile, data=data)
    assert done.returncode == 0, done.stderr
    assert "imported 1 run(s)" in done.stdout
    assert done.stderr.count("not imported") == 2 and "'id'" in done.stderr
    # a database written before ids were checked: the hostile id is in it already
    Store(data).save_runs([make_run(4)])
    db = sqlite3.connect(data / "lab4.sqlite")
    with db:
        for table, column in (("runs", "id"), ("details", "run_id"), ("series", "run_id")):
            db.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", ("../../x", make_run(4).id))
    db.close()
    share = tmp_path / "share" / "deep"
    done = lab4("export", "--out", share, data=data)
    assert done.returncode == 0, done.stderr
    assert "exported 2 run(s)" in done.stdout
    written = sorted(p.name for p in share.iterdir())
    assert written == sorted([f"{make_run(3).id}.json", ".._.._x.json"]) or written == sorted(
        [f"{make_run(3).id}.json", "_.._x.json"]
    )
    assert not (tmp_path / "x.json").exists() and not list(outside.iterdir())
    assert not (tmp_path / "share" / "x.json").exists()


def test_the_app_export_builds_names_inside_the_exports_folder(tmp_path):
    from lab4.present.report import export_run

    store = Store(tmp_path / "data")
    run = make_run(5)
    run.id = "../../../escaped"
    paths = export_run(store, run)
    assert [p.parent for p in paths] == [store.exports_dir] * 2
    assert not (tmp_path / "escaped.json").exists()
    assert json.loads(paths[0].read_text())["id"] == "../../../escaped"


# ---- item 3: writes only to regular files, mode kept, symlinks followed


def test_report_to_a_fifo_or_a_device_is_exit_1_and_leaves_it(tmp_path):
    data = tmp_path / "data"
    Store(data).save_runs([make_run(1)])
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    targets = [fifo, tmp_path]
    try:
        os.mknod(tmp_path / "full", stat.S_IFCHR | 0o666, os.makedev(1, 7))  # a private /dev/full
        targets.append(tmp_path / "full")
    except PermissionError:
        pass
    for target in targets:
        kind = stat.S_IFMT(os.stat(target).st_mode)
        done = lab4("report", "--out", target, data=data)
        assert done.returncode in (1, 2), done.stdout
        assert str(target) in done.stderr
        assert stat.S_IFMT(os.stat(target).st_mode) == kind


def test_report_through_a_symlink_writes_its_target_with_its_mode(tmp_path):
    data = tmp_path / "data"
    Store(data).save_runs([make_run(1)])
    target = tmp_path / "docs" / "lab.md"
    target.parent.mkdir()
    target.write_text("old")
    os.chmod(target, 0o664)
    link = data / "report.md"
    link.symlink_to(target)
    done = lab4("report", data=data)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and target.read_text().startswith("# Laboratory 4")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o664


# ---- item 5: malformed runs


def test_malformed_runs_are_refused_and_every_command_still_works(tmp_path):
    data = tmp_path / "data"
    files = []
    for i, (field, value) in enumerate(
        [("metrics", [1, 2]), ("params", "x"), ("series", [1, 2]), ("duration_s", "slow")]
    ):
        files.append(tmp_path / f"bad{i}.json")
        files[-1].write_text(json.dumps(exported(make_run(10 + i), **{field: value})))
    files.append(tmp_path / "good.json")
    files[-1].write_text(json.dumps(exported(make_run(1))))
    done = lab4("import", *files, data=data)  # /dev/zero: in test_store_safety, under a memory limit
    assert done.returncode == 0
    assert "imported 1 run(s)" in done.stdout and done.stderr.count("not imported") == 4
    for field in ("metrics", "params", "series", "duration_s"):
        assert f"'{field}'" in done.stderr
    assert make_run(1).id in lab4("runs", data=data).stdout
    assert lab4("show", make_run(1).id, data=data).returncode == 0
    assert lab4("report", data=data).returncode == 0


# ---- item 4: read-only


def test_runs_and_show_on_a_read_only_mount(tmp_path, mounted):  # noqa: F811 - the fixture
    source = tmp_path / "data"
    runs = [make_run(i) for i in range(3)]
    Store(source).save_runs(runs)
    ro = mounted("--bind", "-o", "ro", str(source))
    subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True, timeout=30)
    done = lab4("runs", data=ro)
    assert done.returncode == 0 and all(r.id in done.stdout for r in runs), done.stdout
    assert "read-only" in done.stderr
    shown = lab4("show", runs[1].id, "--json", data=ro)
    assert json.loads(shown.stdout)["series"]["loss"]["y"] == runs[1].series["loss"]["y"]
    exported_ = lab4("export", "--out", tmp_path / "out", data=ro)
    assert "exported 3 run(s)" in exported_.stdout


# ---- item 6: a damaged page


def test_a_damaged_page_export_show_and_check(tmp_path):
    data = tmp_path / "data"
    runs = [make_run(i % 60, n=2000) for i in range(60)]
    for i, r in enumerate(runs):
        r.id = f"20240101T000000-minimize-{i:06x}"
    Store(data).save_runs(runs)
    zero_a_page_of(data / "lab4.sqlite", "series")
    done = lab4("export", "--out", tmp_path / "out", data=data)
    assert done.returncode == 1 and "damaged" in done.stderr
    exported_count = len(list((tmp_path / "out").glob("*.json")))
    assert 0 < exported_count < 60
    check = lab4("check", "--salvage", tmp_path / "salvage", data=data)
    assert check.returncode == 1 and "DAMAGED" in check.stdout
    salvaged = sorted((tmp_path / "salvage").glob("*.json"))
    assert len(salvaged) == exported_count
    bad = [r.id for r in runs if not (tmp_path / "salvage" / f"{r.id}.json").exists()]
    shown = lab4("show", bad[0], data=data)
    assert shown.returncode == 1 and "damaged" in shown.stderr and "lab4 check" in shown.stderr
    fresh = tmp_path / "fresh"
    back = lab4("import", *salvaged, data=fresh)
    assert f"imported {exported_count} run(s)" in back.stdout
    assert lab4("check", data=fresh).returncode == 0


# ---- item 7: a full disk


def test_a_full_disk_is_exit_1_with_disk_full(tmp_path, mounted):  # noqa: F811 - the fixture
    small = mounted("-t", "tmpfs", "-o", "size=400k", "tmpfs")
    Store(small).save_runs([make_run(0)])
    try:
        with open(small / "filler", "wb", buffering=0) as fh:  # fill what is left
            while True:
                fh.write(b"\0" * 4096)
    except OSError:
        pass
    done = lab4("run", "autograd", data=small)
    assert done.returncode == 1, done.stderr
    assert "disk full" in done.stderr and str(small / "lab4.sqlite") in done.stderr
    assert "no transaction is active" not in done.stderr
    swept = lab4("sweep", "minimize", "--steps", 5, "--lr", "0.1,0.2", data=small)
    assert swept.returncode == 1 and "disk full" in swept.stderr
    os.unlink(small / "filler")
    assert [r.id for r in Store(small).list_runs().runs] == [make_run(0).id]


def test_a_sweep_whose_saves_fail_half_way_exits_1_and_counts_them(tmp_path, monkeypatch):
    """The disk filling during a sweep (SQLite's error raised by the second save): each lost
    run is named, the count is given, the exit status is 1."""
    from click.testing import CliRunner

    from lab4.cli.main import main
    from lab4.store import StoreError

    real = Store.save_runs
    calls = []

    def fill_after_one(self, results, replace=True):
        calls.append(1)
        if len(calls) > 1:  # the first run is saved, the disk is full after it
            raise StoreError(f"disk full: cannot write {self.db_path} (saving run x)")
        return real(self, results, replace)

    monkeypatch.setattr(Store, "save_runs", fill_after_one)
    out = CliRunner().invoke(
        main, ["sweep", "minimize", "--steps", "5", "--lr", "0.1,0.2,0.3", "--data-dir", str(tmp_path)]
    )
    assert out.exit_code == 1
    assert "2 of 3 runs were not saved" in out.output and out.output.count("disk full") == 2
    assert len(Store(tmp_path).list_runs().runs) == 1


# ---- item 13: small ones


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "--limit", "99999999999999999999999"],
        ["runs", "--data-dir", ""],
        ["run", "minimize", "--steps", "1_000", "--no-save"],
        ["run", "minimize", "--steps", "\uff11\uff10", "--no-save"],
        ["run", "minimize", "--lr", "\U0001d7cf", "--no-save"],
        ["run", "mlp", "--hidden", "", "--no-save"],
        ["run", "mlp", "--hidden", ",", "--no-save"],
        ["run", "mlp", "--hidden", "64,,64", "--no-save"],
    ],
)
def test_hostile_values_are_usage_errors(tmp_path, args):
    here = tmp_path / "cwd"
    here.mkdir()
    done = lab4(*args, data=tmp_path / "data", cwd=here)
    assert done.returncode == 2, (args, done.stdout, done.stderr)
    assert "Error: Invalid value" in done.stderr
    assert not list(here.iterdir())  # nothing written in the current directory


# ---- items 8-10: nothing unbounded


def test_a_sweep_over_too_many_combinations_is_refused_before_planning(tmp_path):
    lrs = ",".join(str(0.001 * i) for i in range(1, 2001))
    seeds = ",".join(map(str, range(2000)))
    done = lab4("sweep", "minimize", "--lr", lrs, "--seed", seeds, "--no-save", data=tmp_path, timeout=120)
    assert done.returncode == 2
    assert "4,000,000 runs, more than 1,000" in done.stderr and "--max-runs 4000000" in done.stderr
    small = lab4("sweep", "minimize", "--steps", 3, "--lr", "0.1,0.2,0.3", "--max-runs", 2, "--no-save", data=tmp_path)
    assert small.returncode == 2 and "--max-runs 3" in small.stderr


def test_without_json_or_out_no_run_is_turned_into_json(tmp_path, monkeypatch):
    """A run, and each run of a sweep, becomes JSON only for --json or --out; a sweep keeps
    no curves once a run is saved (what the table needs stays)."""
    from click.testing import CliRunner

    from lab4.cli.main import main
    from lab4.core.events import Result as R

    calls = []
    real = R.to_json

    def counting(self, series=True):
        calls.append(series)
        return real(self, series)

    monkeypatch.setattr(R, "to_json", counting)
    runner = CliRunner()
    out = runner.invoke(main, ["run", "minimize", "--steps", "20", "--data-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["sweep", "minimize", "--steps", "20", "--lr", "0.1,0.2", "--data-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert True not in calls  # only the store's record (series=False) was built
    out = runner.invoke(
        main, ["sweep", "minimize", "--steps", "20", "--lr", "0.1,0.2", "--json", "--data-dir", str(tmp_path)]
    )
    data = json.loads(out.output)
    assert all(len(r["series"]["loss"]["y"]) >= 2 for r in data["runs"])  # --json: whole runs
    saved = Store(tmp_path).list_runs(group=data["group"]).runs
    assert len(saved) == 2 and all(len(Store(tmp_path).load_run(r.id).series["loss"]["y"]) >= 2 for r in saved)


def test_a_report_of_a_1000_run_comparison_compares_each_series_with_few_others(tmp_path, monkeypatch):
    """plotting._collect found twins by comparing every series with every one before it:
    ~n^2/2 array_equal calls (500,000 for 1,000 runs).  Now by a digest: ~n."""
    import time

    import numpy as np

    from lab4.core.views import PlotView
    from lab4.present.plotting import _collect

    view = PlotView("loss", "loss", ("loss",))
    n = 1000
    distinct = [
        (f"lr={i}", {"loss": {"x": np.arange(200.0), "y": np.linspace(1, 0, 200) * (1 + i)}}, {}) for i in range(n)
    ]
    same = [(f"seed={i}", {"loss": {"x": np.arange(200.0), "y": np.linspace(1, 0, 200)}}, {}) for i in range(n)]
    calls = []
    real = np.array_equal
    monkeypatch.setattr(np, "array_equal", lambda a, b, *k: calls.append(1) or real(a, b, *k))
    start = time.perf_counter()
    assert len(_collect(view, distinct)) == n
    assert len(calls) == 0
    collected = _collect(view, same)
    took = time.perf_counter() - start
    assert len(collected) == 1 and collected[0][0] == "loss"  # shared by all: one curve, no run label
    assert len(calls) <= 2 * n
    assert took < 20  # bounds a hang only; the figure is measured by the bench
