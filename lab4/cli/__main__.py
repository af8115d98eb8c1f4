"""``python -m lab4.cli``: the same as the ``lab4`` command."""

from lab4.cli.main import main

main()
