"""The render task: a plain function of (HTML, base URL, allowed roots, date) -> PDF bytes.

Any executor can run it (pool.py runs it in worker processes). Resources come through
fetch.SafeFetcher: never from the network or from outside the vault and theme. What reaches into
WeasyPrint's internals is in weasy_patches.py, applied on import here.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from typing import Any

from exporter.packagers import weasy_patches

with weasy_patches.libraries_found_by_ldconfig():
    from weasyprint import HTML

    from exporter.packagers.fetch import SafeFetcher  # imports WeasyPrint too
import pydyf
from weasyprint.logger import LOGGER
from weasyprint.matrix import Matrix
from weasyprint.text.fonts import FontConfiguration

from exporter.packagers.pool import in_room
from exporter.packagers.task import SLOT, Facts, PdfError, Piece, Prepared, Rendered, piece_id

weasy_patches.apply()

# Laid out once where this module is imported (the workers' fork server): the first document a
# process lays out loads the English hyphenation patterns and has cffi parse the C types of
# Pango and HarfBuzz (0.2-0.4 s); workers forked after that start with both ready.
WARM = ('<!DOCTYPE html><html lang="en"><head><style>p { hyphens: auto; }</style></head><body>'
        "<h1>Lighthouse</h1><p>Lighthouse keepers <b>maintained</b> <i>clockwork</i> rotation "
        "<code>mechanisms</code> and <a href=\"#x\">signalling</a> apparatus.</p></body></html>")


# Fonts can be added to a document only by these: a document without them uses the fonts of the
# system alone, which one FontConfiguration serves for every such document a worker renders.
OWN_FONTS = ("@font-face", "@import", "<link")


class Missing(logging.Handler):
    """The characters WeasyPrint draws as boxes (.notdef), as it logs them: no font on this
    machine has them (Chinese, Devanagari, Thai... without those fonts). It said so to a logger
    no one heard, and the reader found boxes; each distinct character is kept, up to KEPT."""

    KEPT = 64

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: dict[int, None] = {}

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if (str(record.msg).startswith(".notdef glyph") and isinstance(args, tuple) and len(args) == 2
                and isinstance(args[1], int)):
            self.add(args[1])

    def add(self, char: int) -> None:
        if len(self.found) < self.KEPT:
            self.found[char] = None


@cache
def _system_fonts() -> FontConfiguration:
    """One font configuration for the documents that add no font of their own. WeasyPrint makes
    one per document by default, and a worker would keep some of each (about 0.25 MB a part)."""
    return FontConfiguration()


def render(prepared: Prepared) -> Rendered:
    """PDF bytes and the URLs refused; no attachments, deterministic /ID and dates."""
    fetcher = SafeFetcher(prepared.roots)
    html = prepared.html
    lowered = html.lower()
    fonts = FontConfiguration() if any(way in lowered for way in OWN_FONTS) else _system_fonts()
    missing = Missing()
    LOGGER.addHandler(missing)
    continued = weasy_patches.CONTINUED.set(prepared.after)
    roots = weasy_patches.ROOTS.set(prepared.root_urls)
    try:
        with _epoch(prepared.epoch):
            made = _in_pieces(prepared, fetcher, fonts, missing) if prepared.pieces else None
            if made is None:
                document = _laid_out(html, prepared, fetcher, fonts)
                made = [document.write_pdf(pdf_identifier=prepared.identifier, pdf_tags=prepared.tagged)], \
                    facts(document), (), []
    except MemoryError:
        raise  # the worker's budget says so, with the limit
    except Exception as e:  # WeasyPrint raises many kinds; the user gets one line
        message = " ".join(str(e).split())[:200] or type(e).__name__
        raise PdfError(f"WeasyPrint could not render the PDF: {message}") from None
    finally:
        LOGGER.removeHandler(missing)
        weasy_patches.CONTINUED.reset(continued)
        weasy_patches.ROOTS.reset(roots)
    pdfs = [weasy_patches.identity_encoding(data) for data in made[0]]
    found = made[1] if not made[2] else replace(made[1], cuts=tuple(map(len, pdfs)))
    return Rendered(b"".join(pdfs), tuple(fetcher.refused), found, missing=tuple(missing.found),
                    starts=made[2], pieces=tuple(made[3]))


def _laid_out(html: str, prepared: Prepared, fetcher: SafeFetcher, fonts: FontConfiguration) -> Any:
    document = HTML(string=html, base_url=prepared.base_url, url_fetcher=fetcher).render(font_config=fonts)
    document.metadata.attachments = []  # never embed a file a note merely names
    for page in document.pages:
        page.links = [link for link in page.links if link[0] != "attachment"]
    return document


def _in_pieces(prepared: Prepared, fetcher: SafeFetcher, fonts: FontConfiguration, missing: Missing
               ) -> tuple[list[bytes], Facts, tuple[int, ...], list[tuple[str, Piece]]] | None:
    """A long list (Prepared.pieces) laid out a piece of entries at a time: each piece's PDF,
    which render() puts after the other's (Facts.cuts; a later piece's cover dropped), where
    each piece started, and the pieces laid out anew. A piece's last page is laid out again as
    the next piece's first: that page starts with an entry, as it does in the whole document,
    which lays out the same from there (task.Pieces.more keeps the running header and drops the
    margins a forced break would keep); the pages before it are those of the whole. A piece
    with the HTML of one laid out before (Pieces.kept) is taken as it was: its layout depends on
    its HTML and the document's settings alone, and so does its PDF (its /ID is its own).
    None when the list fits one piece, or when no page after a piece's first starts with an
    entry (one entry longer than a page): then the whole is laid out at once."""
    p = prepared.pieces
    assert p is not None
    head, entries, tail = p.split(prepared.html)
    if sum(map(len, entries)) <= p.size:
        return None
    kept = dict(p.kept)
    pdfs: list[bytes] = []
    anchors: dict[str, int] = {}
    slots: list[tuple[int, float, float, str]] = []
    starts: list[int] = []
    made: list[tuple[str, Piece]] = []
    pages = k = 0
    while True:
        html, stop = p.piece(head, entries, tail, k)
        ident = piece_id(html, stop >= len(entries))
        piece = kept.get(ident)
        if piece is None:
            piece = _piece(html, k, stop, len(entries), prepared, fetcher, fonts)
            if piece is None:
                return None
            if p.known_as:  # (else no cache keeps it)
                made.append((ident, piece))
        else:  # what its render said, said again
            fetcher.refused.extend(piece.refused)
            for char in piece.missing:
                missing.add(char)
        starts.append(k)
        pdfs.append(piece.pdf)
        for name, at in piece.facts.anchors.items():
            anchors.setdefault(name, pages + at)
        slots += [(pages + at, x, y, target) for at, x, y, target in piece.facts.slots]
        pages += piece.facts.pages
        if piece.after is None:
            break
        k = piece.after
    return pdfs, Facts(pages, dict(sorted(anchors.items())), sorted(slots)), tuple(starts), made


def _piece(html: str, k: int, stop: int, count: int, prepared: Prepared, fetcher: SafeFetcher,
           fonts: FontConfiguration) -> Piece | None:
    """The piece of entries k to stop (of count) laid out, with what its render said; None
    when no page of it after its first starts with an entry of its own (see _in_pieces)."""
    refused, heard = len(fetcher.refused), Missing()
    LOGGER.addHandler(heard)
    try:
        document = _laid_out(html, prepared, fetcher, fonts)
        keep, after = len(document.pages), None
        if stop < count:
            # the last page that starts with an entry of its own, two entries before the piece's
            # end at least: up to there the piece lays out as the whole does
            starts = [(at, e) for at, e in _starts(document) if at >= 2 and e <= stop - 3]
            if not starts:
                return None
            keep, after = starts[-1]
        part = document.copy(document.pages[(k > 0):keep])  # a later piece's cover dropped
        found = facts(part)
        pdf = part.write_pdf(pdf_identifier=prepared.identify(html), pdf_tags=prepared.tagged)
    finally:
        LOGGER.removeHandler(heard)
    del document, part
    gc.collect()  # the piece's boxes, before the next is laid out
    return Piece(pdf, found, after, tuple(fetcher.refused[refused:]), tuple(heard.found))


def _starts(document: Any) -> list[tuple[int, int]]:
    """(page, entry) for each page whose first entry (data-entry) starts on it."""
    seen: set[int] = set()
    found = []
    for at, page in enumerate(document.pages):
        on = [int(entry) for box in page._page_box.descendants()
              if box.element_tag == "li" and box.element is not None
              and (entry := box.element.get("data-entry")) is not None]
        if on and on[0] not in seen:
            found.append((at, on[0]))
        seen.update(on)
    return found


SCALE = 0.75  # CSS pixels to PDF points, as write_pdf scales them (zoom 1)


def facts(document: Any) -> Facts:
    """A laid-out document's Facts, as its PDF's named destinations will say them, without
    reading the PDF back: each anchor's first page, and each slot where write_pdf puts it
    (WeasyPrint's matrix, pydyf's six decimals), measured from the top of its MediaBox."""
    def written(value: float) -> float:
        return float(pydyf._to_bytes(value))

    anchors: dict[str, int] = {}
    slots: list[tuple[int, float, float, str]] = []
    for k, page in enumerate(document.pages):
        top = -SCALE * page.bleed["top"]
        bottom = top + SCALE * (page.height + page.bleed["top"] + page.bleed["bottom"])
        height = written(bottom) - written(top)
        matrix = Matrix(SCALE, 0, 0, -SCALE, 0, page.height * SCALE)
        for name, (x, y, _, _) in page.anchors.items():
            if name in anchors:
                continue  # the first of a name is its destination
            anchors[name] = k
            if SLOT in name:
                px, py = matrix.transform_point(x, y)
                slots.append((k, written(px), height - written(py), name.rsplit("--", 1)[1]))
    return Facts(len(document.pages), {n: k for n, k in sorted(anchors.items()) if SLOT not in n}, sorted(slots))


@contextlib.contextmanager
def _epoch(seconds: int) -> Iterator[None]:
    """SOURCE_DATE_EPOCH set while a document renders, else fontTools stamps fonts with now."""
    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(seconds)
    try:
        yield
    finally:
        if before is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before


def warm() -> None:
    HTML(string=WARM).render(font_config=_system_fonts()).write_pdf(pdf_tags=True)


in_room(lambda _: warm(), None)  # in room, as a task renders (pool.in_room)
