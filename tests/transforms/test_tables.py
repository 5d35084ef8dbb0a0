"""Tables too wide for the page are split into tables of fewer columns, every cell kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from exporter.model.ast import iter_nodes, stringify
from exporter.transforms import tables
from tests.conftest import note

HEADS = ["Lighthouse", "Established", "Elevation", "Characteristic", "Range", "Keeper", "Automated",
         "Construction", "Optic", "Fog signal", "Status", "Coordinates"]
WORDS = ["granite", "Fresnel", "decommissioned", "operational", "1873", "cast-iron", "46 m", "diaphone"]


def _pipe(heads: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def _table(vault: Callable[..., Any], body: str) -> dict[str, Any]:
    """A note's pipe table, as the reader gives it."""
    coll, _ = vault({"t.md": f"---\ntitle: T\n---\n\n{body}\n"})
    return iter_nodes(note(coll, "t").blocks, "Table")[0]


def _made(rows: list[list[str]], ident: str = "", caption: str = "", widths: list[float] | None = None,
          span: bool = False) -> dict[str, Any]:
    """A table in pandoc's shape, with what pipe tables never have: an id, a caption, relative
    widths, a cell spanning two columns (span: the first row's first cell)."""
    def row(texts: list[str], first: bool) -> list[Any]:
        cells = [[["", [], []], {"t": "AlignDefault"}, 1, 2 if span and first and k == 0 else 1,
                  [{"t": "Plain", "c": [{"t": "Str", "c": t}]}]] for k, t in enumerate(texts)]
        return [["", [], []], cells[:-1] if span and first else cells]

    columns = len(rows[0])
    specs = [[{"t": "AlignDefault"}, {"t": "ColWidthDefault"} if widths is None else {"t": "ColWidth", "c": w}]
             for w in (widths or [0.0] * columns)]
    notes = [{"t": "Plain", "c": [{"t": "Str", "c": caption}]}] if caption else []
    return {"t": "Table", "c": [[ident, [], []], [None, notes], specs, [["", [], []], [row(rows[0], True)]],
                                [[["", [], []], 1, [], [row(r, False) for r in rows[1:]]]], [["", [], []], []]]}


def _grid(table: dict[str, Any]) -> list[list[str]]:
    """The text of every cell, row by row (head rows first)."""
    _, _, _, head, bodies, foot = table["c"]
    rows = [*head[1], *(r for b in bodies for r in (*b[2], *b[3])), *foot[1]]
    return [[stringify(cell[4]) for cell in row[1]] for row in rows]


def _rows(n: int, width: int) -> list[list[str]]:
    return [[WORDS[(r * 3 + k) % len(WORDS)] + f" {r}.{k}" for k in range(width)] for r in range(n)]


def test_a_table_that_fits_is_left_as_it_is(vault: Callable[..., Any]) -> None:
    table = _table(vault, _pipe(["No.", "Station", "Elev.", "Range"], _rows(3, 4)))
    assert tables.fit(table, 50.0) == [table]
    blocks = [{"t": "Para", "c": []}, table]
    assert tables.fit_all(blocks, 50.0) == blocks


def test_a_wide_table_becomes_tables_that_fit_each_repeating_the_rows_names(vault: Callable[..., Any]) -> None:
    rows = _rows(4, len(HEADS))
    table = _table(vault, _pipe(HEADS, rows))
    room = 50.0
    parts = tables.fit(table, room)
    assert len(parts) >= 2
    grids = [_grid(p) for p in parts]
    # the first column (the rows' names) opens every part; the others appear once, in order
    assert all([row[0] for row in g] == [row[0] for row in _grid(table)] for g in grids)
    assert [g[0][0] for g in grids] == ["Lighthouse"] * len(parts)
    rest = [g[0][1:] for g in grids]
    assert [h for r in rest for h in r] == HEADS[1:]
    for r, row in enumerate(_grid(table)):
        assert [row[0]] + [c for g in grids for c in g[r][1:]] == row
    # each part fits, and the parts are about even: the last is not a column alone
    widths = tables._widths(table, len(HEADS))
    assert widths is not None
    sizes = [sum(widths[HEADS.index(h)] for h in g[0]) for g in grids]
    assert all(s <= room for s in sizes) and max(map(len, rest)) - min(map(len, rest)) <= 2
    assert not any("wide" in p["c"][0][1] for p in parts)


