"""Turn notes into PDF dossiers and briefs: model -> HTML (jinja2 + theme) -> WeasyPrint.

This module makes the HTML; weasy.py renders it (the only module that imports weasyprint), in
worker processes on a budget (pool.py); a dossier is rendered in parts and joined (dossier.py).
Safety does not rest on the sanitizer alone: every resource WeasyPrint asks for goes through
SafeFetcher, which serves data: URLs and files inside the vault or the theme, and refuses
everything else (network, file:// elsewhere, symlinks out).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache, cached_property
from html import escape, unescape
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import orjson
from markupsafe import Markup

from exporter import __version__
from exporter import cache as store
from exporter.cache import Cache
from exporter.i18n import Words, language
from exporter.model import ast
from exporter.model.document import (
    Block,
    Collection,
    Note,
    Source,
    backlinks,
    channel_names,
    file_stems,
    short,
)
from exporter.packagers.output import atomic_file, replaceable, source_date_epoch
from exporter.packagers.pool import Outcome, Workers
from exporter.packagers.task import (
    Facts,
    PdfError,
    Piece,
    Pieces,
    Prepared,
    Rendered,
    deflate,
    documents,
    inflate,
    piece_id,
    render,
)
from exporter.select import part_of
from exporter.theme import Theme, files_key
from exporter.transforms import math, tables
from exporter.writers import html as html_writer

LONG_LINES = 15  # a block up to about a third of a page is kept on one page (_flowing)
LONG_WORD = re.compile(rf"\S{{{tables.ANYWHERE},}}")  # a word this long may break anywhere (_long_words)
HTML_TAG = re.compile(r"(<[^>]*>)")
OL_START = re.compile(r'<ol start="(-?\d{1,9})"')
HEADING = re.compile(r"<h[1-6]\b[^>]*>")  # a heading's tag, with _shape's outline entry (data-label)
HEADING_ATTR = re.compile(r'(?<![\w-])(id|data-label)="([^"]*)"')
# What the tables of a page have room for (tables.fit), from print.css.j2 and base.css.j2: the
# page's left and right margins, and a table's font against the body's (tests check both)
MARGINS_MM = 22 + 20
MARGINS_V_MM = 22 + 24  # top and bottom, for images (fit_images)
IMAGE_HEADROOM = 24.0  # points of the text area an image leaves for a line (a caption) under it
TABLE_FONT = 0.9
FOOTNOTE_PT = 8.5  # a footnote's font size and line height (print.css), for endnote_from
FOOTNOTE_LEADING = 1.3
FOOTNOTE_EM = 0.55  # a character's mean width in em (DejaVu's letters, rounded up)
FOOTNOTE_SHARE = 3  # a footnote past this fraction of the page's text area is an endnote (1/3)
PAGE_MM = {"a5": (148, 210), "a4": (210, 297), "a3": (297, 420), "b5": (176, 250), "b4": (250, 353),
           "jis-b5": (182, 257), "jis-b4": (257, 364), "letter": (215.9, 279.4), "legal": (215.9, 355.6),
           "ledger": (279.4, 431.8)}
UNIT_PT = {"mm": 72 / 25.4, "cm": 72 / 2.54, "q": 72 / 101.6, "in": 72.0, "pt": 1.0, "pc": 12.0, "px": 0.75}
LENGTH = re.compile(r"([0-9]*\.?[0-9]+)(mm|cm|q|in|pt|pc|px)")
RUNNING = 100  # characters of a title the running header shows: three lines of its box, in capitals
BRIEF_TOC_MIN = 6  # a brief lists its headings up front only when it has this many
KEYWORDS = 64  # channels and tags in the PDF metadata, at most (a note may list thousands)
# Where a dossier is cut into parts depends on the notes alone (never on --jobs, so neither do
# the bytes), and on each note by itself: a part ends before a note once it holds PART_MIN bytes
# of HTML (most notes are parts of their own, so an edit renders again only the notes whose
# pages it changes), and short notes share a part until one whose id hashes to 0 modulo STRIDE
# (a part costs ~20 ms more than its notes). An edit then changes the parts that hold the notes
# it touches, not every part after it. A worker holds a part, never the book.
STRIDE = 3
PART_MIN = 4_000
# The contents and the Sources list every note: past PIECE_BYTES of entries, a worker lays them
# out a piece at a time (task.Pieces), so it holds 3-4 pages of them, never the whole list. A
# laid-out page holds about 3.5 MB; at 24 KB (8 pages of contents) the worker that laid out a
# 1,000-note contents peaked 6 MB above those that lay out parts of 2-3 pages.
PIECE_BYTES = 12_000
CACHE_BATCH = 64  # rendered PDFs read from or written to the cache at a time
FIRST_BRIEFS = 8  # briefs a worker is given before the other notes' HTML is written
SECONDS = 20.0  # render budget of a document: this, plus SECONDS_PER_MB of its HTML
SECONDS_PER_MB = 60.0  # (WeasyPrint lays out about 1 MB of our HTML in 12 s)
Parts = Literal["channel", "folder", "tag", "none"]  # how the dossier contents are grouped
Unresolved = Literal["text", "plain", "error"]  # links out of the product: styled or bare label
# In a part, the page numbers are left to the footers (dossier.py), which know the total.
# A part of notes opens with no cover: its body sets the running header's title (pages_continued).
PART_CSS = ("@page { @bottom-center { content: none !important; } } "
            "body[data-running] { string-set: doctitle attr(data-running); }")
# A document flows from page to page through the body and each note, whatever a theme's or a
# user's CSS says: laid out as a grid, a float, a positioned or a fixed-height box, they would not
# be split across pages (a dossier came out as one page, the rest cut off), and the footer and
# numbers documents would not turn a page at each of their divs.
FLOW = ("html, body, article.note, nav.toc, section.sources, .footer-page, .numbers-page { "
        "display: block !important; position: static !important; float: none !important; "
        "height: auto !important; max-height: none !important; overflow: visible !important; }")
# Footer pages carry the page numbers alone, over the pages they number.
FOOTER_CSS = "@page { background: none !important; " + " ".join(
    f"@{box} {{ content: none !important; }}" for box in (
        "top-left-corner", "top-left", "top-center", "top-right", "top-right-corner", "left-top",
        "left-middle", "left-bottom", "right-top", "right-middle", "right-bottom",
        "bottom-left-corner", "bottom-left", "bottom-right", "bottom-right-corner")) + (
    " } html, body { background: none !important; columns: auto !important; } "
    ".footer-page { break-before: page; }")


# The backlinks' page numbers: pages with no margin, each with one number at the top left.
NUMBERS_CSS = ("@page { margin: 0 !important; @bottom-center { content: none !important; } } "
               "html, body { margin: 0 !important; padding: 0 !important; } "
               ".numbers-page { position: relative !important; break-before: page; height: 1px !important; } "
               ".numbers-page:first-child { break-before: auto; } "
               ".linked-from-number { position: absolute; left: 0; top: 0; font-size: 0.9em; "
               "white-space: nowrap; margin: 0; padding: 0; }")


class Spool:
    """Rendered PDFs kept in a temporary file as they come, until they are read back: the
    parent of a thousand-note dossier holds none of its parts. Safe across threads."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by __exit__)
        self.lock = threading.Lock()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def keep(self, value: Rendered) -> Rendered:
        with self.lock:
            at = self.file.seek(0, os.SEEK_END)
            self.file.write(value.pdf)
        return replace(value, pdf=b"", spooled=(at, len(value.pdf)))

    def read(self, value: Rendered) -> bytes:
        if value.spooled is None:
            return value.pdf
        at, size = value.spooled
        with self.lock:
            self.file.seek(at)
            return self.file.read(size)


