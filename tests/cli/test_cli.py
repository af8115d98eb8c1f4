"""The `lab4` command: through click's runner and as a real subprocess."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lab4.cli.main import main
from lab4.tasks import TASKS
from tests import HANG_S


@pytest.fixture
def cli(tmp_path):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], env={"LAB4_DATA_DIR": str(tmp_path)}, catch_exceptions=False)

    return invoke


def test_tasks_lists_every_task(cli):
    out = cli("tasks")
    assert out.exit_code == 0
    for task_id in TASKS:
        assert task_id in out.output


@pytest.mark.parametrize("task_id", list(TASKS))
def test_run_help_lists_the_spec(cli, task_id):
    out = cli("run", task_id, "--help")
    assert out.exit_code == 0
    for p in TASKS[task_id].spec:
        assert p.option in out.output
    for common in ("--device", "--dtype", "--seed", "--json", "--out"):
        assert common in out.output


def test_run_autograd_json(cli):
    out = cli("run", "autograd", "--json")
    assert out.exit_code == 0
    data = json.loads(out.output)
    assert {"task", "params", "status", "metrics", "series", "observations"} <= set(data)
    assert data["metrics"]["gradient"] == {"x": 36.0, "y": -6.0}
    assert data["params"] == {"expr": "3*x**3 - y**2", "point": {"x": 2.0, "y": 3.0}}


def test_run_readable_summary_and_out_file(cli, tmp_path):
    target = tmp_path / "r.json"
    out = cli("run", "minimize", "--dim", 3, "--steps", 50, "--out", target)
    assert out.exit_code == 0
    assert "minimize" in out.output and "final_loss" in out.output
    data = json.loads(target.read_text())
    assert data["params"]["dim"] == 3 and len(data["series"]["loss"]["y"]) == 51


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", "minimize", "--lr", "-1"], "lr must be > 0, got -1"),
        (["run", "minimize", "--dim", "abc"], "dim must be a whole number"),
        (["run", "minimize", "--optimizer", "adam"], "optimizer must be one of"),
        (["run", "derivatives", "--h", "0"], "h must be > 0, got 0"),
        (["run", "derivatives", "--start", "3", "--stop", "1"], "stop must be > start"),
        (["run", "derivatives", "--expr", "sin(y)"], "may only use the variable x"),
        (["run", "autograd", "--expr", "x.__class__"], "attribute"),
        (["run", "autograd", "--point", "x=1"], "point needs a value for y"),
        (["run", "autograd", "--dtype", "float16"], "dtype must be float32 or float64"),
        (["run", "autograd", "--device", "tpu"], "device must be cpu, cuda"),
        (["run", "autograd", "--seed", "-4"], "seed must be >= 0"),
        (["run", "nosuchtask"], "No such command"),
        (["sweep", "minimize", "--lr", "0.1,,0.2"], "lr needs values"),
        (["run", "mlp", "--dataset", "nosuch"], "no such file"),
        (["run", "mlp", "--hidden", "0"], "hidden values must be >= 1, got 0"),
        (["run", "mlp", "--lr", "0"], "lr must be > 0, got 0"),
        (["run", "clipped-ce", "--clip", "-1"], "clip must be > 0"),
        (["run", "clipped-ce", "--clip-site", "weights"], "clip_site must be one of"),
        (["run", "scaled-mse", "--scale", "1,-2"], "scale values must be > 0, got -2"),
        (["sweep", "mlp", "--hidden", "8;0"], "hidden values must be >= 1"),
    ],
)
def test_bad_values_exit_2_with_a_message(cli, args, words):
    out = cli(*args)
    assert out.exit_code == 2
    assert words in out.output
    assert "Traceback" not in out.output


def test_cuda_without_cuda_is_a_usage_error(cli):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = cli("run", "autograd", "--device", "cuda")
    assert out.exit_code == 2
    assert "not available" in out.output


def test_diverged_is_a_result_exit_0(cli):
    out = cli("run", "minimize", "--lr", "5", "--dim", "3", "--json")
    assert out.exit_code == 0
    data = json.loads(out.output)
    assert data["status"] == "diverged" and data["step"] > 0


def test_sweep_table_and_json(cli):
    out = cli("sweep", "minimize", "--optimizer", "gd,momentum,nesterov", "--steps", 100, "--dim", 4)
    assert out.exit_code == 0, out.output
    table = table_rows(out.output)
    assert [row["optimizer"] for row in table] == ["gd", "momentum", "nesterov"]
    assert [row["status"] for row in table] == ["ok", "ok", "ok"]  # the status column, not "ok" anywhere
    computed = json.loads(
        cli(
            "sweep",
            "minimize",
            "--optimizer",
            "gd,momentum,nesterov",
            "--steps",
            100,
            "--dim",
            4,
            "--json",
            "--no-save",
        ).output
    )["runs"]
    for row, run in zip(table, computed):  # the table shows what the runs computed
        assert row["steps_to_tol"] == str(run["metrics"]["steps_to_tol"])
        assert float(row["final_loss"]) == pytest.approx(run["metrics"]["final_loss"], rel=1e-5, abs=1e-30)
    same = cli("sweep", "minimize", "--axes", "optimizer=gd,momentum,nesterov", "--steps", 100, "--dim", 4)
    assert same.output.splitlines()[1:] == out.output.splitlines()[1:]  # the app's compare text, same runs
    bad = cli("sweep", "minimize", "--axes", "lr=0.1,-1")
    assert bad.exit_code == 2 and "lr must be > 0" in bad.output
    out = cli("sweep", "minimize", "--dim", "2,3", "--complexity", "1,2", "--steps", 10, "--json")
    data = json.loads(out.output)
    assert [(r["params"]["dim"], r["params"]["complexity"]) for r in data["runs"]] == [(2, 1), (2, 2), (3, 1), (3, 2)]


def table_rows(output: str) -> list[dict[str, str]]:
    """The rows of the first text table in ``output`` (a header, a line of dashes, rows), by column."""
    lines = output.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    header = lines[rule - 1].split()
    rows = []
    for line in lines[rule + 1 :]:
        if not line.strip():
            break
        cells = line.split()
        assert len(cells) == len(header), (header, line)
        rows.append(dict(zip(header, cells)))
    return rows


def test_sweep_over_dtype(cli):
    out = cli("sweep", "autograd", "--dtype", "float32,float64", "--json")
    data = json.loads(out.output)
    assert [r["dtype"] for r in data["runs"]] == ["float32", "float64"]


def test_subprocess_run_and_bad_value(tmp_path):
    env = {"LAB4_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run(
        [sys.executable, "-m", "lab4.cli", "run", "autograd", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=HANG_S,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["metrics"]["value"] == 15.0
    bad = subprocess.run(
        [sys.executable, "-m", "lab4.cli", "run", "minimize", "--lr", "nan"],
        capture_output=True,
        text=True,
        env=env,
        timeout=HANG_S,
    )
    assert bad.returncode == 2
    assert "lr must be a finite number, got nan" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_training_contract_series_and_metrics(cli):
    out = cli("run", "clipped-ce", "--steps", 20, "--hidden", 8, "--batch-size", 64, "--json")
    data = json.loads(out.output)
    assert {"loss", "train_accuracy", "test_accuracy"} <= set(data["series"])
    assert {"train_accuracy", "test_accuracy", "final_loss", "clip_fraction"} <= set(data["metrics"])
    assert data["series"]["loss"]["x"][0] == 0


def test_sweep_list_param_uses_semicolons(cli):
    out = cli("sweep", "mlp", "--hidden", "8;4,4", "--steps", 5, "--json")
    data = json.loads(out.output)
    assert [r["params"]["hidden"] for r in data["runs"]] == [[8], [4, 4]]


def test_runs_show_report_from_the_cli(cli, tmp_path):
    assert "no saved runs" in cli("runs").output
    cli("run", "minimize", "--steps", 10)
    cli("run", "autograd")
    listed = json.loads(cli("runs", "--json").output)
    assert [r["task"] for r in listed] == ["minimize", "autograd"]
    only = json.loads(cli("runs", "autograd", "--json").output)
    assert len(only) == 1
    shown = json.loads(cli("show", only[0]["id"], "--json").output)
    assert shown["metrics"]["value"] == 15.0
    assert "autograd" in cli("show", only[0]["id"]).output
    bad = cli("show", "nosuch")
    assert bad.exit_code == 2 and "no run 'nosuch'" in bad.output
    out = cli("report", "--out", tmp_path / "r.md")
    assert out.exit_code == 0
    text = (tmp_path / "r.md").read_text()
    assert "Autograd gradient" in text and "Minimise a generated function" in text
    assert cli("runs", "nosuchtask").exit_code == 2


def test_no_save_and_data_dir(cli, tmp_path):
    other = tmp_path / "elsewhere"
    cli("run", "autograd", "--data-dir", other)
    cli("run", "autograd", "--no-save")
    assert len(json.loads(cli("runs", "--json", "--data-dir", other).output)) == 1
    assert (other / "lab4.sqlite").exists()
    assert json.loads(cli("runs", "--json").output) == []


def test_runs_where_sort_group_and_limit(cli):
    out = cli("sweep", "minimize", "--optimizer", "gd,momentum,nesterov", "--steps", 300, "--dim", 3)
    assert out.exit_code == 0, out.output
    group = out.output.split("comparison ")[1].split()[0]
    cli("run", "minimize", "--steps", 5)
    momentum = json.loads(cli("runs", "minimize", "--where", "optimizer=momentum", "--json").output)
    assert [r["params"]["optimizer"] for r in momentum] == ["momentum"]
    # values compare as the spec parses them: 0.250 is lr 0.25 (the default)
    assert len(json.loads(cli("runs", "--where", "lr=0.250", "--json").output)) == 4
    assert json.loads(cli("runs", "--where", "lr=0.01", "--json").output) == []
    grouped = json.loads(cli("runs", "--group", group, "--json").output)
    assert [r["label"] for r in grouped] == ["optimizer=gd", "optimizer=momentum", "optimizer=nesterov"]
    ranked = json.loads(cli("runs", "minimize", "--sort", "final_loss", "--json").output)
    losses = [r["value"] for r in ranked]
    assert losses == sorted(losses)
    assert len(json.loads(cli("runs", "--limit", 2, "--json").output)) == 2
    bad = cli("runs", "--where", "nosuch=1")
    assert bad.exit_code == 2 and "unknown parameter" in bad.output
    assert "no saved runs match" in cli("runs", "--where", "optimizer=gd", "--status", "error").output


def test_export_then_import_into_another_directory(cli, tmp_path):
    cli("run", "autograd")
    cli("run", "minimize", "--steps", 30)
    out = cli("export", "--out", tmp_path / "share")
    assert out.exit_code == 0 and "exported 2 run(s)" in out.output
    files = sorted((tmp_path / "share").glob("*.json"))
    shapes = [set(json.loads(p.read_text())) for p in files]
    assert all({"id", "task", "params", "status", "metrics", "series", "observations"} <= s for s in shapes)
    other = tmp_path / "other"
    out = cli("import", *files, "--data-dir", other)
    assert out.exit_code == 0 and "imported 2 run(s)" in out.output
    moved = json.loads(cli("runs", "--json", "--data-dir", other).output)
    original = json.loads(cli("runs", "--json").output)
    assert [r["id"] for r in moved] == [r["id"] for r in original]
    for r in original:
        a = json.loads(cli("show", r["id"], "--json").output)
        b = json.loads(cli("show", r["id"], "--json", "--data-dir", other).output)
        assert a == b  # series, metrics, everything survives the move
    again = cli("import", files[0], "--data-dir", other)
    assert "imported 0 run(s)" in again.output and "already saved" in again.output


def test_a_damaged_database_is_exit_1_and_left_untouched(tmp_path):
    junk = b"this is not a database" * 100
    (tmp_path / "lab4.sqlite").write_bytes(junk)
    env = {"LAB4_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for args in (["runs"], ["run", "autograd"], ["report"]):
        out = subprocess.run(
            [sys.executable, "-m", "lab4.cli", *args], capture_output=True, text=True, env=env, timeout=HANG_S
        )
        assert out.returncode == 1, (args, out.stderr)
        assert str(tmp_path / "lab4.sqlite") in out.stderr and "left untouched" in out.stderr
        assert "Traceback" not in out.stderr
    assert (tmp_path / "lab4.sqlite").read_bytes() == junk


def test_runs_names_the_dtype_and_seed_that_tell_runs_apart(cli):
    out = cli("sweep", "minimize", "--seed", "3,7", "--dtype", "float32,float64", "--steps", 5, "--dim", 3)
    assert out.exit_code == 0, out.output
    listed = json.loads(cli("runs", "minimize", "--json").output)
    assert sorted((r["dtype"], r["seed"]) for r in listed) == [
        ("float32", 3),
        ("float32", 7),
        ("float64", 3),
        ("float64", 7),
    ]
    lines = cli("runs", "minimize").output.splitlines()
    header = lines[0].split()
    assert "dtype" in header and "seed" in header, lines[0]
    rows = [line.split() for line in lines[2:]]
    seen = {(row[header.index("dtype")], row[header.index("seed")]) for row in rows}
    assert seen == {("float32", "3"), ("float32", "7"), ("float64", "3"), ("float64", "7")}, lines
