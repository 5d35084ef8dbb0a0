"""SPEC 7: raw HTML and attributes are made safe in the model, for every product."""

from __future__ import annotations

import json

from exporter.model.ast import iter_nodes, stringify
from tests.conftest import note


def test_scripts_handlers_and_frames_removed(vault) -> None:  # type: ignore[no-untyped-def]
    body = (
        '<script>alert(1)</script>\n\ntext <span onclick="x()" class="k">hi</span> '
        '<script>bad()</script> ok <iframe src="http://e.org"></iframe>\n\n'
        '<div class="admonition tip" onmouseover="x"><p>Tip</p><style>@import url(http://e.org/a.css);</style></div>\n\n'
        '## Head {onclick="y" style="color:red"}\n\n<img src="/etc/passwd"> <a href="javascript:x">j</a>\n'
    )
    coll, report = vault({"a.md": body})
    dump = json.dumps(note(coll, "a").blocks).lower()
    for bad in (
        "<script",
        "onclick",
        "onmouseover",
        "iframe",
        "@import",
        "style",
        "javascript:",
        "<img",
        "alert(1)",
        "bad()",
    ):
        assert bad not in dump, bad
    assert "admonition tip" in dump and "hi" in dump and "ok" in dump
    assert any(d.code == "unsafe-content" for d in report.items)