FILE_URL = re.compile(r"""file://[^"'<>\s)]+""")
LIBRARIES = ("pango-1.0", "pangoft2-1.0", "harfbuzz", "fontconfig", "freetype", "cairo")
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts",
             "/etc/fonts")


@cache
def renderer() -> str:
    """What else a rendered PDF depends on: the Python packages that render and write it, the
    text libraries, and the fonts installed (by file, size and date; nothing is imported)."""
    from importlib import metadata

    parts = []
    for dist in ("weasyprint", "pydyf", "tinycss2", "cssselect2", "tinyhtml5", "pillow", "pikepdf",
                 "uharfbuzz", "fonttools", "pyphen"):
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}=none")
    found = [Path(p) for p in _libraries() if any(f"lib{name}.so" in p for name in LIBRARIES)]
    for folder in FONT_DIRS:
        root = Path(folder).expanduser()
        found += [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
    for path in sorted(set(found)):
        st = path.stat()
        parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
    return store.key("renderer", *parts)


def _libraries() -> list[str]:
    """Shared libraries the system would load, from the linker's cache (no walk of /usr/lib)."""
    import shutil
    import subprocess

    ldconfig = shutil.which("ldconfig") or ("/sbin/ldconfig" if Path("/sbin/ldconfig").exists() else None)
    if ldconfig is None:
        return []
    try:
        listing = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.rpartition("=> ")[2].strip() for line in listing.splitlines() if "=> " in line]


def render_key(prepared: Prepared, folders: str) -> str:
    """Everything a render reads: the HTML and its settings, the files it names, the theme
    folders (their files_key), the renderer and this code."""
    html, p = prepared.html, prepared.pieces
    settings = p.settings if p and p.settings else _settings(prepared, folders, html)  # made once (_remembered)
    return store.key("pdf", settings, html, str(p.size if p else 0))


