"""Structure clean-up: empty paragraphs, callouts, block ids (^id), HTML divs around markdown
and unique heading ids."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from exporter.model import ast
from exporter.model.document import Block, Heading

CALLOUT = re.compile(r"^\[!([A-Za-z][\w-]*)\]([+-]?)$")
BLOCK_ID = re.compile(r"^\^([A-Za-z0-9-]+)$")
DIV_OPEN = re.compile(r"\s*<div((?:\s+[\w:-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*)\s*>\s*", re.I)
DIV_CLOSE = re.compile(r"\s*</div\s*>\s*", re.I)
# Divs made of <div> tags nest at most DIVS deep in a list of blocks (each adds 3 levels of JSON),
# and a note where they add more than DIV_LEVELS to its depth keeps its tags raw: pairs of tags
# nested thousands deep, or inside quotes nested deep, would have made the note too deep to export.
DIVS = 8
DIV_LEVELS = 24
DIV_ATTR = re.compile(r"""(?<![\w:-])(id|class)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.I)


def slug(text: str) -> str:
    """GitHub-style heading slug, so anchors in bundles work in common markdown viewers."""
    text = unicodedata.normalize("NFC", text).strip().lower()
    text = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LNM")
    return text.replace(" ", "-")


def _callout(bq: Block) -> Block:
    """'> [!NOTE] Title' -> Div.callout.callout-note with a title paragraph."""
    body = bq["c"]
    if not body or body[0]["t"] not in ("Para", "Plain"):
        return bq
    first = body[0]["c"]
    if not first or first[0].get("t") != "Str" or not (m := CALLOUT.match(first[0]["c"])):
        return bq
    kind = m.group(1).lower()
    rest = first[1:]
    while rest and rest[0].get("t") == "Space":
        rest = rest[1:]
    brk = next((i for i, x in enumerate(rest) if x.get("t") in ("SoftBreak", "LineBreak")), None)
    title, more = (rest, []) if brk is None else (rest[:brk], rest[brk + 1 :])
    if not title:
        title = [ast.Str(kind.capitalize())]
    blocks: list[Block] = [{"t": "Div", "c": [ast.attr("", ["callout-title"]), [ast.Para(title)]]}]
    if more:
        blocks.append({"t": "Para", "c": more})
    blocks += body[1:]
    return {"t": "Div", "c": [ast.attr("", ["callout", f"callout-{kind}"]), blocks]}


def _divs(blocks: list[Block], made: list[int]) -> list[Block]:
    """A <div> tag and its </div>, each a raw HTML block of its own in one list of blocks, made
    a Div of the markdown between them (its id and classes kept), as Obsidian shows them: each
    tag was cleaned apart from the other, the div closed at once with nothing inside, and the
    </div> removed as unsafe (a warning about nothing a note's writer did wrong)."""
    def tag(b: Block) -> re.Match[str] | bool | None:
        """The <div> tag b is, True for a </div>, None for any other block."""
        if b["t"] != "RawBlock" or b["c"][0] not in ("html", "html5"):
            return None
        if (m := DIV_OPEN.fullmatch(b["c"][1])) is not None:
            return m
        return True if DIV_CLOSE.fullmatch(b["c"][1]) else None

    if not any(b["t"] == "RawBlock" for b in blocks):
        return blocks
    tags = [tag(b) for b in blocks]
    deepest = depth = 0
    for t in tags:
        depth = depth + 1 if isinstance(t, re.Match) else max(0, depth - 1) if t else depth
        deepest = max(deepest, depth)
    if not deepest or deepest > DIVS:
        return blocks
    out: list[Block] = []
    opened: list[tuple[int, re.Match[str]]] = []  # (where in out the open tag is, the tag)
    for b, t in zip(blocks, tags, strict=True):
        if isinstance(t, re.Match):
            opened.append((len(out), t))
        elif t and opened:
            at, m = opened.pop()
            found = {k.lower(): next(v for v in vs if v) if any(vs) else "" for k, *vs in DIV_ATTR.findall(m[1])}
            attr = ast.attr(found.get("id", ""), found.get("class", "").split())
            out[at:] = [{"t": "Div", "c": [attr, out[at + 1:]]}]
            made[0] += 1
            continue
        out.append(b)
    return out


