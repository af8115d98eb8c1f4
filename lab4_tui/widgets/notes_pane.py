"""The Notes tab: the user's own observations, saved as they type (and on quit or hang-up).

Notes are a Markdown file per task in the data directory (people edit them by hand too).
Opening a screen writes nothing; a change is saved half a second after the last key.
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.widgets import TextArea

__all__ = ["NotesPane", "NOTE_DEBOUNCE"]

NOTE_DEBOUNCE = 0.5  # seconds after the last key


class NotesPane(TextArea):
    """ctrl+e is the app's report key, but in a text area it is a text key (end of line), as
    it stays here: the first time it is pressed in the notes, a message says how to write the
    report from here (F6, which works everywhere)."""

    BINDINGS = [Binding("ctrl+e", "end_of_line", "End of line", show=False)]

    def __init__(self, task_id: str, **kwargs: Any):
        super().__init__(soft_wrap=True, **kwargs)
        self.task_id = task_id
        self._told_report_key = False
        self._loaded = False
        self._saved = ""
        self._timer: Any = None

    def on_mount(self) -> None:
        try:
            text = self.app.store.load_note(self.task_id)
        except OSError as exc:
            text = ""
            self.notify(f"Could not read the notes: {exc}", severity="warning")
        self.load_text(text)
        self._saved = text
        self._loaded = True

    def action_end_of_line(self) -> None:
        self.action_cursor_line_end()
        if not self._told_report_key:
            self._told_report_key = True
            key = self.app.keys_for("report-f6", "f6").split(",")[0].strip().upper()
            self.notify(
                f"In the notes ctrl+e moves to the end of the line. {key} writes the report, from here too.",
                title="Report",
                timeout=8,
            )

    def on_text_area_changed(self) -> None:
        if not self._loaded:
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(NOTE_DEBOUNCE, self.save)

    def save(self) -> bool:
        """Write the notes if they changed; False when they could not be written.

        What another app (or an editor) wrote to the file since this pane read it is merged
        with what was typed here, and shown; changes that cannot be merged are kept in a
        conflict copy beside the file, and a message names it: no one's text is dropped."""
        if not self._loaded or self.text == self._saved:
            return True  # nothing new: opening a screen writes nothing
        text = self.text
        written = self.app.save_note(self.task_id, text, base=self._saved)
        if not written:
            return False
        if written is True:  # an app without merging (tests' fakes): what was typed is on disk
            self._saved = text
            return True
        self._saved = written.text
        if written.merged and self.text == text:
            where = self.cursor_location
            self.load_text(written.text)
            self._saved = written.text
            self.move_cursor(where)
            self.notify(
                "Notes: another lab4-tui changed them too; both texts are kept (merged).", severity="warning", timeout=8
            )
        elif written.conflict is not None:
            self.notify(
                f"Notes: another lab4-tui changed the same lines; its text is kept in {written.conflict}.",
                severity="warning",
                timeout=15,
            )
        return True
