"""Read one file into a RawNote: frontmatter, byline, title; or a diagnostic saying why not."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import frontmatter
import orjson
import yaml

from exporter.diagnostics import Diagnostic
from exporter.model.document import LANG, NOT_XML, short
from exporter.readers import footnotes
from exporter.readers.fences import fenced

BYLINE = re.compile(
    r"\A[ \t]*From:[ \t]*\[\[[ \t]*([^\]|#]+?)[ \t]*(?:\\?\|[ \t]*([^\]]*?)[ \t]*)?\]\][ \t]*"
    r"(?:<br\s*/?>)?[ \t]*(?:\n|\Z)"
)
H1 = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.M)
VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")


@dataclass
class RawNote:
    path: str  # vault-relative POSIX
    body: str  # markdown after frontmatter and byline
    body_line: int  # 1-based line of the file where body starts
    source: str  # the whole file text, to locate diagnostics
    meta: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    channel: str | None = None
    channel_name: str | None = None
    video_id: str | None = None
    front: str = ""  # the frontmatter block as the file holds it, fences and line ends included
    warnings: list[Diagnostic] = field(default_factory=list)  # for collect to report

    @property
    def lang(self) -> str | None:
        """The language the frontmatter names (lang or language), when it is a language tag."""
        lang = self.meta.get("lang") or self.meta.get("language")
        return lang.strip() if isinstance(lang, str) and LANG.match(lang.strip()) else None

    @cached_property
    def flat(self) -> footnotes.Flattened:
        """The body with a footnote referred to in another's text set there (footnotes.flattened):
        made once, for reading's warnings and for pandoc."""
        return footnotes.flattened(self.body)

    @cached_property
    def markdown(self) -> str:
        """The body as pandoc reads it: a `|` in a wikilink on a table row escaped, as Obsidian
        wants it written, so that [[target|label]] in a cell is a link, not the cell's end (the
        row was cut at "[[target" and the rest of it lost); footnotes flattened (flat)."""
        return table_links_escaped(self.flat.text)

    def line_of(self, needle: str, start: int = 0) -> int | None:
        """Line of the first occurrence of needle in the file, for diagnostics."""
        i = self.source.find(needle, start)
        return self.source.count("\n", 0, i) + 1 if i >= 0 else None


