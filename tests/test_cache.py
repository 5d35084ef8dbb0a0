"""The cache: a cached build of any vault is the same bytes as a --no-cache one, after any
sequence of edits; damaged, truncated or foreign entries are noticed and computed again; builds
at once share one cache; `exporter cache info` and `clear`."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exporter.cache import Cache
from exporter.cli import main
from exporter.packagers import dossier
from tests.conftest import write_vault

STAMP = '<a class="yt-timestamp" data-t="00:01:{s:02d}">[00:01:{s:02d}]</a>'
BASE: dict[str, str | bytes] = {
    "alpha.md": "---\ntitle: Alpha\nvideoId: AlphaVideo1\n---\n\nFrom: [[chan]]\n\n# Alpha\n\n"
                "Alpha opens " + STAMP.format(s=1) + ".\n\n## Lamps\n\nSee [[beta]] and [[gamma#Towers]].\n",
    "beta.md": "---\ntitle: Beta\n---\n\nBeta links back to [[alpha|the first]] and to [[alpha#Lamps]].\n\n"
               "![[gamma#Towers]]\n",
    "gamma.md": "---\ntitle: Gamma\nvideoId: GammaVideo1\n---\n\n## Towers\n\nTowers " + STAMP.format(s=3) +
                ".\n\n## Fog\n\nFog horns and [[delta]].\n",
    "sub/delta.md": "---\ntitle: Delta\naliases: [D]\n---\n\nDelta is short. [[missing note]]\n",
}


def _build(args: list[str], out: Path, cache: Path | None) -> tuple[int, str]:
    env = {"SOURCE_DATE_EPOCH": "1700000000", "EXPORTER_CACHE_DIR": str(cache or out / "unused")}
    extra = [] if cache else ["--no-cache"]
    r = CliRunner(env=env).invoke(main, [*args, *extra])
    return r.exit_code, r.output


def _products(vault: Path, out: Path, cache: Path | None, theme: str, pdf: bool = False) -> dict[str, bytes]:
    """Every product of the vault, as bytes by name (and what check printed)."""
    runs = {"bundle": ["bundle", str(vault), "-o", str(out / "bundle"), "--theme", theme, "-q"],
            "epub": ["epub", str(vault), "-o", str(out / "book.epub"), "--theme", theme, "-q"],
            "check": ["check", str(vault)]}
    if pdf:
        runs["pdf"] = ["pdf", str(vault), "-o", str(out / "d.pdf"), "--theme", theme, "-q", "-j", "2"]
        runs["briefs"] = ["pdf", str(vault), "--briefs", "-o", str(out / "briefs"), "--theme", theme, "-q", "-j", "2"]
    found: dict[str, bytes] = {}
    for name, args in runs.items():
        code, output = _build(args, out, cache)
        assert "Traceback" not in output, output
        found[f"{name}:exit"] = str(code).encode()
        if name == "check":
            found["check"] = output.encode()
    for path in sorted(out.rglob("*")):
        if path.is_file() and "cache" not in path.parts and "unused" not in path.parts:
            found[path.relative_to(out).as_posix()] = path.read_bytes()
    return found


def _edit(vault: Path, kind: str, k: int) -> None:
    """One edit of the kinds a vault sees; k varies the text."""
    notes = sorted(p for p in vault.rglob("*.md"))
    if not notes and kind not in ("new",):
        kind = "new"
    pick = notes[k % len(notes)] if notes else None
    if kind == "body" and pick:
        pick.write_text(pick.read_text("utf-8") + f"\nMore text {k}, with " + STAMP.format(s=k % 60) + ".\n", "utf-8")
    elif kind == "title" and pick:
        text = pick.read_text("utf-8")
        if text.startswith("---\n") and "\ntitle:" in text:
            head, _, rest = text.partition("\ntitle:")
            text = head + f"\ntitle: Retitled {k}" + rest[rest.index("\n"):]
        else:
            text = f"---\ntitle: Retitled {k}\n---\n\n" + text
        pick.write_text(text, "utf-8")
    elif kind == "heading" and pick:
        pick.write_text(pick.read_text("utf-8").replace("## Towers", f"## Towers {k}").replace(
            "## Lamps", f"## Lamplight {k}"), "utf-8")
    elif kind == "rename" and pick:
        pick.rename(pick.with_name(f"renamed_{k}.md"))
    elif kind == "delete" and pick:
        pick.unlink()
    elif kind == "embed" and pick:
        others = [p.stem for p in notes if p != pick]
        text = pick.read_text("utf-8")
        text = text.replace("![[", "[[") if "![[" in text else text + f"\n![[{others[k % len(others)] if others else 'x'}]]\n"
        pick.write_text(text, "utf-8")
    else:
        (vault / f"new_{k}.md").write_text(f"---\ntitle: New {k}\n---\n\nNew note pointing at [[alpha]] and "
                                           f"[[Retitled {k - 1}]].\n", "utf-8")


def _own_theme(folder: Path, k: int) -> str:
    """A theme folder of one's own whose chapter template and colours say k: a page or cover
    made from the template or stylesheet before must not come back from the cache."""
    from exporter.theme import COMMON, STYLES

    (folder / "templates").mkdir(parents=True, exist_ok=True)
    tokens = (STYLES / "serif" / "theme.toml").read_text("utf-8")
    (folder / "theme.toml").write_text(re.sub(r'"#[0-9a-fA-F]{6}"', f'"#{k % 256:02x}3344"', tokens), "utf-8")
    chapter = (COMMON / "templates" / "epub-chapter.xhtml.j2").read_text("utf-8")
    (folder / "templates" / "epub-chapter.xhtml.j2").write_text(
        chapter.replace('class="note"', f'class="note v{k}"'), "utf-8")
    return str(folder)


EDITS = st.lists(st.tuples(st.sampled_from(["body", "title", "heading", "rename", "delete", "embed", "new",
                                            "theme", "template"]), st.integers(0, 50)), min_size=1, max_size=3)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EDITS)
@example([("body", 1), ("title", 2), ("template", 3)])  # the edits of bench/incremental.py, then a theme's own
def test_cached_builds_equal_clean_builds_after_any_edits(edits: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        vault = write_vault(root / "vault", BASE)
        cache = root / "cache"
        theme = "serif"
        _products(vault, root / "warm0", cache, theme)  # fills the cache
        for step, (kind, k) in enumerate(edits, 1):
            if kind == "theme":
                theme = "sans" if theme == "serif" else "serif"
            elif kind == "template":
                theme = _own_theme(root / "own-theme", k)
            else:
                _edit(vault, kind, k)
            cached = _products(vault, root / f"cached{step}", cache, theme)
            clean = _products(vault, root / f"clean{step}", None, theme)
            assert cached.keys() == clean.keys()
            for name in clean:
                assert cached[name] == clean[name], f"{name} differs after {edits[:step]}"


def test_cached_dossiers_equal_clean_dossiers_after_edits(tmp_path: Path) -> None:
    vault = write_vault(tmp_path / "vault", BASE)
    cache = tmp_path / "cache"
    _products(vault, tmp_path / "warm", cache, "serif", pdf=True)
    for step, (kind, k) in enumerate([("body", 1), ("title", 2), ("embed", 1), ("heading", 3)], 1):
        _edit(vault, kind, k)
        cached = _products(vault, tmp_path / f"cached{step}", cache, "serif", pdf=True)
        clean = _products(vault, tmp_path / f"clean{step}", None, "serif", pdf=True)
        assert cached["d.pdf"] == clean["d.pdf"], f"dossier differs after {kind}"
        assert any(name.startswith("briefs/") for name in cached)
        assert cached == clean


@pytest.mark.parametrize("k", [2, 1])  # Gamma's new title keeps its place; Beta's moves it after Gamma
def test_a_title_change_that_moves_no_page_renders_the_contents_once(tmp_path: Path, k: int,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The first contents are rendered with the page numbers of the last build: when those still
    hold, they are the contents, and no second contents is rendered. A new title may move its
    note in the contents, and the notes between its places by its pages: the last numbers move
    the same way (before, the guess was lost with the order, and the contents rendered twice)."""
    vault = write_vault(tmp_path / "vault", BASE)
    cache = tmp_path / "cache"
    asked: list[str] = []
    real = dossier.rendering
    monkeypatch.setattr(dossier, "rendering", lambda workers, docs, *a, **k: (
        asked.extend(d.html for d in docs), real(workers, docs, *a, **k))[1])

    def contents() -> list[str]:
        return [html for html in asked if '<nav class="toc">' in html]

    _products(vault, tmp_path / "first", cache, "serif", pdf=True)
    assert len(contents()) == 2  # at first no page number is known
    asked.clear()
    _edit(vault, "title", k)
    cached = _products(vault, tmp_path / "cached", cache, "serif", pdf=True)
    (toc,) = contents()
    assert f"Retitled {k}" in toc
    assert k != 1 or toc.index("Delta") < toc.index("Gamma") < toc.index("Retitled 1")
    clean = _products(vault, tmp_path / "clean", None, "serif", pdf=True)
    assert cached["d.pdf"] == clean["d.pdf"]


