"""Make untrusted notes safe for every product: no script, handlers, remote or local fetches."""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import nh3

from exporter.model import ast
from exporter.model.document import Block
from exporter.transforms.links import WIDTH

# Tags whose content goes with them; tags never kept; tags kept (attributes vetted by nh3).
DROP_WITH_CONTENT = {
    "script",
    "style",
    "iframe",
    "object",
    "embed",
    "noscript",
    "template",
    "svg",
    "math",
    "frameset",
    "frame",
    "applet",
    "textarea",
    "select",
    "title",
}
ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "bdi",
    "bdo",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "rp",
    "rt",
    "ruby",
    "s",
    "samp",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "u",
    "ul",
    "var",
    "wbr",
}
ATTRIBUTES = {
    "*": {"class", "id", "title", "lang", "dir"},
    "a": {"href"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start", "type"},
    "time": {"datetime"},
}
URL_SCHEMES = {"http", "https", "mailto"}
MAX_SPAN = 100  # columns or rows a cell of a raw HTML table may span (reader.lua's MAX_SPAN too)
SPANS = ("colspan", "rowspan")
SPAN_VALUE = re.compile(r"((?:col|row)span\s*=\s*[\"']?\s*)(\d+)", re.I)
TAG = re.compile(r"^<(/?)([A-Za-z][A-Za-z0-9-]*)\b[^>]*?(/?)>$", re.S)
SAFE_KEY = re.compile(r"^[a-z][a-z0-9_-]*$")
UNSAFE_KEYS = {"style", "src", "srcset", "href", "xmlns", "formaction", "action", "data", "poster"}


# How deep a note's raw HTML may nest, with the lists, quotes and spans around it: its tags
# counted in order over the whole note (a tag in one raw node may close in another), each as
# two levels of pandoc's JSON (an element and its children), as collect.MAX_DEPTH counts a
# note's own nesting. WeasyPrint's box building recursed past Python's limit at 100-130 nested
# blocks and the note was left out of the PDF, where `check` had seen nothing.
RAW_LEVELS = 160
ANY_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)\b[^>]*?(/?)>")
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})
WIKILINK = re.compile(r"(!?)\[\[([^\[\]\n]*)\]\]")


def clean_html(text: str) -> str:
    return nh3.clean(
        text,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROP_WITH_CONTENT,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
        attribute_filter=_keep_attribute,
    )


def _keep_attribute(element: str, name: str, value: str) -> str | None:
    """nh3 lets relative links through: in a bundle they are dead or lead out of the vault. A
    cell spans MAX_SPAN columns or rows at most: colspan="1000000" kept WeasyPrint laying out
    a million columns until the note's render budget ran out."""
    if name in SPANS:
        return _span(value)
    return None if element == "a" and name == "href" and not absolute_url(value) else value


def _span(value: str) -> str | None:
    """A colspan or rowspan as kept: 1 to MAX_SPAN; None when it is no number."""
    n = value.strip()
    if not (n.isdecimal() and n.isascii()):
        return None
    return str(max(1, min(int(n.lstrip("0")[:6] or "0"), MAX_SPAN)))


def absolute_url(url: str) -> bool:
    """An http(s) URL with a host, or a mailto: address: the only links raw HTML may keep."""
    u = urlsplit(url.strip())
    scheme = u.scheme.lower()
    return (scheme in ("http", "https") and bool(u.netloc)) or (scheme == "mailto" and bool(u.path))


