"""Turn runs of timestamp stamps into footnoted citations that deep-link to the moment."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from string import Formatter
from typing import Any

from exporter.model import ast
from exporter.model.document import YOUTUBE, Block, Citation, Inline, Moment
from exporter.transforms.timestamps import (
    Fields,
    Reading,
    Stamp,
    describe_reading,
    find_stamps,
    group_runs,
    human,
    split_bracketed,
    stamp_fields,
    third_field_rule,
    to_seconds,
)

DEFAULT_WORDING = "“{title}”, {channel}, at {moments}."
DEFAULT_WORDING_NO_CHANNEL = "“{title}”, at {moments}."
DEFAULT_REPEAT = "At {moments}."


@dataclass(frozen=True)
class Wording:
    """Citation wording; the theme supplies it so every product says the same."""

    with_channel: str = DEFAULT_WORDING
    without_channel: str = DEFAULT_WORDING_NO_CHANNEL
    moment_separator: str = ", "
    repeat: str = DEFAULT_REPEAT  # a later citation of a video the note already cited
    short_repeats: bool = True  # False: every citation in full


@dataclass
class Cited:
    blocks: list[Block]
    citations: list[Citation]
    reading: str
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (code, needle, message)


def render(c: Citation, wording: Wording, repeat: bool = False) -> list[Inline]:
    """Footnote inlines: the wording with title, channel and each moment as a deep link;
    a repeat names only the moments (the title is in the first citation and the header)."""
    template = wording.repeat if repeat else wording.with_channel if c.channel else wording.without_channel
    out: list[Inline] = []
    text = ""  # runs of text go as one Str
    for literal, name, _, _ in _parse(template):
        text += literal
        if name == "title":
            text += c.title
        elif name == "channel":
            text += c.channel or ""
        elif name == "moments":
            for k, m in enumerate(c.moments):
                if k:
                    text += wording.moment_separator
                if not m.url:
                    text += m.label
                    continue
                if text:
                    out.append(ast.Str(text))
                    text = ""
                out.append(ast.Link([ast.Str(m.label)], m.url, ast.attr("", ["moment"])))
    if text:
        out.append(ast.Str(text))
    return out


@cache
def _parse(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    return list(Formatter().parse(template))


def _collect(blocks: list[Block], plain: bool) -> tuple[list[Stamp], dict[int, tuple[Any, Any, Any]]]:
    """Every stamp of the note, and per inline list what was found (reused when replacing)."""
    found: list[Stamp] = []
    memo: dict[int, tuple[Any, Any, Any]] = {}

    def visit(inlines: list[Any]) -> list[Any]:
        if _may_hold_stamps(inlines):
            split = split_bracketed(inlines)
            stamps = find_stamps(split, plain)
            found.extend(stamps)
            memo[id(inlines)] = (inlines, split, stamps)  # keeps inlines alive: ids stay unique
        return inlines

    ast.map_inlines(blocks, visit)
    return found, memo


def _may_hold_stamps(inlines: list[Any]) -> bool:
    """Cheap test first: most inline lists hold no stamp."""
    for x in inlines:
        t = x["t"]
        if t == "RawInline" or t == "Link" or (t == "Str" and "[" in x["c"]):
            return True
    return False


_INLINE_CHILDREN = frozenset(
    ["Emph", "Strong", "Underline", "Strikeout", "Superscript", "Subscript", "SmallCaps"]
)


def _notes_out_of_links(inlines: list[Any]) -> list[Any]:
    """A footnote in a link label would nest a link in a link (invalid EPUB): it goes after the link."""
    for x in inlines:  # most lists hold no link: answer those first
        if x["t"] == "Link" or x["t"] == "Image":
            break
    else:
        return inlines
    out: list[Any] | None = None
    for i, x in enumerate(inlines):
        if (x["t"] == "Link" or x["t"] == "Image") and _has_note(x["c"][1]):
            notes: list[Any] = []
            label = _take_notes(x["c"][1], notes)
            out = out if out is not None else list(inlines[:i])
            out += [{"t": x["t"], "c": [x["c"][0], label, *x["c"][2:]]}, *notes]
        elif out is not None:
            out.append(x)
    return inlines if out is None else out


def _has_note(inlines: list[Any]) -> bool:
    for x in inlines:
        t = x["t"]
        if t == "Note":
            return True
        if (t in _INLINE_CHILDREN and _has_note(x["c"])) or (
            t in ("Link", "Image", "Span", "Quoted", "Cite") and _has_note(x["c"][1])
        ):
            return True
    return False


def _take_notes(inlines: list[Any], notes: list[Any]) -> list[Any]:
    """inlines without their Notes, at any depth; the Notes are added to notes in order."""
    out: list[Any] = []
    for x in inlines:
        t = x["t"]
        if t == "Note":
            notes.append(x)
        elif t in _INLINE_CHILDREN:
            out.append({"t": t, "c": _take_notes(x["c"], notes)})
        elif t in ("Link", "Image", "Span", "Quoted", "Cite"):
            out.append({"t": t, "c": [x["c"][0], _take_notes(x["c"][1], notes), *x["c"][2:]]})
        else:
            out.append(x)
    return out


def cite(
    blocks: list[Block],
    *,
    title: str,
    channel: str | None,
    video_id: str | None,
    wording: Wording = Wording(),
    reading: Reading = "auto",
) -> Cited:
    """Replace every run of stamps by one footnote; pure: returns new blocks and citations."""
    plain = video_id is not None  # bare "[00:00:36]" counts only in notes with a video
    stamps, memo = _collect(blocks, plain)
    parsed = {id(s): stamp_fields(s) for s in stamps}  # the stamps stay alive: ids are unique
    good: list[Fields] = [f for f in parsed.values() if f is not None]
    v = third_field_rule(good) if reading == "auto" else None
    result = Cited([], [], describe_reading(v, reading, any(len(f) == 3 for f in good)))
    if not good:
        result.reading = "none" if not stamps else "none (no stamp could be read)"

    def moment(s: Stamp) -> Moment | None:
        f = parsed[id(s)] if id(s) in parsed else stamp_fields(s)
        if f is None:
            result.problems.append(
                (
                    "malformed-stamp",
                    f'data-t="{s.data_t}"' if s.data_t is not None else s.shown,
                    f"timestamp {s.raw!r} cannot be read; kept as text",
                )
            )
            return None
        secs = to_seconds(f, v, reading)
        url = f"{YOUTUBE}{video_id}&t={secs}s" if video_id else None
        return Moment(secs, human(secs), url)

    def visit(inlines: list[Any]) -> list[Any]:
        seen = memo.get(id(inlines))
        if seen is not None and seen[0] is inlines:
            _, inlines, stamps = seen
        elif _may_hold_stamps(inlines):
            inlines = split_bracketed(inlines)
            stamps = find_stamps(inlines, plain)
        else:
            return inlines
        if not stamps:
            return inlines
        inlines = list(inlines)  # parentheses around a run are trimmed in place below
        out: list[Any] = []
        pos = 0
        for run in group_runs(inlines, stamps):
            head = inlines[pos : run[0].start]
            tail_start = run[-1].end
            moments: list[Moment] = []
            kept: list[Any] = []  # unreadable stamps stay as their text
            for s in run:
                m = moment(s)
                if m is None:
                    kept += ast.text_inlines(s.shown or s.raw)
                elif m not in moments:
                    moments.append(m)
            # "text (stamp, stamp)": the parentheses go with the stamps
            after = inlines[tail_start] if tail_start < len(inlines) else None
            if (
                moments
                and head
                and head[-1].get("t") == "Str"
                and head[-1]["c"].endswith("(")
                and after is not None
                and after.get("t") == "Str"
                and after["c"].startswith(")")
            ):
                rest = head[-1]["c"][:-1]
                head = head[:-1] + ([ast.Str(rest)] if rest else [])
                inlines[tail_start] = ast.Str(after["c"][1:])
            while moments and head and head[-1].get("t") in ("Space", "SoftBreak"):
                head = head[:-1]
            out += [x for x in head if x["t"] != "Str" or x["c"]] + kept
            if moments:
                c = Citation(video_id, title, channel, tuple(moments))
                n = len(result.citations)
                result.citations.append(c)
                span = ast.Span(render(c, wording), ast.attr("", ["citation"], _facts(c, n)))
                out.append({"t": "Note", "c": [ast.Para([span])]})
            pos = tail_start
        return [x for x in out + inlines[pos:] if x["t"] != "Str" or x["c"]]

    # lists come bottom-up: a label's citations exist by the time the list holding its link is seen
    result.blocks = ast.map_inlines(blocks, lambda xs: _notes_out_of_links(visit(xs)))
    if len(result.citations) > 1:  # a first citation is worded in full already
        result.blocks = shorten(result.blocks, wording)
    if result.citations and not video_id:
        result.problems.append(
            (
                "no-video-id",
                "",
                f"note has {len(result.citations)} citations but no valid videoId; times kept without links",
            )
        )
    return result


def _facts(c: Citation, n: int) -> dict[str, str]:
    """What a citation span carries so that shorten() can word it again after embeds move it."""
    return {"n": str(n), "video": c.video_id or "", "title": c.title, "channel": c.channel or "",
            "at": " ".join(str(m.seconds) for m in c.moments)}


def _citation_of(span: Inline) -> Citation | None:
    kv = dict(span["c"][0][2])
    try:
        seconds = [int(t) for t in kv["at"].split()]
    except (KeyError, ValueError):
        return None
    vid = kv.get("video") or None
    return Citation(vid, kv.get("title", ""), kv.get("channel") or None,
                    tuple(Moment(t, human(t), f"{YOUTUBE}{vid}&t={t}s" if vid else None) for t in seconds))


def _span_of(note: Inline) -> Inline | None:
    body = note["c"]
    if len(body) == 1 and body[0]["t"] == "Para" and len(body[0]["c"]) == 1:
        x = body[0]["c"][0]
        if x["t"] == "Span" and "citation" in x["c"][0][1]:
            return x
    return None


def shorten(blocks: list[Block], wording: Wording) -> list[Block]:
    """The first citation of a video in reading order is full, later ones short.

    Pure and idempotent, so it runs again once embeds have moved citations from note to note:
    an embedded repeat may be the host's first citation of its video, and the other way round.
    """
    seen: set[str] = set()
    new: dict[int, Inline] = {}  # id of a citation Note -> the Note as it should read
    for note in ast.iter_nodes(blocks, "Note"):
        span = _span_of(note)
        c = _citation_of(span) if span is not None else None
        if span is None or c is None:
            continue
        video = c.video_id or ""
        inlines = render(c, wording, repeat=wording.short_repeats and video in seen)
        seen.add(video)
        if inlines != span["c"][1]:
            new[id(note)] = {"t": "Note", "c": [ast.Para([ast.Span(inlines, span["c"][0])])]}
    if not new:
        return blocks
    return ast.map_notes(blocks, lambda note: [new.get(id(note), note)])
