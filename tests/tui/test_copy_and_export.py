"""What leaves the app (issue 21, item 5): the copy key sends the whole comparison of a run's
variants, and an export holds the run's numbers."""

from lab4.core.events import format_value

from .conftest import run_with

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
