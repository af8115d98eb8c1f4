"""Settings that last between sessions: device, dtype, seed, jobs, theme and key overrides.

They live in a small TOML file in the user's config directory
(``platformdirs.user_config_dir("lab4-tui")/config.toml``, or ``$LAB4_CONFIG``)::

    device = "cpu"
    dtype = "float32"
    seed = 0
    jobs = 1               # a comparison's runs computed at once, each in a worker: N or "auto"
    theme = "textual-dark"

    [keys]
    next-tab = "f2"        # binding id = keys (comma-separated), e.g. when tmux takes ctrl+t

The app writes the first five when they change in Settings (the theme also when the command
palette changes it); ``[keys]`` is edited by hand
(the help screen lists the binding ids).  A file that cannot be read gives a warning and
the defaults, never a crash.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Settings", "config_path", "load_settings", "save_settings", "CONFIG_ENV"]

CONFIG_ENV = "LAB4_CONFIG"

_KEY_ID = re.compile(r"[a-z0-9][a-z0-9-]*\Z")


@dataclass
class Settings:
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    theme: str = "textual-dark"
    #: how many runs of a comparison compute at once (``lab4 sweep --jobs``): N or "auto"
    jobs: int | str = 1
    keys: dict[str, str] = field(default_factory=dict)


def config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("lab4-tui", appauthor=False)) / "config.toml"


def _read_toml(text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)


def load_settings(path: Path | None = None) -> tuple[Settings, list[str]]:
    """The saved settings (defaults where absent) and warnings about what was ignored."""
    from lab4.core.context import DEVICE_SYNTAX, parse_dtype, parse_jobs, parse_seed
    from lab4.core.spec import ParamError

    path = path or config_path()
    settings, warnings = Settings(), []
    try:
        data = _read_toml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return settings, warnings
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return settings, [f"{path} was not read ({str(exc)[:100]}); using the defaults"]
    device = str(data.get("device", settings.device)).strip().lower()
    if DEVICE_SYNTAX.match(device):
        settings.device = device
    else:
        warnings.append(f"{path}: device {device[:20]!r} ignored")
    for name, parse in (("dtype", parse_dtype), ("seed", parse_seed), ("jobs", parse_jobs)):
        if name in data:
            try:
                setattr(settings, name, parse(data[name]))
            except ParamError as exc:
                warnings.append(f"{path}: {exc.message}; ignored")
    if isinstance(data.get("theme"), str):
        settings.theme = data["theme"]
    keys = data.get("keys", {})
    if isinstance(keys, dict):
        for binding_id, value in keys.items():
            if _KEY_ID.match(str(binding_id)) and isinstance(value, str) and value.strip():
                settings.keys[str(binding_id)] = value.strip()
            else:
                warnings.append(f'{path}: key override {binding_id!r} ignored (binding-id = "keys")')
    return settings, warnings


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings (atomically); the key overrides are kept as they are."""
    from lab4.store import atomic_write

    path = path or config_path()
    lines = [
        "# lab4-tui settings: written by the app when they change (Settings; a theme from the palette); edit freely.",
        f"device = {_quote(settings.device)}",
        f"dtype = {_quote(settings.dtype)}",
        f"seed = {int(settings.seed)}",
        f"jobs = {_quote(settings.jobs) if isinstance(settings.jobs, str) else int(settings.jobs)}",
        f"theme = {_quote(settings.theme)}",
        "",
        "[keys]",
        '# binding id = "keys" (comma-separated); the ids are listed in the app\'s help (?)',
    ]
    lines += [f"{binding_id} = {_quote(keys)}" for binding_id, keys in settings.keys.items()]
    atomic_write(path, "\n".join(lines) + "\n")
    return path
