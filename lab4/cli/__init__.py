"""``lab4``: the headless command line."""
