"""Tables too wide for a page, split into tables of fewer columns (the PDF's, where nothing scrolls).

A table is at least as wide as its columns' longest words together, and WeasyPrint cuts what
passes the page's edge: a table of twelve columns of ordinary words lost its last two. A table
whose words cannot fit is cut here into groups of columns that can, one table after the other,
each repeating the first column (the rows' names) when that column is narrow enough; every cell
is kept. A group that still cannot fit (one column of long words, or a table with merged cells,
which is not split) is marked `wide`: the theme then lets its words break anywhere.

Widths are estimated from the text, in em of the table's font: a little wider than the fonts'
own (DejaVu's), and without hyphenation, so that a table is split rather than cut.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from exporter.model import ast
from exporter.model.document import Block

CELL = 1.2  # em a cell adds to its text: padding (0.5em each side) and borders
HEAD = 1.15  # header cells are set in bold sans, wider than the body's serif
KEY = 1 / 3  # the first column is repeated in each group when it takes no more of the room
ANYWHERE = 40  # a word this long may break anywhere (pdf._long_words marks it): it needs one character


def _em(c: str) -> float:
    """About how wide a character is, in em (DejaVu's widths rounded up)."""
    if unicodedata.east_asian_width(c) in "WF":
        return 1.0
    if c in ".,:;'!|()[]ijlftr":
        return 0.4
    if c.isupper() or c in "mwMW%@&":
        return 0.8
    if c.isdigit():
        return 0.65
    return 0.6


def _pieces(text: str) -> list[str]:
    """The pieces a line may break between: words, after their hyphens; CJK characters one by one."""
    found: list[str] = []
    for word in text.split():
        if len(word) >= ANYWHERE:
            found.append(word[0])
            continue
        piece = ""
        for c in word:
            if unicodedata.east_asian_width(c) in "WF":
                found += [piece, c] if piece else [c]
                piece = ""
            else:
                piece += c
                if c == "-":
                    found.append(piece)
                    piece = ""
        if piece:
            found.append(piece)
    return found


def _need(blocks: list[Block], head: bool) -> float:
    """The narrowest a cell can be: its widest unbreakable piece, and its padding."""
    widest = max((sum(map(_em, p)) for b in blocks for p in _pieces(ast.stringify(b))), default=0.0)
    return widest * (HEAD if head else 1.0) + CELL


def _rows(table: Block) -> list[tuple[list[Any], bool]]:
    """Every row of a table, with whether it is a header row."""
    _, _, _, head, bodies, foot = table["c"]
    rows = [(r, True) for r in head[1]]
    for body in bodies:
        rows += [(r, True) for r in body[2]] + [(r, False) for r in body[3]]
    return rows + [(r, False) for r in foot[1]]


def _widths(table: Block, columns: int) -> list[float] | None:
    """Each column's narrowest width; None when a cell spans rows or columns, or a row is short."""
    widths = [CELL] * columns
    for row, head in _rows(table):
        cells = row[1]
        if len(cells) != columns or any(cell[2] != 1 or cell[3] != 1 for cell in cells):
            return None
        for k, cell in enumerate(cells):
            widths[k] = max(widths[k], _need(cell[4], head))
    return widths


def _greedy(widths: list[float], room: float, key: bool) -> list[list[int]]:
    """Columns in order, each group as full as room lets it be (the fewest groups)."""
    groups: list[list[int]] = [[0]]
    used = widths[0]
    for k in range(1, len(widths)):
        if used + widths[k] > room and len(groups[-1]) > key:
            groups.append([0, k] if key else [k])
            used = (widths[0] if key else 0.0) + widths[k]
        else:
            groups[-1].append(k)
            used += widths[k]
    return groups


def _groups(widths: list[float], room: float) -> tuple[list[list[int]], bool]:
    """Columns in groups that fit the room, and whether the first column is repeated in each:
    as few groups as fit, made as even as they go (the narrowest room that needs no more), so
    that the last is not a column or two alone."""
    key = widths[0] <= room * KEY
    fewest = len(_greedy(widths, room, key))
    low, high = 0.0, room
    for _ in range(24):
        mid = (low + high) / 2
        low, high = (low, mid) if len(_greedy(widths, mid, key)) <= fewest else (mid, high)
    return _greedy(widths, high, key), key


def _marked(table: Block, cls: str, ident: str | None = None) -> Block:
    (old, classes, kvs), *rest = table["c"]
    return {"t": "Table", "c": [[old if ident is None else ident, [*classes, cls], kvs], *rest]}


def _part(table: Block, group: list[int], first: bool, key: bool) -> Block:
    """The table with the columns of group alone (the first group keeps its id and caption)."""
    attr, caption, specs, head, bodies, foot = table["c"]

    def cut(rows: list[Any]) -> list[Any]:
        if first:
            return [[row[0], [row[1][k] for k in group]] for row in rows]
        return [[_unnamed(row[0]), [row[1][k] if k else _echo(row[1][k]) for k in group]] for row in rows]

    specs = [specs[k] for k in group]
    if all(isinstance(w, dict) and w.get("t") == "ColWidth" for _, w in specs):
        total = sum(w["c"] for _, w in specs) or 1.0
        specs = [[align, {"t": "ColWidth", "c": w["c"] / total}] for align, w in specs]

    def named(heads: int) -> int:  # a body's row-head columns: the first columns, where they go
        return min(heads, len(group)) if first else min(heads, int(key))

    return {"t": "Table", "c": [
        attr if first else ["", attr[1], attr[2]],
        caption if first else [None, []],
        specs,
        [head[0], cut(head[1])],
        [[b[0], named(b[1]), cut(b[2]), cut(b[3])] for b in bodies],
        [foot[0], cut(foot[1])],
    ]}


def _unnamed(a: list[Any]) -> list[Any]:
    return ["", a[1], a[2]]


def _echo(cell: list[Any]) -> list[Any]:
    """A repeated cell (the rows' names), as a later part shows it: without its footnotes, set
    and numbered again under each part (every later note's number one too high), and without
    ids, which the page would have twice."""
    def unnamed(xs: list[Any]) -> list[Any]:
        return [_no_id(x) for x in xs if x["t"] != "Note"]

    a, align, rows, columns, blocks = cell
    return [_unnamed(a), align, rows, columns, ast.walk(blocks, unnamed, unnamed)]


def _no_id(node: dict[str, Any]) -> dict[str, Any]:
    at = ast.ATTR_AT.get(node["t"])
    if at is None or not node["c"][at][0]:
        return node
    c = list(node["c"])
    c[at] = _unnamed(c[at])
    return {"t": node["t"], "c": c}


def fit(table: Block, room: float) -> list[Block]:
    """A table as tables that fit room (em of the table's font); itself when it fits."""
    columns = len(table["c"][2])
    widths = _widths(table, columns) if columns else None
    if widths is None:
        rows = _rows(table)
        need = max((sum(_need(c[4], head) for c in row[1]) for row, head in rows), default=0.0)
        return [table if need <= room else _marked(table, "wide")]
    if sum(widths) <= room:
        return [table]
    groups, key = _groups(widths, room)
    parts = [_part(table, g, k == 0, key) for k, g in enumerate(groups)]
    return [p if sum(widths[i] for i in g) <= room else _marked(p, "wide") for p, g in zip(parts, groups, strict=True)]


def fit_all(blocks: list[Block], room: float) -> list[Block]:
    """Every table in blocks (nested ones too) split as fit() does."""
    def each(bs: list[Block]) -> list[Block]:
        if not any(b["t"] == "Table" for b in bs):
            return bs
        fitted = [fit(b, room) if b["t"] == "Table" else [b] for b in bs]
        if all(len(f) == 1 and f[0] is b for f, b in zip(fitted, bs, strict=True)):
            return bs
        return [x for f in fitted for x in f]

    return ast.map_blocks(blocks, each)
