"""A note on its own; here, one that pandoc cannot parse within its budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from exporter.cli import main
from exporter.transforms import local
from exporter.writers import pandoc
from tests.conftest import write_vault


def test_as_text_keeps_every_word_and_each_paragraph() -> None:
    blocks = local.as_text("[a](/u) [[b\nnext line\n\n\nsecond *para*\n")
    assert [b["t"] for b in blocks] == ["Para", "Para"]
    words = [x["c"] for b in blocks for x in b["c"] if x["t"] == "Str"]
    assert words == ["[a](/u)", "[[b", "next", "line", "second", "*para*"]


def test_a_note_pandoc_cannot_parse_in_time_keeps_its_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pandoc's reader is quadratic on thousands of unclosed brackets (or of links in one
    paragraph): such a note was left out whole. Its text is kept now, named, and the run exits 1."""
    monkeypatch.setattr(pandoc, "SECONDS", 1.5)  # "[[ " x 10,000 takes pandoc over 20 s
    monkeypatch.setattr(pandoc, "SECONDS_PER_MB", 0.0)
    vault = write_vault(tmp_path / "v", {"open.md": "---\ntitle: Open\n---\n\nFirst words. " + "[[ " * 10_000 + "last words.\n",
                                         "ok.md": "---\ntitle: Fine\n---\n\nA plain note.\n"})
    r = CliRunner().invoke(main, ["bundle", str(vault), "-o", str(tmp_path / "b"), "--no-cache"])
    assert r.exit_code == 1, r.output
    assert "open.md: error: pandoc took over" in r.output and "its text is kept, without its markup" in r.output
    kept = (tmp_path / "b" / "open.md").read_text("utf-8")
    assert "First words." in kept and "last words." in kept and kept.count("\\[\\[") == 10_000  # as text, escaped
    assert "A plain note." in (tmp_path / "b" / "ok.md").read_text("utf-8")
