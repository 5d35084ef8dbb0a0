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


def _note_of(vault: Vault, body: str) -> Note:
    collection, _ = vault({"n.md": f"---\ntitle: N\n---\n{body}"})
    return collection.notes[0]


def test_a_footnote_too_long_for_the_page_foot_becomes_an_endnote_kept_whole(vault: Vault) -> None:
    """Print footnotes under the threshold stay at the page's foot; one past it (alone, or with
    those before it in its paragraph) is called where it was and set whole at the note's end."""
    long = " ".join(f"w{k}" for k in range(60))  # 60 words, ~240 characters
    body = ("Short[^a] and long[^b].\n\nTwo halves[^c] in one[^d].\n\nAlone[^e].\n\n"
            f"[^a]: A short note.\n[^b]: {long}\n\n    - item one\n    - item two\n"
            f"[^c]: {long[:120]}\n[^d]: {long[:120]}\n[^e]: {long[:120]}\n")
    (frag,) = html.render([_note_of(vault, body)], "pdf", _href({"n-n"}), _asset, endnotes=200)
    out = frag.html
    assert out.count('class="footnote"') == 3  # a, c, e: e is alone in its paragraph
    calls = [m for m in ("n-n--enref1", "n-n--enref2") if f'id="{m}"' in out]
    assert calls == ["n-n--enref1", "n-n--enref2"]  # b, and d (c and d together pass 200)
    end = out[out.index('class="endnotes"'):]
    assert 'id="n-n--en1"' in end and 'href="#n-n--enref1"' in end and "<li>" in end  # b's list kept
    assert all(f"w{k}" in end for k in range(60))
    assert out.index("Two halves") < out.index('href="#n-n--en2"') < out.index("Alone")
    (plain,) = html.render([_note_of(vault, body)], "pdf", _href({"n-n"}), _asset)
    assert "endnote" not in plain.html and plain.html.count('class="footnote"') == 5  # no threshold
    (epub,) = html.render([_note_of(vault, body)], "epub", _href({"n-n"}), _asset, endnotes=200)
    assert "endnote" not in epub.html  # an EPUB's notes are pop-ups already


def test_footnote_size_counts_wide_characters_twice() -> None:
    assert html.footnote_size([{"t": "Para", "c": [{"t": "Str", "c": "ab"}]}]) == 2
    assert html.footnote_size([{"t": "Para", "c": [{"t": "Str", "c": "灯台"}]}]) == 4
