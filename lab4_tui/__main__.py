"""Entry point of ``lab4-tui`` (filled in by the TUI work)."""

import sys


def main() -> None:
    sys.exit("lab4-tui: the terminal app is not built yet; use the `lab4` command.")


if __name__ == "__main__":
    main()
