"""The front half: a note pandoc cannot parse is reported, and so is every note linking to it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from exporter import collect as collect_module
from exporter.cli import main
from exporter.collect import MAX_DEPTH, MAX_EXPANDED, collect
from exporter.model import ast
from exporter.writers import markdown, pandoc
from tests.conftest import write_vault


def test_links_to_a_note_pandoc_could_not_parse_are_reported(vault, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    real = pandoc.parse

    def failing(
        texts: Sequence[str], each: Callable[[int, pandoc.Parsed], None] | None = None, *args: int
    ) -> list[pandoc.Parsed]:
        def wrapped(i: int, got: pandoc.Parsed) -> None:
            assert each is not None
            each(i, "simulated failure" if "BROKEN" in texts[i] else got)

        return real(texts, wrapped, *args)

    monkeypatch.setattr(pandoc, "parse", failing)
    coll, report = vault({"a.md": "see [[b]] and [[c]]\n", "b.md": "BROKEN\n", "c.md": "fine\n"})
    assert sorted(n.path for n in coll.notes) == ["a.md", "c.md"]
    found = sorted((d.code, d.path) for d in report.items if d.code in ("unreadable", "unresolved-link"))
    assert found == [("unreadable", "b.md"), ("unresolved-link", "a.md")]
    texts = markdown.write_notes(coll.notes, markdown.bundle_paths(coll.notes))
    assert texts["a.md"].strip().endswith("see b and [c](c.md)")


DEEP = {  # each once crashed the whole run (orjson's depth limits, or Python's recursion limit)
    "lists.md": "".join("  " * i + f"- i{i}\n" for i in range(100)),
    "quotes.md": ">" * 200 + " deep\n",
    "emph300.md": "*" * 300 + "x" + "*" * 300 + "\n",
    "emph600.md": "*" * 600 + "x" + "*" * 600 + "\n",
    "quotes600.md": ">" * 600 + " deeper than orjson decodes\n",
}
FINE = {
    "a.md": "---\ntitle: A\nvideoId: dQw4w9WgXcQ\n---\nSee [[lists]] and [[b]] <a class=\"yt-timestamp\" "
    'data-t="00:01:00">[00:01:00]</a>.\n',
    "b.md": "# B\n\n- one\n  - two\n    > three *four*\n",
}


def _deep_vault(tmp_path: Path) -> Path:
    root = tmp_path / "vault"
    for rel, text in {**DEEP, **FINE}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def test_notes_nested_too_deeply_are_left_out_alone(tmp_path: Path) -> None:
    coll, report = collect(_deep_vault(tmp_path))
    assert sorted(n.path for n in coll.notes) == ["a.md", "b.md"]
    errors = {d.path: d.message for d in report.errors}
    assert sorted(errors) == sorted(DEEP)
    assert all(m == f"{pandoc.TOO_DEEP} (over {MAX_DEPTH} levels)" for m in errors.values()), errors
    assert {d.code for d in report.errors} == {"unreadable"}
    assert [d.path for d in report.items if d.code == "unresolved-link"] == ["a.md"]


@pytest.mark.parametrize("command", ["bundle", "epub", "pdf"])
def test_products_leave_out_deep_notes_and_exit_1_without_traceback(tmp_path: Path, command: str) -> None:
    out = tmp_path / ("out" if command == "bundle" else f"out.{command}")
    r = CliRunner().invoke(main, [command, str(_deep_vault(tmp_path)), "-o", str(out), "-q"])
    assert r.exit_code == 1, r.output + repr(r.exception)
    assert "Traceback" not in r.stderr and isinstance(r.exception, SystemExit)  # sys.exit(1), no crash
    for rel in DEEP:
        assert f"{rel}: error: {pandoc.TOO_DEEP}" in r.stderr.replace("\n", " ")
    assert out.exists()


def _quotes(depth: int) -> str:
    """A note of quotes in quotes, as deep as asked: two levels of JSON a quote, six more inside."""
    stamp = '<a class="yt-timestamp" data-t="00:00:10">[00:00:10]</a>'
    return ">" * ((depth - 6) // 2) + f" deep *words* {stamp}\n"


@pytest.mark.parametrize("command", ["bundle", "epub", "pdf"])
def test_notes_at_the_limits_export_everywhere(tmp_path: Path, command: str) -> None:
    """The evidence for the limits: a note as deep as MAX_DEPTH allows, and notes embedding
    it, every product exports (each fails past 253 levels, see collect.MAX_DEPTH)."""
    deep = _quotes(MAX_DEPTH)
    (parsed,) = pandoc.parse([deep])
    assert not isinstance(parsed, str) and ast.depth(parsed) == MAX_DEPTH
    root = write_vault(tmp_path / "vault", {
        "deep.md": "---\ntitle: Deep\nvideoId: dQw4w9WgXcQ\n---\n" + deep,
        "host.md": "---\ntitle: Host\nvideoId: dQw4w9WgXcQ\n---\n# Host\n\n"
        "> [!note] Q\n> - item\n>   ![[deep]]\n",
        "top.md": "# Top\n\n- [[host]]\n  - ![[host]]\n",
    })
    coll, report = collect(root)
    depths = {n.path: ast.depth(n.blocks) for n in coll.notes}
    assert sorted(depths) == ["deep.md", "host.md", "top.md"] and not report.errors, report.errors
    assert MAX_DEPTH <= depths["deep.md"] < depths["host.md"] < depths["top.md"] <= MAX_EXPANDED, depths
    out = tmp_path / ("out" if command == "bundle" else f"out.{command}")
    r = CliRunner().invoke(main, [command, str(root), "-o", str(out), "-q"])
    assert r.exit_code == 0 and not r.stderr, r.stderr + repr(r.exception)
    assert out.exists()


def test_a_note_too_deep_once_its_embeds_are_expanded_is_left_out(tmp_path: Path) -> None:
    root = write_vault(tmp_path / "vault", {  # each note fits alone; nested in each other they do not
        "inner.md": _quotes(MAX_DEPTH),
        "outer.md": ">" * 60 + " ![[inner]]\n",
        "top.md": "see [[outer]] and [[inner]]\n\n![[outer]]\n",
        "other.md": "links [[outer]]\n",
    })
    coll, report = collect(root)
    assert sorted(n.path for n in coll.notes) == ["inner.md", "other.md"]
    errors = {d.path: d.message for d in report.errors}
    assert sorted(errors) == ["outer.md", "top.md"]
    assert all(m.startswith(f"{pandoc.TOO_DEEP} once its embeds are expanded (") for m in errors.values())
    assert all(m.endswith(f" levels, over {MAX_EXPANDED})") for m in errors.values())
    unresolved = [(d.path, d.message) for d in report.items if d.code == "unresolved-link"]
    assert unresolved == [("other.md", "links to outer.md, which nests too deeply, stay text")]


def test_the_depth_check_is_exact_at_the_limit() -> None:
    """orjson refuses 255 levels: the fast check relies on it, and agrees with ast.depth."""
    with pytest.raises(TypeError):
        orjson.dumps(functools.reduce(lambda x, _: [x], range(254), []))
    blocks = [{"t": "BlockQuote", "c": [{"t": "Para", "c": [{"t": "Str", "c": "x"}]}]}]
    for _ in range(40):
        blocks = [{"t": "BlockQuote", "c": blocks}]
    d = ast.depth(blocks)
    assert d == 2 * 41 + 4
    assert collect_module._too_deep(blocks, d) is None
    assert collect_module._too_deep(blocks, d - 1) == f"{pandoc.TOO_DEEP} ({d} levels, over {d - 1})"


def test_a_language_guessed_before_for_the_same_prose_is_not_guessed_again(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The guess reads a note's first MAX_CHARS characters of prose: an edit after them keeps the
    answer, from the cache; an edit in them asks lingua again; a damaged answer is asked again."""
    import sqlite3

    from exporter.cache import Cache
    from exporter.transforms import language

    asked: list[str] = []
    real = language.detect
    monkeypatch.setattr(language, "detect", lambda text: asked.append(text) or real(text))
    words = "The keeper climbs the tower every evening to light the lamp and wind the clockwork. "
    vault = write_vault(tmp_path / "v", {"long.md": "---\ntitle: Long\n---\n" + words * 80})

    def build() -> str | None:
        store = Cache(tmp_path / "cache")
        coll, _ = collect(vault, cache=store)
        store.close()
        return coll.notes[0].lang

    assert build() == "en" and len(asked) == 1
    (vault / "long.md").write_text((vault / "long.md").read_text() + "One more line at the end.\n")
    assert build() == "en" and len(asked) == 1  # the same first 4,000 characters: remembered
    (vault / "long.md").write_text("---\ntitle: Long\n---\nLe gardien monte. " + words * 80)
    assert build() == "en" and len(asked) == 2  # changed at the start: asked again
    with sqlite3.connect(tmp_path / "cache" / "cache.sqlite") as con:
        con.execute("UPDATE entries SET value = CAST('garbage' AS BLOB)")
    (vault / "long.md").write_text((vault / "long.md").read_text() + "Again.\n")
    assert build() == "en" and len(asked) == 3  # nothing usable left: asked again



