"""Package notes as an EPUB 3 collection: the shared HTML writer's chapters, assembled by EbookLib.

The only module that imports ebooklib. The writer's HTML5 (raw HTML from notes passes through
it) is rebuilt as well-formed XHTML by xhtml.py, with a second safety pass: an allow-list of
elements and attributes, links only to ids that exist, images only from files packed from the vault.
EbookLib 0.20 stamps the clock and a random uuid into its output, so the book gets a uuid5
derived from its content and the zip is written with fixed dates: same input, same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import unicodedata
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from ebooklib import epub
from lxml import etree
from markupsafe import Markup

from exporter import __version__, i18n
from exporter import cache as store
from exporter.cache import Cache
from exporter.model import ast
from exporter.model.document import NOT_XML, Block, Collection, Note, backlinks, channel_names
from exporter.packagers import cover, xhtml
from exporter.packagers.output import GENERATOR, Deflate, Zip, atomic_file, source_date_epoch
from exporter.packagers.xhtml import EPUB_TYPE
from exporter.readers.images import MAX_PIXELS
from exporter.select import part_of
from exporter.theme import Theme
from exporter.writers.html import anchor_id, render, settled_alike

IMAGES = {b"\x89PNG\r\n\x1a\n": ("png", "image/png"), b"\xff\xd8\xff": ("jpg", "image/jpeg"),
          b"GIF87a": ("gif", "image/gif"), b"GIF89a": ("gif", "image/gif")}
Problems = list[tuple[str, str, str]]  # (diagnostic code, vault path, message)


class EpubError(RuntimeError):
    """The book could not be made; the message is one line for the user."""


@dataclass(frozen=True)
class BookMeta:
    title: str
    author: str | None = None  # None: the channel when there is only one, else "Various"
    subtitle: str | None = None
    lang: str | None = None  # None: the most common note language (no lang counts as "en")
    parts: str = "channel"  # channel | folder | none


@dataclass
class Built:
    path: Path
    chapters: int
    problems: Problems = field(default_factory=list)


# ---- chapters: the writer's HTML5 fitted under the chapter title (xhtml.py re-checks it) ----

def _shape(note: Note, blocks: list[Block]) -> list[Block]:
    """Fit a body under the chapter title as the PDF does: drop a first H1 repeating the title
    (its id stays as an anchor) and push the other H1s down a level."""
    h1s = sum(h.level == 1 for h in note.headings)
    if note.opens_with_title and blocks and blocks[0]["t"] == "Header":
        ident, h1s = blocks[0]["c"][1][0], h1s - 1
        blocks = ([{"t": "Div", "c": [ast.attr(ident), []]}] if ident else []) + blocks[1:]
    if h1s <= 0:
        return blocks
    return ast.map_each_block(blocks, lambda b: b if b["t"] != "Header" else
                              {"t": "Header", "c": [min(6, b["c"][0] + 1), *b["c"][1:]]})


# ---- the book: assets, parts, metadata, pages, and a reproducible zip ----

def _assets(collection: Collection, notes: list[Note], problems: Problems
            ) -> dict[str, tuple[str, str, bytes]]:
    """Vault path -> (file in the book, media type, bytes): raster images inside the vault only."""
    root = os.path.realpath(collection.root)
    packed: dict[str, tuple[str, str, bytes]] = {}
    for rel in sorted({a for n in notes for a in n.assets}):
        real = os.path.realpath(collection.assets.get(rel, os.path.join(root, rel)))
        if not real.startswith(root + os.sep):
            problems.append(("outside-vault", rel, "not packed in the EPUB: not in the vault"))
            continue
        try:  # read here, whatever collecting found (a file made unreadable since, kept in the cache)
            data = Path(real).read_bytes()
        except OSError as e:  # it failed the whole book, naming the book
            problems.append(("missing-embed", rel, f"not packed in the EPUB: it cannot be read ({e.strerror or e})"))
            continue
        kind = next((v for k, v in IMAGES.items() if data.startswith(k)), None)
        if kind is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            kind = ("webp", "image/webp")
        if kind is None:
            problems.append(("missing-embed", rel, "not packed in the EPUB: only PNG, JPEG, GIF "
                             "and WebP images are"))
            continue
        if broken := _damaged(data):
            problems.append(("missing-embed", rel, f"not packed in the EPUB: {broken}"))
            continue
        stem = unicodedata.normalize("NFKD", rel.rsplit("/", 1)[-1].rsplit(".", 1)[0])
        slug = re.sub(r"[^a-z0-9]+", "-", stem.encode("ascii", "ignore").decode().lower())
        packed[rel] = (f"img/{len(packed) + 1:03d}-{slug.strip('-')[:40]}.{kind[0]}", kind[1], data)
    return packed


def _damaged(data: bytes) -> str | None:
    """Why Pillow cannot read an image whose header looked right, else None: a corrupt image
    in the book fails EPUBCheck (PKG-021) and shows broken in readers."""
    from PIL import Image, UnidentifiedImageError  # here: a book without images needs none of it

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:  # only linked (see readers/images.py): not decoded
                return f"an image of {im.width:,} x {im.height:,} pixels, too large to pack"
            im.verify()  # chunk checksums and structure
        with Image.open(io.BytesIO(data)) as im:  # verify() leaves it unusable: decode afresh
            im.load()
    except UnidentifiedImageError:
        return "a damaged image (Pillow cannot read it)"
    except Exception as e:  # Pillow raises many kinds (OSError, SyntaxError, ValueError...)
        why = re.sub(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>", "", str(e)).strip() or type(e).__name__
        return f"a damaged image ({why})"
    return None


def accessibility(images: bool, math: bool, words: i18n.Words) -> list[tuple[str, str]]:
    """schema.org accessibility metadata that says what the book is (EPUB Accessibility 1.1):
    text first, with structure to move through it; images with alt text; MathML where there is
    math; nothing that flashes, moves or sounds."""
    modes = ["textual", *(["visual"] if images else [])]
    features = ["structuralNavigation", "tableOfContents", "readingOrder", "displayTransformability",
                *(["alternativeText"] if images else []), *(["MathML"] if math else [])]
    return [*(("schema:accessMode", m) for m in modes),
            ("schema:accessModeSufficient", "textual"),
            *((("schema:accessModeSufficient", "textual,visual"),) if images else ()),
            *(("schema:accessibilityFeature", f) for f in features),
            ("schema:accessibilityHazard", "none"),
            # Ace by DAISY finds no violation in books made from the sample, real and hostile notes
            ("dcterms:conformsTo", "EPUB Accessibility 1.1 - WCAG 2.1 Level AA"),
            ("schema:accessibilitySummary", words(
                "Text with headings, a table of contents, footnotes that link both ways and images "
                "described by alternative text; no flashing, motion or sound."))]


def _identifier(root: str, notes: list[Note], meta: BookMeta, assets: dict[str, Any]) -> str:
    """A urn:uuid from titles, paths and bytes: the same book keeps its identity in libraries."""
    h = hashlib.sha256(f"{meta.title}\0{meta.author}\0{meta.parts}".encode())
    for n in notes:
        path = Path(root) / n.path
        data = path.read_bytes() if path.is_file() else b""
        h.update(f"\0{n.path}\0{n.title}\0".encode() + hashlib.sha256(data).digest())
    for rel, (_, _, data) in sorted(assets.items()):
        h.update(rel.encode() + hashlib.sha256(data).digest())
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'exporter:epub:' + h.hexdigest())}"


def _groups(notes: list[Note], parts: str, words: i18n.Words) -> tuple[list[str], list[tuple[str, list[Note]]]]:
    """Channel names (a label that differs from the slug wins, as in the PDF), and the parts in
    order of first appearance, each keeping the notes' order."""
    names = channel_names(notes)
    groups: dict[str, list[Note]] = {}
    for n in notes:
        groups.setdefault(part_of(n, parts, names, words) or "", []).append(n)
    return list(names.values()), list(groups.items())


