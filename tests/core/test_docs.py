"""The documents that list things the code declares say which line is missing."""

from pathlib import Path

import lab4
from lab4.tasks import BUILT_IN, TASKS

ROOT = Path(__file__).resolve().parents[2]


def test_readme_lists_every_task_of_the_registry():
    readme = (ROOT / "README.md").read_text()
    missing = [
        f"| {task.key} | `{task.id}` | {task.number} | ..."
        for task in (TASKS[i] for i in BUILT_IN)
        if f"| {task.key} | `{task.id}` |" not in readme
    ]
    assert not missing, "README.md's task table lacks the lines:\n" + "\n".join(missing)


def test_architecture_names_every_layer_folder():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    folders = sorted(
        p.name for p in Path(lab4.__file__).parent.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    )
    assert folders, "lab4 has no subpackages"
    missing = [name for name in folders if f"lab4/{name}/" not in text]
    assert not missing, f"ARCHITECTURE.md does not place: {', '.join(missing)}"
