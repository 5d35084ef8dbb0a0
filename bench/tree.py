"""Time a command and watch its whole process tree: wall time, the peak RSS of the largest
single process in it (render workers are grandchildren that wait4 never reports), and the CPU
time of its render workers (the children of a fork server).

Peaks are read from each process's own high-water mark (VmHWM) every 20 ms, so a process that
lives through a sample is counted at its true peak. A worker's CPU time is its last sample's,
short by at most the 20 ms before it ended.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Tree:
    seconds: float
    peak_mb: float  # the largest single process
    peaks: dict[str, float] = field(default_factory=dict)  # command name -> its largest peak
    code: int = 0
    render_cpu: float = 0.0  # CPU seconds of the render workers, all together
    roles: dict[str, float] = field(default_factory=dict)  # the command, its render server, a worker: largest peak


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):  # the process ended meanwhile
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def _status(pid: int) -> tuple[str, float] | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    hwm = fields.get("VmHWM", "0 kB").split()[0]
    return fields.get("Name", "?").strip(), int(hwm) / 1024


TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float | None:
    """User and system CPU seconds of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def _serves_forks(pid: int) -> bool:
    try:
        return b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def run(argv: list[str], env: dict[str, str] | None = None) -> Tree:
    """Run argv to the end; exits the benchmark if it fails (exit codes 0 and 1 are results)."""
    peaks: dict[int, tuple[str, float]] = {}
    workers: dict[int, float] = {}  # render worker -> its CPU seconds at the last sample
    servers: dict[int, bool] = {}  # process -> whether it is a fork server
    done = threading.Event()
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)

        def watch() -> None:
            while not done.is_set():
                todo = [proc.pid]
                while todo:
                    pid = todo.pop()
                    got = _status(pid)
                    if got:
                        peaks[pid] = (got[0], max(got[1], peaks.get(pid, ("", 0.0))[1]))
                    kids = _children(pid)
                    todo += kids
                    if kids and servers.setdefault(pid, _serves_forks(pid)):
                        for kid in kids:
                            if (cpu := _cpu(kid)) is not None:
                                workers[kid] = cpu
                time.sleep(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        code = proc.wait()
        seconds = time.perf_counter() - start
        done.set()
        watcher.join()
        if code not in (0, 1):
            err.seek(0)
            sys.exit(f"{argv[:4]} failed ({code}):\n{err.read().decode(errors='replace')[-2000:]}")
    by_name: dict[str, float] = {}
    for name, mb in peaks.values():
        by_name[name] = max(by_name.get(name, 0.0), mb)
    roles = {"command": peaks.get(proc.pid, ("", 0.0))[1],
             "render server": max((peaks[p][1] for p, s in servers.items() if s and p in peaks), default=0.0),
             "render worker": max((peaks[p][1] for p in workers if p in peaks), default=0.0)}
    return Tree(seconds, max((mb for _, mb in peaks.values()), default=0.0), by_name, code, sum(workers.values()),
                roles)


def environment() -> dict[str, str]:
    """Reproducible dates, and this checkout first on the path (for `python -c` baselines).
    Bytecode is written as an installed package has it: with PYTHONDONTWRITEBYTECODE set (as
    some shells have it), every run would compile this package again, a cost no user pays."""
    here = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000",
           "PYTHONPATH": here + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
