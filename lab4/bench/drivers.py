"""What the bench runs in a fresh process, to measure the app and the CLI from outside:
``python -m lab4.bench.drivers NAME ARGS...`` prints its figures on stdout.

Each driver is a function here (not source in a string), so that a rename in ``lab4_tui``
is caught by the linters and by ``tests/cli/test_bench.py``, which runs the cheap ones.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable


def import_time(module: str) -> None:
    """Seconds to import ``module`` in this fresh process, and whether torch came with it."""
    import importlib

    t0 = time.perf_counter()
    importlib.import_module(module)
    print(time.perf_counter() - t0, "torch" in sys.modules)


def first_paint() -> None:
    """Seconds from the start of this process to the app's first painted screen (headless)."""
    t0 = time.perf_counter()
    import tempfile

    from lab4_tui.app import make_app

    async def main() -> None:
        app = make_app(data_dir=tempfile.mkdtemp(), warm_torch=False)
        async with app.run_test(size=(120, 40)):
            print(time.perf_counter() - t0, "painted")

    asyncio.run(main())


def json_listing(folder: str) -> None:
    """What listing lab4 0.1's one-JSON-file-per-run store took: read every file (the baseline)."""
    rows = []
    for path in sorted(Path(folder).glob("*.json")):
        data = json.loads(path.read_text())
        rows.append((data["id"], data["task"], data["status"], data["metrics"]))
    print(len(rows))


def runs_modules(data_dir: str) -> None:
    """``lab4 runs`` in this process, then the names of every module it imported."""
    from lab4.cli.main import main

    sys.argv = ["lab4", "runs", "--data-dir", data_dir]
    try:
        main()
    except SystemExit:
        pass
    print(" ".join(sys.modules))


def app_stream(spec_text: str) -> None:
    """The app in the bench's pseudo-terminal: opens the mlp screen, waits for its compute
    worker, runs, records the largest gap of a 20 ms timer, the time to the first event, the
    memory of the app's process and of its worker, writes them as JSON
    to ``spec["out"]`` and exits (``spec``: params, device, data_dir, out)."""
    from lab4_tui.app import make_app

    spec = json.loads(spec_text)
    app = make_app(task="mlp", params=spec["params"], device=spec["device"], data_dir=spec["data_dir"])
    state: dict[str, Any] = {"gap": 0.0, "last": 0.0, "started": 0.0, "pressed": 0.0, "first_event_s": None}

    def rss_mb(pid: Any = "self") -> float:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmRSS"))

    def tick() -> None:
        now = time.perf_counter()
        state["gap"] = max(state["gap"], now - state["last"])
        state["last"] = now
        screen = app.screen
        if screen.session is None and screen.shown:
            result = screen.shown[0][1]
            report = {
                "run_started": state["started"],
                "run_ended": time.time(),
                "duration_s": result.duration_s,
                "status": result.status,
                "max_gap_s": state["gap"],
                "rss_mb": rss_mb(),
                "worker_rss_mb": rss_mb(app.compute.worker.pid),
                "first_event_s": state["first_event_s"],
                "torch_in_app": "torch" in sys.modules,
            }
            Path(spec["out"]).write_text(json.dumps(report))
            app.exit()

    def start() -> None:
        state["started"], state["last"] = time.time(), time.perf_counter()
        app.set_interval(0.02, tick)
        state["pressed"] = time.perf_counter()
        app.screen.action_run()

    def when_ready() -> None:
        while not app.is_running or app.compute.state != "ready":
            time.sleep(0.05)  # the worker has imported torch
        time.sleep(1.0)  # the app's own warm-up (gc freeze) is done
        app.call_from_thread(start)
        while True:  # the first event folded in on the UI side
            session = app.screen.session
            if (
                session is not None
                and session.runs
                and (session.runs[0].builder.progress.total or session.runs[0].builder.result.observations)
            ):
                state["first_event_s"] = time.perf_counter() - state["pressed"]
                return
            time.sleep(0.002)

    threading.Thread(target=when_ready, daemon=True).start()
    app.run()


