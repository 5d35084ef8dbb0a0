"""Make untrusted notes safe for every product: no script, handlers, remote or local fetches."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import nh3

from exporter.model import ast
from exporter.model.document import Block

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
TAG = re.compile(r"^<(/?)([A-Za-z][A-Za-z0-9-]*)\b[^>]*?(/?)>$", re.S)
SAFE_KEY = re.compile(r"^[a-z][a-z0-9_-]*$")
UNSAFE_KEYS = {"style", "src", "srcset", "href", "xmlns", "formaction", "action", "data", "poster"}
ATTR_AT = {
    "Header": 1,
    "Div": 0,
    "Span": 0,
    "Code": 0,
    "CodeBlock": 0,
    "Link": 0,
    "Image": 0,
    "Table": 0,
    "Figure": 0,
}


def clean_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROP_WITH_CONTENT,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


@dataclass
class Sanitized:
    blocks: list[Block]
    removed: list[str] = field(default_factory=list)  # what was taken out, for warnings


def _clean_attr(a: list[Any], removed: list[str]) -> list[Any]:
    keep = []
    for k, v in a[2]:
        if _safe_key(k):
            keep.append([k, v])
        else:
            removed.append(f"attribute {k!r}")
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
        i = ATTR_AT.get(t)
        if i is not None and x["c"][i][2] and not all(_safe_key(k) for k, _ in x["c"][i][2]):
            return True
    return False


def sanitize(blocks: list[Block]) -> Sanitized:
    out = Sanitized([])

    def inlines(xs: list[Any]) -> list[Any]:
        if not _suspect(xs):
            return xs
        new: list[Any] = []
        skip_until: str | None = None
        for x in xs:
            t = x.get("t")
            if t in ATTR_AT:
                x = _attrs(x)
            if skip_until is not None:
                if t == "RawInline" and re.match(rf"^</{skip_until}\s*>$", x["c"][1].strip(), re.I):
                    skip_until = None
                continue
            if t != "RawInline" or x["c"][0] not in ("html", "html5"):
                new.append(x)
                continue
            raw = x["c"][1].strip()
            m = TAG.match(raw)
            if not m:  # comments and anything odd
                if raw and not raw.startswith("<!--"):
                    out.removed.append(f"raw HTML {raw[:30]!r}")
                continue
            closing, name = m.group(1), m.group(2).lower()
            if name in DROP_WITH_CONTENT:
                out.removed.append(f"<{name}>")
                if not closing and not m.group(3):
                    skip_until = name
                continue
            if name not in ALLOWED_TAGS:
                out.removed.append(f"<{name}>")
                continue
            if closing:
                new.append({"t": "RawInline", "c": ["html", f"</{name}>"]})
                continue
            cleaned = clean_html(raw + ("" if name in ("br", "wbr", "hr") else f"</{name}>"))
            opening = cleaned[: cleaned.find(">") + 1] if cleaned.startswith("<") else ""
            if opening:
                new.append({"t": "RawInline", "c": ["html", opening]})
        return new

    def _attrs(x: dict[str, Any]) -> dict[str, Any]:
        i = ATTR_AT[x["t"]]
        a = x["c"][i]
        cleaned = _clean_attr(a, out.removed)
        if cleaned is a:
            return x
        c = list(x["c"])
        c[i] = cleaned
        return {"t": x["t"], "c": c}

    def blocks_fn(bs: list[Any]) -> list[Any]:
        if not _suspect(bs):
            return bs
        new: list[Any] = []
        for b in bs:
            if b["t"] in ATTR_AT:
                b = _attrs(b)
            if b["t"] == "RawBlock" and b["c"][0] in ("html", "html5"):
                cleaned = clean_html(b["c"][1])
                if len(cleaned) < len(b["c"][1]) * 0.9 or "<script" in b["c"][1].lower():
                    out.removed.append(f"raw HTML block {b['c'][1].strip()[:30]!r}")
                if cleaned.strip():
                    new.append({"t": "RawBlock", "c": ["html", cleaned]})
                continue
            new.append(b)
        return new

    out.blocks = ast.walk(blocks, inlines=inlines, blocks=blocks_fn)
    return out
