"""Transclude embedded notes and sections (SPEC 3): shifted headings, unique ids, no hangs.

Depth alone does not bound an embed tree: ten notes each embedding the next ten times, eight
deep, are 10^8 copies. Every embed is paid for, in bytes of the model's JSON plus a fixed price
per box, from the note's budget (see Budget); past it, the remaining embeds become links.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from exporter.model import ast
from exporter.model.document import Block
from exporter.transforms.links import Target, anchor_for, face
from exporter.vault.index import Index

MAX_DEPTH = 10
GROWTH = 20  # a note may grow to this many times its own size through embeds...
NOTE_FLOOR = 256 << 10  # ...or to this many bytes of JSON (about 40,000 characters, 14 pages)
VAULT_FLOOR = 1 << 20  # all embeds of a vault together: 10x the vault, or this much
EMBED_COST = 2048  # an embed costs a box on the page, whatever it holds: about a paragraph


@dataclass(frozen=True)
class Source:
    """A note others may embed: its linked blocks (loaded when first embedded) and, for the
    cache, an identity that changes whenever they do."""

    path: str
    target: Target
    load: Callable[[], list[Block]]
    ident: str = ""

    @cached_property
    def blocks(self) -> list[Block]:
        return self.load()

    @cached_property
    def size(self) -> int:
        return size_of(self.blocks)


def size_of(blocks: list[Block]) -> int:
    """What some blocks weigh in the budget: their JSON bytes (orjson is fast enough to ask)."""
    return len(orjson.dumps(blocks)) + EMBED_COST


@dataclass
class Budget:
    """Bytes of embedded content a note may still add: GROWTH times its own size or NOTE_FLOOR,
    and never more than its even share of the vault's budget (10x the vault or VAULT_FLOOR),
    so a thousand hostile notes cannot grow without bound, nor starve the others."""

    left: int

    @classmethod
    def share(cls, vault_size: int, embedding_notes: int) -> int:
        return max(10 * vault_size, VAULT_FLOOR) // max(1, embedding_notes)

    @classmethod
    def for_note(cls, own_size: int, share: int) -> Budget:
        return cls(min(max(GROWTH * own_size, NOTE_FLOOR), share))

    def take(self, cost: int) -> bool:
        if cost > self.left:
            return False
        self.left -= cost
        return True


@dataclass
class Embedded:
    blocks: list[Block]
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)  # paths of the notes transcluded, at any depth


def _is_embed(x: Any) -> bool:
    return x.get("t") == "Span" and "embed" in x["c"][0][1]


def _section(blocks: list[Block], anchor: str) -> list[Block]:
    """From the heading (or block) with this id to the next heading of the same or higher level."""
    for i, b in enumerate(blocks):
        if b["t"] == "Header" and b["c"][1][0] == anchor:
            level = b["c"][0]
            end = next(
                (
                    j
                    for j in range(i + 1, len(blocks))
                    if blocks[j]["t"] == "Header" and blocks[j]["c"][0] <= level
                ),
                len(blocks),
            )
            return blocks[i:end]
    found = [d for d in ast.iter_nodes(blocks, "Div") if d["c"][0][0] == anchor]
    return found[:1]


def _shift_and_prefix(blocks: list[Block], level: int, prefix: str) -> list[Block]:
    levels = [h["c"][0] for h in ast.iter_nodes(blocks, "Header")]
    shift = (level + 1 - min(levels)) if levels else 0

    def visit(b: Block) -> Block:
        if b["t"] == "Header":
            lv, a, inl = b["c"]
            return {"t": "Header", "c": [max(1, min(6, lv + shift)), [prefix + a[0], a[1], a[2]], inl]}
        if b["t"] == "Div" and b["c"][0][0]:
            a = b["c"][0]
            return {"t": "Div", "c": [[prefix + a[0], a[1], a[2]], b["c"][1]]}
        return b

    return ast.map_each_block(blocks, visit)


def _placeholder(text: str, cls: str) -> Block:
    return ast.Para([ast.Span(ast.text_inlines(text), ast.attr("", [cls]))])


def _link_to(src: Source, cls: str) -> list[Block]:
    """An embed that is not expanded: a link to its note, in every product."""
    link = ast.Link(
        ast.text_inlines(f"↪ {src.target.title}"),
        "",
        ast.attr("", ["internal"], {"note": src.target.id, "anchor": ""}),
    )
    return [ast.Para([ast.Span([link], ast.attr("", [cls]))])]


def transclude(
    path: str,
    blocks: list[Block],
    index: Index,
    sources: Mapping[str, Source],
    budget: Budget | None = None,
    trace: list[list[Any]] | None = None,
    _stack: tuple[str, ...] = (),
    _counter: list[int] | None = None,
) -> Embedded:
    """Replace each embed marker by the embedded blocks, recursively, cutting cycles, and
    linking instead of embedding once the budget is spent. What it reads of other notes goes
    into `trace` (when given), for the cache to check later (see collect.py)."""
    out = Embedded([])
    counter = _counter if _counter is not None else [0]
    stack = _stack or (path,)
    budget = budget or Budget.for_note(size_of(blocks), Budget.share(0, 1))
    if trace is not None and not _stack:
        trace.append(["budget", "", budget.left])

    def source(p: str | None) -> Source | None:
        found = sources.get(p) if p else None
        if trace is not None and p:
            trace.append(["source", p, [found.ident, face(found.target)] if found else None])
        return found

    def expand(raw: str, level: int) -> list[Block]:
        name, _, fragment = raw.partition("#")
        res = index.resolve(name, path) if name.strip() else None
        if trace is not None and res is not None:
            trace.append(["resolve", [path, name], [res.path, list(res.candidates), res.outside]])
        src = source(res.path) if res and res.path else (source(path) if not name.strip() else None)
        if src is None:
            out.problems.append(("missing-embed", f"![[{raw}", f"embedded note ![[{raw}]] not found"))
            return [_placeholder(f"[missing embed: {raw}]", "missing-embed")]
        if src.path in stack or len(stack) > MAX_DEPTH:
            why = "cycles back" if src.path in stack else f"nests deeper than {MAX_DEPTH}"
            out.problems.append(("embed-cycle", f"![[{raw}", f"embed ![[{raw}]] {why}; cut"))
            return _link_to(src, "embed-cut")
        part = src.blocks
        if fragment.strip():
            anchor = anchor_for(src.target, fragment.strip())
            part = _section(src.blocks, anchor) if anchor else []
            if not part:
                out.problems.append(
                    (
                        "missing-heading",
                        f"![[{raw}",
                        f"![[{raw}]]: no such heading or block; embedding the whole note",
                    )
                )
                part = src.blocks
        if not budget.take(src.size if part is src.blocks else size_of(part)):
            out.problems.append(("too-large", f"![[{raw}", f"embed ![[{raw}]] linked instead: the embeds "
                                 "would grow the note past its size budget"))
            return _link_to(src, "embed-cut")
        inner = transclude(src.path, part, index, sources, budget, trace, stack + (src.path,), counter)
        out.problems.extend(inner.problems)
        out.notes |= inner.notes | {src.path}
        counter[0] += 1
        body = _shift_and_prefix(inner.blocks, level, f"e{counter[0]}-")
        return [{"t": "Div", "c": [ast.attr("", ["embed"], {"note": src.target.id}), body]}]

    level = 1

    def visit(bs: list[Any]) -> list[Any]:
        nonlocal level
        if not any(b["t"] in ("Para", "Plain", "Header") for b in bs):
            return bs
        new: list[Any] = []
        for b in bs:
            if b["t"] == "Header":
                level = b["c"][0]
            if b["t"] in ("Para", "Plain") and any(_is_embed(x) for x in b["c"]):
                run: list[Any] = []
                for x in b["c"]:
                    if _is_embed(x):
                        if any(y.get("t") not in ("Space", "SoftBreak", "LineBreak") for y in run):
                            new.append({"t": b["t"], "c": run})
                        run = []
                        new += expand(ast.kv(x["c"][0])["target"], level)
                    else:
                        run.append(x)
                if any(y.get("t") not in ("Space", "SoftBreak", "LineBreak") for y in run):
                    new.append({"t": b["t"], "c": run})
            else:
                new.append(b)
        return new

    out.blocks = ast.map_blocks(blocks, visit)
    return out