def test_page_numbers_follow_their_notes_to_their_new_places() -> None:
    numbers = {"n-a": 3, "n-a--h": 4, "n-b": 5, "n-c": 8, "n-c--x": 9, "sources": 10, "sources--v": 11}
    moved = dossier._reordered(["n-a", "n-b", "n-c"], numbers, 10, ["n-c", "n-a", "n-b"])
    assert moved == {"n-c": 3, "n-c--x": 4, "n-a": 5, "n-a--h": 6, "n-b": 7, "sources": 10, "sources--v": 11}
    assert dossier._reordered(["n-a", "n-b", "n-c"], numbers, 10, ["n-a", "n-b", "n-c"]) == numbers
    assert dossier._reordered(["n-a", "n-b", "n-c"], numbers, 10, ["n-a", "n-b", "n-d"]) == {}  # not the same notes


def _damage(db: Path, how: str) -> None:
    if how == "truncated":
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 3])
        for extra in ("-wal", "-shm"):
            Path(str(db) + extra).unlink(missing_ok=True)
        return
    con = sqlite3.connect(db)
    if how == "flipped":  # every value's payload changed, its seal kept
        con.execute("UPDATE entries SET value = CAST(substr(value, 1, length(value) - 3) || x'010203' AS BLOB)")
    elif how == "text":  # values that are not even bytes
        con.execute("UPDATE entries SET value = 'exporter-cache-1 but text'")
    elif how == "foreign":  # values moved under each other's keys
        rows = con.execute("SELECT key, value FROM entries ORDER BY key").fetchall()
        for (k, _), (_, v) in zip(rows, rows[1:] + rows[:1], strict=True):
            con.execute("UPDATE entries SET value = ? WHERE key = ?", (v, k))
    elif how == "garbage":
        con.execute("UPDATE entries SET value = x'00'")
    con.commit()
    con.close()


