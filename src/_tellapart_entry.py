"""The `tellapart` console command: a module outside the package, so Ctrl-C while it loads is handled too.

Importing anything inside ``tellapart`` first runs ``tellapart/__init__.py``, which loads numpy, pandas and
the rest for a second or so; a Ctrl-C then would otherwise print a KeyboardInterrupt traceback. This module
imports nothing heavy, catches it around that import, and hands over to ``tellapart.cli.main``.
"""

from __future__ import annotations

import sys

INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


def main() -> int:
    """Load and run ``tellapart.cli.main``; return its exit code, or 130 when interrupted while loading."""
    try:
        from tellapart.cli import main as run
    except KeyboardInterrupt:
        print("\ntellapart: interrupted while starting; nothing was done.", file=sys.stderr)
        return INTERRUPTED
    return run()


if __name__ == "__main__":
    sys.exit(main())
