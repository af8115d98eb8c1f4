"""lab4 is the domain: importing it (and its task registry) never imports UI or click or torch."""

import subprocess
import sys

from tests import HANG_S


def _imported(code: str) -> set[str]:
    probe = code + "\nimport sys; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=HANG_S)
    return set(out.stdout.split())


def test_lab4_tasks_import_no_ui_no_click_no_torch():
    mods = _imported("import lab4, lab4.core.spec, lab4.tasks, lab4.core.events, lab4.store.database")
    assert "textual" not in mods
    assert "click" not in mods
    assert "torch" not in mods


def test_lab4_never_imports_textual_even_when_running():
    mods = _imported(
        "from lab4.engine.runner import execute\nfrom lab4.tasks import TASKS\n"
        "for t in TASKS.values():\n    pass\n"
        "execute('autograd', TASKS['autograd'].spec.defaults())"
    )
    assert "textual" not in mods and "lab4_tui" not in mods