@pytest.mark.parametrize("how", ["flipped", "foreign", "garbage", "text", "truncated"])
def test_a_damaged_cache_is_noticed_and_never_used(tmp_path: Path, how: str) -> None:
    vault = write_vault(tmp_path / "vault", BASE)
    cache = tmp_path / "cache"
    _products(vault, tmp_path / "warm", cache, "serif", pdf=True)
    _damage(cache / "cache.sqlite", how)
    env = {"SOURCE_DATE_EPOCH": "1700000000", "EXPORTER_CACHE_DIR": str(cache)}
    r = CliRunner(env=env).invoke(main, ["bundle", str(vault), "-o", str(tmp_path / "again" / "b")])
    assert r.exit_code == 0 and "Traceback" not in r.output
    assert "[cache]" in r.stderr and ("computed again" in r.stderr or "starting a new one" in r.stderr)
    cached = _products(vault, tmp_path / "after", cache, "serif", pdf=True)
    clean = _products(vault, tmp_path / "clean", None, "serif", pdf=True)
    assert cached == clean


@pytest.mark.parametrize("how", ["a file", "under a file", "database a folder", "journal a folder"])
def test_a_cache_that_cannot_be_used_is_said_and_the_build_goes_on_without_it(tmp_path: Path, how: str) -> None:
    vault = write_vault(tmp_path / "vault", BASE)
    cache = tmp_path / "cache"
    if how in ("a file", "under a file"):
        cache.write_text("not a folder", encoding="utf-8")
        cache = cache / "sub" if how == "under a file" else cache
    else:
        (cache / ("cache.sqlite" if how == "database a folder" else "cache.sqlite-wal")).mkdir(parents=True)
    env = {"SOURCE_DATE_EPOCH": "1700000000", "EXPORTER_CACHE_DIR": str(cache)}
    r = CliRunner(env=env).invoke(main, ["bundle", str(vault), "-o", str(tmp_path / "out" / "b")])
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "cannot be used" in r.stderr and "building without it [cache]" in r.stderr
    clean = CliRunner(env=env).invoke(main, ["bundle", str(vault), "-o", str(tmp_path / "clean" / "b"), "--no-cache"])
    assert clean.exit_code == 0
    assert (tmp_path / "out" / "b.zip").read_bytes() == (tmp_path / "clean" / "b.zip").read_bytes()


