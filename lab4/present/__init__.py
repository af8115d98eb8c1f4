"""Text for people: number formats, tables, plots drawn with plotext, the reproduce line,
the Markdown report and the exports."""
