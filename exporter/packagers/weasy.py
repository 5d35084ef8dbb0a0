"""The render task, and everything that reaches into WeasyPrint beyond its public API.

render() is a plain function of (HTML, base URL, allowed roots, date) -> PDF bytes, so any
executor can run it (pool.py runs it in worker processes). SafeFetcher subclasses WeasyPrint's
URLFetcher so that no resource comes from the network or from outside the vault and theme;
footnotes_stay_with_their_calls() patches an internal layout function of WeasyPrint 70, which is
why weasyprint is pinned to 70.x.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import unquote, urlsplit
from urllib.request import DataHandler, Request

from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse


class PdfError(Exception):
    """A PDF could not be made; the message is one line for the user."""


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

    @property
    def weight(self) -> int:
        return len(self.html)


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    refused: tuple[str, ...]  # URLs the fetcher refused


def render(prepared: Prepared) -> Rendered:
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
    except MemoryError:
        raise  # the worker's budget says so, with the limit
    except Exception as e:  # WeasyPrint raises many kinds; the user gets one line
        message = " ".join(str(e).split())[:200] or type(e).__name__
        raise PdfError(f"WeasyPrint could not render the PDF: {message}") from None
    assert isinstance(data, bytes)
    return Rendered(identity_encoding(data), tuple(fetcher.refused))


CIDCHAR = re.compile(rb"<([0-9a-fA-F]{4})>\s+(\d+)")


def identity_encoding(data: bytes) -> bytes:
    """Give every font the Identity-H encoding that text extractors expect.

    When a character is missing from a font, WeasyPrint 70 encodes that whole font with a custom
    CMap (WP-Encod-0) that sends the missing glyphs to .notdef; pypdf then reads every word set
    in that font as byte garbage. The same drawing is Identity-H plus a CIDToGIDMap that sends
    those glyphs to .notdef (glyph 0), which is what this writes instead.
    """
    if b"/WP-Encod-" not in data:
        return data
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        for obj in pdf.objects:
            encoding = obj.get("/Encoding") if isinstance(obj, pikepdf.Dictionary) else None
            if not isinstance(encoding, pikepdf.Stream) or not str(encoding.get("/CMapName", "")).startswith(
                    "/WP-Encod-"):
                continue
            pairs = {int(code, 16): int(cid) for code, cid in CIDCHAR.findall(encoding.read_bytes())}
            gids = bytearray(2 * (max(pairs, default=0) + 1))
            for code in range(len(gids) // 2):
                gids[2 * code:2 * code + 2] = pairs.get(code, code).to_bytes(2, "big")
            obj.DescendantFonts[0].CIDToGIDMap = pdf.make_stream(bytes(gids))
            obj.Encoding = pikepdf.Name.Identity_H
        out = io.BytesIO()
        pdf.save(out, deterministic_id=True, fix_metadata_version=False)
    return out.getvalue()


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


def footnotes_stay_with_their_calls() -> None:
    """Work around WeasyPrint 70 moving footnotes away from their calls, or losing them.

    When a line overflows the page and orphans forbid breaking before it, WeasyPrint moves the
    page's last footnotes to the next page to make room and keeps the line; the footnotes the
    line itself calls are then never laid out and vanish. Undo such moves and give the block up
    instead (it starts the next page, as without footnotes); on an otherwise empty page, place
    a lost footnote after the moved ones.
    """
    from weasyprint.layout import block

    original = getattr(block, "_linebox_layout", None)
    if original is None or getattr(original, "patched", False):
        return

    def patched(context: Any, box: Any, index: int, child: Any, new_children: list[Any],
                page_is_empty: bool, absolute: Any, fixed: Any, margins: Any, bottom_space: float,
                *args: Any) -> Any:
        before = len(context.reported_footnotes)
        result = original(context, box, index, child, new_children, page_is_empty, absolute,
                          fixed, margins, bottom_space, *args)
        abort, stop, new_footnotes = result[0], result[1], result[4]
        moved = context.reported_footnotes[before:]
        if moved and not page_is_empty:
            del context.reported_footnotes[before:]
            context.current_page_footnotes.extend(moved)
            context._update_footnote_area()
            last = new_children[-1] if new_children else None
            kept = stop and not abort and last is not None and context.overflows_page(
                bottom_space, last.position_y + last.height)  # it fitted only thanks to the move
            return (True, False, *result[2:]) if kept else result
        if stop and not abort and new_children:
            for b in new_children[-1].descendants():
                if (footnote := getattr(b, "footnote", None)) in context.footnotes:
                    if context.layout_footnote(footnote) or context.reported_footnotes:
                        context.report_footnote(footnote)
                    new_footnotes.append(footnote)
        return result

    patched.patched = True  # type: ignore[attr-defined]
    patched.original = original  # type: ignore[attr-defined]
    block._linebox_layout = patched


footnotes_stay_with_their_calls()  # patches WeasyPrint once, before any layout
