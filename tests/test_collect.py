"""The front half: a note pandoc cannot parse is reported, and so is every note linking to it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from exporter.writers import markdown, pandoc


def test_links_to_a_note_pandoc_could_not_parse_are_reported(vault, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    real = pandoc.parse

    def failing(texts: Sequence[str], each: Callable[[int, pandoc.Parsed], None] | None = None) -> list[pandoc.Parsed]:
        def wrapped(i: int, got: pandoc.Parsed) -> None:
            assert each is not None
            each(i, "simulated failure" if "BROKEN" in texts[i] else got)

        return real(texts, wrapped)

    monkeypatch.setattr(pandoc, "parse", failing)
    coll, report = vault({"a.md": "see [[b]] and [[c]]\n", "b.md": "BROKEN\n", "c.md": "fine\n"})
    assert sorted(n.path for n in coll.notes) == ["a.md", "c.md"]
    found = sorted((d.code, d.path) for d in report.items if d.code in ("unreadable", "unresolved-link"))
    assert found == [("unreadable", "b.md"), ("unresolved-link", "a.md")]
    texts = markdown.write_notes(coll.notes, markdown.bundle_paths(coll.notes))
    assert texts["a.md"].strip().endswith("see b and [c](c.md)")
