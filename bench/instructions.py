"""Count the instructions a dossier part's render takes, under callgrind: a cost this machine's
noise does not move, for a change too small to time.

Timed, the same renders moved by 20% from one round to the next, even in CPU time; counted,
they repeat within 0.2%. Each count renders the first --parts parts of a dossier of generated
notes in a fresh process (its render settings as in a worker, pool._settled), after one warm-up
render, and once with the warm-up alone: the difference over --parts is a part's instructions.
With --against REV, the code at git revision REV (a temporary worktree) counts its own parts of
the same notes, in the same run, and the ratio is printed.

Needs valgrind (Debian's package); without it, says so and stops. About 100 s for each code counted.

Usage: .venv/bin/python bench/instructions.py [--notes 60] [--parts 7] [--against REV]
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vaultgen import make_vault  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def plan(vault: Path, out: Path, parts: int) -> None:
    """(child, with the code under test first on the path) The parts' documents, pickled."""
    from exporter.collect import collect
    from exporter.config import Options
    from exporter.packagers import pdf
    from exporter.select import select

    collection, _ = collect(vault, Options())
    made = pdf.plan_dossier(collection, select(collection, []), pdf.Meta("Bench", epoch=1700000000))
    for k, part in enumerate(made.parts[:parts + 1]):
        (out / f"{k:03d}.pkl").write_bytes(pickle.dumps(part.prepared))


def render(docs: Path, count: int) -> None:
    """(child, under callgrind) A warm-up render, then count more, as a worker renders them."""
    from exporter.packagers import pool, weasy

    files = sorted(docs.glob("*.pkl"))
    pool._settled()
    for f in files[:count + 1]:
        weasy.render(pickle.loads(f.read_bytes()))
        pool._collected()


def _child(code: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """This script again, with the code at code first on the path."""
    env = {**os.environ, "PYTHONPATH": str(code), "PYTHONHASHSEED": "0"}
    return [sys.executable, str(Path(__file__).resolve()), *args], env


def count(code: Path, docs: Path, parts: int, tmp: Path) -> float:
    """Instructions a part takes, with the code at code."""
    found = []
    for n in (0, parts):
        argv, env = _child(code, "--child-render", str(docs), str(n))
        out = tmp / f"callgrind.{code.name}.{n}"
        r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
                           env=env, capture_output=True, text=True)
        m = re.search(r"Collected : (\d+)", r.stderr)
        if r.returncode != 0 or m is None:
            sys.exit(f"the count failed:\n{r.stderr[-2000:]}")
        found.append(int(m.group(1)))
    return (found[1] - found[0]) / parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notes", type=int, default=60, help="notes in the generated vault")
    ap.add_argument("--parts", type=int, default=7, help="parts counted (after one warm-up)")
    ap.add_argument("--against", help="a git revision whose code counts its own parts too")
    ap.add_argument("--child-plan", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--child-render", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_plan:
        return plan(Path(args.child_plan[0]), Path(args.child_plan[1]), int(args.child_plan[2]))
    if args.child_render:
        return render(Path(args.child_render[0]), int(args.child_render[1]))
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind): nothing to count with")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        make_vault(tmp / "vault", args.notes)
        codes = {"this code": ROOT}
        if args.against:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tmp / "against"),
                            args.against], check=True)
            codes[args.against] = tmp / "against"
        try:
            counted = {}
            for label, code in codes.items():
                docs = tmp / f"docs-{code.name}"
                docs.mkdir()
                argv, env = _child(code, "--child-plan", str(tmp / "vault"), str(docs), str(args.parts))
                subprocess.run(argv, env=env, check=True)
                counted[label] = count(code, docs, args.parts, tmp)
                print(f"{label:>20}: {counted[label] / 1e6:8.1f} M instructions a part", flush=True)
            if args.against:
                print(f"{'ratio':>20}: {counted['this code'] / counted[args.against]:8.3f}")
        finally:
            if args.against:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "against")],
                               check=False)


if __name__ == "__main__":
    main()
