"""``lab4-tui``'s own command line: the task's options as ``lab4 run`` takes them, errors as usage."""

from click.testing import CliRunner

from lab4.cli.options import parse_task_args
from lab4.tasks import TASKS, task_keys
from lab4_tui.__main__ import main


def test_task_options_are_parsed_like_lab4_run():
    given = parse_task_args(TASKS["minimize"], ["--steps", "4000000", "--dim", "3e3", "--optimizer", "nesterov"])
    assert given == {"steps": 4000000, "dim": 3000, "optimizer": "nesterov"}  # only what was given


def test_bad_task_options_are_usage_errors(tmp_path):
    runner = CliRunner()
    env = {"LAB4_DATA_DIR": str(tmp_path), "LAB4_CONFIG": str(tmp_path / "c.toml")}
    cases = [
        (["--task", "minimize", "--steps", "-5"], "steps must be >= 1, got -5"),
        (["--task", "minimize", "--nosuch", "1"], "No such option"),
        (["--steps", "5"], "task options need --task TASK first"),
        (["--task", "99"], f"task must be {task_keys()} or one of {', '.join(TASKS)}"),  # keys from the registry
        (["--task", "mlp", "--axes", "optimizer=adam"], "optimizer must be one of"),
        (["--task", "derivatives", "--start", "3", "--stop", "1"], "stop must be > start"),
    ]
    for args, words in cases:
        out = runner.invoke(main, args, env=env)
        assert out.exit_code == 2, (args, out.output)
        assert words in out.output, (args, out.output)
        assert "Traceback" not in out.output


def test_a_damaged_database_stops_the_app_before_it_opens(tmp_path):
    (tmp_path / "lab4.sqlite").write_bytes(b"not a database" * 100)
    out = CliRunner().invoke(
        main, ["--task", "1"], env={"LAB4_DATA_DIR": str(tmp_path), "LAB4_CONFIG": str(tmp_path / "c.toml")}
    )
    assert out.exit_code == 1
    assert "lab4.sqlite" in out.output and "left untouched" in out.output