def unsafe(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [d.message for d in report.items if d.code == "unsafe-content"]


def test_raw_links_keep_only_absolute_web_and_mail_urls(vault) -> None:  # type: ignore[no-untyped-def]
    bad = ["nowhere.md", "../../../etc/passwd", "#x", "javascript:alert(1)", "data:text/html,hi"]
    good = ["https://ok.example/p", "mailto:a@b.example"]
    body = " ".join(f'<a href="{u}">t{i}</a>' for i, u in enumerate(bad + good))
    coll, report = vault({"a.md": f"x {body}\n"})
    n = note(coll, "a")
    raws = [x["c"][1] for x in iter_nodes(n.blocks, "RawInline")]
    hrefs = [r for r in raws if "href" in r]
    assert len(hrefs) == 2 and all(any(g in r for g in good) for r in hrefs)
    assert " ".join(stringify(n.blocks).split()) == "x " + " ".join(f"t{i}" for i in range(7))
    msgs = unsafe(report)
    for u in bad:
        assert f"removed link {u!r} in raw HTML" in msgs, u


def test_dropped_attributes_of_kept_tags_are_reported(vault) -> None:  # type: ignore[no-untyped-def]
    coll, report = vault({"a.md": 'x <a name="x">n</a> <span onclick="go()" class="k">s</span>\n'})
    dump = json.dumps(note(coll, "a").blocks)
    assert "onclick" not in dump and "name=" not in dump and 'class=\\"k\\"' in dump
    msgs = unsafe(report)
    assert "removed attribute 'name' in raw HTML" in msgs
    assert "removed attribute 'onclick' in raw HTML" in msgs
    assert not [m for m in msgs if "rel" in m]


def test_each_removal_is_named_at_its_line(vault) -> None:  # type: ignore[no-untyped-def]
    """The warnings named the note alone: in a long note nobody could find what went."""
    body = (
        "---\ntitle: T\n---\n\nFirst paragraph.\n\n"  # the frontmatter counts: lines of the file
        '<script>alert(1)</script>\n\n'  # 7
        'Text with <img src="https://e.org/p.png"> in it.\n\n'  # 9
        '<a href="javascript:go()">j</a> and <span onclick="x" class="k">s</span>\n\n'  # 11
        '## Heading {onmouseover="y"}\n\n'  # 13
        "<div>\n[[x]] inside\n</div>\n\n"  # 15-17
        "Later <img src=\"https://e.org/q.png\"> again.\n"  # 19
    )
    _, report = vault({"a.md": body})
    lines = {(d.message, d.line) for d in report.items if d.code == "unsafe-content"}
    assert lines == {
        ("removed raw HTML block '<script>alert(1)</script>'", 7),
        ("removed <img>", 9),
        ("removed link 'javascript:go()' in raw HTML", 11),
        ("removed attribute 'onclick' in raw HTML", 11),
        ("removed attribute 'onmouseover'", 13),
        ("removed wikilink [[x]] inside raw HTML kept as text", 16),
        ("removed <img>", 19),
    }


def test_links_inside_raw_html_blocks(vault) -> None:  # type: ignore[no-untyped-def]
    body = (
        '<div>\n<a href="../x.md">a</a> <a href="https://ok.example/">b</a>'
        ' <p title="t" dir="x" onload="y">p</p>\n</div>\n'
    )
    coll, report = vault({"a.md": body})
    html = "".join(b["c"][1] for b in iter_nodes(note(coll, "a").blocks, "RawBlock"))
    assert "../x.md" not in html and "https://ok.example/" in html and ">a</a>" in html
    msgs = unsafe(report)
    assert "removed link '../x.md' in raw HTML" in msgs
    assert "removed attribute 'onload' in raw HTML" in msgs


def test_wikilinks_inside_raw_html_block_become_text(vault) -> None:  # type: ignore[no-untyped-def]
    coll, report = vault({"a.md": "<div>\n[[x]] and [[y|label]], ![[z.png|200]] [[Q&A]]\n</div>\n"})
    html = "".join(b["c"][1] for b in iter_nodes(note(coll, "a").blocks, "RawBlock"))
    assert "[[" not in html and "]]" not in html
    assert "x and label, z.png Q&amp;A" in html
    msgs = unsafe(report)
    assert "removed wikilink [[x]] inside raw HTML kept as text" in msgs
    assert "removed wikilink [[y|label]] inside raw HTML kept as text" in msgs
    assert "removed wikilink ![[z.png|200]] inside raw HTML kept as text" in msgs


def _raw_html(blocks: object) -> str:
    return "".join(n["c"][1] for t in ("RawBlock", "RawInline") for n in iter_nodes(blocks, t))


def test_raw_html_nested_too_deep_to_export_loses_its_deepest_tags_not_its_text(vault) -> None:  # type: ignore[no-untyped-def]
    """300 nested divs ran WeasyPrint past Python's recursion limit: the note was left out of the
    PDF and `check` said nothing. Tags past the budget (with the lists and quotes around them)
    go, with the tags that close them; the text stays, and a shallow note is not touched."""
    from exporter.transforms import sanitize

    coll, report = vault({
        "deep.md": "---\ntitle: Deep\n---\n\n" + "<div>" * 300 + "Inside." + "</div>" * 300 + "\n\n"
                   "And " + "<span>" * 300 + "deep" + "</span>" * 300 + " words.\n",
        "quoted.md": "---\ntitle: Quoted\n---\n\n" + "> " * 40 + "<div>" * 300 + "Far in." + "</div>" * 300 + "\n",
        "shallow.md": "---\ntitle: Shallow\n---\n\n<details><summary>More</summary>\n<div><b>Kept</b></div>\n</details>\n",
    })
    deep, quoted = note(coll, "deep"), note(coll, "quoted")
    blocks = [b for b in deep.blocks if b["t"] == "RawBlock"]
    html = _raw_html(blocks)
    kept = html.count("<div>")
    assert 60 <= kept <= 80 and html.count("</div>") == kept and "Inside." in html
    spans = _raw_html([b for b in deep.blocks if b["t"] == "Para"])
    assert 60 <= spans.count("<span>") == spans.count("</span>") <= 80 and "deep" in stringify(deep.blocks)
    in_quotes = _raw_html(quoted.blocks)
    assert in_quotes.count("<div>") == in_quotes.count("</div>") < kept - 30  # the quotes take their share
    assert "<div><b>Kept</b></div>" in _raw_html(note(coll, "shallow").blocks)
    warned = [i for i in report.items if i.code == "unsafe-content" and "nested too deeply" in i.message]
    assert sorted(i.path for i in warned) == ["deep.md", "quoted.md"]
    # the same blocks, untouched, when nothing is that deep
    shallow = note(coll, "shallow").blocks
    assert sanitize._unnested(shallow, []) is shallow


def test_a_raw_table_cell_spans_a_hundred_columns_or_rows_at_most_and_says_so(vault) -> None:  # type: ignore[no-untyped-def]
    """colspan="1000000" kept WeasyPrint laying out a million columns until the note's render
    budget ran out; read as HTML (a stamp in the block), it took pandoc past its memory."""
    cells = '<td colspan="1000000">wide</td><td ROWSPAN = 99999999999999999999999>tall</td><td colspan="x">odd</td>'
    stamp = '<a class="yt-timestamp" data-t="00:02:07">[00:02:07]</a>'
    body = f"<table><tr>{cells}</tr></table>\n\nBetween.\n\n<table><tr>{cells}<td>{stamp}</td></tr></table>\n"
    coll, report = vault({"a.md": f"---\ntitle: Spans\nvideoId: pX8D9l7A4-U\n---\n\n{body}"})
    a = note(coll, "a")
    raw = iter_nodes(a.blocks, "RawBlock")[0]["c"][1]
    assert 'colspan="100"' in raw and 'rowspan="100"' in raw and 'colspan="x"' not in raw
    (table,) = iter_nodes(a.blocks, "Table")  # the block with a stamp, read as HTML
    spans = [(c[2], c[3]) for body_ in table["c"][4] for row in body_[3] for c in row[1]]
    assert max(max(s) for s in spans) == 100 and len(a.citations) == 1
    said = [d.message for d in report.items if d.code == "unsafe-content"]
    assert "cut colspan 1000000 to 100 in raw HTML" in said
    assert any(m.startswith("cut rowspan 999") for m in said) and not any("raw HTML block" in m for m in said)