def test_the_id_and_caption_stay_with_the_first_part_and_relative_widths_are_made_whole() -> None:
    table = _made([HEADS, *_rows(2, len(HEADS))], ident="lights", caption="Lights of the coast",
                  widths=[1 / len(HEADS)] * len(HEADS))
    parts = tables.fit(table, 40.0)
    assert len(parts) >= 2
    assert parts[0]["c"][0][0] == "lights" and all(p["c"][0][0] == "" for p in parts[1:])
    assert stringify(parts[0]["c"][1][1]) == "Lights of the coast" and all(p["c"][1] == [None, []] for p in parts[1:])
    for part in parts:
        assert abs(sum(w["c"] for _, w in part["c"][2]) - 1.0) < 1e-9
    # the rows' names are the body's row-head column in every part
    assert all(p["c"][4][0][1] == 1 for p in parts)


def test_a_repeated_rows_name_leaves_its_footnote_and_id_to_the_first_part(vault: Callable[..., Any]) -> None:
    """Each part set the footnote of a repeated name again, numbered anew (and every later
    footnote of the note one too high), and repeated its ids."""
    rows = _rows(3, len(HEADS))
    rows[1][0] = "Fastnet[^n] [rock]{#base}"
    table = _table(vault, _pipe(HEADS, rows) + "\n[^n]: Built in 1904.\n")
    parts = tables.fit(table, 50.0)
    assert len(parts) >= 2
    assert [len(iter_nodes(p, "Note")) for p in parts] == [1] + [0] * (len(parts) - 1)
    assert [[s["c"][0][0] for s in iter_nodes(p, "Span")] for p in parts] == [["base"]] + [[""]] * (len(parts) - 1)
    assert all(_grid(p)[2][0] == "Fastnet rock" for p in parts)  # the name itself in every part


def test_a_first_column_too_wide_to_repeat_opens_the_first_part_alone(vault: Callable[..., Any]) -> None:
    heads = ["Name", *HEADS[1:]]
    table = _table(vault, _pipe(heads, [["Lindisfarne" * 3, *HEADS[1:]]]))  # 33 letters, no break
    parts = tables.fit(table, 40.0)
    assert len(parts) >= 2 and _grid(parts[1])[0][0] != "Name"
    assert [h for p in parts for h in _grid(p)[0]] == heads


def test_a_table_with_merged_cells_is_not_split_but_may_break_its_words() -> None:
    table = _made([HEADS, *_rows(2, len(HEADS))], span=True)
    (only,) = tables.fit(table, 30.0)
    assert "wide" in only["c"][0][1] and _grid(only) == _grid(table)
    assert tables.fit(table, 1000.0) == [table]


def test_tables_inside_lists_and_quotes_are_split_too(vault: Callable[..., Any]) -> None:
    coll, _ = vault({"t.md": "---\ntitle: T\n---\n\n> Quoted:\n>\n" + "".join(
        "> " + line + "\n" for line in _pipe(HEADS, _rows(2, len(HEADS))).splitlines())})
    blocks = tables.fit_all(note(coll, "t").blocks, 45.0)
    assert len(iter_nodes(blocks, "Table")) >= 2


def test_cjk_text_breaks_between_characters_and_long_words_break_anywhere() -> None:
    assert tables._pieces("灯台の光") == ["灯", "台", "の", "光"]
    assert tables._pieces("cast-iron tower") == ["cast-", "iron", "tower"]
    assert tables._pieces("x" * 300) == ["x"]


CELL = st.text(alphabet=st.sampled_from("abcdefghij -MW1灯"), max_size=30).map(str.strip).filter(bool)


@given(st.integers(1, 16), st.integers(0, 4), st.floats(8.0, 80.0), st.data())
def test_splitting_keeps_every_cell_once_in_order_and_each_part_fits(
        columns: int, n: int, room: float, data: st.DataObject) -> None:
    """Hand-made tables in pandoc's shape: every cell of the table is in the parts once (the
    repeated first column apart), rows stay rows, and a part wider than the room is one column
    (with the rows' names) that is marked to break anywhere."""
    rows = data.draw(st.lists(st.lists(CELL, min_size=columns, max_size=columns), min_size=n + 1, max_size=n + 1))

    table = _made(rows)
    parts = tables.fit(table, room)
    widths = tables._widths(table, columns)
    assert widths is not None
    if sum(widths) <= room:
        assert parts == [table]
        return
    grids = [_grid(p) for p in parts]
    repeated = len(parts) > 1 and tables._groups(widths, room)[1]  # (cells alike do not tell)
    for r, texts in enumerate(rows):
        joined = [c for k, g in enumerate(grids) for c in (g[r] if k == 0 or not repeated else g[r][1:])]
        assert joined == texts
    for p, g in zip(parts, grids, strict=True):
        own = len(g[0]) - repeated  # columns besides the rows' names
        assert own >= 1
        if "wide" in p["c"][0][1]:
            assert own == 1 or len(parts) == 1