def test_blocks_whose_entry_has_gone_are_parsed_again_without_a_language_guess(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A note's face comes from the cache and its blocks later; should the blocks' entry have
    gone, the note is parsed again, giving the same blocks, and lingua is not asked: the
    language came with the face."""
    from exporter.cache import Cache
    from exporter.transforms import language

    words = "The keeper climbs the tower every evening to light the lamp and wind the clockwork. "
    vault = write_vault(tmp_path / "v", {"long.md": "---\ntitle: Long\n---\n## Evening\n\n" + words * 20})
    plain, _ = collect(vault)
    store = Cache(tmp_path / "cache")
    collect(vault, cache=store)
    store.close()
    asked: list[str] = []
    monkeypatch.setattr(language, "detect", lambda text: asked.append(text) or "fr")
    monkeypatch.setattr(Cache, "get", lambda self, key: None)  # entries read one at a time have gone (faces come in bulk)
    store = Cache(tmp_path / "cache")
    again, _ = collect(vault, cache=store)
    note = again.notes[0]
    assert note.lang == "en" and note.blocks == plain.notes[0].blocks
    store.close()
    assert asked == []


def test_whether_a_note_opens_with_its_title_is_known_without_loading_it_from_the_cache(tmp_path: Path) -> None:
    """Every product asks each note whether its body opens with an H1 repeating its title; from
    the cache that is answered by what collecting recorded, the body left unloaded, and the
    answer is the one the loaded body gives."""
    from exporter.cache import Cache

    vault = write_vault(tmp_path / "v", {
        "same.md": "---\ntitle: Lamp Room\n---\n\n# Lamp room\n\nText.\n",
        "other.md": "---\ntitle: Lamp Room Two\n---\n\n# Something else\n\nText.\n",
        "second.md": "---\ntitle: Fog\n---\n\n## Fog\n\nText.\n",
        "prose.md": "---\ntitle: Prose\n---\n\nText first.\n\n# Prose\n",
        "empty.md": "---\ntitle: Empty\n---\n",
        "embeds.md": "---\ntitle: Lamp Room\n---\n\n![[same]]\n\nAfter.\n",
    })
    expected = {"same": True, "other": False, "second": False, "prose": False, "empty": False, "embeds": False}
    for run in range(3):  # without the cache, filling it, from it
        store = Cache(tmp_path / "cache") if run else None
        coll, _ = collect(vault, cache=store)
        notes = {n.path.removesuffix(".md"): n for n in coll.notes}
        told = {k: n.opens_with_title for k, n in notes.items()}
        unloaded = {k for k, n in notes.items() if n._packed is None and n._deep is None}
        assert told == expected
        if run == 2:
            assert unloaded == set(expected)
        assert {k: n.opens_with_title for k, n in notes.items() if n.blocks is not None} == expected
        if store:
            store.close()
