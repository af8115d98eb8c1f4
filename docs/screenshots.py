"""Save the README's SVG screenshots, taken by the app itself (headless).

    python docs/screenshots.py
"""

import asyncio
import tempfile
from pathlib import Path

from lab4_tui.app import make_app

OUT = Path(__file__).with_name("screenshots")
SHOTS = [
    ("home", None, {}, None),
    ("derivatives", "derivatives", {}, "tab-hsweep"),
    ("minimize", "minimize", {"complexity": "3", "steps": "400"}, None),
    ("mlp-compare", "mlp", {"steps": "300"}, "preset"),
    ("clipped-ce", "clipped-ce", {"steps": "200", "clip": "0.001"}, None),
    ("autograd", "autograd", {}, None),
]


async def shoot(name, task, values, extra, data_dir):
    app = make_app(task=task, data_dir=data_dir, warm_torch=False)
    async with app.run_test(size=(120, 36)) as pilot:
        if task:
            screen = app.screen
            for key, value in values.items():
                screen.query_one(f"#in-{key}").value = value
            await pilot.pause()
            await pilot.press("c" if extra == "preset" else "ctrl+r")
            await app.workers.wait_for_complete()
            screen.drain()
            if extra and extra.startswith("tab-"):
                screen.query_one("#tabs").active = extra
            await pilot.pause()
        app.save_screenshot(filename=f"{name}.svg", path=str(OUT))


async def main():
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as data_dir:
        for shot in SHOTS:
            await shoot(*shot, data_dir)
            print("saved", OUT / f"{shot[0]}.svg")


if __name__ == "__main__":
    asyncio.run(main())
