"""Collection, Note, Citation, Source: the normalized model between transforms and writers.

A note body is a list of pandoc JSON blocks (the pandoc AST, as dicts), already normalized:

- a resolved link to another note is ``Link`` with class ``internal`` and key/values
  ``note=<note id>`` and optionally ``anchor=<heading id>``; its URL is empty until a writer
  decides what it is in its product (relative .md path, page jump, chapter href);
- an unresolved link is ``Span`` with class ``unresolved`` holding the label;
- an embedded asset is ``Image`` with key ``asset=<vault-relative path>``;
- a citation is a pandoc ``Note`` (footnote) holding one ``Para`` with class-free inlines;
  the ``Note`` is preceded by an empty ``Span`` with class ``citation`` and ``n=<index>``
  pointing into ``Note.citations``, so writers can restyle footnotes without re-parsing;
- headings carry unique ids (unique within the note).
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

Block = dict[str, Any]
Inline = dict[str, Any]

YOUTUBE = "https://www.youtube.com/watch?v="
LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}$")  # a language tag (BCP 47, loosely)
LABEL_MAX = 200  # characters of a title or heading that chrome shows (contents, headers, outline)
# Characters no XML document may hold (an EPUB is XML): control characters but tab and line
# ends, lone surrogates, and the two non-characters U+FFFE and U+FFFF.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def pack(blocks: list[Block]) -> bytes:
    """Blocks at rest: their JSON deflated, about a tenth of the JSON and a two-hundredth of the
    dicts (a vault of a thousand notes is held as a few MB). TypeError when too deep for orjson."""
    return zlib.compress(orjson.dumps(blocks), 1)


def unpack(data: bytes) -> list[Block]:
    """Blocks from pack(), a fresh copy at each call; ValueError when damaged."""
    try:
        return list(orjson.loads(zlib.decompress(data)))
    except zlib.error as e:
        raise ValueError(f"packed blocks: {e}") from e


def short(text: str, limit: int = LABEL_MAX) -> str:
    """text cut for chrome, at a word where one is near: a title of 300,000 characters must not
    fill the contents, every running header, the outline and every link and citation naming it."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ", limit // 2)
    return (cut[:space] if space > 0 else cut).rstrip() + "…"


# Moments, citations and headings are named tuples, not frozen dataclasses: a vault of a thousand
# notes has tens of thousands, made again from the cache in every build (five times faster so).
class Moment(NamedTuple):
    """One cited instant of a video."""

    seconds: int
    label: str  # human form, "1:33" or "1:04:14"
    url: str | None  # deep link; None when the note has no videoId


class Citation(NamedTuple):
    """One run of timestamp spans: one footnote."""

    video_id: str | None
    title: str
    channel: str | None
    moments: tuple[Moment, ...]


class Heading(NamedTuple):
    level: int
    text: str
    id: str


@dataclass(frozen=True)
class Source:
    """A cited video, for the Sources lists."""

    video_id: str
    title: str
    channel: str | None

    @property
    def url(self) -> str:
        return YOUTUBE + self.video_id


@dataclass
class Note:
    id: str  # stable slug, unique in the vault; used for anchors and file names
    path: str  # vault-relative POSIX path of the source file
    title: str
    meta: dict[str, Any]  # frontmatter as read (JSON-safe values)
    channel: str | None  # channel slug from the byline
    channel_name: str | None  # display name of the channel (label or slug)
    video_id: str | None
    lang: str | None
    headings: list[Heading] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)  # vault-relative paths this note embeds
    embedded: list[str] = field(default_factory=list)  # ids of the notes it embeds, at any depth, in order
    reading: str = "none"  # timestamp reading chosen: "H:MM:SS", "MM:SS", "mixed", "none"
    front: str = ""  # the frontmatter block exactly as the file holds it (archives keep it)
    linked_from: list[str] = field(default_factory=list)  # ids of the notes linking to or embedding it
    # the identity of the blocks for the caches: same ident, same blocks (see collect.py)
    ident: str = ""
    # The body at rest is packed (see pack), each body decoded when a writer asks for it. A body
    # nesting deeper than orjson writes (left out later, see collect.py) stays as it is.
    _packed: bytes | None = field(default=None, repr=False)
    _deep: list[Block] | None = field(default=None, repr=False)
    _load: Callable[[], list[Block]] | None = field(default=None, repr=False, compare=False)
    _first: Block | None = field(default=None, repr=False, compare=False)  # for opens_with_title

    @property
    def blocks(self) -> list[Block]:
        """The normalized body, a fresh copy each time; a note the cache holds is loaded on first use."""
        if (loaded := self._loaded()) is not None:
            return loaded  # packed just now: the caller's copy
        if self._deep is not None:
            return self._deep
        return unpack(self._packed) if self._packed is not None else []

    @blocks.setter
    def blocks(self, value: list[Block]) -> None:
        try:
            self._packed, self._deep = pack(value), None
        except TypeError:  # too deep for orjson
            self._packed, self._deep = None, value
        self._load, self._first = None, value[0] if value else None

    def _loaded(self) -> list[Block] | None:
        """Load and pack a body not yet held: the blocks loaded, else None (held already)."""
        if self._packed is not None or self._deep is not None:
            return None
        loaded = self._load() if self._load is not None else []
        self.blocks = loaded
        return loaded

    def load_later(self, load: Callable[[], list[Block]], first: Block | None = None) -> None:
        """first: the body's first block, or enough of it to say opens_with_title without
        loading the body (None: not known)."""
        self._packed, self._deep, self._load, self._first = None, None, load, first

    @property
    def opens_with_title(self) -> bool:
        """Does the body open with an H1 repeating the title? Every product shows the title
        itself, so that heading is not shown twice."""
        if self._first is None:
            self._loaded()
        first = self._first
        return (
            first is not None
            and first["t"] == "Header"
            and first["c"][0] == 1
            and bool(self.headings)
            and self.headings[0].id == first["c"][1][0]
            and self.headings[0].text.casefold() == " ".join(self.title.split()).casefold()
        )

    @property
    def label(self) -> str:
        """The title as chrome shows it (contents, headers, outline, links); the full title
        stays above the note's own text."""
        return short(self.title)

    @property
    def folder(self) -> str:
        return self.path.rpartition("/")[0]

    @property
    def source(self) -> Source | None:
        return Source(self.video_id, self.label, self.channel_name) if self.video_id else None


