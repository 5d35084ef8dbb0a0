"""Turn notes into PDF dossiers and briefs: model -> HTML (jinja2 + theme) -> WeasyPrint.

The only module that imports weasyprint. Safety does not rest on the sanitizer alone: every
resource WeasyPrint asks for goes through SafeFetcher, which serves data: URLs and files inside
the vault or the theme, and refuses everything else (network, file:// elsewhere, symlinks out).
"""

from __future__ import annotations

import hashlib
import mimetypes
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import DataHandler, Request

import jinja2
from markupsafe import Markup
from weasyprint import HTML, URLFetcher, URLFetcherResponse

from exporter import __version__
from exporter.model import ast
from exporter.model.document import Block, Collection, Note, Source
from exporter.packagers.output import atomic_file, source_date_epoch
from exporter.writers import html as html_writer
from exporter.writers.markdown import bundle_path

STYLES = Path(__file__).resolve().parents[2] / "styles"
DEFAULT_THEME = "default"
BRIEF_TOC_MIN = 6  # a brief gets a contents list only when the note has this many headings


class PdfError(Exception):
    """A PDF could not be made; the message is one line for the user."""


class SafeFetcher(URLFetcher):
    """Serve data: URLs and files under the allowed roots; refuse and record anything else."""

    def __init__(self, roots: Iterable[str]) -> None:
        super().__init__(timeout=1, allowed_protocols={"data", "file"}, allow_redirects=False)
        self.roots = tuple(Path(os.path.realpath(r)) for r in roots)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        scheme = url.partition(":")[0].lower()
        if scheme == "data":
            got = DataHandler().data_open(Request(url))
            return URLFetcherResponse(url, got.read(), {"Content-Type": got.headers["Content-Type"]})
        path = self.allowed(url) if scheme == "file" else None
        if path is None:
            self.refused.append(url[:200])
            raise ValueError(f"refused to fetch {url[:80]!r}: outside the vault and theme")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})

    def allowed(self, url: str) -> Path | None:
        """The real path of a file:// URL if it lies inside a root (symlinks resolved)."""
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            return None
        path = Path(os.path.realpath(unquote(parts.path)))
        inside = any(path.is_relative_to(root) for root in self.roots)
        return path if inside and path.is_file() else None


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

    @property
    def identifier(self) -> bytes:
        """A /ID derived from the content, so the same input gives the same bytes."""
        return hashlib.sha256(self.html.encode("utf-8")).hexdigest()[:32].encode()


@dataclass
class Theme:
    """A theme folder; files it lacks come from the default theme."""

    name: str
    folders: list[Path] = field(default_factory=list)

    @classmethod
    def load(cls, name: str = DEFAULT_THEME) -> Theme:
        own = Path(name) if os.sep in name or "/" in name else STYLES / name
        if not (own / "print.css").is_file() and not (own / "templates").is_dir():
            known = sorted(p.name for p in STYLES.iterdir() if p.is_dir()) if STYLES.is_dir() else []
            raise PdfError(f"no theme {name!r} (themes: {', '.join(known) or 'none'})")
        default = STYLES / DEFAULT_THEME
        return cls(name, [own.resolve()] + ([default.resolve()] if own.resolve() != default.resolve() else []))

    def stylesheets(self) -> list[str]:
        found = [next((f / css for f in self.folders if (f / css).is_file()), None)
                 for css in ("base.css", "print.css")]
        return [p.as_uri() for p in found if p]

    def env(self) -> jinja2.Environment:
        loader = jinja2.FileSystemLoader([str(f / "templates") for f in self.folders])
        return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                                  trim_blocks=False, keep_trailing_newline=True)


def _date(epoch: int | None) -> tuple[str, str]:
    t = time.gmtime(source_date_epoch(epoch))
    return f"{t.tm_mday} {time.strftime('%B %Y', t)}", time.strftime("%Y-%m-%dT%H:%M:%SZ", t)