def _item(uid: str, file: str, title: str, xhtml: str, math: bool = False) -> epub.EpubHtml:
    """A page finished here: EbookLib's EpubHtml would re-parse it as HTML and lose MathML."""
    item = epub.EpubHtml(uid=uid, file_name=file, title=title)
    data = xhtml.encode("utf-8")
    item.get_content = lambda *_: data
    item.properties = ["mathml"] if math else []
    return item


class _Writer(epub.EpubWriter):
    """EbookLib's writer with our zip (not write_epub, which swallows errors), a fixed
    dcterms:modified, and landmarks hidden from readers that show the nav as a page."""

    def __init__(self, name: str, book: epub.EpubBook, epoch: int, landmarks: str = "Landmarks",
                 cache: Cache | None = None) -> None:
        super().__init__(name, book, {"mtime": datetime.fromtimestamp(epoch, UTC),
                                      "epub3_pages": False, "landmark_title": landmarks,
                                      "play_order": {"enabled": True, "start_from": 1}})
        self.epoch = epoch  # level 6: what books were always deflated at (zipfile's default for a ZipInfo)
        self.deflate = Deflate(6, cache, [i.get_content() for i in book.get_items()
                                          if not isinstance(i, epub.EpubNcx | epub.EpubNav)])

    def write(self) -> None:
        with Zip(self.file_name, self.epoch, self.deflate) as self.out:
            self.out.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
            self._write_container()
            self._write_opf()
            self._write_items()
        self.deflate.keep()

    def _write_opf_file(self, root: Any) -> None:
        """The package says its language too (xml:lang), as accessibility checkers expect."""
        root.set("{http://www.w3.org/XML/1998/namespace}lang", self.book.language)
        super()._write_opf_file(root)

    def _get_nav(self, item: Any) -> bytes:
        root = etree.fromstring(super()._get_nav(item))
        for nav in root.iter("{http://www.w3.org/1999/xhtml}nav"):
            if nav.get(EPUB_TYPE) == "landmarks":
                nav.set("hidden", "hidden")
        return bytes(etree.tostring(root, encoding="utf-8", xml_declaration=True))


