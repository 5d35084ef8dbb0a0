"""Turn notes into PDF dossiers and briefs: model -> HTML (jinja2 + theme) -> WeasyPrint.

With weasy.py (what reaches into WeasyPrint's internals), the only module that imports
weasyprint. Safety does not rest on the sanitizer alone: every resource WeasyPrint asks for goes
through SafeFetcher, which serves data: URLs and files inside the vault or the theme, and refuses
everything else (network, file:// elsewhere, symlinks out).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from unittest import mock

from markupsafe import Markup
from weasyprint import HTML

from exporter import __version__
from exporter.model import ast
from exporter.model.document import Block, Collection, Note, Source, channel_names, file_stems, short
from exporter.packagers.output import atomic_file, source_date_epoch
from exporter.packagers.weasy import SafeFetcher, footnotes_stay_with_their_calls
from exporter.select import part_of
from exporter.theme import Theme
from exporter.writers import html as html_writer

BRIEF_TOC_MIN = 6  # a brief lists its headings up front only when it has this many
Parts = Literal["channel", "folder", "tag", "none"]  # how the dossier contents are grouped
Unresolved = Literal["text", "plain", "error"]  # links out of the product: styled or bare label


class PdfError(Exception):
    """A PDF could not be made; the message is one line for the user."""


@dataclass(frozen=True)
class Meta:
    """What the cover and the PDF metadata say."""

    title: str
    subtitle: str | None = None
    author: str | None = None
    epoch: int | None = None  # None: SOURCE_DATE_EPOCH, else a fixed date


@dataclass(frozen=True)
class Prepared:
    """One document ready for WeasyPrint: the final HTML and where it may read from."""

    html: str
    base_url: str
    roots: tuple[str, ...]
    epoch: int  # build time, for the metadata and the fonts' own timestamps

    @property
    def identifier(self) -> bytes:
        """A /ID derived from the content, so the same input gives the same bytes."""
        return hashlib.sha256(self.html.encode("utf-8")).hexdigest()[:32].encode()


def _shape(note: Note, blocks: list[Block], own_links_only: bool,
           unresolved: Unresolved = "text") -> list[Block]:
    """Fit a note body under its template title: drop a first H1 that repeats the title (its
    id stays as an anchor), push other H1s down a level, in briefs unlink other notes, and
    with unresolved="plain" drop the unresolved styling."""
    if note.opens_with_title and blocks and blocks[0]["t"] == "Header":
        ident = blocks[0]["c"][1][0]
        blocks = ([{"t": "Div", "c": [ast.attr(ident), []]}] if ident else []) + blocks[1:]
    shift = int(any(h["c"][0] == 1 for h in ast.iter_nodes(blocks, "Header")))

    def heading(b: Block) -> Block:
        if b["t"] != "Header":
            return b
        level, (ident, classes, kvs), inlines = b["c"]
        label = ["data-label", _label(inlines)]  # the outline entry, without footnote calls
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

    blocks = ast.map_each_block(blocks, heading)
    return ast.map_inlines(blocks, unlink) if own_links_only or unresolved == "plain" else blocks


def _label(inlines: list[Any]) -> str:
    def drop(xs: list[Any]) -> list[Any]:
        return [x for x in xs if not (x.get("t") == "Span" and "footnote" in x["c"][0][1])]

    return short(" ".join(ast.stringify(ast.map_inlines([{"t": "Plain", "c": inlines}], drop)).split()))


def _sources(collection: Collection, notes: list[Note]) -> list[Source]:
    """Every video cited, embedded notes included, in order of first citation."""
    by_id = collection.by_id()
    cited: list[Note] = []
    for n in notes:
        embedded = [by_id[k] for d in ast.iter_nodes(n.blocks, "Div")
                    if (k := ast.kv(d["c"][0]).get("note", "")) in by_id]
        cited += [x for x in [n, *embedded] if x not in cited]
    return collection.sources(cited)


def _item(fragment: html_writer.Fragment, names: dict[str, str]) -> dict[str, Any]:
    """What the templates need of one note."""
    n = fragment.note
    shown = n.headings[1:] if n.opens_with_title else n.headings
    headings = [{"id": html_writer.anchor_id(n.id, h.id), "text": short(h.text)} for h in shown]
    return {
        "id": html_writer.anchor_id(n.id), "title": n.title, "label": n.label, "lang": n.lang or "en",
        "channel": names.get(n.channel or "", n.channel_name), "html": Markup(fragment.html),
        "video_url": n.source.url if n.source else None,
        "toc": headings if len(headings) >= BRIEF_TOC_MIN else [],
    }


def _doc(meta: Meta, theme: Theme, notes: list[Note], subject: str,
         names: dict[str, str]) -> dict[str, Any]:
    """Cover facts and PDF metadata; dates come from SOURCE_DATE_EPOCH, never the clock."""
    t = time.gmtime(source_date_epoch(meta.epoch))
    keywords: list[str] = []
    for n in notes:
        tags = n.meta.get("tags") or []
        for w in [names.get(n.channel or "", ""), *(tags if isinstance(tags, list) else [tags])]:
            word = short(str(w).strip(), 100)
            if word and word not in keywords:
                keywords.append(word)
    langs = {n.lang or "en" for n in notes}
    return {"title": meta.title, "subtitle": meta.subtitle, "author": meta.author,
            "subject": meta.subtitle or subject, "keywords": keywords,
            "date": f"{t.tm_mday} {time.strftime('%B %Y', t)}",
            "date_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", t),
            "lang": langs.pop() if len(langs) == 1 else "en",
            "generator": f"exporter {__version__}", "stylesheets": [Markup(css) for css in theme.css("pdf").values()]}


def _asset(collection: Collection) -> Callable[[str], str | None]:
    """Vault-relative asset -> file URL inside the vault (the fetcher checks it again)."""
    return lambda path: Path(p).as_uri() if (p := collection.assets.get(path)) else None


def _prepared(collection: Collection, theme: Theme, html: str, epoch: int | None) -> Prepared:
    roots = (collection.root, *(str(f) for f in theme.folders))
    return Prepared(html, Path(collection.root).as_uri() + "/", roots, source_date_epoch(epoch))


def prepare_dossier(collection: Collection, notes: list[Note], meta: Meta,
                    theme: Theme | None = None, *, parts: Parts = "channel",
                    unresolved: Unresolved = "text") -> Prepared:
    """The whole dossier as one HTML document, so page numbers work across notes."""
    theme = theme or Theme.load()
    ids = {n.id for n in notes}
    fragments = html_writer.render(
        notes, "pdf", lambda nid, a: "#" + html_writer.anchor_id(nid, a) if nid in ids else None,
        _asset(collection), lambda n, b: _shape(n, b, False, unresolved))
    names = channel_names(collection.notes)
    toc: list[dict[str, str]] = []  # notes, with a group line where the part changes
    channels: list[str] = []
    group = None
    for n in notes:
        name = names.get(n.channel or "", "Other notes")
        part = part_of(n, parts, names)
        if part is not None and part != group:
            toc.append({"group": part})
            group = part
        toc.append({"id": html_writer.anchor_id(n.id), "title": n.label})
        if n.channel and name not in channels:
            channels.append(name)
    subject = f"{len(notes)} notes" + (f" from {', '.join(channels)}" if channels else "")
    html = theme.render("dossier.html.j2", doc=_doc(meta, theme, notes, subject, names),
                        notes=[_item(f, names) for f in fragments], toc=toc, channels=channels,
                        sources=_sources(collection, notes))
    return _prepared(collection, theme, html, meta.epoch)


def prepare_briefs(collection: Collection, notes: list[Note], theme: Theme | None = None,
                   author: str | None = None, epoch: int | None = None, *,
                   unresolved: Unresolved = "text") -> list[Prepared]:
    """One HTML document per note, from one batched render of all bodies."""
    theme = theme or Theme.load()
    fragments = html_writer.render(
        notes, "pdf", lambda nid, a: "#" + html_writer.anchor_id(nid, a), _asset(collection),
        lambda n, b: _shape(n, b, True, unresolved))
    names = channel_names(collection.notes)
    out = []
    for f in fragments:
        n = f.note
        meta = Meta(n.label, None, author or names.get(n.channel or ""), epoch)
        subject = f"Notes on {n.source.url}" if n.source else "Notes"
        html = theme.render("brief.html.j2", doc=_doc(meta, theme, [n], subject, names),
                            item=_item(f, names), sources=_sources(collection, [n]))
        out.append(_prepared(collection, theme, html, epoch))
    return out


footnotes_stay_with_their_calls()  # patches WeasyPrint once, before any layout


def render(prepared: Prepared) -> tuple[bytes, list[str]]:
    """PDF bytes and the URLs refused; no attachments, deterministic /ID and dates."""
    fetcher = SafeFetcher(prepared.roots)
    clock = {"SOURCE_DATE_EPOCH": str(prepared.epoch)}  # else fontTools stamps fonts with now
    try:
        with mock.patch.dict(os.environ, clock):
            document = HTML(string=prepared.html, base_url=prepared.base_url,
                            url_fetcher=fetcher).render()
            document.metadata.attachments = []  # never embed a file a note merely names
            for page in document.pages:
                page.links = [link for link in page.links if link[0] != "attachment"]
            data = document.write_pdf(pdf_identifier=prepared.identifier)
    except Exception as e:  # WeasyPrint raises many kinds; the user gets one line
        message = " ".join(str(e).split())[:200] or type(e).__name__
        raise PdfError(f"WeasyPrint could not render the PDF: {message}") from None
    assert isinstance(data, bytes)
    return data, fetcher.refused


def write(prepared: Prepared, target: Path) -> list[str]:
    """Render, then write atomically: the target is the whole new PDF or left untouched."""
    data, refused = render(prepared)
    with atomic_file(target) as tmp:
        tmp.write_bytes(data)
    return refused


def brief_paths(notes: list[Note]) -> dict[str, str]:
    """Briefs mirror the vault: keepers/watch.md -> keepers/watch.pdf (as bundles do)."""
    return {nid: stem + ".pdf" for nid, stem in file_stems(notes).items()}


def _job(task: tuple[Prepared, str]) -> tuple[list[str], str | None]:
    prepared, target = task
    try:
        return write(prepared, Path(target)), None
    except (PdfError, OSError) as e:
        return [], str(e)


def write_briefs(collection: Collection, notes: list[Note], out: Path, jobs: int = 1,
                 theme: Theme | None = None, author: str | None = None,
                 epoch: int | None = None, *, unresolved: Unresolved = "text",
                 ) -> tuple[list[Path], list[str], dict[str, str]]:
    """Write one PDF per note under out/, `jobs` at a time in a process pool.

    Returns (paths written, URLs refused, {note path: error}). Each file is written atomically;
    a brief that fails leaves no file and does not stop the others.
    """
    prepared = prepare_briefs(collection, notes, theme, author, epoch, unresolved=unresolved)
    paths = brief_paths(notes)
    tasks = [(p, str(out / paths[n.id])) for p, n in zip(prepared, notes, strict=True)]
    if jobs <= 1 or len(tasks) <= 1:
        results = [_job(t) for t in tasks]
    else:
        # fork: workers start with weasyprint already imported, which saves ~1 s each
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        context = multiprocessing.get_context(method)
        with ProcessPoolExecutor(min(jobs, len(tasks)), context) as pool:
            results = list(pool.map(_job, tasks))  # one at a time: the pool stays balanced
    refused = [url for bad, _ in results for url in bad]
    failed = {n.path: error for n, (_, error) in zip(notes, results, strict=True) if error}
    written = [Path(t) for (_, t), (_, error) in zip(tasks, results, strict=True) if not error]
    return written, refused, failed