def _shape(note: Note, blocks: list[Block], own_links_only: bool) -> list[Block]:
    """Fit a note body under its template title: drop a first H1 that repeats the title (its
    id stays as an anchor), push any other H1 down a level, and in briefs unlink other notes."""
    if blocks and blocks[0]["t"] == "Header" and blocks[0]["c"][0] == 1 \
            and " ".join(ast.stringify(blocks[0]["c"][2]).split()).casefold() == note.title.casefold():
        ident = blocks[0]["c"][1][0]
        blocks = ([{"t": "Div", "c": [ast.attr(ident), []]}] if ident else []) + blocks[1:]
    shift = 1 if any(h["c"][0] == 1 for h in ast.iter_nodes(blocks, "Header")) else 0

    def heading(b: Block) -> Block:
        if b["t"] != "Header" or not shift:
            return b
        return {"t": "Header", "c": [min(6, b["c"][0] + shift), *b["c"][1:]]}

    def links(inlines: list[Any]) -> list[Any]:
        out = []
        for x in inlines:
            if x.get("t") == "Link" and "internal" in x["c"][0][1]:
                target = x["c"][2][0].removeprefix("#")
                if target != note.id and not target.startswith(note.id + "--"):
                    x = ast.Span(x["c"][1], ast.attr("", ["unresolved"]))
            out.append(x)
        return out

    blocks = ast.map_each_block(blocks, heading)
    return ast.map_inlines(blocks, links) if own_links_only else blocks


def _headings(note: Note) -> list[dict[str, str]]:
    """Headings of the note itself (not of embeds) as the TOC of a brief lists them."""
    return [{"id": html_writer.anchor_id(note.id, h.id), "text": h.text} for h in note.headings
            if not (h.level == 1 and h.text.casefold() == note.title.casefold())]


def _sources(collection: Collection, notes: list[Note]) -> list[Source]:
    """Every video cited, embedded notes included, in order of first citation."""
    by_id = collection.by_id()
    cited: list[Note] = []
    for n in notes:
        embedded = [by_id[k] for d in ast.iter_nodes(n.blocks, "Div")
                    if (k := ast.kv(d["c"][0]).get("note", "")) in by_id]
        for x in [n, *embedded]:
            if x not in cited:
                cited.append(x)
    return collection.sources(cited)


def _asset(collection: Collection) -> Callable[[str], str | None]:
    def url(path: str) -> str | None:
        real = collection.assets.get(path)
        return Path(real).as_uri() if real else None

    return url


def _item(fragment: html_writer.Fragment, toc: bool) -> dict[str, Any]:
    n = fragment.note
    headings = _headings(n) if toc else []
    return {
        "id": html_writer.anchor_id(n.id), "title": n.title, "lang": n.lang or "en",
        "channel": n.channel_name or n.channel, "html": Markup(fragment.html),
        "video_url": n.source.url if n.source else None,
        "toc": headings if len(headings) >= BRIEF_TOC_MIN else [],
    }


def _keywords(notes: list[Note]) -> list[str]:
    words: list[str] = []
    for n in notes:
        tags = n.meta.get("tags") or []
        for w in [n.channel_name or n.channel or "", *(tags if isinstance(tags, list) else [tags])]:
            if str(w).strip() and str(w).strip() not in words:
                words.append(str(w).strip())
    return words


def _doc(meta: Meta, theme: Theme, notes: list[Note], subject: str) -> dict[str, Any]:
    date, iso = _date(meta.epoch)
    langs = {n.lang or "en" for n in notes}
    return {"title": meta.title, "subtitle": meta.subtitle, "author": meta.author,
            "subject": meta.subtitle or subject, "keywords": _keywords(notes), "date": date,
            "date_iso": iso, "lang": langs.pop() if len(langs) == 1 else "en",
            "generator": f"exporter {__version__}", "stylesheets": theme.stylesheets()}


def _roots(collection: Collection, theme: Theme) -> tuple[str, ...]:
    return (collection.root, *(str(f) for f in theme.folders))


def prepare_dossier(collection: Collection, notes: list[Note], meta: Meta,
                    theme: Theme | None = None) -> Prepared:
    """The whole dossier as one HTML document, so page numbers work across notes."""
    theme = theme or Theme.load()
    ids = {n.id for n in notes}
    fragments = html_writer.render(
        notes, "pdf", lambda nid, a: "#" + html_writer.anchor_id(nid, a) if nid in ids else None,
        _asset(collection), lambda n, b: _shape(n, b, own_links_only=False))
    toc: list[dict[str, str]] = []
    channels: list[str] = []
    group = None
    for n in notes:
        name = n.channel_name or n.channel or "Other notes"
        if name != group:
            toc.append({"group": name})
            group = name
        toc.append({"id": html_writer.anchor_id(n.id), "title": n.title})
        if n.channel and name not in channels:
            channels.append(name)
    subject = f"{len(notes)} notes from {', '.join(channels)}" if channels else f"{len(notes)} notes"
    html = theme.env().get_template("dossier.html.j2").render(
        doc=_doc(meta, theme, notes, subject), notes=[_item(f, False) for f in fragments],
        toc=toc, channels=channels, sources=_sources(collection, notes))
    return Prepared(html, Path(collection.root).as_uri() + "/", _roots(collection, theme))


