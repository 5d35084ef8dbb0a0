"""Benchmark rebuilds with the cache: a clean build against a rebuild after one edit.

For the bundle and the EPUB of 1,000 generated notes and a dossier of 100, in one run:
1. a clean build (--no-cache, the cache left empty);
2. a build that fills the cache, then an edit, then the rebuild that is timed:
   a body edit of one note; a title change of that note, which other notes' link labels
   show; and both together (the target case).
Each rebuild's output is compared byte for byte with a --no-cache build of the edited vault.
A last row rebuilds the dossier under `exporter build --watch`, whose render workers live as long
as the watch: from each edit's write to the rebuild's summary line, against a clean `build` of
the same dossier (the watch's own reaction to the edit, 0.1 s or more, is counted).
With --repeat N, the clean build and each kind of rebuild run N times (each rebuild after an edit
of its own) and the fastest is kept: this machine's noise is larger than one run.

For the dossier each row also gives the CPU time of its render workers (bench/tree.py) and the
floor it sets: a rebuild takes at least its renders' CPU time over the cores, whatever else it
saves, so that over the clean build is the least its ratio can be. The renders a rebuild cannot
skip are those of the notes whose pages show the edit (the edited note, the notes whose link
labels show its title, the notes whose backlinks list it), the contents and the Sources.

Targets (2 cores): after one body edit plus one title change, bundle <= 0.10x a clean
build, EPUB <= 0.15x, dossier <= 0.15x.

Usage: .venv/bin/python bench/incremental.py [--notes 1000] [--dossier-notes 100] [--only bundle,epub,dossier,watch]
       [--repeat 1] [--keep]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tree import Tree, environment, run  # noqa: E402
from vaultgen import make_vault  # noqa: E402

TARGET = "note_00010"
SHOWN_BY = 8  # notes that link to the target with no label of their own


def _vault(root: Path, n: int) -> Path:
    make_vault(root, n)
    for k in range(SHOWN_BY):  # links whose label is the target's title
        path = root / f"note_{20 + k * 7:05d}.md"
        path.write_text(path.read_text("utf-8") + f"\nSee also [[{TARGET}]].\n", encoding="utf-8")
    return root


def _edit(vault: Path, body: bool, title: bool, k: int) -> None:
    path = vault / f"{TARGET}.md"
    text = path.read_text("utf-8")
    if body:
        text += f"\nA sentence added in edit {k}, about the lamp and the keeper.\n"
    if title:
        text = re.sub(r"^title: .*$", f"title: Renamed topic, edit {k}", text, count=1, flags=re.M)
    path.write_text(text, encoding="utf-8")


def _same(a: Path, b: Path) -> bool:
    if a.is_file():
        return a.read_bytes() == b.read_bytes()
    cmp = filecmp.dircmp(a, b)
    return not (cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files) and all(
        _same(a / d, b / d) for d in cmp.common_dirs)


KINDS = [("body edit", True, False), ("title change", False, True), ("body edit + title change", True, True)]


def _rows(name: str, clean: float, rows: list[tuple[str, float, bool]], renders: list[float] | None = None,
          clean_renders: float = 0.0) -> None:
    """renders: each row's render CPU seconds (with clean_renders, the clean build's), for the floor."""
    cores = os.cpu_count() or 1
    shown = f", its renders {clean_renders:.2f} CPU-s" if renders else ""
    print(f"\n{name}: clean build {clean:.2f} s{shown}")
    for k, (label, seconds, ok) in enumerate(rows):
        floor = (f"  renders {renders[k]:5.2f} CPU-s, floor {renders[k] / cores / clean:4.2f}x" if renders else "")
        print(f"  rebuild after {label:<26}{seconds:>7.2f} s  {seconds / clean:>5.2f}x  "
              f"{'same bytes' if ok else 'DIFFERENT BYTES'}{floor}")


def product(name: str, argv: list[str], out: Path, vault: Path, tmp: Path, repeat: int = 1) -> None:
    env = environment()
    env["EXPORTER_CACHE_DIR"] = str(tmp / f"cache-{name}")
    shutil.rmtree(env["EXPORTER_CACHE_DIR"], ignore_errors=True)

    def build(target: Path, *more: str) -> Tree:
        args = [a.replace("{out}", str(target)) for a in argv]
        return run([sys.executable, "-m", "exporter", *args, "-q", *more], env)

    first = min((build(out / "clean", "--no-cache") for _ in range(repeat)), key=lambda t: t.seconds)
    build(out / "warm")  # fills the cache
    rows = []
    renders = []
    edits = 0
    for label, body, title in KINDS:
        runs = []
        for _ in range(repeat):  # each run after an edit of its own
            edits += 1
            _edit(vault, body, title, edits)
            runs.append(build(out / "warm"))
        build(out / "fresh", "--no-cache")
        ok = _same(out / "warm", out / "fresh")
        fastest = min(runs, key=lambda t: t.seconds)
        rows.append((label, fastest.seconds, ok))
        renders.append(fastest.render_cpu)
    _rows(name, first.seconds, rows, renders if first.render_cpu else None, first.render_cpu)


def watched(vault: Path, tmp: Path, repeat: int = 1, first_edit: int = 100) -> None:
    """The dossier rebuilt by `exporter build --watch --format pdf` after each kind of edit: the
    time from the edit's write to the rebuild's summary line, the watch's outputs then compared
    with a --no-cache build of the edited vault."""
    env = environment()
    env["EXPORTER_CACHE_DIR"] = str(tmp / "cache-watch")
    shutil.rmtree(env["EXPORTER_CACHE_DIR"], ignore_errors=True)
    out = tmp / "watch"
    build = [sys.executable, "-m", "exporter", "build", "--vault", str(vault), "--format", "pdf"]
    clean = min(run([*build, "-o", str(out / "clean"), "--no-cache", "-q"], env).seconds for _ in range(repeat))
    proc = subprocess.Popen([*build, "-o", str(out / "warm"), "--watch"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()

    def read() -> None:
        for line in proc.stderr or ():
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()

    def until(mark: str) -> None:
        while mark not in (line := lines.get(timeout=600)):
            if "error" in line:
                sys.exit(f"the watch failed: {line.strip()}")

    rows = []
    try:
        until("watching")
        edits = first_edit
        for label, body, title in KINDS:
            seconds = []
            for _ in range(repeat):
                time.sleep(1.0)  # the watch settles; lines of earlier rebuilds are read
                while not lines.empty():
                    lines.get()
                edits += 1
                _edit(vault, body, title, edits)
                started = time.perf_counter()
                until("✓")
                seconds.append(time.perf_counter() - started)
            run([*build, "-o", str(out / "fresh"), "--no-cache", "-q"], env)
            rows.append((label, min(seconds), _same(out / "warm", out / "fresh")))
    finally:
        proc.send_signal(signal.SIGINT)  # the watch ends and stops its workers
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    _rows("dossier under build --watch", clean, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=int, default=1000)
    ap.add_argument("--dossier-notes", type=int, default=100)
    ap.add_argument("--only", default="bundle,epub,dossier,watch",
                    help="products to run, comma-separated (default: all four)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="clean builds and rebuilds of each kind (each after an edit of its own); the fastest is kept")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if unknown := only - {"bundle", "epub", "dossier", "watch"}:
        ap.error(f"--only: unknown product {', '.join(sorted(unknown))}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-incremental-"))
    try:
        big = _vault(tmp / "big", args.notes)
        small = _vault(tmp / "small", args.dossier_notes)
        print(f"vaults: {args.notes} and {args.dossier_notes} notes; {SHOWN_BY} notes show {TARGET}'s "
              f"title in a link; {os.cpu_count()} cores")
        started = time.perf_counter()
        if "bundle" in only:
            product("bundle", ["bundle", str(big), "-o", "{out}/archive"], tmp / "bundle", big, tmp, args.repeat)
        if "epub" in only:
            product("epub", ["epub", str(big), "-o", "{out}/book.epub"], tmp / "epub", big, tmp, args.repeat)
        if "dossier" in only:
            product("dossier", ["pdf", str(small), "-o", "{out}/dossier.pdf"], tmp / "dossier", small, tmp, args.repeat)
        if "watch" in only:
            watched(small, tmp, args.repeat)
        print(f"\n(bench ran {time.perf_counter() - started:.0f} s)")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
