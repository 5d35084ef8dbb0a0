"""Structure: callouts, block ids, highlights, comments and unique heading ids."""

from __future__ import annotations

from exporter.model.ast import iter_nodes, stringify
from tests.conftest import note


def test_highlight_becomes_mark_and_comments_are_hidden(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault({"a.md": "keep ==the light burning== now %%private note%% end ==x==\n"})
    a = note(coll, "a")
    marks = [s for s in iter_nodes(a.blocks, "Span") if "mark" in s["c"][0][1]]
    assert [stringify(m) for m in marks] == ["the light burning", "x"]
    text = stringify(a.blocks)
    assert "private" not in text and "%%" not in text and "==" not in text
    assert text == "keep the light burning now end x"


def test_callouts_become_titled_divs(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault({"a.md": "> [!NOTE] Handing over\n> body\n\n> [!tip]\n> tip body\n\n> > [!MATH] nested\n> > x\n"})
    divs = [d["c"][0][1] for d in iter_nodes(note(coll, "a").blocks, "Div") if "callout" in d["c"][0][1]]
    assert divs == [["callout", "callout-note"], ["callout", "callout-tip"], ["callout", "callout-math"]]
    titles = [stringify(d) for d in iter_nodes(note(coll, "a").blocks, "Div") if "callout-title" in d["c"][0][1]]
    assert titles == ["Handing over", "Tip", "nested"]


def test_duplicate_headings_get_unique_ids(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault({"a.md": "## Same\n\n## Same\n\n## Same-1\n\n## Ωμέγα\n"})
    assert [h.id for h in note(coll, "a").headings] == ["same", "same-1", "same-1-1", "ωμέγα"]


def test_block_id_marks_the_paragraph(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault({"a.md": "para text ^blk1\n\n- list\n\n^blk2\n"})
    ids = [d["c"][0][0] for d in iter_nodes(note(coll, "a").blocks, "Div")]
    assert ids == ["^blk1", "^blk2"]
    assert "^blk" not in stringify(note(coll, "a").blocks)
