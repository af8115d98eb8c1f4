"""What leaves the app (issue 21, item 5): the copy key sends the whole comparison of a run's
variants, and an export holds the run's numbers."""

import pytest

from lab4.core.events import format_value

from .conftest import notices, run_with

SIZE = (80, 24)


async def test_copy_sends_every_variants_metrics(app_factory):
    app = app_factory(task="scaled-mse")
    copied = []
    async with app.run_test(size=SIZE) as pilot:
        app.copy_to_clipboard = copied.append  # what would go to the terminal (OSC 52)
        screen = await run_with(app, pilot, {"steps": "15", "hidden": "8", "scale": "0.1,10"})
        screen.open_tab("tab-results")
        await pilot.pause()
        await pilot.press("y")
        result = screen.shown[0][1]
    assert len(copied) == 1
    lines = copied[0].splitlines()
    variants = result.metrics["variants"]
    assert list(variants) == ["S=0.1", "S=10", "cross-entropy"]
    for label, metrics in variants.items():  # a row per variant, with each of its numbers
        row = next((line for line in lines if line.split("  ")[0] == label), None)
        assert row is not None, (label, copied[0])
        cells = row.split()
        for name in ("final_loss", "train_accuracy", "test_accuracy"):
            assert format_value(metrics[name]) in cells, (label, name, row)
    assert "the metrics under it are the first variant's (S=0.1)" in copied[0]


async def export(app, pilot, task, values):
    """Run ``task`` with ``values``, press x; the shown result and the rows of its CSV."""
    import csv

    told = notices(app)
    screen = await run_with(app, pilot, values)
    await pilot.press("x")
    await pilot.pause()
    exported = next(m for m in told if m.startswith("Exported "))
    path = next(p for p in exported.removeprefix("Exported ").split(", ") if p.endswith(".csv"))
    with open(path, newline="", encoding="utf-8") as f:
        return screen.shown[0][1], list(csv.reader(f))


async def test_task_1s_csv_holds_its_value_gradient_and_tables(app_factory):
    app = app_factory(task="autograd")
    async with app.run_test(size=SIZE) as pilot:
        result, rows = await export(app, pilot, "autograd", {})
    assert rows[0] == ["table", "row", "column", "value"] and len(rows) > 1  # not the header alone
    cells = {(t, r, c): v for t, r, c, v in rows[1:]}
    assert float(cells["metrics", "value", ""]) == result.metrics["value"] == 15.0
    for name, component in result.metrics["gradient"].items():
        assert float(cells["metrics", "gradient", name]) == component
    for table, data in result.tables.items():  # every cell of every table, numbers whole
        for row in data["rows"]:
            for column, value in zip(data["columns"][1:], row[1:]):
                assert cells[table, str(row[0]), str(column)] == ("" if value is None else str(value))
    assert float(cells["gradient", "x", "reverse (backward)"]) == 36.0


@pytest.mark.slow  # the export: test_task_1s_csv_holds_its_value_gradient_and_tables
async def test_task_6s_csv_names_every_variants_series_alike(app_factory):
    app = app_factory(task="scaled-mse")
    async with app.run_test(size=SIZE) as pilot:
        result, rows = await export(app, pilot, "scaled-mse", {"steps": "10", "hidden": "8", "scale": "0.1,10"})
    assert rows[0] == ["series", "x", "y"]
    series = {}
    for name, x, y in rows[1:]:
        series.setdefault(name, []).append((float(x), float(y)))
    for label in ("S=0.1", "S=10", "cross-entropy"):
        for metric in ("loss", "train_accuracy", "test_accuracy"):
            assert f"{metric} [{label}]" in series, sorted(series)
    assert "loss" not in series  # the first variant's no longer stands apart
    stored = {"loss [S=0.1]": "loss", "loss [S=10]": "loss [S=10]", "loss [cross-entropy]": "loss [cross-entropy]"}
    for name, key in stored.items():  # the run's numbers, point for point
        data = result.series[key]
        assert series[name] == [(float(x), float(y)) for x, y in zip(data["x"], data["y"])]
    assert "sharpness" in series  # a series of one variant only keeps its name
