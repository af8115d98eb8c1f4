"""``lab4 bench``: each figure measured against a baseline in the same run.  Outside the
product's import graph: only the CLI's ``bench`` command imports it."""