@dataclass(frozen=True)
class _Chapter:
    digest: str  # of its body: what its page's key takes instead of the body itself
    math: bool
    removed: list[str]  # what the XHTML pass took out
    body: str | None = None  # the chapter's XHTML, links settled; None: kept in the cache (_Chapters.bodies)


@dataclass
class _Chapters:
    chapters: dict[str, _Chapter]
    bodies: Callable[[list[str]], dict[str, str]]  # note ids -> their chapters' XHTML


def _digest(xml: str) -> str:
    return store.key("chapter body", xml)


def _decoded(data: bytes | None, fields: tuple[str, ...]) -> dict[str, Any] | None:
    try:
        entry = orjson.loads(data) if data is not None else None
    except orjson.JSONDecodeError:
        return None
    return entry if isinstance(entry, dict) and all(f in entry for f in fields) else None


KEPT = ("hrefs", "images", "ids", "links", "math", "removed", "digest")


def _chapters(notes: list[Note], files: dict[str, str], assets: dict[str, tuple[str, str, bytes]],
              href: Callable[[str, str], str | None], more: dict[str, set[str]], unresolved: str,
              cache: Cache, problems: Problems, words: i18n.Words) -> _Chapters:
    """Each note's chapter body: from the shared HTML writer, rebuilt as XHTML (xhtml.py), its
    links to other chapters settled. A chapter depends on its note's blocks (note.ident) and on
    where its links and images go in this book: the cache keeps it with those answers, and
    gives it back while they still hold and every link still lands on an id that exists. What
    that check reads is kept apart from the chapter's HTML and XHTML (_body), which a rebuild
    reads only for the pages it writes again: a thousand chapters' were 24 MB to read and decode."""
    images = {name for name, _, _ in assets.values()}
    by_id = {n.id: n for n in notes}

    def image(a: str) -> str | None:
        return assets[a][0] if a in assets else None

    keys = {n.id: store.key("epub-chapter", store.code(), n.ident, n.title, unresolved, words.lang) for n in notes}
    found = cache.get_many(list(keys.values())) if cache.enabled else {}
    entries: dict[str, dict[str, Any]] = {}
    for n in notes:
        entry = _decoded(found.get(keys[n.id]), KEPT)
        if entry and settled_alike(entry["hrefs"], entry["images"], href, image):
            entries[n.id] = entry
    cache.touch(_body(keys[nid]) for nid in entries)
    pages: dict[str, xhtml.Page] = {}

    def write(todo: list[Note]) -> None:
        made: dict[str, bytes] = {}
        for f in render(todo, "epub", href, image, _shape, unresolved, cache, words("Back to the text")):
            if f.failed:
                problems.append(("over-budget", f.note.path, f"pandoc {f.failed}; the note is left out of the book"))
            page = pages[f.note.id] = xhtml.page(f.note.id, files[f.note.id], f.html, images)
            if not f.failed and cache.enabled:
                xml = str(xhtml.serialize(page.body))
                k = keys[f.note.id]
                made[k] = orjson.dumps({
                    "hrefs": f.links, "images": f.images, "ids": sorted(page.ids),
                    "links": [a.get("href") for a in page.links], "math": page.math,
                    "removed": sorted(page.removed), "digest": _digest(xml)})
                made[_body(k)] = orjson.dumps({"html": f.html, "xml": xml})
        cache.put_many(made)

    def held(nids: list[str]) -> tuple[dict[str, dict[str, Any]], list[Note]]:
        """The HTML and XHTML the cache keeps of these chapters, and the notes of those it lost."""
        kept = cache.get_many([_body(keys[nid]) for nid in nids])
        found = {nid: b for nid in nids if (b := _decoded(kept.get(_body(keys[nid])), ("html", "xml"))) is not None}
        return found, [by_id[nid] for nid in nids if nid not in found]

    write([n for n in notes if n.id not in entries])
    ids = {files[nid]: set(e["ids"]) for nid, e in entries.items()} | more
    ids |= {p.file: p.ids for p in pages.values()}
    again = [nid for nid, e in entries.items() if not all(xhtml.lands(h, files[nid], ids) for h in e["links"])]
    if again:  # a link that no longer lands: the chapter is settled again, from its HTML
        from_cache, lost = held(again)
        for nid, body in from_cache.items():
            pages[nid] = xhtml.page(nid, files[nid], body["html"], images)
        write(lost)  # its HTML left the cache: written again
    xhtml.settle(list(pages.values()), ids)
    out = {nid: _Chapter(e["digest"], e["math"], e["removed"]) for nid, e in entries.items() if nid not in pages}
    for nid, page in pages.items():
        xml = str(xhtml.serialize(page.body))
        out[nid] = _Chapter(_digest(xml), page.math, sorted(page.removed), xml)

    def bodies(nids: list[str]) -> dict[str, str]:
        """The chapters' XHTML; one whose body left the cache since is written again."""
        got = {nid: xml for nid in nids if (xml := out[nid].body) is not None}
        found, lost = held([nid for nid in nids if nid not in got])
        got |= {nid: body["xml"] for nid, body in found.items()}
        if lost:
            before = set(pages)
            write(lost)
            xhtml.settle([p for nid, p in pages.items() if nid not in before], ids)
            got |= {n.id: str(xhtml.serialize(pages[n.id].body)) for n in lost}
        return got

    return _Chapters(out, bodies)


