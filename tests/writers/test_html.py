"""The HTML writer's fragments, and the cache that keeps them between builds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from exporter.cache import Cache
from exporter.diagnostics import Report
from exporter.model.document import Block, Collection, Note
from exporter.writers import html, pandoc

Vault = Callable[..., tuple[Collection, Report]]
BOTH = {"n-keeper", "n-lamp"}
FILES = {
    "keeper.md": "---\ntitle: The keeper\n---\nShe trims the [[lamp]] and logs the weather.\n\n![[tower.png]]\n",
    "lamp.md": "---\ntitle: The lamp\n---\nA wick under a glass chimney.\n",
    "tower.png": bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                               "1f15c4890000000d49444154789c6360f8cfc0000003010100c9fe92ef0000000049454e44ae426082"),
}


def _href(ids: set[str]) -> Callable[[str, str], str | None]:
    return lambda nid, anchor: "#" + html.anchor_id(nid, anchor) if nid in ids else None


def _asset(path: str) -> str | None:
    return "img/" + path


def _render(notes: list[Note], cache: Cache, ids: set[str], shaped: str | None = "plain",
            transform: Callable[[Note, list[Block]], list[Block]] | None = None) -> list[html.Fragment]:
    return html.render(notes, "pdf", _href(ids), _asset, transform, cache=cache, shaped=shaped)


@pytest.fixture
def kept(vault: Vault, tmp_path: Path) -> tuple[list[Note], Cache, list[html.Fragment]]:
    """The notes, a cache, and their fragments written into it once (both notes in the product)."""
    collection, _ = vault(FILES)
    cache = Cache(tmp_path / "cache")
    return collection.notes, cache, _render(collection.notes, cache, BOTH)


def _written_again(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many notes go to pandoc from here on, counted."""
    counted: list[int] = []
    real = pandoc.write

    def counting(docs, *args, **kwargs):  # type: ignore[no-untyped-def]
        docs = list(docs)
        counted.append(len(docs))
        return real(docs, *args, **kwargs)

    monkeypatch.setattr(pandoc, "write", counting)
    return counted


def test_a_kept_fragment_is_the_fragment_written_and_its_note_is_not_written_again(
        kept: tuple[list[Note], Cache, list[html.Fragment]], monkeypatch: pytest.MonkeyPatch) -> None:
    notes, cache, first = kept
    assert all(n.ident for n in notes) and {n.id for n in notes} == BOTH
    counted = _written_again(monkeypatch)
    again = _render(notes, cache, BOTH, transform=lambda n, b: pytest.fail("a kept note was shaped again"))
    assert counted == []
    assert [(f.note.id, f.html, f.links, f.images) for f in again] == [(f.note.id, f.html, f.links, f.images)
                                                                       for f in first]
    assert "#n-lamp" in next(f.html for f in again if f.note.id == "n-keeper")
    assert cache.warnings == []


def test_a_fragment_whose_link_goes_elsewhere_now_is_written_again(
        kept: tuple[list[Note], Cache, list[html.Fragment]], monkeypatch: pytest.MonkeyPatch) -> None:
    notes, cache, _ = kept
    counted = _written_again(monkeypatch)
    alone = _render(notes, cache, {"n-keeper"})  # the lamp is not in this product: its link is text
    assert counted == [1]  # the keeper, whose link was settled to the lamp's page
    keeper = next(f for f in alone if f.note.id == "n-keeper")
    assert "#n-lamp" not in keeper.html and "lamp" in keeper.html.lower()


def test_the_shape_and_a_damaged_entry_are_never_taken_for_a_kept_fragment(
        kept: tuple[list[Note], Cache, list[html.Fragment]], monkeypatch: pytest.MonkeyPatch) -> None:
    notes, cache, _ = kept  # kept with shaped="plain"
    counted = _written_again(monkeypatch)
    _render(notes, cache, BOTH, shaped="upper")  # another transform: nothing is kept for it
    _render(notes, cache, BOTH, shaped=None)  # a transform that cannot say what it depends on
    assert counted == [2, 2]
    key = html._fragment_key(notes[0], "pdf", "text", "Back to the text", "plain")
    cache.put_many({key: b"{not json"})
    counted.clear()
    fragments = _render(notes, cache, BOTH, shaped="plain")
    assert counted == [1] and len(fragments) == 2 and all(f.html for f in fragments)
    assert cache.warnings == ["a cache entry that did not decode was computed again"]