def prepare_briefs(collection: Collection, notes: list[Note], theme: Theme | None = None,
                   author: str | None = None, epoch: int | None = None) -> list[Prepared]:
    """One HTML document per note; one batched render of all bodies."""
    theme = theme or Theme.load()
    fragments = html_writer.render(
        notes, "pdf", lambda nid, a: "#" + html_writer.anchor_id(nid, a), _asset(collection),
        lambda n, b: _shape(n, b, own_links_only=True))
    template = theme.env().get_template("brief.html.j2")
    out = []
    for f in fragments:
        n = f.note
        meta = Meta(n.title, None, author or n.channel_name or n.channel, epoch)
        subject = f"Notes on {n.source.url}" if n.source else "Notes"
        html = template.render(doc=_doc(meta, theme, [n], subject), item=_item(f, True),
                               sources=_sources(collection, [n]))
        out.append(Prepared(html, Path(collection.root).as_uri() + "/", _roots(collection, theme)))
    return out


def render(prepared: Prepared) -> tuple[bytes, list[str]]:
    """PDF bytes and the URLs refused; no attachments, deterministic /ID and dates."""
    fetcher = SafeFetcher(prepared.roots)
    try:
        document = HTML(string=prepared.html, base_url=prepared.base_url,
                        url_fetcher=fetcher).render()
        document.metadata.attachments = []  # never embed a file a note merely names
        for page in document.pages:
            page.links = [link for link in page.links if link[0] != "attachment"]
        data = document.write_pdf(pdf_identifier=prepared.identifier)
    except (Exception, RecursionError) as e:  # WeasyPrint raises many kinds; report one line
        message = " ".join(str(e).split())[:200] or type(e).__name__
        raise PdfError(f"WeasyPrint could not render the PDF: {message}") from None
    assert isinstance(data, bytes)
    return data, fetcher.refused


def write(prepared: Prepared, target: Path) -> list[str]:
    """Render and write atomically: the target is either the whole new PDF or untouched."""
    data, refused = render(prepared)
    with atomic_file(target) as tmp:
        tmp.write_bytes(data)
    return refused


def brief_path(note: Note) -> str:
    """The brief of keepers/daily_watch_routine.md is keepers/daily_watch_routine.pdf."""
    return bundle_path(note).removesuffix(".md") + ".pdf"


def _job(args: tuple[Prepared, str]) -> tuple[list[str], str | None]:
    prepared, target = args
    try:
        return write(prepared, Path(target)), None
    except (PdfError, OSError) as e:
        return [], str(e)


def write_briefs(collection: Collection, notes: list[Note], out: Path, jobs: int = 1,
                 theme: Theme | None = None, author: str | None = None,
                 epoch: int | None = None) -> tuple[list[Path], list[str], dict[str, str]]:
    """Write one PDF per note under out/, jobs at a time in a process pool.

    Returns (written paths, refused URLs, {note path: error}). Each file is written atomically;
    a failed brief leaves no file and does not stop the others.
    """
    prepared = prepare_briefs(collection, notes, theme, author, epoch)
    tasks = [(p, str(out / brief_path(n))) for p, n in zip(prepared, notes, strict=True)]
    if jobs <= 1 or len(tasks) <= 1:
        results = [_job(t) for t in tasks]
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context) as pool:
            results = list(pool.map(_job, tasks, chunksize=max(1, len(tasks) // (jobs * 8))))
    written, refused, failed = [], [], {}
    for (_, target), note, (bad, error) in zip(tasks, notes, results, strict=True):
        refused += bad
        if error:
            failed[note.path] = error
        else:
            written.append(Path(target))
    return written, refused, failed