def _body(key: str) -> str:
    """Where a chapter's HTML and XHTML are kept, beside what says whether it holds (key)."""
    return store.key(key, "body")


def _pages(notes: list[Note], chapters: _Chapters, files: dict[str, str],
           back: dict[str, list[Note]], fill: Callable[..., str], cache: Cache, salt: str,
           words: i18n.Words) -> dict[str, str]:
    """Each note's chapter page, from the chapter template. A page depends on the book (salt:
    its metadata, theme and stylesheets) and on what the template is given; the note itself
    by its ident (its file, links and embeds) and what other notes make of it (id, title,
    channel name, language, backlinks), its chapter by its digest. The cache keeps pages under
    a key of all that."""
    given: dict[str, dict[str, Any]] = {}
    keys: dict[str, str] = {}
    for n in notes:
        title = n.label.strip() or words("Untitled")
        chapter = chapters.chapters[n.id]
        values = given[n.id] = {"title": title, "page_lang": n.lang or words.lang, "note": n,
                                "video_url": n.source.url if n.source else None,
                                "backlinks": [(x.label, files[x.id]) for x in back.get(n.id, [])]}
        keys[n.id] = store.key(salt, n.id, n.ident, n.title, n.channel_name or "\0", n.lang or "\0",
                               "\0".join(n.linked_from), title, values["page_lang"], chapter.digest,
                               values["video_url"] or "\0", orjson.dumps(values["backlinks"]))
    found = cache.get_many(list(keys.values())) if cache.enabled else {}
    out: dict[str, str] = {}
    made: dict[str, bytes] = {}
    for n in notes:
        with contextlib.suppress(UnicodeDecodeError):  # not a page: made again
            if (data := found.get(keys[n.id])) is not None:
                out[n.id] = data.decode("utf-8")
    bodies = chapters.bodies([n.id for n in notes if n.id not in out])
    for n in notes:
        if n.id not in out:
            values = given[n.id]
            out[n.id] = fill("chapter", n.id, values.pop("title"), values.pop("page_lang"),
                             body=Markup(bodies[n.id]), **values)
            made[keys[n.id]] = out[n.id].encode("utf-8")
    cache.put_many(made)
    return out


