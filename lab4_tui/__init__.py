"""lab4_tui: the Textual app over :mod:`lab4` (imports lab4, never the reverse)."""
