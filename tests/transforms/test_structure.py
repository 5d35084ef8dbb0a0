"""Structure: callouts, block ids, highlights, comments and unique heading ids."""

from __future__ import annotations

import pytest

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


def test_html_divs_around_markdown_become_divs_with_their_id_and_classes(vault) -> None:  # type: ignore[no-untyped-def]
    """Each tag was a raw block cleaned on its own: the div emptied, and </div> removed with an
    unsafe-content warning that named nothing unsafe."""
    body = ("<div class=\"admonition tip\" id=\"keep\" onclick=\"alert(1)\">\n\nTip **text**.\n\n<DIV class='inner'>\n\n"
            "Inner.\n\n</div>\n\n</div>\n\n<div class=\"open\">\n\nNever closed.\n")
    coll, report = vault({"a.md": body})
    a = note(coll, "a")
    divs = {d["c"][0][0] or " ".join(d["c"][0][1]): d for d in iter_nodes(a.blocks, "Div")}
    assert divs["keep"]["c"][0][1] == ["admonition", "tip"] and divs["keep"]["c"][0][2] == []
    assert stringify(divs["keep"]) == "Tip text.Inner." and stringify(divs["inner"]) == "Inner."
    assert not [d for d in report.items if d.code == "unsafe-content" and "/div" in d.message]
    raws = [r["c"][1] for r in iter_nodes(a.blocks, "RawBlock")]
    assert len(raws) == 1 and "open" in raws[0] and "Never closed." in stringify(a.blocks)  # left as it was


def _wrapped(text: str, divs: int, quotes: int) -> str:
    """text inside `divs` nested <div> pairs, inside a quote, `quotes` times over."""
    for _ in range(quotes):
        text = "<div>\n\n" * divs + text + "\n\n</div>" * divs
        text = "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))
    return text


@pytest.mark.parametrize(("divs", "quotes"), [(5000, 1), (8, 30)])
def test_div_tags_nested_too_deep_stay_raw_and_the_note_is_exported(vault, divs: int, quotes: int) -> None:  # type: ignore[no-untyped-def]
    coll, report = vault({"a.md": "Before.\n\n" + _wrapped("Core text.", divs, quotes) + "\n\nAfter.\n"})
    a = note(coll, "a")
    assert not iter_nodes(a.blocks, "Div") and "Core text." in stringify(a.blocks)
    assert not [d for d in report.items if d.severity.value == "error"]