DELIMITER_ROW = re.compile(r"^ {0,3}\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
TABLE_LINK = re.compile(r"!?\[\[[^\[\]\n]*\]\]")
BARE_PIPE = re.compile(r"(?<!\\)\|")


def table_links_escaped(body: str) -> str:
    """body with the `|` of wikilinks escaped on the rows of pipe tables (header, delimiter and
    the rows after it up to a blank line), outside code fences; the same lines, so that line
    numbers hold."""
    if "[[" not in body or "|" not in body:
        return body
    lines = body.split("\n")
    table = False
    for k, (line, code) in enumerate(zip(lines, fenced(lines), strict=True)):
        if code:
            table = False
            continue
        if DELIMITER_ROW.match(line) and "-" in line and k > 0 and "|" in lines[k - 1]:
            table = True
            lines[k - 1] = _escaped(lines[k - 1])
        elif not line.strip():
            table = False
        elif table:
            lines[k] = _escaped(line)
    return "\n".join(lines)


def _escaped(line: str) -> str:
    """line with every unescaped | inside a wikilink escaped, in one pass over it."""
    return TABLE_LINK.sub(lambda m: BARE_PIPE.sub(r"\\|", m[0]), line)


CHANNEL_MAX = 100  # characters of a channel name: bylines, covers and every citation show it
MAX_NOTE_BYTES = 2 * 1024 * 1024  # a note longer than a long book is not a note
# YAML aliases and merge keys (<<: *a) repeat a node wherever they name it: a few hundred bytes
# of "billion laughs" name 10^9 values once anything walks them. Aliases are expanded only while
# the whole frontmatter, every alias counted as a copy, stays under these bounds.
MAX_YAML_VALUES = 10_000
MAX_YAML_DEPTH = 50
_SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster


class FrontmatterTooLarge(yaml.YAMLError):
    def __init__(self, problem: str, line: int) -> None:
        super().__init__(problem)
        self.problem, self.line = problem, line


def expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(values, depth) of a YAML node graph once every alias is a copy; raises on a cycle or
    past the bounds. Shared nodes are measured once, so this costs the graph, not its expansion."""
    done: dict[int, tuple[int, int]] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        key = id(node)
        kids: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            kids = [x for pair in node.value for x in pair]
        if closing:
            open_.discard(key)
            size = 1 + sum(done[id(k)][0] for k in kids)
            depth = 1 + max((done[id(k)][1] for k in kids), default=0)
            done[key] = (size, depth)
            if size > MAX_YAML_VALUES or depth > MAX_YAML_DEPTH:
                what = (f"over {MAX_YAML_VALUES:,} values once its aliases are expanded"
                        if size > MAX_YAML_VALUES else f"nested over {MAX_YAML_DEPTH} levels deep")
                raise FrontmatterTooLarge(f"frontmatter holds {what}", node.start_mark.line + 1)  # +1: the --- line
            continue
        if key in done:
            continue
        if key in open_:
            raise FrontmatterTooLarge("frontmatter refers to itself (a recursive YAML alias)",
                                      node.start_mark.line + 1)
        open_.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in done)
    return done[id(root)]


class _Measured:
    """Measure what aliases expand to before building anything."""

    def get_single_data(self) -> Any:
        node = self.get_single_node()  # type: ignore[attr-defined]
        if node is None:
            return None
        expanded_size(node)
        return self.construct_document(node)  # type: ignore[attr-defined]


class _Loader(_Measured, _SafeLoader):
    """A safe loader that keeps a date YAML cannot build (2020-13-45) as the text it is:
    one odd value must not cost the whole note."""


class _LineLoader(_Measured, yaml.SafeLoader):
    """The pure-Python loader, for messages only: it marks the line an error is on, libyaml
    the line after."""


def _timestamp(loader: _Loader, node: yaml.Node) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)  # type: ignore[arg-type]
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


class _YAMLHandler(frontmatter.YAMLHandler):
    def load(self, fm: str, **kwargs: object) -> Any:
        return yaml.load(fm, Loader=_Loader)  # a SafeLoader


YAML = _YAMLHandler()


def _plain(value: Any) -> Any:
    """Frontmatter values made JSON-safe (dates as ISO strings)."""
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _yaml_problem(e: yaml.YAMLError) -> str:
    return str(getattr(e, "problem", None) or str(e).splitlines()[0])


def _yaml_line(text: str, e: yaml.YAMLError) -> int:
    """File line of a YAML error: re-read the block between the first two --- lines alone."""
    lines = text.split("\n")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), len(lines))
    try:
        yaml.load("\n".join(lines[1:end]), Loader=_LineLoader)
    except yaml.YAMLError as again:
        mark = getattr(again, "problem_mark", None) or getattr(again, "context_mark", None)
        if mark is not None:
            return min(mark.line + 2, end + 1)
    mark = getattr(e, "problem_mark", None)
    return mark.line + 2 if mark is not None else 1


def _first_h1(body: str) -> str | None:
    """The first ATX H1 outside fenced code."""
    lines = body.splitlines()
    for line, code in zip(lines, fenced(lines), strict=True):
        if not code and (m := H1.match(line)):
            return m.group(1).strip()
    return None


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")
_FENCE = re.compile(r"-{3,}\s*")  # python-frontmatter's boundary line


def _verbatim(text: str) -> str:
    """The closed frontmatter block of text exactly as written (not NFC-normalized, line ends as
    they are): archives keep it for tools that read frontmatter line by line."""
    start = end = -1
    for m in _LINE.finditer(text):
        line = m.group(0).rstrip("\r\n")
        if start < 0:
            if not line.strip():
                continue
            if not _FENCE.fullmatch(line):
                return ""
            start = m.start()
        elif _FENCE.fullmatch(line):
            end = m.end()
            break
        if m.end() == len(text):
            break
    return text[start:end] if start >= 0 and end > start else ""


def read_bytes(root: Path, rel: str) -> bytes | Diagnostic:
    """The file's bytes, read only as far as a note may go: a file past it is not held."""
    try:  # opened without blocking: a file made a pipe since the vault was walked is refused
        with os.fdopen(os.open(root / rel, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return Diagnostic("unreadable", rel, "not a regular file (a pipe, socket or device)")
            data = f.read(MAX_NOTE_BYTES + 1)
            return _too_big(rel, max(st.st_size, len(data))) if len(data) > MAX_NOTE_BYTES else data
    except OSError as e:
        return Diagnostic("unreadable", rel, f"cannot read file: {e.strerror or e}")


def _too_big(rel: str, size: int) -> Diagnostic:
    return Diagnostic("unreadable", rel, f"note is {size / 2**20:.1f} MiB, over the {MAX_NOTE_BYTES >> 20} MiB a note may hold")


def _text(data: bytes) -> tuple[str, str]:
    """(the text as written, the text as read): LF line ends, NFC. Raises UnicodeDecodeError."""
    written = data.decode("utf-8").lstrip("\ufeff")  # as the file holds it (its frontmatter is kept so)
    # CRLF (Windows) and lone CR (old Mac) line ends both become LF
    return written, unicodedata.normalize("NFC", written.replace("\r\n", "\n").replace("\r", "\n"))


def from_bytes(rel: str, data: bytes) -> RawNote | Diagnostic:
    """The note a file's bytes hold: a pure function of (rel, data), so its result can be kept."""
    if len(data) > MAX_NOTE_BYTES:
        return _too_big(rel, len(data))
    if b"\x00" in data[:8192]:
        return Diagnostic("unreadable", rel, "binary file (contains NUL bytes), not a text note")
    try:
        written, text = _text(data)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return Diagnostic("unreadable", rel, f"not UTF-8 (byte 0x{data[e.start]:02x})", line)
    opened = YAML.detect(text.strip())  # what python-frontmatter looks at
    try:
        meta, body = frontmatter.parse(text, handler=YAML if opened else None)
    except FrontmatterTooLarge as e:
        return Diagnostic("unreadable", rel, f"{e.problem}; the note is left out", e.line)
    except yaml.YAMLError as e:
        return Diagnostic(
            "unreadable", rel, f"broken YAML frontmatter: {_yaml_problem(e)}", _yaml_line(text, e)
        )
    except Exception as e:  # a handler may raise other errors on odd input
        return Diagnostic("unreadable", rel, f"broken frontmatter: {e}", 1)
    block: str | None = None  # the frontmatter text, when it is closed
    if opened:
        with contextlib.suppress(ValueError):  # no closing fence: python-frontmatter reads it all as body
            block = YAML.split(text.strip())[0]
    unclosed = opened and block is None
    if not meta and block is not None:  # python-frontmatter drops a block that is not a mapping
        with contextlib.suppress(yaml.YAMLError):
            loaded = YAML.load(block)
            meta = loaded if loaded is not None and not isinstance(loaded, dict) else meta
    if not isinstance(meta, dict):
        return Diagnostic("unreadable", rel, "frontmatter is not a mapping of keys", 2)
    meta = _plain(meta)
    start = text.find(body) if body else len(text)
    body_line = text.count("\n", 0, max(start, 0)) + 1
    note = RawNote(path=rel, body=body, body_line=body_line, source=text, meta=meta,
                   front=_verbatim(written) if block is not None else "")
    if unclosed:
        why = "frontmatter opened with --- is never closed: read as text"
        note.warnings.append(Diagnostic("unclosed-frontmatter", rel, why, 1))

    # The byline is metadata: take it out of the body.
    stripped = body.lstrip("\n")
    if m := BYLINE.match(stripped):
        note.channel = m.group(1).strip()
        note.channel_name = (m.group(2) or "").strip() or note.channel
        skipped = body[: len(body) - len(stripped)] + m.group(0)
        note.body_line += skipped.count("\n")
        note.body = stripped[m.end() :]
    elif isinstance(meta.get("channel"), str):
        note.channel = note.channel_name = meta["channel"]
    if note.channel and NOT_XML.search(shown := " ".join(dict.fromkeys([note.channel, note.channel_name or ""]))):
        note.warnings.append(_unprintable(rel, "channel name", shown, note.body_line - 1 if m else note.line_of("channel")))
        note.channel = NOT_XML.sub("", note.channel)
        note.channel_name = NOT_XML.sub("", note.channel_name or "") or note.channel
    if note.channel_name and len(note.channel_name) > CHANNEL_MAX:  # shown in every citation
        why = f"channel name of {len(note.channel_name):,} characters cut to {CHANNEL_MAX}"
        note.warnings.append(Diagnostic("too-large", rel, why, note.body_line - 1 if m else note.line_of("channel")))
        note.channel_name = short(note.channel_name, CHANNEL_MAX)

    vid = meta.get("videoId")
    if isinstance(vid, int) and not isinstance(vid, bool):  # an all-digit id, read by YAML as a number
        vid = str(vid)
    if isinstance(vid, str) and VIDEO_ID.match(vid.strip()):
        note.video_id = vid.strip()
    title = meta.get("title")
    stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if isinstance(title, str | int | float) and not isinstance(title, bool) and str(title).strip():
        note.title = str(title)
    else:
        note.title = _first_h1(note.body) or stem
    if NOT_XML.search(note.title):
        note.warnings.append(_unprintable(rel, "title", note.title, note.line_of("title") if title else None))
        note.title = NOT_XML.sub("", note.title)
    note.title = " ".join(note.title.split()) or NOT_XML.sub("", stem) or "untitled"  # one heading line
    note.warnings += [Diagnostic("nested-footnote", rel, why, note.body_line + k)
                      for k, why in note.flat.nested]
    return note


def _unprintable(rel: str, what: str, text: str, line: int | None) -> Diagnostic:
    """Control characters in a label: no EPUB can hold them (XML), no font draws them."""
    found = len(NOT_XML.findall(text))
    return Diagnostic("unsafe-content", rel, f"removed {found} control character{'s' * (found > 1)} from the {what}",
                      line)


def packed(note: RawNote) -> bytes | None:
    """What reading found in a note, apart from the text itself (unpacked() takes it from the
    file's bytes again); None when JSON would not give back the same values."""
    body: list[int] | str = note.body
    if (at := note.source.rfind(note.body)) >= 0:
        body = [at, at + len(note.body)]
    fields = {"meta": note.meta, "title": note.title, "channel": note.channel, "channel_name": note.channel_name,
              "video_id": note.video_id, "front": note.front, "body_line": note.body_line, "body": body,
              "warnings": [[w.code, w.message, w.line] for w in note.warnings]}
    try:
        data = orjson.dumps(fields)
    except TypeError:  # an integer past 64 bits
        return None
    return data if orjson.loads(data)["meta"] == note.meta else None  # NaN would come back null


def unpacked(rel: str, data: bytes, kept: bytes) -> RawNote:
    """The note packed() kept for these bytes. Raises ValueError, KeyError or TypeError when
    what was kept is not such a note."""
    d = orjson.loads(kept)
    text = _text(data)[1]
    body = d["body"] if isinstance(d["body"], str) else text[d["body"][0]:d["body"][1]]
    return RawNote(path=rel, body=body, body_line=d["body_line"], source=text, meta=d["meta"], title=d["title"],
                   channel=d["channel"], channel_name=d["channel_name"], video_id=d["video_id"], front=d["front"],
                   warnings=[Diagnostic(code, rel, message, line) for code, message, line in d["warnings"]])
