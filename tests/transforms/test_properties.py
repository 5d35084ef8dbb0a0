"""Properties of the normalizer: words survive into the bundle; one footnote per stamp run,
and only the first of them names the video."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.collect import collect
from exporter.packagers.bundle import package
from tests.conftest import write_vault

ALPHABET = "abcdefghijklmnopqrstuvwxyzαβγδεζηθжзийклмн"
WORD = st.text(ALPHABET, min_size=3, max_size=9)
TIME = st.tuples(st.integers(0, 59), st.integers(0, 59), st.integers(0, 59)).map(
    lambda t: f"{t[0]:02d}:{t[1]:02d}:{t[2]:02d}"
)
JOIN = st.sampled_from([", ", " ", ""])


@st.composite
def stamp_run(draw: st.DrawFn) -> str:
    times = draw(st.lists(TIME, min_size=1, max_size=3))
    joins = [draw(JOIN) for _ in times[1:]]
    spans = [f'<a class="yt-timestamp" data-t="{t}">[{t}]</a>' for t in times]
    return spans[0] + "".join(j + s for j, s in zip(joins, spans[1:], strict=True))


@st.composite
def link(draw: st.DrawFn) -> tuple[str, list[str]]:
    label = draw(st.lists(WORD, min_size=1, max_size=3))
    target = draw(st.sampled_from(["other", "missing_note", "Other Title"]))
    pipe = draw(st.sampled_from(["|", " | "]))
    return f"[[{target}{pipe}{' '.join(label)}]]", label


@st.composite
def body(draw: st.DrawFn) -> tuple[str, list[str], int]:
    """Markdown of words, links and stamp runs; the words to find; the number of runs."""
    parts: list[str] = []
    words: list[str] = []
    runs = 0
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["word", "word", "link", "run"]))
        if kind == "word" or (kind == "run" and parts and parts[-1].startswith("<a")):
            w = draw(WORD)
            parts.append(w)
            words.append(w)
        elif kind == "link":
            text, label = draw(link())
            parts.append(text)
            words += label
        else:
            parts.append(draw(stamp_run()))
            runs += 1
    return " ".join(parts), words, runs


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(body(), min_size=1, max_size=4))
def test_words_survive_and_one_footnote_per_run(
    tmp_path: Path, notes: list[tuple[str, list[str], int]]
) -> None:
    root = tmp_path / f"v{abs(hash(str(notes)))}"
    files = {"other.md": "---\ntitle: Other Title\n---\nx\n"}
    for i, (text, _, _) in enumerate(notes):
        files[f"n{i}.md"] = f"---\ntitle: N{i}\nvideoId: abcdefghijk\n---\nFrom: [[ch]] <br/>\n\n{text}\n"
    write_vault(root, files)
    coll, _ = collect(root)
    out = root.parent / (root.name + "-out")
    package(coll, coll.notes, out, "P")
    for i, (_, words, runs) in enumerate(notes):
        md = (out / f"n{i}.md").read_text("utf-8")
        main, _, defs = md.partition("\n[^1]:")
        body_text = main.split("\n\n", 3)[-1] if "\n# N" in main else main
        for w in words:
            assert body_text.count(w) >= words.count(w), (w, md)
        assert len(re.findall(r"^\[\^\d+\]:", md, re.M)) == runs, md
        assert len(re.findall(r"^\[\^\d+\]: “N", md, re.M)) == min(runs, 1), md
