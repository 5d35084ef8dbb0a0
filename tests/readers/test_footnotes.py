"""Footnotes inside footnotes, set in the outer one before pandoc reads the note."""

from __future__ import annotations

import re
import time
import zipfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from exporter.cli import main
from exporter.readers import footnotes
from exporter.readers.note import RawNote, from_bytes
from tests.conftest import write_vault

NESTED = "Text[^a] and more[^c].\n\n[^a]: Outer note[^b].\n[^b]: Inner note.\n[^c]: Plain note.\n"


def test_a_footnote_in_another_is_set_in_it_and_named_at_its_line() -> None:
    got = footnotes.flattened(NESTED)
    assert got.text.split("\n")[2] == "[^a]: Outer note (Inner note.)."
    assert got.text.count("\n") == NESTED.count("\n")  # line for line
    assert got.nested == [(2, "footnote [^b] inside footnote [^a] is set in it in parentheses")]
    note = from_bytes("n.md", b"---\ntitle: N\n---\n" + NESTED.encode())
    assert isinstance(note, RawNote) and "Outer note (Inner note.)" in note.markdown
    assert [(d.code, d.line) for d in note.warnings] == [("nested-footnote", 6)]


def test_a_cycle_is_cut_and_a_footnote_past_four_levels_dropped() -> None:
    cycle = footnotes.flattened("A[^a].\n\n[^a]: One[^b].\n[^b]: Two[^a] and self[^b].\n")
    assert cycle.text.split("\n")[2] == "[^a]: One (Two and self.)."
    assert "referred to inside itself" in cycle.nested[0][1]
    chain = "A[^f0].\n\n" + "".join(f"[^f{k}]: level{k}[^f{k + 1}].\n" for k in range(8)) + "[^f8]: end.\n"
    line = footnotes.flattened(chain).text.split("\n")[2]
    assert line == "[^f0]: level0 (level1 (level2 (level3 (level4.).).).)."  # four footnotes deep


def test_references_in_code_and_fences_are_text() -> None:
    body = "A[^a].\n\n[^a]: See `x[^b]` here.\n[^b]: B.\n\n```\n[^a]: x[^b]\n```\n"
    assert footnotes.flattened(body).text == body


def test_a_heading_after_a_definition_is_not_part_of_it() -> None:
    body = "A[^a].\n\n[^a]: One.\n# Heading[^b]\n\n[^b]: B.\n"
    assert footnotes.flattened(body).text == body


def test_fan_out_is_bounded_in_size_and_time() -> None:
    """A footnote naming a long one thousands of times, each naming another as often: the
    inner text read is bounded (the note's length plus GROWTH), and each drop is named."""
    long = "word " * 2_000
    body = ("A[^a].\n\n[^a]: " + "[^b]" * 5_000 + "\n[^b]: " + long + "[^c]" * 5_000 + "\n[^c]: " + long + "\n")
    start = time.perf_counter()
    got = footnotes.flattened(body)
    assert time.perf_counter() - start < 5  # bounded work, not a benchmark
    assert len(got.text) <= 2 * len(body) + footnotes.GROWTH + 2 * len(long)
    assert any("would make the note" in why for _, why in got.nested)
    assert len(got.nested) <= body.count("\n")  # one line of warning per line, however many references


labels = st.sampled_from(["a", "b", "c", "d"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(labels, st.lists(st.one_of(labels, st.sampled_from(["x", "y z"])), max_size=6)),
                min_size=1, max_size=6))
def test_flattening_keeps_lines_and_leaves_no_reference_inside_a_footnote(defs: list[tuple[str, list[str]]]) -> None:
    def text(parts: list[str]) -> str:
        return " ".join(f"[^{p}]" if len(p) == 1 and p in "abcd" else p for p in parts)

    body = "Call[^a][^b].\n\n" + "".join(f"[^{label}]: {text(parts)}\n" for label, parts in defs)
    defined = {label for label, _ in defs}
    got = footnotes.flattened(body)
    lines = got.text.split("\n")
    assert len(lines) == len(body.split("\n"))
    first = {}
    for k, (label, _) in enumerate(defs, start=2):
        first.setdefault(label, k)
    for k in first.values():  # the definitions pandoc reads hold no reference to another
        own = lines[k].split(":", 1)[1]
        assert not any(f"[^{d}]" in own for d in defined), lines[k]


def test_the_inner_note_reaches_every_product_and_a_cycle_no_longer_loses_the_note(tmp_path: Path) -> None:
    vault = write_vault(tmp_path / "v", {"fn.md": "---\ntitle: Nested\n---\n\n" + NESTED,
                                         "self.md": "---\ntitle: Self\n---\n\nSelf[^a].\n\n[^a]: Outer[^a] words.\n"})
    runner = CliRunner()
    for argv in (["bundle", str(vault), "-o", str(tmp_path / "b")], ["epub", str(vault), "-o", str(tmp_path / "b.epub")],
                 ["pdf", str(vault), "-o", str(tmp_path / "b.pdf")]):
        r = runner.invoke(main, [*argv, "--no-cache"])
        assert r.exit_code == 0, r.output
        assert "fn.md:7: warning: footnote [^b] inside footnote [^a]" in r.output and "over-budget" not in r.output
    assert "[^1]: Outer note (Inner note.)." in (tmp_path / "b" / "fn.md").read_text("utf-8")
    assert "Outer words." in (tmp_path / "b" / "self.md").read_text("utf-8")
    with zipfile.ZipFile(tmp_path / "b.epub") as z:
        chapters = " ".join(z.read(n).decode() for n in z.namelist() if n.endswith(".xhtml"))
    assert "Outer note (Inner note.)" in chapters and "Outer words." in chapters
    text = " ".join(p.extract_text() for p in PdfReader(tmp_path / "b.pdf").pages)
    assert re.search(r"Outer note \(Inner note\.\)", text) and "Outer words." in text
