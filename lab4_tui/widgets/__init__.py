"""The task screen's panes and controls, one widget per concern."""
