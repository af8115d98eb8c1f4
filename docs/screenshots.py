"""Save the README's SVG screenshots, taken by the app itself (headless, 120x36 unless a shot
says its size).

    python docs/screenshots.py
"""

import asyncio
import os
import tempfile
from pathlib import Path

OUT = Path(__file__).with_name("screenshots")
#: (file, task, form values, key that runs, tab shown[, terminal size])
SHOTS = [
    ("home", None, {}, None, None),
    ("autograd", "autograd", {}, "ctrl+r", None),
    ("derivatives", "derivatives", {}, "ctrl+r", "tab-hsweep32"),
    ("complex-step", "derivatives", {}, "ctrl+r", "tab-complex"),
    ("minimize", "minimize", {"complexity": "3"}, "c", "tab-distance"),
    (
        "phase",
        "minimize",
        {"complexity": "3", "optimizer": "momentum", "lr": "0.5", "beta": "0.6"},
        "ctrl+r",
        "tab-phase",
    ),
    ("mlp-compare", "mlp", {"steps": "300"}, "c", "tab-results"),
    ("clipped-ce", "clipped-ce", {"steps": "200", "clip": "0.001"}, "ctrl+r", None),
    ("history", "minimize", {}, None, "tab-history"),
    ("spectrum-80x24", "mlp", {"steps": "300", "spectrum_at": "0,end"}, "ctrl+r", "tab-spectrum", (80, 24)),
    (
        "rosenbrock-80x24",
        "minimize",
        {
            "expr": "(1-x)**2 + 100*(y-x**2)**2",
            "start": "x=-1.5, y=2",
            "minimum": "x=1, y=1",
            "lr": "0.0005",
            "steps": "5000",
        },
        "ctrl+r",
        "tab-trajectory",
        (80, 24),
    ),
    (
        "phase-measured-80x24",
        "minimize",
        {"complexity": "4", "optimizer": "momentum", "lr": "optimal", "beta": "optimal"},
        "ctrl+r",
        "tab-phase",
        (80, 24),
    ),
    # the answer of task 6 on its Results tab at 80x24; without colour at 100x30; a light theme at 120x40
    ("scaled-mse-results-80x24", "scaled-mse", {"steps": "200"}, "c", "tab-results", (80, 24)),
    ("mlp-no-color-100x30", "mlp", {"steps": "300"}, "c", "tab-loss", (100, 30), {"NO_COLOR": "1"}),
    ("clipped-ce-light-120x40", "clipped-ce", {"steps": "200"}, "c", "tab-results", (120, 40), {}, "textual-light"),
]


async def shoot(name, task, values, key, tab, size=(120, 36), env=None, theme=None, *, data_dir):
    from lab4_tui.app import make_app

    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        app = make_app(task=task, data_dir=data_dir, warm_torch=False)
        await _shoot(app, name, task, values, key, tab, size, theme)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def _shoot(app, name, task, values, key, tab, size, theme):
    async with app.run_test(size=size) as pilot:
        if theme:
            app.theme = theme
        if task:
            screen = app.screen
            for field, value in values.items():
                screen.query_one(f"#in-{field}").value = value
            await pilot.pause()
            if key:
                await pilot.press(key)
                await pilot.pause()
                while app.running_screens() or not app.compute.wait_idle(0):  # every run computed
                    await pilot.pause(0.05)
                await pilot.pause()
            if tab:
                screen.open_tab(tab)
            for _ in range(3):  # pictures are built in threads; a legend that grows re-sizes its plot
                await pilot.pause()
                # a picture replaced by a newer one is cancelled: not an error
                await asyncio.gather(*(w.wait() for w in list(app.workers)), return_exceptions=True)
        app.save_screenshot(filename=f"{name}.svg", path=str(OUT))


async def main():
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ["LAB4_CONFIG"] = str(Path(data_dir) / "config.toml")
        for shot in SHOTS:
            await shoot(*shot, data_dir=data_dir)
            print("saved", OUT / f"{shot[0]}.svg")


if __name__ == "__main__":
    asyncio.run(main())