def _settings(prepared: Prepared, folders: str, html: str) -> str:
    """What a render reads besides its HTML: the settings, the files the HTML names, the theme
    folders, the renderer and this code (a piece of a list is laid out with its document's)."""
    files = []
    for url in sorted(set(FILE_URL.findall(html))):
        path = Path(unquote(url.removeprefix("file://")))
        try:
            files.append(f"{path}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
        except OSError:
            files.append(f"{path}\0missing".encode())
    return store.key("render settings", store.code(), renderer(), prepared.base_url, "\0".join(prepared.roots),
                     str(prepared.epoch), str(prepared.tagged), str(prepared.after), folders, *files)


def _folders(roots: tuple[str, ...]) -> str:
    """The theme folders' files_key (the vault's files are those the HTML names)."""
    return files_key(Path(r) for r in roots[1:])


def _piece_key(settings: str, ident: str) -> str:
    return store.key("pdf piece", settings, ident)


def _remembered(prepared: Prepared, cache: Cache | None, known_as: str) -> Prepared:
    """A list laid out in pieces (task.Pieces), with the pieces laid out before that may serve
    again: those that start where the last layout of this list's pieces did (kept under
    known_as), found in the cache by their HTML. A piece that changed is not found there."""
    p = prepared.pieces
    if p is None or cache is None or not cache.enabled:
        return prepared
    html = prepared.html
    p = replace(p, known_as=known_as, settings=_settings(prepared, _folders(prepared.roots), html))
    data = cache.get(known_as)
    try:
        starts = orjson.loads(data) if data is not None else []
        if not (isinstance(starts, list) and all(type(k) is int for k in starts)):
            raise TypeError
    except (orjson.JSONDecodeError, TypeError):
        cache.undecoded()
        starts = []
    if starts:
        head, entries, tail = p.split(html)
        ids = {}
        for k in starts:
            if 0 <= k < len(entries):
                piece, stop = p.piece(head, entries, tail, k)
                ident = piece_id(piece, stop >= len(entries))
                ids[_piece_key(p.settings, ident)] = ident
        kept = []
        for key, found in cache.get_many(list(ids)).items():
            head_, _, pdf = found.partition(b"\n")
            try:
                told = orjson.loads(head_)
                pages, anchors, slots = told["facts"]
                kept.append((ids[key], Piece(pdf, Facts(pages, anchors, [tuple(slot) for slot in slots]), told["after"],
                                             tuple(told["refused"]), tuple(told["missing"]))))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                cache.undecoded()
        p = replace(p, kept=tuple(kept))
    return replace(prepared, pieces=p)


def _pieces_key(notes: list[Note], kind: str) -> str:
    """Where the pieces of a dossier's contents or Sources started when last laid out: the same
    notes in any order (only a hint; a piece that changed is not found by its HTML)."""
    return store.key("list pieces", kind, *sorted(n.id for n in notes))


def _pieces_made(doc: Prepared, value: Rendered) -> dict[str, bytes]:
    """The cache entries of a list's pieces that a render laid out anew, and where they started."""
    p = doc.pieces
    if p is None or not p.known_as or not value.starts:
        return {}
    made = {p.known_as: orjson.dumps(list(value.starts))}
    for ident, piece in value.pieces:
        told = {"facts": [piece.facts.pages, piece.facts.anchors, piece.facts.slots], "after": piece.after,
                "refused": list(piece.refused), "missing": list(piece.missing)}
        made[_piece_key(p.settings, ident)] = orjson.dumps(told) + b"\n" + piece.pdf
    return made


def _render_keys(docs: list[Prepared]) -> list[str]:
    """Each document's render_key; the theme folders' files (the vault's are named in the HTML)
    read once per set of roots."""
    folders = {roots: _folders(roots) for roots in {d.roots for d in docs}}
    return [render_key(d, folders[d.roots]) for d in docs]


def ahead(workers: Workers, docs: list[Prepared], cache: Cache | None = None) -> None:
    """Start rendering documents that a later rendering() of the same objects takes over, unless
    the cache has them: they render while the caller prepares the others."""
    if cache is not None and cache.enabled:
        keys = _render_keys(docs)
        found = cache.get_many(keys)
        docs = [d for d, k in zip(docs, keys, strict=True) if k not in found]
    workers.ahead(render, [(d, budget(d)) for d in docs])


def rendered(workers: Workers, docs: list[Prepared], cache: Cache | None = None,
             spool: Spool | None = None) -> list[Outcome[Rendered]]:
    """Render documents on their budgets; the cache gives back those rendered before."""
    return rendering(workers, docs, cache, spool)()


def rendering(workers: Workers, docs: list[Prepared], cache: Cache | None = None,
              spool: Spool | None = None, each: Callable[[int, Outcome[Rendered]], None] | None = None,
              order: Sequence[int] | None = None) -> Callable[[], list[Outcome[Rendered]]]:
    """Start rendering documents on their budgets, in the background; the call returned waits
    for them. The cache gives back those rendered before, and keeps the others; it is used in
    the caller's thread only. With a spool, the PDFs go to it as they come, not to memory.
    each(index, outcome) hears of every document once, as soon as it is there: those from the
    cache at once, the others from a background thread, as they come. order: the documents'
    indexes in the order they start (Workers.run)."""
    cache = cache or Cache.off()
    keys = _render_keys(docs) if cache.enabled else []
    out: list[Outcome[Rendered] | None] = [None] * len(docs)
    for start in range(0, len(keys), CACHE_BATCH):
        found = cache.get_many(keys[start:start + CACHE_BATCH])
        for i in range(start, min(start + CACHE_BATCH, len(keys))):
            if keys[i] not in found:
                continue
            head, _, data = found.pop(keys[i]).partition(b"\n")
            try:
                told = orjson.loads(head)
                pages, anchors, slots, cuts = told["facts"]
                facts = Facts(pages, anchors, [tuple(slot) for slot in slots], tuple(cuts))
                documents(data, facts.cuts)  # they add up
                value = Rendered(data, tuple(told["refused"]), facts, missing=tuple(told["missing"]))
                out[i] = Outcome(spool.keep(value) if spool else value)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                cache.undecoded()
    todo = [i for i, o in enumerate(out) if o is None]
    if each is not None:
        for i, o in enumerate(out):
            if o is not None:
                each(i, o)

    heard: set[int] = set()  # the tasks each() has heard of

    pieces: dict[str, bytes] = {}  # the cache entries of pieces of lists laid out anew

    def keep(k: int, outcome: Outcome[Rendered]) -> Outcome[Rendered]:
        if outcome.value and outcome.value.starts:
            if cache.enabled:
                pieces.update(_pieces_made(docs[todo[k]], outcome.value))
            outcome = replace(outcome, value=replace(outcome.value, pieces=()))
        if spool and outcome.value:
            outcome = replace(outcome, value=spool.keep(outcome.value))
        if each is not None:
            heard.add(k)
            each(todo[k], outcome)
        return outcome

    def run() -> list[Outcome[Rendered]]:
        ran: list[Outcome[Rendered]] = []
        try:
            at = {i: k for k, i in enumerate(todo)}
            ran = workers.run(render, [(docs[i], budget(docs[i])) for i in todo], keep,
                              None if order is None else [at[i] for i in order if i in at])
            return ran
        finally:  # every document is heard of, even those the pool gave up on, or if it failed
            for k in range(len(todo)):
                if each is not None and k not in heard:
                    each(todo[k], ran[k] if k < len(ran) else Outcome(error="was not rendered", over=True))

    thread = ThreadPoolExecutor(1)
    running = thread.submit(run)
    thread.shutdown(wait=False)

    def wait() -> list[Outcome[Rendered]]:
        ran = running.result()
        for i, outcome in zip(todo, ran, strict=True):
            out[i] = outcome
        if keys:  # a batch at a time, read back from the spool
            for start in range(0, len(todo), CACHE_BATCH):
                made: dict[str, bytes] = {}
                for i, outcome in zip(todo[start:start + CACHE_BATCH], ran[start:start + CACHE_BATCH], strict=True):
                    if (value := outcome.value) is not None:
                        told = {"refused": list(value.refused), "missing": list(value.missing),
                                "facts": [value.facts.pages, value.facts.anchors, value.facts.slots, value.facts.cuts]}
                        made[keys[i]] = orjson.dumps(told) + b"\n" + (spool.read(value) if spool else value.pdf)
                cache.put_many(made)
            cache.put_many(pieces)
        return [o if o is not None else Outcome(error="not rendered") for o in out]

    return wait


@dataclass(frozen=True)
class Meta:
    """What the cover and the PDF metadata say."""

    title: str
    subtitle: str | None = None
    author: str | None = None
    epoch: int | None = None  # None: SOURCE_DATE_EPOCH, else a fixed date
    lang: str | None = None  # the fixed strings' language; None: the most common note language


def budget(prepared: Prepared) -> float:
    """Seconds a document may take to render before it is given up."""
    return SECONDS + SECONDS_PER_MB * prepared.weight / 1e6


@dataclass(frozen=True)
class Part:
    """A run of notes rendered alone, its pages laid out as after one other (Prepared.after); or
    the Sources appendix. Either may open with a cover, which the join drops."""

    prepared: Prepared
    notes: tuple[Note, ...]
    ids: frozenset[str] = frozenset()  # the ids in its HTML: where other parts' links may go

    @property
    def cover(self) -> int:
        """Pages it opens with that the join drops: the page that its page rules count before
        its first (Prepared.after) is there, as a cover, or is not, and then the join drops one."""
        return 1 - self.prepared.after


@dataclass
class Plan:
    """A dossier ready to render: whole (the reference), or in parts joined by dossier.py.

    The notes' HTML is written when the parts (or the whole) are first asked for: the front and
    the appendix need none of it, so they can render while it is written (dossier.py)."""

    one: Callable[[], Prepared]  # the whole dossier as one document: made only when asked (see whole)
    runs: Callable[[], tuple[list[Part], dict[str, str]]]  # the parts, and the notes pandoc could not write
    part: Callable[[list[Note]], Part]  # any run of notes as a part
    appendix: Callable[[set[str]], Part | None]  # the Sources, without the notes (ids) left out
    front: Callable[[dict[str, int], set[str]], Prepared]  # cover and contents: (page by anchor, left out)
    footers: Callable[[int, int, int], Prepared]  # footer pages: (first page, count, total)
    joinable: bool  # the theme numbers pages only at the bottom centre, where footers go
    numbers: Callable[[tuple[str, ...]], Prepared]  # pages that draw the backlinks' page numbers, one each
    notes: list[Note] = field(default_factory=list)  # in the dossier's order

    @cached_property
    def whole(self) -> Prepared:
        return self.one()

    @cached_property
    def _written(self) -> tuple[list[Part], dict[str, str]]:
        return self.runs()

    @property
    def parts(self) -> list[Part]:
        """Runs of notes, in order."""
        return self._written[0]

    @property
    def failed(self) -> dict[str, str]:
        """Note path -> why pandoc could not write it."""
        return self._written[1]


def _shape(note: Note, blocks: list[Block], own_links_only: bool,
           unresolved: Unresolved, theme: Theme) -> list[Block]:
    """Fit a note body under its template title: drop a first H1 that repeats the title (its
    id stays as an anchor), push other H1s down a level, in briefs unlink other notes,
    with unresolved="plain" drop the unresolved styling, and typeset math in the text colour."""
    if note.opens_with_title and blocks and blocks[0]["t"] == "Header":
        ident = blocks[0]["c"][1][0]
        blocks = ([{"t": "Div", "c": [ast.attr(ident), []]}] if ident else []) + blocks[1:]
    shift = int(any(h["c"][0] == 1 for h in ast.iter_nodes(blocks, "Header")))
    within = set(math.budgeted(blocks)[0])  # the formulas typeset (headings' are written as text too)

    def heading(b: Block) -> Block:
        if b["t"] != "Header":
            return b
        level, (ident, classes, kvs), inlines = b["c"]
        label = ["data-label", _label(inlines, within)]  # the outline entry, without footnote calls
        attrs = [ident, classes, [*kvs, label]]
        return {"t": "Header", "c": [min(6, level + shift), attrs, inlines]}

    def unlink(inlines: list[Any]) -> list[Any]:
        out: list[Any] = []
        for x in inlines:
            if own_links_only and x.get("t") == "Link" and "internal" in x["c"][0][1]:
                target = x["c"][2][0].removeprefix("#")
                if target != note.id and not target.startswith(note.id + "--"):
                    x = ast.Span(x["c"][1], ast.attr("", ["unresolved"]))
            if unresolved == "plain" and x.get("t") == "Span" and "unresolved" in x["c"][0][1]:
                out += x["c"][1]
                continue
            out.append(x)
        return out

    blocks = ast.map_each_block(blocks, lambda b: _raw_long_words(_flowing(heading(b))))
    blocks = ast.map_inlines(blocks, unlink) if own_links_only or unresolved == "plain" else blocks
    return math.typeset(blocks, _ink(theme), within)


def _lines(b: Block) -> int:
    """About how many lines of the page a block fills: a code line wraps at ~90 characters, a
    table row takes a line and one more for every 200 characters of its text, text ~85 a line."""
    t = b["t"]
    if t == "CodeBlock":
        return sum(1 + len(line) // 90 for line in b["c"][1].split("\n"))
    if t == "Table":
        _, _, _, head, bodies, foot = b["c"]
        rows = [*head[1], *(r for body in bodies for r in (*body[2], *body[3])), *foot[1]]
        return sum(1 + len(ast.stringify(r[1])) // 200 for r in rows)
    if t == "Div":
        return sum(_lines(x) for x in b["c"][1])
    return 1 + len(ast.stringify(b)) // 85  # a paragraph, list or quote: its text


def _flowing(b: Block) -> Block:
    """Mark a code block, table or callout longer than LONG_LINES as long: the theme keeps a
    short one on one page, and lets a long one flow from the page it starts on (kept whole, one
    taller than the room left was pushed to the next page, and its heading with it, leaving
    pages with a heading alone)."""
    t = b["t"]
    if t not in ("CodeBlock", "Table") and not (t == "Div" and "callout" in b["c"][0][1]):
        return b
    (ident, classes, kvs), *rest = b["c"]
    if "long" in classes or _lines(b) <= LONG_LINES:
        return b
    return {"t": t, "c": [[ident, [*classes, "long"], kvs], *rest]}


def _long_words(inlines: list[Any]) -> list[Any]:
    """A word of 40 characters or more (a hash, an id, a long name) goes in a span that may break
    anywhere (.long-word): it ran off the page, and in a table it pushed the columns after it
    off too (a table is as wide as its cells' longest words). Other words keep their widths:
    overflow-wrap: anywhere on every cell broke "Elev." and "Range" in narrow columns."""
    out: list[Any] = []
    for x in inlines:
        if x["t"] == "Code" and LONG_WORD.search(x["c"][1]):  # the whole span of code may break
            (ident, classes, kvs), code = x["c"]
            out.append({"t": "Code", "c": [[ident, [*classes, "long-word"], kvs], code]})
            continue
        if x["t"] != "Str" or not LONG_WORD.search(text := x["c"]):
            out.append(x)
            continue
        at = 0
        for m in LONG_WORD.finditer(text):
            out += [ast.Str(text[at:m.start()])] * (m.start() > at)
            out.append({"t": "Span", "c": [ast.attr("", ["long-word"]), [ast.Str(m.group())]]})
            at = m.end()
        out += [ast.Str(text[at:])] * (at < len(text))
    return out


def _pt(value: str) -> float | None:
    found = LENGTH.fullmatch(value.strip().lower())
    return float(found.group(1)) * UNIT_PT[found.group(2)] if found else None


def page_size(theme: Theme) -> tuple[float, float]:
    """The theme's page size in points: a name, with landscape, or lengths; A4 when it is neither."""
    words = str(theme.tokens.get("page", {}).get("size", "A4")).lower().split()
    lengths = [x for w in words if (x := _pt(w)) is not None]
    if lengths:
        return lengths[0], lengths[-1]
    width, height = (x * UNIT_PT["mm"] for x in next((PAGE_MM[w] for w in words if w in PAGE_MM), PAGE_MM["a4"]))
    return (height, width) if "landscape" in words else (width, height)


def table_room(theme: Theme) -> float:
    """How wide a table may be, in em of its font: the page's width between its margins, over
    the table's font size (the theme's print size; 10.5pt when it is not a length)."""
    base = _pt(str(theme.tokens.get("sizes", {}).get("print_base", ""))) or 10.5
    return max(1.0, (page_size(theme)[0] - MARGINS_MM * UNIT_PT["mm"]) / (base * TABLE_FONT))


def endnote_from(theme: Theme) -> int:
    """How many characters of footnotes (html_writer.footnote_size) one block of a note may
    carry at the page's foot: a third of the text area, in the footnotes' font. Past it a
    footnote is an endnote (about 2,200 characters on A4)."""
    width, height = page_size(theme)
    per_line = (width - MARGINS_MM * UNIT_PT["mm"]) / (FOOTNOTE_PT * FOOTNOTE_EM)
    lines = (height - MARGINS_V_MM * UNIT_PT["mm"]) / (FOOTNOTE_PT * FOOTNOTE_LEADING)
    return max(200, int(per_line * lines / FOOTNOTE_SHARE))


def fit_images(theme: Theme) -> str:
    """CSS that keeps an image inside the page's text area, with room for a line under it: one
    4,000 pixels tall ran off the page's foot (and 90% of the page's height, over the footer)."""
    room = page_size(theme)[1] - MARGINS_V_MM * UNIT_PT["mm"] - IMAGE_HEADROOM
    return f"img {{ max-height: {max(room, 72.0):.1f}pt; }}"


def _raw_long_words(b: Block) -> Block:
    """_long_words for the text of a raw HTML block, which the AST does not see into."""
    if b["t"] != "RawBlock" or b["c"][0] not in ("html", "html5") or not LONG_WORD.search(b["c"][1]):
        return b
    pieces = HTML_TAG.split(b["c"][1])  # text, tag, text, tag, ...: the words of the text alone
    for k in range(0, len(pieces), 2):
        pieces[k] = LONG_WORD.sub(lambda m: f'<span class="long-word">{m.group()}</span>', pieces[k])
    return {"t": "RawBlock", "c": [b["c"][0], "".join(pieces)]}


def _ink(theme: Theme) -> str:
    return str(theme.tokens.get("colours", {}).get("text", "black"))


def _shaping(own_links_only: bool, unresolved: Unresolved, theme: Theme) -> dict[str, Any]:
    """html_writer.render's transform for a PDF product (_shape), with everything it depends on
    besides the note, by which the cache keeps the fragments (shaped): made together, they agree.
    Before the footnotes are set (prepare), tables too wide are split: a part repeats the rows'
    names, and a footnote among them was set, and numbered, once a part (tables.fit); and long
    words are marked (_long_words), in the footnotes too, where they ran off the page."""
    endnotes, room = endnote_from(theme), table_room(theme)
    return {"transform": lambda n, b: _shape(n, b, own_links_only, unresolved, theme), "endnotes": endnotes,
            "prepare": lambda b: ast.map_inlines(tables.fit_all(b, room), _long_words),
            "shaped": "\0".join(["pdf", str(own_links_only), unresolved, _ink(theme), math.version(),
                                  f"{room:.3f}", str(endnotes)])}


def _label(inlines: list[Any], within: set[str]) -> str:
    """The outline entry of a heading: its text without footnote calls, its formulas as text
    (math.plain: E = mc², where the page has an image and the outline can have none) if they
    are within the note's budget (within), else as TeX, as the page has them."""
    def drop(xs: list[Any]) -> list[Any]:
        return [ast.Str(math.plain(x["c"][1])) if x.get("t") == "Math" and x["c"][1] in within else x for x in xs
                if not (x.get("t") == "Span" and "footnote" in x["c"][0][1])]

    return short(" ".join(ast.stringify(ast.map_inlines([{"t": "Plain", "c": inlines}], drop)).split()))


def _sources(collection: Collection, notes: list[Note]) -> list[Source]:
    """Every video cited, embedded notes included, in order of first citation (what a note
    embeds is known from collecting it: its blocks are not loaded for this)."""
    by_id = collection.by_id()
    cited: list[Note] = []
    for n in notes:
        embedded = [by_id[k] for k in n.embedded if k in by_id]
        cited += [x for x in [n, *embedded] if x not in cited]
    return collection.sources(cited)


def _item(fragment: html_writer.Fragment, names: dict[str, str], linked: list[Note] | None = None
          ) -> dict[str, Any]:
    """What the templates need of one note; linked: the notes of the dossier linking to it."""
    n = fragment.note
    shown = n.headings[1:] if n.opens_with_title else n.headings
    headings = [{"id": html_writer.anchor_id(n.id, h.id), "text": short(h.text)} for h in shown]
    if len(headings) >= BRIEF_TOC_MIN:  # a brief's contents say each heading as its outline entry does
        labels = {a["id"]: unescape(a["data-label"]) for tag in HEADING.findall(fragment.html)
                  if {"id", "data-label"} <= (a := dict(HEADING_ATTR.findall(tag))).keys()}
        headings = [{**h, "text": labels.get(h["id"], h["text"])} for h in headings]
    return {
        "id": html_writer.anchor_id(n.id), "title": n.title, "label": n.label, "running": short(n.label, RUNNING),
        "lang": n.lang or "en",
        "channel": names.get(n.channel or "", n.channel_name), "html": Markup(_numbered(fragment.html)),
        "video_url": n.source.url if n.source else None,
        "toc": headings if len(headings) >= BRIEF_TOC_MIN else [],
        "backlinks": [{"id": html_writer.anchor_id(x.id), "label": x.label} for x in linked or []],
    }


def _numbered(html: str) -> str:
    """Ordered lists that start past 1 say so to WeasyPrint, which ignores `start`: a list
    resumed after a code block ("7. seventh step") was numbered from 1 again."""
    return OL_START.sub(lambda m: f'{m[0]} style="counter-reset: list-item {int(m[1]) - 1}"', html)


def _doc(meta: Meta, theme: Theme, notes: list[Note], subject: str,
         names: dict[str, str], words: Words) -> dict[str, Any]:
    """Cover facts and PDF metadata; dates come from SOURCE_DATE_EPOCH, never the clock."""
    when = datetime.fromtimestamp(source_date_epoch(meta.epoch), UTC)
    keywords: list[str] = []
    for n in notes:
        tags = n.meta.get("tags") or []
        for w in [names.get(n.channel or "", ""), *(tags if isinstance(tags, list) else [tags])]:
            word = short(str(w).strip(), 100)
            if word and word not in keywords:
                keywords.append(word)
    return {"title": meta.title, "running": short(meta.title, RUNNING), "subtitle": meta.subtitle, "author": meta.author,
            "subject": meta.subtitle or subject, "keywords": keywords[:KEYWORDS],
            "date": words.date(when), "date_iso": f"{when:%Y-%m-%dT%H:%M:%SZ}",
            "lang": words.lang,
            "generator": f"exporter {__version__}", "stylesheets": [Markup(css) for css in [*theme.css("pdf").values(), fit_images(theme), FLOW]]}


def _asset(collection: Collection) -> Callable[[str], str | None]:
    """Vault-relative asset -> file URL inside the vault (the fetcher checks it again)."""
    return lambda path: Path(p).as_uri() if (p := collection.assets.get(path)) else None


def _prepared(collection: Collection, theme: Theme, html: str, epoch: int | None, tagged: bool = True,
              pieces: Pieces | None = None, after: int = 0) -> Prepared:
    roots = (collection.root, *(str(f) for f in theme.folders))
    return Prepared.of(html, Path(collection.root).as_uri() + "/", roots, source_date_epoch(epoch), tagged, pieces,
                       after)


LISTS = {"contents": ('<nav class="toc">', "nav.toc"), "sources": ('<section class="sources" id="sources">', "section.sources")}
TITLE = re.compile(r"<h1[^>]*>(.*?)</h1>\s*", re.S)


def _pieces(html: str, kind: str) -> Pieces | None:
    """The contents or the Sources of html as a list to lay out in pieces (task.Pieces); None
    where a theme's own templates write them otherwise."""
    opening, selector = LISTS[kind]
    at = html.find(opening)
    start = html.find("<ol>\n", at) if at >= 0 else -1
    end = html.find("</ol>", start) if start >= 0 else -1
    title = TITLE.search(html, at, start) if start >= 0 else None
    if end < 0 or title is None:
        return None
    head = html[:start]
    label = unescape(re.sub(r"<[^>]*>", "", title.group(1)))
    label = " ".join(label.split()).replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ")
    # a later piece: the list's title out, the running header set by its cover (dropped), and
    # its first entry as high as after the page break it follows in the whole
    css = (f'<style>section.cover {{ string-set: notetitle "{label}"; }} {selector}, {selector} > ol, '
           f"{selector} > ol > li:first-child {{ margin-break: discard; }}</style>")
    more = head[:title.start()] + head[title.end():]
    pieces = Pieces(PIECE_BYTES, more.replace("</head>", css + "</head>", 1), start, end)
    _, entries, _ = pieces.split(html)
    body = html[start + len("<ol>\n"):end]
    # one flat list, and no counter but the list's own (a piece would start it again)
    if ("".join(entries) != body or not all(e.endswith("</li>\n") for e in entries)
            or "<ol" in body or "<ul" in body or "counter-increment" in head):
        return None
    return pieces


def prepare_dossier(collection: Collection, notes: list[Note], meta: Meta,
                    theme: Theme | None = None, *, parts: Parts = "channel",
                    unresolved: Unresolved = "text") -> Prepared:
    """The whole dossier as one HTML document."""
    return plan_dossier(collection, notes, meta, theme, parts=parts, unresolved=unresolved).whole


def plan_dossier(collection: Collection, notes: list[Note], meta: Meta,
                 theme: Theme | None = None, *, parts: Parts = "channel",
                 unresolved: Unresolved = "text", cache: Cache | None = None) -> Plan:
    """The dossier as one document, and as parts that render alone and join into the same."""
    theme = theme or Theme.load()
    if cache is not None:
        theme.keep_compiled(cache)
    words = Words(language(notes, meta.lang))
    ids = {n.id for n in notes}
    names = channel_names(collection.notes)
    toc: list[dict[str, Any]] = []  # notes, with a group line where the part changes
    channels: list[str] = []
    group = None
    for n in notes:
        name = names.get(n.channel or "", words("Other notes"))
        part = part_of(n, parts, names, words)
        if part is not None and part != group:
            toc.append({"group": part})
            group = part
        toc.append({"id": html_writer.anchor_id(n.id), "title": n.label})
        if n.channel and name not in channels:
            channels.append(name)
    subject = words.notes(len(notes))
    if channels:
        subject = words("%(notes)s from %(channels)s") % {"notes": subject, "channels": ", ".join(channels)}
    doc = _doc(meta, theme, notes, subject, names, words)
    sources = _sources(collection, notes)
    back = backlinks(notes) if theme.backlinks else {}

    @functools.cache
    def written() -> tuple[list[html_writer.Fragment], dict[str, dict[str, Any]]]:
        """The notes' HTML, and what the template shows of each (its HTML deflated until a
        document takes it: a thousand notes' HTML is ~20 MB)."""
        fragments = html_writer.render(
            notes, "pdf", lambda nid, a: "#" + html_writer.anchor_id(nid, a) if nid in ids else None,
            _asset(collection), cache=cache, **_shaping(False, unresolved, theme))
        items = {f.note.id: {**_item(f, names, back.get(f.note.id)), "html": deflate(f.html)} for f in fragments}
        return fragments, items

    def item(nid: str) -> dict[str, Any]:
        items = written()[1]
        return {**items[nid], "html": Markup(inflate(items[nid]["html"]))}

    def page(members: list[Note], *, css: str = "", contents: bool = False, appendix: bool = False,
             numbers: dict[str, int] | None = None, gone: frozenset[str] = frozenset(),
             cited: list[Source] = sources) -> str:
        entries = [e for e in toc if e.get("id") not in gone]
        entries = [e for i, e in enumerate(entries)  # a group left empty goes too
                   if "group" not in e or (i + 1 < len(entries) and "group" not in entries[i + 1])]
        if numbers is not None:
            entries = [{**e, "page": numbers.get(e["id"], 0)} if "id" in e else e for e in entries]
        sheets = doc["stylesheets"] + ([Markup(css)] if css else [])
        return theme.render("dossier.html.j2", doc={**doc, "stylesheets": sheets}, count=len(notes), t=words,
                            channels=channels, contents=contents, toc=entries,
                            cover=(cover := "full" if not css or contents else "title" if not members else "none"),
                            cover_dropped=cover != "full",  # what a theme's own template written before "cover" reads
                            appendix=bool(sources), appendix_page=(numbers or {}).get("sources"),
                            notes=[item(n.id) for n in members],
                            sources=cited if appendix else [])

    @functools.cache
    def lists(kind: str) -> str:
        return _pieces_key(notes, kind)

    def as_part(html: str, members: list[Note]) -> Part:
        isolated, ids = _isolate(html)
        pieces = None if members else _pieces(isolated, "sources")
        # the Sources' cover, or one that a theme's own template gives a part of notes
        cover = int('<section class="cover"' in isolated.split("<article", 1)[0])
        prepared = _prepared(collection, theme, isolated, meta.epoch, pieces=pieces, after=1 - cover)
        return Part(_remembered(prepared, cache, lists("sources")) if pieces else prepared, tuple(members), ids)

    def run_of(notes: list[Note]) -> Part:
        return as_part(page(notes, css=PART_CSS), notes)

    def cut() -> tuple[list[Part], dict[str, str]]:
        fragments = written()[0]
        runs: list[list[Note]] = []
        size = 0
        for f in fragments:
            if not runs or (runs[-1] and (size >= PART_MIN or _cut_before(f.note.id))):
                runs.append([])
                size = 0
            runs[-1].append(f.note)
            size += len(f.html)
        return [run_of(run) for run in runs], {f.note.path: f.failed for f in fragments if f.failed}

    @functools.cache
    def all_cited() -> Part | None:
        return as_part(page([], css=PART_CSS, appendix=True), []) if sources else None

    def appendix(gone: set[str]) -> Part | None:
        if not gone:
            return all_cited()
        cited = _sources(collection, [n for n in notes if n.id not in gone])
        return as_part(page([], css=PART_CSS, appendix=True, cited=cited), []) if cited else None

    def front(numbers: dict[str, int], gone: set[str]) -> Prepared:
        html, _ = _isolate(page([], css=PART_CSS, contents=True, numbers=numbers, gone=frozenset(gone)))
        return _remembered(_prepared(collection, theme, html, meta.epoch, pieces=_pieces(html, "contents")), cache,
                           lists("contents"))

    def footers(first: int, count: int, total: int) -> Prepared:
        css = "".join(re.sub(r"counter\(\s*pages\s*\)", f'"{total}"', c) for c in doc["stylesheets"])
        start = f"@page :first {{ counter-reset: page {first}; }}" if first > 1 else ""
        pages = ('<section class="cover"></section>' if first == 1 else "") + \
            '<div class="footer-page"></div>' * (count - (first == 1))
        # the first page number in a sheet of its own: the theme's is then the same text in every
        # footers document, parsed once per worker (weasy_patches.stylesheets_parsed_once), where
        # each made a sheet of its own that the worker kept (30 of them: 5 MB)
        own = f"<style>{start}</style>" if start else ""
        html = (f'<!DOCTYPE html><html lang="{doc["lang"]}"><head><meta charset="utf-8"><style>'
                f"{css}{FOOTER_CSS}</style>{own}</head><body class=\"dossier\">{pages}</body></html>")
        return _prepared(collection, theme, html, meta.epoch, tagged=False)

    def whole() -> Prepared:
        return _prepared(collection, theme, page(notes, contents=True, appendix=True), meta.epoch)

    @functools.cache
    def numbers(texts: tuple[str, ...]) -> Prepared:
        """Pages that each draw one backlink's page number at the top left corner, in the
        backlinks' style: stitch.py lays each over the pages whose backlinks it numbers, moved
        to its slot (the slots are known only once the dossier is laid out, its parts in parallel).
        The same texts give the same document (one object: one started ahead is taken, pool.Workers)."""
        css = "".join(doc["stylesheets"])
        body = "".join(f'<div class="numbers-page"><span class="linked-from-number">{escape(text)}</span></div>'
                       for text in texts)
        html = (f'<!DOCTYPE html><html lang="{doc["lang"]}"><head><meta charset="utf-8"><style>'
                f"{css}{FOOTER_CSS}{NUMBERS_CSS}</style></head><body class=\"dossier\">{body}</body></html>")
        return _prepared(collection, theme, html, meta.epoch, tagged=False)

    return Plan(whole, cut, run_of, appendix, front, footers,
                _numbers_at_bottom_centre(doc["stylesheets"]), numbers, list(notes))


HREF = re.compile(r'href="#([^"]*)"')
ID = re.compile(r'\sid="([^"]*)"')
BOTTOM_CENTRE = re.compile(r"@bottom-center\s*\{[^{}]*\}")


def _cut_before(note_id: str) -> bool:
    return int.from_bytes(hashlib.blake2b(note_id.encode(), digest_size=4).digest(), "big") % STRIDE == 0


def _isolate(html: str) -> tuple[str, frozenset[str]]:
    """A part's links to anchors in other parts become xref: links, which stitch.py joins; and
    the part's own ids."""
    ids = frozenset(ID.findall(html))
    return HREF.sub(lambda m: m.group(0) if m.group(1) in ids else f'href="xref:{m.group(1)}"', html), ids


def _numbers_at_bottom_centre(sheets: list[str]) -> bool:
    """Parts can only be numbered by footer pages if page counters appear nowhere else."""
    return all("counter(page" not in BOTTOM_CENTRE.sub("", css) for css in sheets)


def _brief(collection: Collection, theme: Theme, fragment: html_writer.Fragment,
           names: dict[str, str], author: str | None, epoch: int | None, lang: str | None) -> Prepared:
    """One note as its own document."""
    n = fragment.note
    meta = Meta(n.label, None, author or names.get(n.channel or ""), epoch)
    words = Words(language([n], lang))
    subject = f"{words('Notes')}: {n.source.url}" if n.source else words("Notes")
    html = theme.render("brief.html.j2", doc=_doc(meta, theme, [n], subject, names, words), t=words,
                        item=_item(fragment, names), sources=_sources(collection, [n]))
    return _prepared(collection, theme, html, epoch)


@dataclass
class Written:
    """What a PDF product came to."""

    paths: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # URLs the fetcher refused
    failed: dict[str, str] = field(default_factory=dict)  # note path -> renderer error (exit 3)
    over: dict[str, str] = field(default_factory=dict)  # note path -> budget it ran past (exit 1)
    missing: dict[str, dict[int, None]] = field(default_factory=dict)  # note path, or "": characters drawn as boxes

    def heard(self, value: Rendered, note: str = "") -> None:
        """What a document's render said: URLs refused, characters no font has (in note, when
        the document is one note's; "" for the product)."""
        self.refused += value.refused
        if value.missing:
            self.missing.setdefault(note, {}).update(dict.fromkeys(value.missing))


def write(prepared: Prepared, target: Path, workers: Workers, cache: Cache | None = None) -> list[str]:
    """Render one document on a budget, then write atomically; returns the URLs refused."""
    (outcome,) = rendered(workers, [prepared], cache)
    if outcome.value is None:
        raise PdfError(outcome.error or "the renderer gave no PDF")
    with atomic_file(target) as tmp:
        tmp.write_bytes(outcome.value.pdf)
    return list(outcome.value.refused)


def brief_paths(notes: list[Note]) -> dict[str, str]:
    """Briefs mirror the vault: keepers/watch.md -> keepers/watch.pdf (as bundles do)."""
    return {nid: stem + ".pdf" for nid, stem in file_stems(notes).items()}


def write_briefs(collection: Collection, notes: list[Note], out: Path, workers: Workers,
                 theme: Theme | None = None, author: str | None = None,
                 epoch: int | None = None, *, unresolved: Unresolved = "text",
                 cache: Cache | None = None, lang: str | None = None) -> Written:
    """Write one PDF per note under out/, rendered by the workers, each on its budget; each
    brief speaks lang, else its note's language.

    Each file is written atomically; a brief that fails leaves no file and does not stop the
    others: a renderer error is in `failed`, a note past its budget in `over`.
    """
    theme = theme or Theme.load()
    if cache is not None:
        theme.keep_compiled(cache)
    names = channel_names(collection.notes)

    def briefs(batch: list[Note]) -> tuple[list[html_writer.Fragment], list[Prepared]]:
        fragments = html_writer.render(
            batch, "pdf", lambda nid, a: "#" + html_writer.anchor_id(nid, a), _asset(collection),
            cache=cache, **_shaping(True, unresolved, theme))
        return fragments, [_brief(collection, theme, f, names, author, epoch, lang) for f in fragments]

    # the first briefs render while the other notes' HTML is written: the workers wait for none of it
    head = FIRST_BRIEFS * workers.jobs
    fragments, prepared = briefs(notes[:head])
    if head < len(notes):
        ahead(workers, prepared, cache)
        more, later = briefs(notes[head:])
        fragments, prepared = fragments + more, prepared + later
    paths = brief_paths(notes)
    vault = Path(collection.root)
    done = Written(over={f.note.path: f"pandoc {f.failed}" for f in fragments if f.failed})
    outcomes = rendered(workers, prepared, cache)
    for n, outcome in zip(notes, outcomes, strict=True):
        if outcome.value is None:
            (done.over if outcome.over else done.failed)[n.path] = outcome.error or "no PDF"
            continue
        if n.path in done.over:
            continue
        target = out / paths[n.id]
        if not replaceable(target, vault):
            done.failed[n.path] = f"{target} is a file of the vault that exporter did not write; it is left as it is"
            continue
        try:
            with atomic_file(target) as tmp:
                tmp.write_bytes(outcome.value.pdf)
        except OSError as e:
            done.failed[n.path] = f"cannot write {target}: {e.strerror or e}"
            continue
        done.paths.append(target)
        done.heard(outcome.value, n.path)
    return done