def test_a_cache_held_by_another_build_too_long_is_left_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache busy past the wait was taken for a damaged one and deleted under the build that
    held it: now it is said to be unusable, left in place, and the build goes on without it."""
    from exporter import cache as store

    vault = write_vault(tmp_path / "vault", BASE)
    cache = tmp_path / "cache"
    env = {"SOURCE_DATE_EPOCH": "1700000000", "EXPORTER_CACHE_DIR": str(cache)}
    assert CliRunner(env=env).invoke(main, ["bundle", str(vault), "-o", str(tmp_path / "warm" / "b")]).exit_code == 0
    before = (cache / "cache.sqlite").stat().st_ino
    holder = sqlite3.connect(cache / "cache.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(store, "BUSY_SECONDS", 0.2)
    try:
        r = CliRunner(env=env).invoke(main, ["bundle", str(vault), "-o", str(tmp_path / "out" / "b")])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.exit_code == 0 and "cannot be used (database is locked)" in r.stderr, r.output
    assert "damaged" not in r.stderr and (cache / "cache.sqlite").stat().st_ino == before
    clean = CliRunner(env=env).invoke(main, ["bundle", str(vault), "-o", str(tmp_path / "clean" / "b"), "--no-cache"])
    assert clean.exit_code == 0
    assert (tmp_path / "out" / "b.zip").read_bytes() == (tmp_path / "clean" / "b.zip").read_bytes()


def test_two_builds_at_once_share_one_cache(tmp_path: Path) -> None:
    vault = write_vault(tmp_path / "vault", BASE)
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", "EXPORTER_CACHE_DIR": str(tmp_path / "cache")}
    jobs = [[sys.executable, "-m", "exporter", "bundle", str(vault), "-o", str(tmp_path / f"b{i}"), "-q"]
            for i in range(2)]
    jobs += [[sys.executable, "-m", "exporter", "epub", str(vault), "-o", str(tmp_path / f"e{i}.epub"), "-q"]
             for i in range(2)]
    procs = [subprocess.Popen(j, env=env, stderr=subprocess.PIPE) for j in jobs]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert (tmp_path / "e0.epub").read_bytes() == (tmp_path / "e1.epub").read_bytes()
    clean = _products(vault, tmp_path / "clean", None, "serif")
    assert (tmp_path / "e0.epub").read_bytes() == clean["book.epub"]
    for name in ("index.md", "alpha.md", "manifest.json"):
        assert (tmp_path / "b0" / name).read_bytes() == clean[f"bundle/{name}"]


def test_cache_info_and_clear(tmp_path: Path) -> None:
    vault = write_vault(tmp_path / "vault", BASE)
    env = {"EXPORTER_CACHE_DIR": str(tmp_path / "cache")}
    runner = CliRunner(env=env)
    assert runner.invoke(main, ["bundle", str(vault), "-o", str(tmp_path / "b"), "-q"]).exit_code == 0
    info = runner.invoke(main, ["cache", "info"])
    assert info.exit_code == 0 and str(tmp_path / "cache") in info.output
    entries = int(info.output.split(": ", 1)[1].split(" entries")[0])
    assert entries > 0
    cleared = runner.invoke(main, ["cache", "clear"])
    assert cleared.exit_code == 0 and f"removed {entries} entries" in cleared.stderr
    assert ": 0 entries" in runner.invoke(main, ["cache", "info"]).output


def test_the_cache_stays_under_its_cap_dropping_what_was_used_least_recently(tmp_path: Path) -> None:
    from exporter.cache import Cache

    store = Cache(tmp_path / "c", cap=10_000)
    store.put_many({f"k{i}": bytes(1000) for i in range(8)})
    store.close()
    store = Cache(tmp_path / "c", cap=10_000)
    assert len(store.get_many(["k0", "k1"])) == 2  # used now: the newest
    store.close()
    store = Cache(tmp_path / "c", cap=10_000)
    store.put_many({f"n{i}": bytes(1000) for i in range(6)})
    store.close()
    store = Cache(tmp_path / "c", cap=10_000)
    entries, size = store.info()
    assert size <= 10_000
    kept = store.get_many(["k0", "k1", *[f"k{i}" for i in range(2, 8)]])
    assert {"k0", "k1"} <= set(kept) and len(kept) < 8
    store.close()


def test_uses_are_logged_a_build_a_row_and_folded_into_last_uses_when_the_log_is_long(tmp_path: Path) -> None:
    from exporter import cache

    store = cache.Cache(tmp_path / "c")
    store.put_many({"a": b"1", "b": b"2"})
    store.close()
    con = sqlite3.connect(tmp_path / "c" / "cache.sqlite")
    put = dict(con.execute("SELECT key, used FROM uses"))
    for _ in range(cache.LOG):
        store = cache.Cache(tmp_path / "c")
        assert store.get_many(["a"]) == {"a": b"1"}
        store.close()
    assert con.execute("SELECT count(*) FROM log").fetchone()[0] == cache.LOG
    assert dict(con.execute("SELECT key, used FROM uses")) == put  # nothing marked one by one
    store = cache.Cache(tmp_path / "c")
    store.get_many(["a"])
    store.close()
    last = con.execute("SELECT max(used) FROM log").fetchone()[0]
    assert last is None  # folded: the log is empty again
    used = dict(con.execute("SELECT key, used FROM uses"))
    assert used["b"] == put["b"] and used["a"] > put["a"]
    con.close()


def test_an_entry_sealed_by_another_version_is_dropped_without_a_warning(tmp_path: Path) -> None:
    """Entries keyed without this code's hash (deflated streams, say) outlive an upgrade: one
    under an older seal is a miss, not damage to warn about; one under this seal that fails its
    check, or cut inside the seal, is damage."""
    from exporter import cache

    store = cache.Cache(tmp_path / "c")
    store.put_many({"old": b"x", "cut": b"y", "bad": b"z"})
    store.close()
    with sqlite3.connect(tmp_path / "c" / "cache.sqlite") as con:
        con.execute("UPDATE entries SET value = ? WHERE key = 'old'", (b"exporter-cache-1\0" + bytes(16) + b"x",))
        con.execute("UPDATE entries SET value = ? WHERE key = 'cut'", (b"exporter-cache-",))
        con.execute("UPDATE entries SET value = ? WHERE key = 'bad'", (cache.MAGIC + bytes(cache.DIGEST) + b"z",))
    store = cache.Cache(tmp_path / "c")
    assert store.get_many(["old"]) == {} and store.warnings == []
    assert store.get_many(["cut", "bad"]) == {} and store.warnings == ["2 damaged cache entries dropped and computed again"]
    assert store.info()[0] == 0  # all three dropped
    store.close()


def test_a_store_of_the_first_layout_starts_again_empty(tmp_path: Path) -> None:
    """Value, size and last use once shared a row; such a store is emptied, never misread."""
    from exporter.cache import Cache

    (tmp_path / "c").mkdir()
    with sqlite3.connect(tmp_path / "c" / "cache.sqlite") as con:
        con.execute("CREATE TABLE entries (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
                    "size INTEGER NOT NULL, used INTEGER NOT NULL)")
        con.execute("CREATE INDEX by_use ON entries (used)")
        con.execute("INSERT INTO entries VALUES ('old', x'00', 1, 1)")
    store = Cache(tmp_path / "c")
    assert store.get_many(["old"]) == {} and store.info() == (0, 0)
    store.put_many({"new": b"payload"})
    store.close()
    store = Cache(tmp_path / "c")
    assert store.get_many(["new"]) == {"new": b"payload"} and store.info() == (1, 7)
    store.close()


def test_the_code_in_every_key_covers_modules_filters_and_translations(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache filled by one copy of the code is never read by another: the modules, the Lua
    filters and the translations (the words a product prints) all change the keys."""
    from exporter import cache as store

    tree = write_vault(tmp_path / "pkg", {"cache.py": "x = 1\n", "lua/f.lua": "return {}\n",
                                           "locale/fr.po": 'msgid "Contents"\nmsgstr "Sommaire"\n'})
    monkeypatch.setattr(store, "__file__", str(tree / "cache.py"))
    seen = set()
    for path, text in [(None, None), ("lua/f.lua", "return {{}}\n"), ("locale/fr.po", 'msgid "Contents"\nmsgstr "Table"\n'),
                       ("cache.py", "x = 2\n")]:
        if path:
            (tree / path).write_text(text, encoding="utf-8")
        store.code.cache_clear()
        seen.add(store.code())
    store.code.cache_clear()
    assert len(seen) == 4