class _StartTags(HTMLParser):
    """Start tags and their attributes as a browser reads them (entities decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.texts: list[str] = []  # each tag as written

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self.texts.append(self.get_starttag_text() or "")


def _start_tags(text: str) -> _StartTags:
    p = _StartTags()
    p.feed(text)
    p.close()
    return p


def _lost(before: str, after: str) -> list[Removed]:
    """What cleaning took from the tags that stayed, to report: links that are not absolute
    URLs, and attributes dropped (those nh3 adds, like rel, are no loss)."""
    kept = Counter((t, k) for t, attrs in _start_tags(after).tags for k, _ in attrs)
    lost: list[Removed] = []
    tags = _start_tags(before)
    for (t, attrs), written in zip(tags.tags, tags.texts, strict=True):
        for k, v in attrs:
            if t == "a" and k == "href":
                if not absolute_url(v or ""):
                    lost.append((f"removed link {(v or '')[:60]!r} in raw HTML", written))
            elif t in ALLOWED_TAGS and kept[(t, k)] > 0:
                kept[(t, k)] -= 1
                if k in SPANS and (cut := _span(v or "")) not in (None, (v or "").strip().lstrip("0")):
                    lost.append((f"cut {k} {(v or '').strip()[:12]} to {cut} in raw HTML", written))
            elif t in ALLOWED_TAGS:
                lost.append((f"removed attribute {k!r} in raw HTML", written))
    return lost


def _wikilinks_to_text(text: str, removed: list[Removed]) -> str:
    """CommonMark reads '[[x]]' inside a raw HTML block as HTML text, never as a link: show
    its label (or target) as text rather than the brackets, and say so."""

    def label(m: re.Match[str]) -> str:
        removed.append((f"removed wikilink {html.unescape(m.group(0))} inside raw HTML kept as text", m.group(0)))
        target, _, alias = html.unescape(m.group(2)).partition("|")
        target, alias = target.rstrip("\\").strip(), alias.strip()
        if m.group(1) and WIDTH.match(alias):  # ![[image.png|200]]: a size, not a label
            alias = ""
        return html.escape(alias or target, quote=False)

    return WIKILINK.sub(label, text) if "[[" in text else text


# What was taken out or cut, said for a warning, and the text it was written as (the warning's line)
Removed = tuple[str, str]


@dataclass
class Sanitized:
    blocks: list[Block]
    removed: list[Removed] = field(default_factory=list)


def _clean_attr(a: list[Any], removed: list[Removed]) -> list[Any]:
    keep = []
    for k, v in a[2]:
        if _safe_key(k):
            keep.append([k, v])
        else:
            removed.append((f"removed attribute {k!r}", k))
    return [a[0], a[1], keep] if len(keep) != len(a[2]) else a


def _safe_key(k: str) -> bool:
    return bool(SAFE_KEY.match(k)) and not k.startswith("on") and k not in UNSAFE_KEYS


def _suspect(xs: list[dict[str, Any]]) -> bool:
    """Raw HTML, or attributes with a key that is not plainly safe: lists without are left alone."""
    for x in xs:
        t = x["t"]
        if t == "Str" or t == "Space":  # most nodes, answered first
            continue
        if t == "RawInline" or t == "RawBlock":
            return True
        i = ast.ATTR_AT.get(t)
        if i is not None and x["c"][i][2] and not all(_safe_key(k) for k, _ in x["c"][i][2]):
            return True
    return False


def sanitize(blocks: list[Block]) -> Sanitized:
    out = Sanitized([])
    raw = False  # any raw HTML kept, whose nesting _unnested then counts

    def inlines(xs: list[Any]) -> list[Any]:
        nonlocal raw
        if not _suspect(xs):
            return xs
        new: list[Any] = []
        skip_until: str | None = None
        for x in xs:
            t = x.get("t")
            if t in ast.ATTR_AT:
                x = _attrs(x)
            if skip_until is not None:
                if t == "RawInline" and re.match(rf"^</{skip_until}\s*>$", x["c"][1].strip(), re.I):
                    skip_until = None
                continue
            if t != "RawInline" or x["c"][0] not in ("html", "html5"):
                new.append(x)
                continue
            raw = True
            text = x["c"][1].strip()
            m = TAG.match(text)
            if not m:  # comments and anything odd
                if text and not text.startswith("<!--"):
                    out.removed.append((f"removed raw HTML {text[:30]!r}", text))
                continue
            closing, name = m.group(1), m.group(2).lower()
            if name in DROP_WITH_CONTENT or name not in ALLOWED_TAGS:
                if not closing:  # (its end goes with it)
                    out.removed.append((f"removed <{name}>", text))
                if name in DROP_WITH_CONTENT and not closing and not m.group(3):
                    skip_until = name
                continue
            if closing:
                new.append({"t": "RawInline", "c": ["html", f"</{name}>"]})
                continue
            cleaned = clean_html(text + ("" if name in ("br", "wbr", "hr") else f"</{name}>"))
            opening = cleaned[: cleaned.find(">") + 1] if cleaned.startswith("<") else ""
            out.removed += _lost(text, opening)
            if opening:
                new.append({"t": "RawInline", "c": ["html", opening]})
        return new

    def _attrs(x: dict[str, Any]) -> dict[str, Any]:
        i = ast.ATTR_AT[x["t"]]
        a = x["c"][i]
        cleaned = _clean_attr(a, out.removed)
        if cleaned is a:
            return x
        c = list(x["c"])
        c[i] = cleaned
        return {"t": x["t"], "c": c}

    def blocks_fn(bs: list[Any]) -> list[Any]:
        nonlocal raw
        if not _suspect(bs):
            return bs
        new: list[Any] = []
        for b in bs:
            if b["t"] in ast.ATTR_AT:
                b = _attrs(b)
            if b["t"] == "RawBlock" and b["c"][0] in ("html", "html5"):
                raw = True
                cleaned = clean_html(b["c"][1])
                spans_cut = SPAN_VALUE.sub(lambda m: m[1] + (_span(m[2]) or m[2]), b["c"][1])  # said apart (_lost)
                if len(cleaned) < len(spans_cut) * 0.9 or "<script" in b["c"][1].lower():
                    written = b["c"][1].strip()
                    out.removed.append((f"removed raw HTML block {written[:30]!r}", written.split("\n", 1)[0]))
                out.removed += _lost(b["c"][1], cleaned)
                cleaned = _wikilinks_to_text(cleaned, out.removed)
                if cleaned.strip():
                    new.append({"t": "RawBlock", "c": ["html", cleaned]})
                continue
            new.append(b)
        return new

    out.blocks = ast.walk(blocks, inlines=inlines, blocks=blocks_fn)
    if raw:
        out.blocks = _unnested(out.blocks, out.removed)
    return out


def _raws(node: Any, depth: int = 1) -> Iterator[tuple[dict[str, Any], int]]:
    """The raw HTML nodes under node, in document order, with their depth in the JSON."""
    if isinstance(node, list):
        for x in node:
            yield from _raws(x, depth + 1)
    elif isinstance(node, dict):
        if node.get("t") in ("RawInline", "RawBlock"):
            if node["c"][0] in ("html", "html5"):
                yield node, depth
        elif isinstance(node.get("c"), list):
            yield from _raws(node["c"], depth + 1)


def _unnested(blocks: list[Block], removed: list[Removed]) -> list[Block]:
    """blocks without the raw HTML tags opened past RAW_LEVELS and the tags that close them
    (what is inside them stays); the same blocks when none is that deep."""
    stack: list[bool] = []  # for each tag open: whether it is dropped
    at = 0  # the depth of the raw node being read

    def tag(m: re.Match[str]) -> str:
        closing, name, empty = m.groups()
        if name.lower() in VOID or empty:
            return m[0]
        if closing:
            return "" if stack and stack.pop() else m[0]
        stack.append(at + 2 * (len(stack) + 1) > RAW_LEVELS)
        return "" if stack[-1] else m[0]

    def same(node: dict[str, Any], depth: int) -> bool:
        nonlocal at
        at = depth
        return bool(ANY_TAG.sub(tag, node["c"][1]) == node["c"][1])

    if all(same(node, depth) for node, depth in _raws(blocks)):
        return blocks
    stack.clear()
    removed.append((f"removed raw HTML tags nested too deeply to export (over {RAW_LEVELS} levels with the lists, "
                    "quotes and spans around them); what they hold is kept", ""))

    def copy(node: Any, depth: int) -> Any:  # in document order, as the tags are counted
        nonlocal at
        if isinstance(node, list):
            return [copy(x, depth + 1) for x in node]
        if isinstance(node, dict) and isinstance(node.get("c"), list):
            if node.get("t") in ("RawInline", "RawBlock") and node["c"][0] in ("html", "html5"):
                at = depth
                return {"t": node["t"], "c": [node["c"][0], ANY_TAG.sub(tag, node["c"][1])]}
            return {**node, "c": copy(node["c"], depth + 1)}
        return node

    return list(copy(blocks, 1))
