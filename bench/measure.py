"""Time a command in a fresh process and report its peak memory (largest child RSS)."""

from __future__ import annotations

import json
import subprocess
import sys


def measure(cmd: list[str], stdin: bytes | None = None) -> tuple[float, float]:
    """(seconds, peak MiB) of cmd, measured by a small wrapper process."""
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "data = sys.stdin.buffer.read() if sys.argv[1] == '1' else None\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[2:], input=data, stdout=subprocess.DEVNULL)\n"
        "dt = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps([dt, rss, r.returncode]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, "1" if stdin is not None else "0", *cmd],
        input=stdin,
        capture_output=True,
        check=True,
    )
    dt, rss, rc = json.loads(out.stdout)
    if rc != 0:
        raise SystemExit(f"command failed ({rc}): {' '.join(cmd)}")
    return dt, rss
