"""A note on its own: structure, citations, safety and heading ids, before it meets the others.

What normalize() makes depends only on the note's file and the options, so the cache keeps it:
a note that did not change is not parsed again (the pandoc parse is the big cost of a build).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from exporter import cache as store
from exporter.config import Options
from exporter.model.document import Block, Citation, Heading, Moment, pack, short
from exporter.readers import RawNote
from exporter.transforms import language, math, sanitize, structure
from exporter.transforms.citations import cite
from exporter.writers import pandoc


@dataclass
class Local:
    blocks: list[Block] = field(default_factory=list)
    headings: list[Heading] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    reading: str = "none"
    block_ids: list[str] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (code, needle, message)
    error: str | None = None  # why the note cannot be used (then nothing else is set)
    lang: str | None = None  # the language its text reads in (used when the frontmatter names none)


def normalize(raw: RawNote, parsed: pandoc.Parsed, options: Options,
              detect: language.Detect = language.detect) -> Local:
    kept: list[tuple[str, str, str]] = []
    if isinstance(parsed, str) and parsed.startswith(pandoc.OVER):
        # pandoc's reader is quadratic on some text (thousands of links in one paragraph, or of
        # unclosed brackets): 32 KB ran past the budget and the note was lost; its text stays
        kept.append(("over-budget", "", f"{parsed.removeprefix(pandoc.OVER)}; its text is kept, without its markup"))
        parsed = as_text(raw.markdown)
    if isinstance(parsed, str):
        if parsed.startswith(pandoc.TOO_DEEP):
            return Local(error=parsed)
        return Local(error=f"markdown could not be parsed: {parsed}")
    blocks, block_ids = structure.tidy(parsed)
    cited = cite(blocks, title=short(raw.title), channel=raw.channel_name, video_id=raw.video_id,
                 wording=options.wording, reading=options.reading)
    # safety here, while pandoc still parses: later stages only add nodes they make themselves
    # or copy from notes already made safe (embeds), so nothing unsafe comes back
    clean = sanitize.sanitize(cited.blocks)
    numbered, headings = structure.number_headings(clean.blocks)
    return Local(numbered, headings, cited.citations, cited.reading, block_ids,
                 kept + cited.problems + math.problems(numbered) + _removed(clean.removed),
                 lang=None if raw.lang else language.guess(numbered, detect))


def _removed(removed: list[sanitize.Removed]) -> list[tuple[str, str, str]]:
    """What the sanitizer took out as warnings, once each, at the line it was written on."""
    return [("unsafe-content", written, what) for what, written in dict.fromkeys(removed)]


def as_text(markdown: str) -> list[Block]:
    """A note's markdown as plain paragraphs (one at each blank line), its markup left as text."""
    blocks: list[Block] = []
    for para in markdown.split("\n\n"):
        inlines: list[Any] = []
        for line in para.split("\n"):
            words = line.split()
            if words and inlines:
                inlines.append({"t": "SoftBreak"})
            for k, word in enumerate(words):
                inlines += [{"t": "Space"}] * (k > 0) + [{"t": "Str", "c": word}]
        if inlines:
            blocks.append({"t": "Para", "c": inlines})
    return blocks


def over_budget(local: Local) -> bool:
    """Whether pandoc ran past its budget on the note (then its text alone is kept): a run on a
    less busy machine may pass, so such a result is never kept in the cache."""
    return any(code == "over-budget" for code, _, _ in local.problems)


def key(raw: RawNote, options: Options) -> str:
    """Everything normalize() depends on: the file as read, its path, the options, the code."""
    return store.key("note", store.code(), pandoc.fingerprint(), raw.path, raw.source,
                     options.reading, repr(options.wording))


def dump(local: Local) -> tuple[bytes, bytes]:
    """(face, blocks): what other notes and reports need, and the blocks packed, loaded only on use."""
    cites = [[c.video_id, c.title, c.channel, [[m.seconds, m.label, m.url] for m in c.moments]]
             for c in local.citations]
    face = orjson.dumps({
        "headings": [[h.level, h.text, h.id] for h in local.headings], "citations": cites,
        "reading": local.reading, "block_ids": local.block_ids, "problems": local.problems,
        "error": local.error, "lang": local.lang})
    return face, pack(local.blocks)


def load_face(data: bytes) -> Local:
    """A Local without its blocks (they stay in the cache until needed)."""
    d = orjson.loads(data)
    return Local(
        [], [Heading(*h) for h in d["headings"]],
        [Citation(v, t, c, tuple(Moment(*m) for m in ms)) for v, t, c, ms in d["citations"]],
        d["reading"], d["block_ids"], [tuple(p) for p in d["problems"]], d["error"], d.get("lang"))
