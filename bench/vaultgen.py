"""Generate vaults shaped like real notes, for the benchmarks (deterministic for a seed)."""

from __future__ import annotations

import random
from pathlib import Path

WORDS = [
    "light",
    "keeper",
    "lens",
    "tower",
    "beacon",
    "signal",
    "harbour",
    "coast",
    "chart",
    "bearing",
    "flash",
    "rhythm",
    "sector",
    "range",
    "glass",
    "prism",
    "lamp",
    "oil",
    "clockwork",
    "weight",
    "mercury",
    "rock",
    "storm",
    "relief",
    "boat",
    "station",
    "watch",
    "log",
    "night",
    "fog",
    "horn",
    "buoy",
    "reef",
    "tide",
    "current",
    "pilot",
    "navigator",
]
CHANNELS = ["harbour_lights", "tidewatch.tv", "keeper-notes", "sea2sky", "coastal_history"]


def _stamp(rng: random.Random, style: str) -> str:
    if style == "ms":
        t = f"{rng.randrange(0, 12):02d}:{rng.randrange(60):02d}:00"
    else:
        t = f"{rng.randrange(0, 2):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    return f'<a class="yt-timestamp" data-t="{t}">[{t}]</a>'


def _sentence(rng: random.Random, n: int, i: int, style: str) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randrange(12, 24))]
    if rng.random() < 0.35:
        j = rng.randrange(n)
        words.insert(rng.randrange(len(words)), f"[[note_{j:05d} | {rng.choice(WORDS)} {rng.choice(WORDS)}]]")
    if rng.random() < 0.05:
        words.insert(rng.randrange(len(words)), "[[missing_topic]]")
    text = " ".join(words).capitalize()
    stamps = _stamp(rng, style)
    if rng.random() < 0.2:
        stamps += ", " + _stamp(rng, style)
    return f"{text} {stamps}."


def note_text(rng: random.Random, n: int, i: int, size: int = 3500) -> str:
    style = rng.choice(["ms", "hms"])
    vid = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789_-") for _ in range(11))
    parts = [
        f"---\ntitle: Topic {i} {rng.choice(WORDS)} and {rng.choice(WORDS)}\nvideoId: {vid}\n---\n",
        f"From: [[{rng.choice(CHANNELS)}]] <br/> \n",
    ]
    section = 0
    while sum(len(p) for p in parts) < size:
        if section == 0 or rng.random() < 0.25:
            section += 1
            parts.append(f"## {rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} {section}\n")
        parts.append(" ".join(_sentence(rng, n, i, style) for _ in range(rng.randrange(2, 4))) + "\n")
    return "\n".join(parts)


def make_vault(root: Path, n: int, seed: int = 7, size: int = 3500) -> list[str]:
    """Write n notes; returns their bodies (after frontmatter), for pandoc-only baselines."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    bodies = []
    for i in range(n):
        text = note_text(rng, n, i, size)
        (root / f"note_{i:05d}.md").write_text(text, encoding="utf-8")
        bodies.append(text.split("---\n", 2)[2])
    return bodies
