"""`python -m exporter` and the `exporter` script (pyproject's entry point is `run`).

The command line is imported inside run(): a render worker imports the script that started
the run before its first task, and needs nothing of the command line.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from typing import Any

_signalled = False  # stopped by a signal: the exit waits for no thread (one may wait on a stopped worker)


def _stopped(signum: int, frame: Any) -> None:
    global _signalled
    _signalled = True
    raise KeyboardInterrupt  # unwound as Ctrl+C is: temporary files removed, render workers stopped


def run() -> None:
    from exporter.cli import main

    # `kill` or a closed terminal ended the command at once: its render workers, fork server
    # and resource tracker stayed up (about 220 MB) and a temporary PDF stayed beside the target
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, _stopped)
    try:
        main(prog_name="exporter")
    except SystemExit as e:
        if isinstance(e.code, int) or e.code is None:
            _exit(e.code or 0)
        raise


def _exit(code: int) -> None:
    """Exit without taking the interpreter apart: a build leaves millions of small objects, and
    freeing them one by one took 0.15 s of a bundle's rebuild and 0.25 s of an EPUB's, where
    the system takes the memory back at once. Exit handlers run and output is flushed first;
    while another thread runs, the usual way is taken."""
    if threading.active_count() > 1 and not _signalled:
        raise SystemExit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken stream: Python reports it its own way
        raise SystemExit(code) from None
    atexit._run_exitfuncs()
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