def history_open(data_dir: str, task: str) -> None:
    """Opens a task screen headless, then its History tab; prints seconds from the key to the
    first frame that draws the table with rows."""
    from lab4_tui.app import make_app

    async def main() -> None:
        app = make_app(task=task, data_dir=data_dir, warm_torch=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(1.0)  # the screen as a user first sees it
            # a picture replaced by a newer one is cancelled: not an error
            await asyncio.gather(*(w.wait() for w in list(app.workers)), return_exceptions=True)
            table = app.screen.query_one("#history")
            drawn: list[float] = []
            render_lines = table.render_lines

            def spy(crop):  # type: ignore[no-untyped-def]
                if table.row_count and not drawn:
                    drawn.append(time.perf_counter())
                return render_lines(crop)

            table.render_lines = spy
            t0 = time.perf_counter()
            app.screen.open_tab("tab-history")
            while not drawn:
                await pilot.pause(0.002)
            print(drawn[0] - t0)

    asyncio.run(main())


def open_long_run(data_dir: str, task: str, row: str) -> None:
    """Opens a saved run from History headless; prints the largest gap of a 20 ms timer until
    its plot is drawn, and the seconds it took (``row``: the run's row in History)."""
    from lab4_tui.app import make_app

    async def main() -> None:
        app = make_app(task=task, data_dir=data_dir, warm_torch=False)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            await pilot.pause(1.0)  # the screen as a user first sees it
            screen.open_tab("tab-history")
            table = screen.query_one("#history")
            while table.row_count == 0:
                await pilot.pause(0.01)
            await pilot.pause(0.5)  # the user reads the list
            plot = screen.query_one("#plot-loss")
            gap = [0.0, time.perf_counter()]

            def tick() -> None:
                now = time.perf_counter()
                gap[0] = max(gap[0], now - gap[1])
                gap[1] = now

            app.set_interval(0.02, tick)
            t0 = time.perf_counter()
            table.focus()
            table.move_cursor(row=int(row))
            await pilot.pause()
            await pilot.press("enter")  # shows the run; History keeps the focus and its tab
            screen.open_tab("tab-loss")  # the plot is drawn when its tab is shown
            while not plot.runs or plot.picture is None or plot.stale or plot.version == 0:
                await pilot.pause(0.01)
            # a picture replaced by a newer one is cancelled: not an error
            await asyncio.gather(*(w.wait() for w in list(app.workers)), return_exceptions=True)
            print(gap[0], time.perf_counter() - t0)

    asyncio.run(main())


def cli_peak(*argv: str) -> None:
    """``lab4 ARGV...`` in this process, as the console script runs it; at exit (a finished run,
    a usage error or a Ctrl-C) the process's peak resident memory in MB goes to stderr's last
    line, after anything the command printed."""
    import atexit
    import resource

    from lab4.cli.main import main

    def peak() -> None:
        # VmHWM, this program's own high-water mark: getrusage's ru_maxrss survives execve, so a
        # child of a big process (the bench) reported its parent's size
        try:
            with open("/proc/self/status") as fh:
                kib = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))
        except (OSError, StopIteration):  # not Linux
            kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform == "darwin" else 1)
        print(f"peak_mb {kib / 1024:.1f}", file=sys.stderr, flush=True)

    atexit.register(peak)
    import torch  # noqa: F401 - what the command imports first anyway: "imported" means it computes next

    print("imported", file=sys.stderr, flush=True)
    sys.argv = ["lab4", *argv]
    main()


DRIVERS: dict[str, Callable[..., None]] = {
    f.__name__: f
    for f in (import_time, first_paint, json_listing, runs_modules, app_stream, history_open, open_long_run, cli_peak)
}


def command(name: str, *args: str) -> list[str]:
    """The command line that runs driver ``name`` in a fresh interpreter."""
    if name not in DRIVERS:
        raise KeyError(f"no bench driver {name!r}; known: {', '.join(DRIVERS)}")
    return [sys.executable, "-m", "lab4.bench.drivers", name, *args]


if __name__ == "__main__":
    DRIVERS[sys.argv[1]](*sys.argv[2:])
