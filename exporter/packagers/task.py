"""What a render task takes and gives: a plain function of a Prepared document -> Rendered.

Apart from pdf.py (which makes the documents) so that a render worker, which unpickles the task
and its argument, imports this and weasy.py alone: neither the templates nor the joining.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SLOT = "--lf"  # ids of the slots where backlinks' page numbers go: <note>--lf<k>--<target>


class PdfError(Exception):
    """A PDF could not be made; the message is one line for the user."""


def deflate(text: str) -> bytes:
    """HTML at rest: a plan holds a document, and the HTML, of each of a thousand notes."""
    return zlib.compress(text.encode("utf-8"), 1)


def inflate(data: bytes) -> str:
    return zlib.decompress(data).decode("utf-8")


@dataclass(frozen=True)
class Piece:
    """A piece of a list as it was laid out (weasy._in_pieces). The same piece HTML lays out
    the same, so after an edit elsewhere in the list (a retitled note moves one entry of the
    contents) the pieces it did not touch are taken as they are, not laid out again."""

    pdf: bytes
    facts: Facts
    after: int | None  # the entry the next piece starts at; None: the list's last piece
    refused: tuple[str, ...] = ()  # what its render said (Rendered.refused, .missing)
    missing: tuple[int, ...] = ()


@dataclass(frozen=True)
class Pieces:
    """A document that is mostly one long list (the contents, the Sources), to lay out a few
    pages at a time so that a worker holds a piece of it, not the whole (weasy._in_pieces): its
    HTML is head + "<ol>\n" + entries + tail (split); a piece after the first is more (the head
    without the list's title, over a cover that is dropped) + its entries + tail."""

    size: int  # bytes of entries a piece lays out at most
    more: str
    start: int  # where the list's "<ol>\n" is in the HTML
    end: int  # where its "</ol>" is
    # the cache key of where this list's pieces started when last laid out, the key of what a
    # piece reads besides its HTML (pdf._settings), and the pieces laid out before (by piece_id)
    # that may serve again: none changes what the document is
    known_as: str = field(default="", compare=False)
    settings: str = field(default="", compare=False)
    kept: tuple[tuple[str, Piece], ...] = field(default=(), compare=False)

    def split(self, html: str) -> tuple[str, list[str], str]:
        """(head, entries, tail) of html: one <li>...</li> an entry, as html has them."""
        body = html[self.start + len("<ol>\n"):self.end]
        return html[:self.start], ["<li" + e for e in body.split("<li")[1:]], html[self.end:]

    def piece(self, head: str, entries: list[str], tail: str, k: int) -> tuple[str, int]:
        """The HTML of the piece that starts at entry k, and the entry after its last."""
        stop, size = k + 1, len(entries[k])
        while stop < len(entries) and size + len(entries[stop]) <= self.size:
            size += len(entries[stop])
            stop += 1
        body = "".join(e.replace("<li", f'<li data-entry="{i}"', 1) for i, e in enumerate(entries[k:stop], k))
        ol = "<ol>\n" if k == 0 else f'<ol style="counter-reset: list-item {k}">\n'
        return (head if k == 0 else self.more) + ol + body + tail, stop


def piece_id(html: str, last: bool) -> str:
    """What a piece's layout depends on besides its document's settings (pdf._settings)."""
    return hashlib.sha256(html.encode("utf-8") + (b"\0last" if last else b"\0")).hexdigest()


@dataclass(frozen=True)
class Prepared:
    """One document ready for WeasyPrint: the final HTML and where it may read from."""

    packed: bytes  # the HTML, deflated: a plan holds a document for each of a thousand notes
    weight: int  # the HTML's length, for the budget
    base_url: str
    roots: tuple[str, ...]
    epoch: int  # build time, for the metadata and the fonts' own timestamps
    tagged: bool = True  # a structure tree for screen readers (footer overlays go without)
    pieces: Pieces | None = None  # the same document, as a list laid out a piece at a time
    after: int = 0  # pages its page rules count before its first (a dossier part's: weasy_patches.CONTINUED)

    @classmethod
    def of(cls, html: str, base_url: str, roots: tuple[str, ...], epoch: int, tagged: bool = True,
           pieces: Pieces | None = None, after: int = 0) -> Prepared:
        return cls(deflate(html), len(html), base_url, roots, epoch, tagged, pieces, after)

    @property
    def html(self) -> str:
        return inflate(self.packed)

    @property
    def root_urls(self) -> tuple[str, ...]:
        """The URL prefix of each folder it reads from (roots), as its HTML names files there."""
        return tuple(Path(r).as_uri().rstrip("/") + "/" for r in self.roots)

    @property
    def identifier(self) -> bytes:
        """A /ID derived from the content, so the same input gives the same bytes, wherever the
        vault lies: its files' URLs count from the folder they are in."""
        return self.identify(self.html)

    def identify(self, html: str) -> bytes:
        """The identifier of html read from these roots (a piece's is its own: Piece)."""
        for k, root in enumerate(self.root_urls):
            html = html.replace(root, f"\0{k}/")
        return hashlib.sha256(html.encode("utf-8")).hexdigest()[:32].encode()


@dataclass(frozen=True)
class Facts:
    """What a rendered document tells the joining: its pages, where its anchors are, and where
    it left slots for backlinks' page numbers (weasy.facts: as the PDF's named destinations say)."""

    pages: int
    anchors: dict[str, int]  # name -> page index
    slots: list[tuple[int, float, float, str]]  # (page index, x, y from the page's top, target id), points
    cuts: tuple[int, ...] = ()  # a document laid out in pieces: the length of each piece's PDF


def documents(data: bytes, cuts: Sequence[int] = ()) -> list[bytes]:
    """The PDFs that data holds: one, or those of a document laid out in pieces, one after the
    other (Facts.cuts), which the join takes in turn as one document."""
    if not cuts:
        return [data]
    found, at = [], 0
    for length in cuts:
        found.append(data[at:at + length])
        at += length
    if at != len(data):
        raise ValueError("the pieces do not add up to the document")
    return found


@dataclass(frozen=True)
class Rendered:
    pdf: bytes  # empty when a Spool keeps it
    refused: tuple[str, ...]  # URLs the fetcher refused
    facts: Facts  # read where it was rendered (in parallel), and kept with it in the cache
    spooled: tuple[int, int] | None = None  # where the Spool keeps the PDF: (offset, length)
    missing: tuple[int, ...] = ()  # characters drawn as boxes: no font here has them (weasy.Missing)
    starts: tuple[int, ...] = ()  # laid out in pieces: the entry each piece started at
    pieces: tuple[tuple[str, Piece], ...] = ()  # the pieces laid out anew, by piece_id, for the cache


def render(prepared: Prepared) -> Rendered:
    """The render task. WeasyPrint is imported where this runs (a worker), not by the parent."""
    from exporter.packagers import weasy

    return weasy.render(prepared)
