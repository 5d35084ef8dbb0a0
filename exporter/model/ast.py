"""Small helpers over the pandoc JSON AST: build nodes, read text, map inline and block lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exporter.model.document import Block, Inline

INLINE = frozenset(
    "Str Emph Underline Strong Strikeout Superscript Subscript SmallCaps Quoted Cite Code Space "
    "SoftBreak LineBreak Math RawInline Link Image Note Span".split()
)
BLOCK = frozenset(
    "Plain Para LineBlock CodeBlock RawBlock BlockQuote OrderedList BulletList DefinitionList "
    "Header HorizontalRule Table Figure Div".split()
)
Attr = list[Any]
ListFn = Callable[[list[Any]], list[Any]]


def attr(ident: str = "", classes: list[str] | None = None, kv: dict[str, str] | None = None) -> Attr:
    return [ident, list(classes or []), [[k, v] for k, v in (kv or {}).items()]]


def kv(a: Attr) -> dict[str, str]:
    return dict(a[2])


def Str(s: str) -> Inline:  # noqa: N802 - pandoc's names
    return {"t": "Str", "c": s}


SPACE: Inline = {"t": "Space"}


def Span(inlines: list[Inline], a: Attr | None = None) -> Inline:  # noqa: N802
    return {"t": "Span", "c": [a or attr(), inlines]}


def Link(inlines: list[Inline], url: str, a: Attr | None = None) -> Inline:  # noqa: N802
    return {"t": "Link", "c": [a or attr(), inlines, [url, ""]]}


def Para(inlines: list[Inline]) -> Block:  # noqa: N802
    return {"t": "Para", "c": inlines}


def text_inlines(s: str) -> list[Inline]:
    """Plain text as Str and Space inlines."""
    out: list[Inline] = []
    for i, word in enumerate(s.split(" ")):
        if i:
            out.append(SPACE)
        if word:
            out.append(Str(word))
    return out


def stringify(node: Any) -> str:
    """Plain text of a node or list, as pandoc's stringify (footnotes left out)."""
    if isinstance(node, list):
        return "".join(stringify(x) for x in node)
    if not isinstance(node, dict):
        return ""
    t, c = node.get("t"), node.get("c")
    if t == "Str":
        return str(c)
    if t in ("Space", "SoftBreak", "LineBreak"):
        return " "
    if t in ("Code", "Math"):
        return str(c[1])
    if t in ("Note", "RawInline", "RawBlock"):
        return ""
    if t in ("Link", "Image", "Span"):
        return stringify(c[1])
    if t == "Header":
        return stringify(c[2])
    if t == "Quoted":
        return '"' + stringify(c[1]) + '"'
    return stringify(c)


def _is_list_of(x: Any, kinds: frozenset[str]) -> bool:
    return bool(x) and isinstance(x, list) and isinstance(x[0], dict) and x[0].get("t") in kinds


def walk(node: Any, inlines: ListFn | None = None, blocks: ListFn | None = None) -> Any:
    """Rebuild node bottom-up, passing every inline list and block list through the functions.

    Code, math and raw content are strings, so nothing inside them is ever visited.
    """
    if isinstance(node, list):
        new = [walk(x, inlines, blocks) for x in node]
        if inlines and _is_list_of(new, INLINE):
            return inlines(new)
        if blocks and _is_list_of(new, BLOCK):
            return blocks(new)
        return new
    if isinstance(node, dict) and "c" in node:
        t = node["t"]
        if t in ("Str", "Code", "Math", "RawInline", "RawBlock", "CodeBlock"):
            return node
        return {"t": t, "c": walk(node["c"], inlines, blocks)}
    return node


def map_inlines(blocks: list[Block], fn: ListFn) -> list[Block]:
    return list(walk(blocks, inlines=fn))


def map_blocks(blocks: list[Block], fn: ListFn) -> list[Block]:
    """Apply fn to every block list, outermost first, so fn sees blocks in document order."""

    def go(node: Any) -> Any:
        if isinstance(node, list):
            if _is_list_of(node, BLOCK):
                node = fn(node)
            return [go(x) for x in node]
        if isinstance(node, dict) and "c" in node:
            if node["t"] in ("Str", "Code", "Math", "RawInline", "RawBlock", "CodeBlock"):
                return node
            return {"t": node["t"], "c": go(node["c"])}
        return node

    return list(go(blocks))


def map_each_block(blocks: list[Block], fn: Callable[[Block], Block]) -> list[Block]:
    """Apply fn to every block in document order (a block before the blocks inside it)."""

    def go(node: Any) -> Any:
        if isinstance(node, list):
            return [go(x) for x in node]
        if isinstance(node, dict) and "c" in node:
            if node["t"] in BLOCK:
                node = fn(node)
            if node["t"] in ("Str", "Code", "Math", "RawInline", "RawBlock", "CodeBlock"):
                return node
            return {"t": node["t"], "c": go(node["c"])}
        return node

    return list(go(blocks))


def iter_nodes(node: Any, t: str) -> list[dict[str, Any]]:
    """All nodes of type t, in document order."""
    found: list[dict[str, Any]] = []

    def go(x: Any) -> None:
        if isinstance(x, list):
            for y in x:
                go(y)
        elif isinstance(x, dict) and "t" in x:
            if x["t"] == t:
                found.append(x)
            if x["t"] not in ("Str", "Code", "Math", "RawInline", "RawBlock", "CodeBlock"):
                go(x.get("c"))

    go(node)
    return found
