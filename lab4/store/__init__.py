"""Where runs and notes live: one SQLite database, series as compact arrays, notes as Markdown."""