@dataclass
class Collection:
    """The normalized vault: notes in reading order, plus what the products need around them."""

    root: str  # absolute path of the vault
    notes: list[Note]
    assets: dict[str, str] = field(default_factory=dict)  # vault path -> absolute path

    def by_id(self) -> dict[str, Note]:
        return {n.id: n for n in self.notes}

    def sources(self, notes: list[Note] | None = None) -> list[Source]:
        """Every cited video, in order of first citation."""
        seen: dict[str, Source] = {}
        for note in notes if notes is not None else self.notes:
            for c in note.citations:
                if c.video_id and c.video_id not in seen:
                    seen[c.video_id] = Source(c.video_id, c.title, c.channel)
        return list(seen.values())


def backlinks(notes: list[Note]) -> dict[str, list[Note]]:
    """Note id -> the notes of this product that link to it or embed it, in product order;
    notes outside the product are not listed (a reader could not follow them)."""
    order = {n.id: i for i, n in enumerate(notes)}
    by_id = {n.id: n for n in notes}
    return {n.id: [by_id[k] for k in sorted((k for k in set(n.linked_from) if k in by_id and k != n.id),
                                             key=order.__getitem__)] for n in notes}


def channel_names(notes: list[Note]) -> dict[str, str]:
    """One display name per channel slug: a label that differs from the slug wins."""
    names: dict[str, str] = {}
    for n in notes:
        if n.channel and names.get(n.channel, n.channel) == n.channel:
            names[n.channel] = n.channel_name or n.channel
    return names


NAME_BYTES = 251  # of a file name without its product's suffix (.md, .pdf): most file systems hold 255


def _fitted(stem: str, tail: str) -> str:
    """stem + tail, the last part of stem cut (at a whole character) to NAME_BYTES with tail: a
    251-byte note beside a namesake of another suffix became a 258-byte "-txt" name, and the
    whole bundle failed with "File name too long"."""
    head, slash, base = stem.rpartition("/")
    room = NAME_BYTES - len(tail.encode())
    return head + slash + base.encode()[:room].decode("utf-8", "ignore") + tail


def file_stems(notes: list[Note], reserved: tuple[str, ...] = ()) -> dict[str, str]:
    """Note id -> output path without suffix, mirroring the vault: keepers/watch.md -> keepers/watch.

    Products with one file per note use these, so no two notes ever share a file: a.md, a.txt
    and A.markdown would all be "a", and a zip unpacked on a case-blind disk would merge "A" and
    "a", as one that normalizes Unicode (macOS) would "café" written in two ways (é as one
    character, or as e and an accent). The first by path keeps the plain name, the others add
    their suffix (a-txt), then a number. reserved holds names the product needs for itself (the
    bundle's "index").
    """
    def same(name: str) -> str:
        return unicodedata.normalize("NFC", name).casefold()

    taken = {same(r) for r in reserved}
    out: dict[str, str] = {}
    for note in sorted(notes, key=lambda n: n.path):
        stem, dot, ext = note.path.rpartition(".")
        stem = stem if dot else note.path
        for k in range(1, 10_000):
            cand = _fitted(stem, "" if k == 1 else f"-{ext}" if k == 2 and ext else f"-{k}")
            if same(cand) not in taken:
                break
        taken.add(same(cand))
        out[note.id] = cand
    return out
