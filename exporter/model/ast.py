"""Small helpers over the pandoc JSON AST: build nodes, read text, map inline and block lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exporter.model.document import Block, Inline

INLINE = frozenset(
    [
        "Str",
        "Emph",
        "Underline",
        "Strong",
        "Strikeout",
        "Superscript",
        "Subscript",
        "SmallCaps",
        "Quoted",
        "Cite",
        "Code",
        "Space",
        "SoftBreak",
        "LineBreak",
        "Math",
        "RawInline",
        "Link",
        "Image",
        "Note",
        "Span",
    ]
)
BLOCK = frozenset(
    [
        "Plain",
        "Para",
        "LineBlock",
        "CodeBlock",
        "RawBlock",
        "BlockQuote",
        "OrderedList",
        "BulletList",
        "DefinitionList",
        "Header",
        "HorizontalRule",
        "Table",
        "Figure",
        "Div",
    ]
)
Attr = list[Any]
ListFn = Callable[[list[Any]], list[Any]]


ATTR_AT = {  # where a node's Attr is in its content
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


def flatten_note(blocks: list[Block]) -> list[Inline]:
    """A footnote's blocks as one run of inlines (paragraphs joined by a space)."""
    flat: list[Inline] = []
    for b in blocks:
        if flat:
            flat.append(SPACE)
        flat += b["c"] if b["t"] in ("Para", "Plain") else [Str(stringify(b))]
    return flat


def map_notes(blocks: list[Block], fn: Callable[[Inline], list[Inline]]) -> list[Block]:
    """Replace every footnote (Note inline) by what fn returns for it."""

    def visit(inlines: list[Any]) -> list[Any]:
        for x in inlines:
            if x["t"] == "Note":
                break
        else:
            return inlines
        out: list[Any] = []
        for x in inlines:
            if x["t"] == "Note":
                out += fn(x)
            else:
                out.append(x)
        return out

    return map_inlines(blocks, visit)


def stringify(node: Any) -> str:
    """Plain text of a node or list, as pandoc's stringify (footnotes left out)."""
    if isinstance(node, list):
        return "".join(stringify(x) for x in node)
    if not isinstance(node, dict):
        return ""
    t, c = node.get("t"), node.get("c")
    if c is None:
        return " " if t in ("Space", "SoftBreak", "LineBreak") else ""
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


LEAVES = frozenset(
    [
        "Str",
        "Space",
        "SoftBreak",
        "LineBreak",
        "Code",
        "Math",
        "RawInline",
        "CodeBlock",
        "RawBlock",
        "HorizontalRule",
    ]
)
_WRAPS = frozenset(["Emph", "Strong", "Underline", "Strikeout", "Superscript", "Subscript", "SmallCaps"])


