"""The settings dialog at 80x24 and the theme the user picks, wherever they pick it (issue 21,
item 5): what the dialog draws stays inside it, and a theme outlives the app."""

import pytest
from textual.widgets import Select

from lab4_tui.screens.dialogs import SettingsScreen

from .conftest import notices, until, workers_done

SIZE = (80, 24)


async def choose(pilot, app, typed: str, first: str) -> None:
    """Type ``typed`` into the command palette; once its first hit reads ``first``, take it."""

    def hit() -> str:
        found = app.screen.query("CommandList")
        option = found.first().highlighted_option if found else None
        return str(option.prompt) if option is not None else ""

    await pilot.press(*typed)
    await until(pilot, lambda: hit().startswith(first), f"the palette to offer {first!r}")
    await pilot.press("enter")
    await pilot.pause()


def inside(inner, outer) -> bool:
    return outer.contains_region(inner)


@pytest.mark.slow  # the dialog is drawn by test_snapshots.test_settings
async def test_the_theme_list_and_the_dtype_list_stay_inside_the_settings_dialog(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        modal = app.screen
        assert isinstance(modal, SettingsScreen)
        dialog = modal.query_one("#settings").region
        assert inside(dialog, app.screen.region)  # the dialog itself fits the screen
        themes = modal.query_one("#theme")
        themes.focus()
        await pilot.press("enter" if isinstance(themes, Select) else "down")  # a Select opens its list
        await pilot.pause()
        drawn = [w for w in modal.walk_children() if w.display and w.region.area]
        assert all(inside(w.region, dialog) for w in drawn), [
            (w, w.region) for w in drawn if not inside(w.region, dialog)
        ]
        if isinstance(themes, Select):
            await pilot.press("escape")  # close it
        modal.query_one("#dtype", Select).focus()
        await pilot.press("enter")  # the dtype Select's list opens over the dialog, inside it
        await pilot.pause()
        overlay = modal.query_one("#dtype").query_one("SelectOverlay")
        assert overlay.display and inside(overlay.region, dialog)
        await pilot.press("escape")


@pytest.mark.slow  # test_app's settings test applies a highlighted theme
async def test_the_settings_theme_is_the_one_highlighted_and_applied(app_factory, config_file):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        modal = app.screen
        assert modal.theme == app.theme == "textual-dark"  # the list opens on the current theme
        themes = modal.query_one("#theme")
        themes.focus()
        themes.highlighted = themes.get_option_index("textual-light")
        await pilot.press("enter")  # enter applies, as in the other fields
        await workers_done(app)
        await pilot.pause()
        assert not isinstance(app.screen, SettingsScreen) and app.theme == "textual-light"
    assert 'theme = "textual-light"' in config_file.read_text()


async def test_a_theme_chosen_in_the_command_palette_outlives_the_app(app_factory, config_file):
    app = app_factory(task="minimize", dtype="float64")  # a command-line dtype is not saved with it
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await choose(pilot, app, "theme", "Theme")  # Textual's own command: "Change the current theme"
        await choose(pilot, app, "dracula", "dracula")
        assert app.theme == "dracula"
    text = config_file.read_text()
    assert 'theme = "dracula"' in text and 'dtype = "float32"' in text
    again = app_factory()
    async with again.run_test(size=SIZE) as pilot:
        assert again.theme == "dracula" and again.dtype == "float32"
        await pilot.press("s")
        assert again.screen.theme == "dracula"  # Settings opens on it, and keeps it when applied


async def test_parallel_runs_are_a_setting_checked_where_typed_and_kept(app_factory, config_file):
    from textual.widgets import Input, Static

    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        assert app.compute.jobs == 1
        await pilot.press("s")
        modal = app.screen
        field = modal.query_one("#jobs", Input)
        for bad in ("abc", "0", "2.5", "²"):  # "²".isdigit() is True; int("²") raises
            field.value = bad
            field.focus()
            await pilot.press("enter")
            await workers_done(app)
            await pilot.pause()
            assert app.screen is modal and "jobs must be a whole number" in str(
                modal.query_one("#settings-error", Static).render()
            )
        assert app.compute.jobs == 1 and not config_file.exists()  # nothing applied, nothing written
        field.value = " 3 "
        await pilot.press("enter")
        await workers_done(app)
        await pilot.pause()
        assert app.screen is not modal and app.compute.jobs == 3
    assert "jobs = 3" in config_file.read_text()
    again = app_factory()
    async with again.run_test(size=SIZE) as pilot:
        assert again.compute.jobs == 3 and again.settings.jobs == 3
        await pilot.press("s")
        assert again.screen.query_one("#jobs", Input).value == "3"
    config_file.write_text('jobs = "auto"\n')
    auto = app_factory()
    async with auto.run_test(size=SIZE):
        import os

        assert auto.compute.jobs == os.cpu_count() and auto.settings.jobs == "auto"
    config_file.write_text('jobs = "many"\n')
    bad = app_factory()
    told = notices(bad)
    async with bad.run_test(size=SIZE):
        assert bad.compute.jobs == 1 and any("jobs must be a whole number" in m for m in told)