def test_templates_compiled_into_the_cache_are_not_compiled_again_unless_they_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    from exporter.theme import COMMON, STYLES, Theme

    own = tmp_path / "own"
    (own / "templates").mkdir(parents=True)
    (own / "theme.toml").write_text((STYLES / "serif" / "theme.toml").read_text("utf-8"), "utf-8")
    page = COMMON / "templates" / "epub-part.xhtml.j2"
    (own / "templates" / page.name).write_text(page.read_text("utf-8"), "utf-8")
    store = Cache(tmp_path / "cache")
    values = {"uid": "part-1", "title": "Part", "kind": "part", "book": None, "lang": "en", "styles": [],
              "author": "A", "label": "Part <one>", "count": 2}
    plain = Theme.load(str(own)).render(page.name, **values)
    first = Theme.load(str(own))
    first.keep_compiled(store)
    assert first.render(page.name, **values) == plain and first.css("epub") == Theme.load(str(own)).css("epub")
    compiled: list[str] = []
    original = jinja2.Environment.compile

    def compile(self: jinja2.Environment, source: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        compiled.append(name or "")
        return original(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", compile)
    again = Theme.load(str(own))  # a later build: a theme of its own, the same cache
    again.keep_compiled(store)
    assert again.render(page.name, **values) == plain and again.css("epub") and compiled == []
    (own / "templates" / page.name).write_text(page.read_text("utf-8").replace("<h1", "<h1 data-changed=\"1\""))
    changed = Theme.load(str(own))
    changed.keep_compiled(store)
    assert 'data-changed="1"' in changed.render(page.name, **values) and compiled == [page.name]


def _epub(vault: Path, out: Path, cache: Path | None) -> bytes:
    code, output = _build(["epub", str(vault), "-o", str(out / "book.epub"), "-q"], out, cache)
    assert code == 0, output
    return (out / "book.epub").read_bytes()


def test_an_epub_whose_chapters_left_the_cache_in_part_is_made_as_a_clean_one(tmp_path: Path) -> None:
    """A chapter kept in the cache is what says whether it holds, apart from its HTML and XHTML
    (epub._body), which a rebuild reads only for the pages it makes again: either may be gone
    while the other is not (the cap evicts the least used), and the chapter is then written again."""
    from exporter import cache as store

    vault = write_vault(tmp_path / "vault", BASE)
    cache = tmp_path / "cache"
    _epub(vault, tmp_path / "warm", cache)
    db = cache / "cache.sqlite"

    def bodies() -> list[str]:
        with sqlite3.connect(db) as con:
            return [k for k, v in con.execute("SELECT key, value FROM entries")
                    if b'{"html":' in v and b'"xml":' in v and b'"digest":' not in v]

    def drop(keys: list[str]) -> None:
        with sqlite3.connect(db) as con:
            con.executemany("DELETE FROM entries WHERE key = ?", [(k,) for k in keys])
            con.executemany("DELETE FROM uses WHERE key = ?", [(k,) for k in keys])

    assert len(bodies()) == 4  # one a chapter
    drop(bodies())
    # beta's new title shows in alpha's backlinks: alpha's page is made again, from its chapter
    # kept in the cache, whose body is gone
    (vault / "beta.md").write_text((vault / "beta.md").read_text("utf-8").replace("title: Beta", "title: Beta two"))
    assert _epub(vault, tmp_path / "cached", cache) == _epub(vault, tmp_path / "clean", None)
    # every kept chapter told that a link of its own no longer lands: each is settled again from
    # its HTML, which the cache has for the chapters just written and not for the others
    kept = store.Cache(cache)
    with sqlite3.connect(db) as con:
        rows = [(k, bytes(v)) for k, v in con.execute("SELECT key, value FROM entries") if b'"digest":' in v]
    for k, _ in rows:
        entry = orjson.loads(kept.get(k) or b"{}")
        kept.put(k, orjson.dumps({**entry, "links": [*entry["links"], "nowhere.xhtml#x"]}))
    kept.close()
    assert len(rows) >= 4 and 0 < len(bodies()) < 4
    assert _epub(vault, tmp_path / "again", cache) == _epub(vault, tmp_path / "clean2", None)