class _Walker:
    """Typed traversal of the pandoc JSON AST that copies only what changes.

    Knowing where each node keeps its children makes this several times faster than a
    generic walk over every list, and unchanged subtrees are shared, never mutated.
    """

    def __init__(
        self, inlines: ListFn | None, blocks: ListFn | None, each: Callable[[Block], Block] | None = None
    ) -> None:
        self.ifn, self.bfn, self.each = inlines, blocks, each

    def blocks(self, bs: list[Any]) -> list[Any]:
        each, out = self.each, None
        for i, b in enumerate(bs):
            n = self.block(each(b) if each is not None else b)
            if n is not b:
                if out is None:
                    out = list(bs)
                out[i] = n
        res = bs if out is None else out
        return self.bfn(res) if self.bfn else res

    def inlines(self, xs: list[Any]) -> list[Any]:
        out = None
        for i, x in enumerate(xs):
            if x["t"] in LEAVES:  # most inlines: nothing inside to visit
                continue
            n = self.inline(x)
            if n is not x:
                if out is None:
                    out = list(xs)
                out[i] = n
        res = xs if out is None else out
        return self.ifn(res) if self.ifn else res

    def inline(self, x: Inline) -> Inline:
        t = x["t"]
        if t in LEAVES:
            return x
        c = x["c"]
        if t in _WRAPS:
            n = self.inlines(c)
            return x if n is c else {"t": t, "c": n}
        if t in ("Link", "Image", "Span", "Quoted", "Cite"):
            n = self.inlines(c[1])
            return x if n is c[1] else {"t": t, "c": [c[0], n, *c[2:]]}
        if t == "Note":
            n = self.blocks(c)
            return x if n is c else {"t": t, "c": n}
        return x

    def _items(self, items: list[list[Any]]) -> list[list[Any]]:
        new = [self.blocks(i) for i in items]
        return items if all(a is b for a, b in zip(new, items, strict=True)) else new

    def _rows(self, rows: list[Any]) -> list[Any]:
        return [[r[0], [[c[0], c[1], c[2], c[3], self.blocks(c[4])] for c in r[1]]] for r in rows]

    def block(self, b: Block) -> Block:
        t = b["t"]
        if t in LEAVES:
            return b
        c = b["c"]
        if t in ("Para", "Plain"):
            n = self.inlines(c)
            return b if n is c else {"t": t, "c": n}
        if t == "Header":
            n = self.inlines(c[2])
            return b if n is c[2] else {"t": t, "c": [c[0], c[1], n]}
        if t == "BlockQuote":
            n = self.blocks(c)
            return b if n is c else {"t": t, "c": n}
        if t == "Div":
            n = self.blocks(c[1])
            return b if n is c[1] else {"t": t, "c": [c[0], n]}
        if t == "BulletList":
            n = self._items(c)
            return b if n is c else {"t": t, "c": n}
        if t == "OrderedList":
            n = self._items(c[1])
            return b if n is c[1] else {"t": t, "c": [c[0], n]}
        if t == "LineBlock":
            lines = [self.inlines(x) for x in c]
            return {"t": t, "c": lines}
        if t == "DefinitionList":
            return {"t": t, "c": [[self.inlines(term), self._items(defs)] for term, defs in c]}
        if t == "Figure":
            cap = [c[1][0], self.blocks(c[1][1])]
            return {"t": t, "c": [c[0], cap, self.blocks(c[2])]}
        if t == "Table":
            a, cap, specs, head, bodies, foot = c
            return {
                "t": t,
                "c": [
                    a,
                    [cap[0], self.blocks(cap[1])],
                    specs,
                    [head[0], self._rows(head[1])],
                    [[bd[0], bd[1], self._rows(bd[2]), self._rows(bd[3])] for bd in bodies],
                    [foot[0], self._rows(foot[1])],
                ],
            }
        return b


def walk(node: list[Block], inlines: ListFn | None = None, blocks: ListFn | None = None) -> list[Block]:
    """New blocks with every inline list and block list passed through the functions.

    Lists reach the functions bottom-up; code, math and raw content are never visited.
    """
    return _Walker(inlines, blocks).blocks(node)


def map_inlines(blocks: list[Block], fn: ListFn) -> list[Block]:
    return _Walker(fn, None).blocks(blocks)


def map_blocks(blocks: list[Block], fn: ListFn) -> list[Block]:
    """Apply fn to every block list (innermost first)."""
    return _Walker(None, fn).blocks(blocks)


def map_each_block(blocks: list[Block], fn: Callable[[Block], Block]) -> list[Block]:
    """Apply fn to every block in document order (a block before the blocks inside it)."""
    return _Walker(None, None, fn).blocks(blocks)


class _Finder(_Walker):
    """Collects nodes of one type in document order, changing nothing."""

    def __init__(self, t: str) -> None:
        super().__init__(None, None)
        self.t = t
        self.found: list[dict[str, Any]] = []

    def blocks(self, bs: list[Any]) -> list[Any]:
        for b in bs:
            if b["t"] == self.t:
                self.found.append(b)
            self.block(b)
        return bs

    def inlines(self, xs: list[Any]) -> list[Any]:
        for x in xs:
            if x["t"] == self.t:
                self.found.append(x)
            if x["t"] not in LEAVES:
                self.inline(x)
        return xs


def iter_nodes(node: Any, t: str) -> list[dict[str, Any]]:
    """All nodes of type t, in document order."""
    f = _Finder(t)
    if isinstance(node, dict):
        node = [node]
    if node and node[0].get("t") in INLINE:
        f.inlines(node)
    else:
        f.blocks(node)
    return f.found


def depth(node: Any) -> int:
    """How deep node nests as JSON, counting lists and objects as orjson does ([] is 1).

    Notes nested too deeply break later stages (orjson writes at most 254 levels, the walkers
    recurse), so this counts without recursion; it looks at every value, so a caller checking
    many notes first asks orjson in C whether a note fits under its limit (collect does).
    """
    best = 0
    todo: list[tuple[Any, int]] = [(node, 1)]
    while todo:
        x, d = todo.pop()
        best = max(best, d)
        todo += [(v, d + 1) for v in (x.values() if isinstance(x, dict) else x) if isinstance(v, list | dict)]
    return best
