"""Benchmark: `exporter epub` against pandoc's own EPUB 3 writer on the same generated notes.

Run standalone: `.venv/bin/python bench/epub.py [--notes N] [--keep DIR]`. Each side runs in its
own wrapper process, so the peak memory (largest process of the tree, from
RUSAGE_CHILDREN.ru_maxrss) of one cannot leak into the other.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXPORTER = Path(sys.executable).with_name("exporter")

WORDS = [
    "the", "light", "keeper", "tower", "lens", "beam", "signal", "coast", "harbour", "reef",
    "storm", "rock", "station", "flash", "period", "range", "sailor", "chart", "bearing",
    "channel", "tide", "vessel", "night", "watch", "lamp", "oil", "clockwork", "rotation",
    "prism", "glass", "engine", "relief", "boat", "supply", "winter", "summer", "island",
    "mainland", "keeper's", "log", "weather", "fog", "horn", "sound", "daymark", "stripe",
    "paint", "scheme", "sector", "colour", "arc", "pilot",
]
CHANNELS = ["sea2sky", "harbour_lights", "tidewatch.tv", "bonus_professor", "coastal-notes"]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

# Runs the command given as argv, then prints its wall time and the peak RSS of its tree.
WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": rc.returncode, "wall": wall, "peak_kb": peak,
                  "stderr": rc.stderr.decode("utf-8", "replace")[-2000:]}))
"""


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(9, 18))]
    return " ".join(words).capitalize()


def _stamp(rng: random.Random, minute: int) -> str:
    t = f"00:{minute:02d}:{rng.randint(0, 59):02d}"
    return f' <a class="yt-timestamp" data-t="{t}">[{t}]</a>'


def _paragraph(rng: random.Random, stems: list[str], minute: int) -> str:
    parts = []
    for _ in range(rng.randint(2, 4)):
        s = _sentence(rng)
        if rng.random() < 0.35:
            target = rng.choice(stems)
            label = target.replace("_", " ")
            s += f" as [[{target} | {label}]] explains" if rng.random() < 0.5 \
                else f" see [[{target}]]"
        if rng.random() < 0.6:
            s += _stamp(rng, minute)
        parts.append(s + ".")
    return " ".join(parts)


def generate(folder: Path, n: int, seed: int = 7) -> list[Path]:
    """n notes of ~3.5 KB shaped like the real exports; wikilinks point at other generated notes."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    stems = [f"note_{i:04d}_{rng.choice(WORDS).replace(chr(39), '')}" for i in range(n)]
    paths = []
    for i, stem in enumerate(stems):
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7))).capitalize() + f" {i}"
        vid = "".join(rng.choice(ALPHABET) for _ in range(11))
        lines = ["---", f"title: {title}", f"videoId: {vid}", "---", "",
                 f"From: [[{rng.choice(CHANNELS)}]] <br/> ", "", _paragraph(rng, stems, 0), ""]
        minute = 1
        for _ in range(rng.randint(3, 5)):
            lines += [f"## {_sentence(rng)[:40].strip()}", ""]
            for _ in range(rng.randint(1, 2)):
                lines += [_paragraph(rng, stems, minute), ""]
                minute = min(59, minute + rng.randint(1, 4))
        text = "\n".join(lines)
        while len(text.encode()) < 3000:  # top up to the target size with one more paragraph
            text += "\n" + _paragraph(rng, stems, minute) + "\n"
        p = folder / f"{stem}.md"
        p.write_text(text, encoding="utf-8")
        paths.append(p)
    return paths


def _pandoc_input(paths: list[Path], out: Path) -> None:
    """The same bodies as one commonmark_x document: frontmatter off, each title as a chapter h1."""
    chunks = []
    for p in paths:
        text = p.read_text(encoding="utf-8")
        _, front, body = text.split("---\n", 2)
        title = re.search(r"^title: (.*)$", front, re.M)
        chunks.append(f"# {title.group(1) if title else p.stem}\n\n{body.strip()}\n")
    out.write_text("\n".join(chunks), encoding="utf-8")


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB, largest process of the tree) of cmd in a fresh wrapper."""
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True,
                          env=env, check=True)
    result = json.loads(proc.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{cmd[0]} failed ({result['rc']}):\n{result['stderr']}")
    return float(result["wall"]), int(result["peak_kb"]) / 1024


def stages(vault: Path, out: Path) -> None:
    """Where exporter's time goes, in this process: front half, HTML writer, EPUB packaging."""
    from exporter.collect import collect
    from exporter.packagers import epub
    from exporter.select import select

    spent = {"render": 0.0}
    render = epub.render

    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return render(*args, **kwargs)
        finally:
            spent["render"] += time.perf_counter() - t

    epub.render = timed
    t0 = time.perf_counter()
    collection, _ = collect(vault)
    notes = select(collection, [])
    t1 = time.perf_counter()
    epub.package(collection, notes, out, epub.BookMeta("Bench"))
    t2 = time.perf_counter()
    print(f"stages        : collect {t1 - t0:.2f} s, html.render {spent['render']:.2f} s, "
          f"rest of epub packaging {t2 - t1 - spent['render']:.2f} s (in-process, one run)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each side; the best time counts")
    ap.add_argument("--stages", action="store_true", help="also time each stage in-process")
    ap.add_argument("--keep", type=Path, help="keep the generated vault and outputs here")
    args = ap.parse_args()

    import os

    import pypandoc

    tmp = Path(tempfile.mkdtemp(prefix="bench-epub-")) if args.keep is None else args.keep
    try:
        vault = tmp / "vault"
        paths = generate(vault, args.notes)
        size = sum(p.stat().st_size for p in paths)
        print(f"{len(paths)} notes, {size / 1024:.0f} KiB ({size / len(paths) / 1024:.1f} KiB each); "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
        env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
        joined = tmp / "pandoc-input.md"
        _pandoc_input(paths, joined)
        ours_cmd = [str(EXPORTER), "epub", str(vault), "-o", str(tmp / "ours.epub"), "--quiet",
                    "--no-cache"]  # a clean build every time: pandoc has no cache either
        theirs_cmd = [str(pypandoc.get_pandoc_path()), "-f", "commonmark_x", "-t", "epub3",
                      "--metadata", "title=Bench", str(joined), "-o", str(tmp / "pandoc.epub")]
        ours, theirs = [], []
        for _ in range(max(1, args.repeat)):  # alternate, so background load hits both sides
            ours.append(measure(ours_cmd, env))
            theirs.append(measure(theirs_cmd, env))
        (t_ours, _), (t_theirs, _) = min(ours), min(theirs)
        m_ours, m_theirs = max(m for _, m in ours), max(m for _, m in theirs)
        kib = {name: (tmp / name).stat().st_size / 1024 for name in ("ours.epub", "pandoc.epub")}
        print(f"exporter epub : {t_ours:7.2f} s   peak {m_ours:7.1f} MiB   {kib['ours.epub']:.0f} KiB")
        print(f"pandoc epub3  : {t_theirs:7.2f} s   peak {m_theirs:7.1f} MiB   "
              f"{kib['pandoc.epub']:.0f} KiB")
        print(f"ratio         : {t_ours / t_theirs:7.2f}  (target <= 1.0)")
        if args.stages:
            stages(vault, tmp / "stages.epub")
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