def package(collection: Collection, notes: list[Note], out: Path, meta: BookMeta,
            theme: Theme | None = None, epoch: int | None = None, unresolved: str = "text",
            cache: Cache | None = None) -> Built:
    """Write the EPUB atomically; returns what was written and the problems met on the way."""
    if not notes:
        raise EpubError("no notes to put in the book")
    meta = replace(meta, title=NOT_XML.sub("", meta.title),  # the book is XML
                   author=meta.author and NOT_XML.sub("", meta.author),
                   subtitle=meta.subtitle and NOT_XML.sub("", meta.subtitle))
    theme, epoch, built = theme or Theme.load(), source_date_epoch(epoch), Built(out, len(notes))
    if cache is not None:
        theme.keep_compiled(cache)
    css, lang, date = {f"css/{k}": v for k, v in theme.css("epub").items()}, i18n.language(notes, meta.lang), datetime.fromtimestamp(epoch, UTC)
    assets = _assets(collection, notes, built.problems)
    files = {n.id: f"{n.id}.xhtml" for n in notes}
    words = i18n.Words(lang)
    channels, groups = _groups(notes, meta.parts, words)
    author = meta.author or (channels[0] if len(channels) == 1 else words("Various"))

    def href(note_id: str, anchor: str) -> str | None:
        file = files.get(note_id)
        return file and file + ("#" + anchor_id(note_id, anchor) if anchor else "")

    def fill(kind: str, uid: str, title: str, page_lang: str, **values: Any) -> str:
        return theme.render(f"epub-{kind}.xhtml.j2", uid=uid, title=title, kind=kind, book=meta,
                            lang=page_lang, styles=list(css), author=author, t=words, **values)

    def page(kind: str, uid: str, title: str, page_lang: str = lang, **values: Any) -> epub.EpubHtml:
        title = title.strip() or words("Untitled")
        return _item(uid, f"{uid}.xhtml", title, fill(kind, uid, title, page_lang, **values))

    # chapters: the shared HTML writer (one batched pandoc run), rebuilt as XHTML
    more = {f"part-{i}.xhtml": {f"part-{i}"} for i in range(1, len(groups) + 1)} | {"sources.xhtml": {"sources"}}
    pages = _chapters(notes, files, assets, href, more, unresolved, cache or Cache.off(), built.problems, words)

    book = epub.EpubBook()
    # how a later run knows the book for its own, which it may replace (output.made_here)
    book.set_unique_metadata("OPF", "generator", "", {"name": "generator", "content": f"{GENERATOR} {__version__}"})
    book.set_identifier(_identifier(collection.root, notes, meta, assets))
    book.set_title(meta.title)
    book.set_language(lang)
    book.add_author(author)
    book.add_metadata("DC", "date", f"{date:%Y-%m-%dT%H:%M:%SZ}")
    if meta.subtitle:
        book.add_metadata("DC", "description", meta.subtitle)
    for prop, value in accessibility(bool(assets), any(p.math for p in pages.chapters.values()), words):
        book.add_metadata(None, "meta", value, {"property": prop})
    for name, media_type, data in [(n, "text/css", t.encode()) for n, t in css.items()] + \
            list(assets.values()):
        book.add_item(epub.EpubItem(uid=re.sub(r"[/.]", "-", name), file_name=name,
                                    media_type=media_type, content=data))

    # front matter: the generated cover (image and page), title page, contents
    facts = words.notes(len(notes)) + (f" · {words.channels(len(channels))}" if channels else "")
    book.set_cover("cover.png", cover.png(meta.title, meta.subtitle, facts, author, "\n".join(css.values()), cache),
                   create_page=False)
    front = [page("cover", "cover", meta.title, image="cover.png"),
             page("title", "title", meta.title, count=len(notes), channels=channels,
                  date=words.date(date))]
    nav = epub.EpubNav(title=words("Contents"))
    for name in css:
        nav.add_link(href=name, rel="stylesheet", type="text/css")

    # body: part pages when asked, one chapter per note; then the Sources appendix
    body: list[epub.EpubHtml] = []
    toc: list[Any] = []
    back = backlinks(notes) if theme.backlinks else {}
    chapters = _pages(notes, pages, files, back, fill, cache or Cache.off(), store.key(
        "epub-page", store.code(), theme.fingerprint, repr(meta), author, lang, *css), words)
    for i, (label, members) in enumerate(groups, 1):
        links = [epub.Link(files[n.id], n.label.strip() or words("Untitled"), "toc-" + n.id)
                 for n in members]
        if meta.parts == "none":
            toc += links
        else:
            body.append(page("part", f"part-{i}", label, label=label, count=len(members)))
            toc.append((epub.Section(label, f"part-{i}.xhtml"), links))
        for n in members:
            p = pages.chapters[n.id]
            built.problems += [("unsafe-content", n.path, f"removed from the EPUB: {what}")
                               for what in p.removed]
            body.append(_item(n.id, files[n.id], n.label.strip() or words("Untitled"), chapters[n.id], p.math))
    if sources := collection.sources(notes):
        cited: dict[str, list[Note]] = {}
        for n in notes:
            for vid in dict.fromkeys(c.video_id for c in n.citations if c.video_id):
                cited.setdefault(vid, []).append(n)
        body.append(page("sources", "sources", words("Sources"), sources=sources, cited=cited,
                         files=files))
        toc.append(epub.Link("sources.xhtml", words("Sources"), "toc-sources"))

    for item in [*front, *body, epub.EpubNcx(), nav]:
        book.add_item(item)
    book.toc, book.spine = toc, [*front, nav, *body]
    book.guide = [{"type": "cover", "href": "cover.xhtml", "title": words("Cover")},
                  {"type": "toc", "href": "nav.xhtml", "title": words("Contents")},
                  {"type": "text", "href": body[0].file_name, "title": words("Start")}]
    try:
        with atomic_file(out) as tmp:
            _Writer(str(tmp), book, epoch, words("Landmarks"), cache).write()
    except (OSError, ValueError, etree.LxmlError, zipfile.BadZipFile, epub.EpubException) as e:
        raise EpubError(f"cannot write {out}: {getattr(e, 'strerror', None) or e}") from e
    return built