def _blocks(blocks: list[Block], ids: list[str]) -> list[Block]:
    if not any(b["t"] in ("Para", "Plain", "BlockQuote") for b in blocks):
        return blocks
    out: list[Block] = []
    for b in blocks:
        t = b["t"]
        if t in ("Para", "Plain") and not b["c"]:
            continue
        if t == "BlockQuote":
            b = _callout(b)
        if t in ("Para", "Plain") and (m := BLOCK_ID.match(ast.stringify(b["c"][-1:]))):
            rest = b["c"][:-1]
            while rest and rest[-1].get("t") in ("Space", "SoftBreak"):
                rest = rest[:-1]
            anchor = ast.attr("^" + m.group(1), ["block"])
            ids.append(m.group(1))
            if rest:
                out.append({"t": "Div", "c": [anchor, [{"t": t, "c": rest}]]})
            elif out:  # "^id" alone on a line names the block before it
                out[-1] = {"t": "Div", "c": [anchor, [out[-1]]]}
            continue
        out.append(b)
    return out


def _marks(inlines: list[Any]) -> list[Any]:
    """Obsidian inline syntax pandoc does not know: ==highlight== and %%hidden comment%%."""
    if not any(x["t"] == "Str" and ("==" in x["c"] or "%%" in x["c"]) for x in inlines):
        return inlines
    out: list[Any] = []
    i = 0
    while i < len(inlines):
        x = inlines[i]
        if x["t"] == "Str" and x["c"].startswith(("==", "%%")) and len(x["c"]) >= 2:
            fence = x["c"][:2]
            end = next(
                (
                    j
                    for j in range(i, len(inlines))
                    if inlines[j]["t"] == "Str"
                    and inlines[j]["c"].endswith(fence)
                    and (j > i or len(x["c"]) > 4)
                ),
                None,
            )
            if end is not None:
                inner = [*inlines[i : end + 1]]
                inner[0] = ast.Str(inner[0]["c"][2:])
                last = inner[-1]["c"]
                cut = last.rfind(fence)
                tail = last[cut + 2 :]
                inner[-1] = ast.Str(last[:cut])
                inner = [y for y in inner if y["t"] != "Str" or y["c"]]
                if fence == "==":
                    out.append(ast.Span(inner, ast.attr("", ["mark"])))
                elif out and out[-1]["t"] == "Space":
                    out.pop()  # a hidden comment takes its leading space with it
                if tail:
                    out.append(ast.Str(tail))
                i = end + 1
                continue
        out.append(x)
        i += 1
    return out


def tidy(blocks: list[Block]) -> tuple[list[Block], list[str]]:
    """Blocks with callouts, ^block ids, highlights and comments settled; returns block ids."""
    ids: list[str] = []
    made = [0]  # Divs made of <div> tags
    out = ast.walk(blocks, inlines=_marks, blocks=lambda bs: _blocks(_divs(bs, made), ids))
    if made[0] and ast.depth(out) > ast.depth(blocks) + DIV_LEVELS:
        ids = []
        out = ast.walk(blocks, inlines=_marks, blocks=lambda bs: _blocks(bs, ids))
    return out, ids


def unique_anchors() -> Callable[[str], str]:
    """GitHub's rule for repeated anchors, in document order: x, then x-1, x-2..."""
    seen: dict[str, int] = {}

    def unique(base: str) -> str:
        result = base
        while result in seen:
            seen[base] += 1
            result = f"{base}-{seen[base]}"
        seen[result] = 0
        return result

    return unique


def number_headings(blocks: list[Block]) -> tuple[list[Block], list[Heading]]:
    """Give every heading a unique GitHub-style id; returns the headings in order."""
    unique = unique_anchors()
    headings: list[Heading] = []

    def visit(b: Block) -> Block:
        if b["t"] != "Header":
            return b
        level, a, inl = b["c"]
        text = " ".join(ast.stringify(inl).split())
        ident = unique(slug(text) or "section")
        headings.append(Heading(level, text, ident))
        return {"t": "Header", "c": [level, [ident, a[1], a[2]], inl]}

    new = ast.map_each_block(blocks, visit)
    return new, headings
