"""SPEC 3: wikilinks become internal links or plain labels; nothing in code or math changes."""

from __future__ import annotations

from exporter.model.ast import iter_nodes, kv, stringify
from tests.conftest import note

TARGET = """---
title: Large Language Models and Causality
aliases: [LLM causality]
---
## Causal Graphs
Text. ^blk1

## Causal Graphs
Again.
"""


def links(n):  # type: ignore[no-untyped-def]
    return [
        (kv(x["c"][0])["note"], kv(x["c"][0])["anchor"], stringify(x["c"][1]))
        for x in iter_nodes(n.blocks, "Link")
        if "internal" in x["c"][0][1]
    ]


def unresolved(n):  # type: ignore[no-untyped-def]
    return [stringify(x["c"][1]) for x in iter_nodes(n.blocks, "Span") if "unresolved" in x["c"][0][1]]


def run(vault, body: str, **extra: str):  # type: ignore[no-untyped-def]
    coll, report = vault({"t/causality.md": TARGET, "a.md": body, **extra})
    return note(coll, "a"), coll, report


def test_stem_title_alias_and_spaced_pipe(vault) -> None:  # type: ignore[no-untyped-def]
    n, coll, _ = run(
        vault,
        "[[causality]] [[large language models and causality | LLMs]] [[LLM causality|x]] [[ Causality ]]",
    )
    tid = note(coll, "causality").id
    assert [(i, lab) for i, _, lab in links(n)] == [
        (tid, "Large Language Models and Causality"),
        (tid, "LLMs"),
        (tid, "x"),
        (tid, "Large Language Models and Causality"),
    ]


def test_heading_and_block_targets(vault) -> None:  # type: ignore[no-untyped-def]
    n, _, report = run(vault, "[[causality#Causal Graphs]] [[causality#^blk1|b]] [[causality#Nope|n]]")
    anchors = [a for _, a, _ in links(n)]
    assert anchors == ["causal-graphs", "^blk1", ""]
    assert [d.code for d in report.items if d.code == "missing-heading"] == ["missing-heading"]
    assert links(n)[0][2] == "Large Language Models and Causality › Causal Graphs"


def test_same_note_heading_link(vault) -> None:  # type: ignore[no-untyped-def]
    n, _, _ = run(vault, "## Here\n\n[[#Here]]")
    assert links(n) == [(n.id, "here", "Here")]


def test_unresolved_becomes_label_and_is_reported_with_line(vault) -> None:  # type: ignore[no-untyped-def]
    n, _, report = run(vault, "x\n\n[[missing note | shown label]] and [[gone]]")
    assert unresolved(n) == ["shown label", "gone"]
    bad = [d for d in report.items if d.code == "unresolved-link"]
    assert [(d.path, d.line) for d in bad] == [("a.md", 3), ("a.md", 3)]


def test_label_formatting_and_glued_text(vault) -> None:  # type: ignore[no-untyped-def]
    n, _, _ = run(vault, "[[causality | **Bold** (x/y): z]]'s and **[[causality|in bold]]**")
    lk = [x for x in iter_nodes(n.blocks, "Link") if "internal" in x["c"][0][1]]
    assert iter_nodes(lk[0]["c"][1], "Strong")
    assert stringify(lk[0]["c"][1]) == "Bold (x/y): z"
    assert "’s" in stringify(n.blocks) or "'s" in stringify(n.blocks)


def test_escaped_pipe_in_table(vault) -> None:  # type: ignore[no-untyped-def]
    n, _, _ = run(vault, "| a | b |\n|---|---|\n| [[causality\\|in table]] | x |\n")
    assert [lab for _, _, lab in links(n)] == ["in table"]


def test_heading_that_is_a_link(vault) -> None:  # type: ignore[no-untyped-def]
    n, _, _ = run(vault, "## [[causality | Whole heading]]\n")
    assert n.headings[0].text == "Whole heading"
    assert links(n)[0][2] == "Whole heading"


def test_nothing_rewritten_in_code_or_math(vault) -> None:  # type: ignore[no-untyped-def]
    n, _, _ = run(vault, "`[[causality]]` $[[1, n]]$\n\n```lang\n[[causality]]\n```\n\n$$\n[[a]]\n$$\n")
    assert not links(n) and not unresolved(n)
    assert "[[causality]]" in [c["c"][1] for c in iter_nodes(n.blocks, "Code")]
    assert any("[[1, n]]" in m["c"][1] for m in iter_nodes(n.blocks, "Math"))


def test_markdown_link_to_note_and_unsafe_urls(vault) -> None:  # type: ignore[no-untyped-def]
    n, _, report = run(vault, "[md](t/causality.md) [js](javascript:alert(1)) [web](https://e.org)")
    assert [lab for _, _, lab in links(n)] == ["md"]
    urls = [x["c"][2][0] for x in iter_nodes(n.blocks, "Link")]
    assert "https://e.org" in urls and not any("javascript" in u for u in urls)
    assert any(d.code == "unsafe-content" for d in report.items)


def test_ambiguous_link_is_reported(vault) -> None:  # type: ignore[no-untyped-def]
    n, coll, report = run(vault, "[[dup]]", **{"x/dup.md": "x", "y/dup.md": "y"})
    assert links(n)[0][0] == note(coll, "dup").id
    assert any(d.code == "ambiguous-link" and "x/dup.md" in d.message for d in report.items)


def test_link_outside_vault_is_text(vault) -> None:  # type: ignore[no-untyped-def]
    n, _, report = run(vault, "[[../../etc/passwd]]")
    assert unresolved(n) == ["../../etc/passwd"]
    assert any(d.code == "outside-vault" for d in report.items)


def test_second_link_pass_keeps_links_made_by_the_first(vault) -> None:  # type: ignore[no-untyped-def]
    # a.md sorts first, so its heading link waits for z.md to be parsed (a second pass)
    coll, _ = vault(
        {
            "a.md": "[[z#Part]] and [file](doc.pdf) and [web](https://e.org)\n",
            "doc.pdf": b"%PDF-1.4",
            "z.md": "## Part\n",
        }
    )
    a = note(coll, "a")
    assert [(k, anc) for k, anc, _ in links(a)] == [(note(coll, "z").id, "part")]
    assert [kv(x["c"][0]).get("asset") for x in iter_nodes(a.blocks, "Link") if "asset" in x["c"][0][1]] == [
        "doc.pdf"
    ]
    assert "https://e.org" in [x["c"][2][0] for x in iter_nodes(a.blocks, "Link")]


def test_links_and_embeds_that_name_no_note(vault) -> None:  # type: ignore[no-untyped-def]
    n, _, report = run(vault, "intro\n\nx [[]] y [[#]] z [[|kept label]] w ![[]] v ![[#]]\n")
    assert links(n) == [] and unresolved(n) == ["", "", "kept label"]
    assert "x y z kept label w v" in " ".join(stringify(n.blocks).split())
    found = sorted((d.code, d.line, d.message) for d in report.items if d.path == "a.md" and d.code not in ("reading", "no-video-id"))
    assert found == [
        ("missing-embed", 3, "![[#]] names no note"),
        ("missing-embed", 3, "![[]] names no note"),
        ("unresolved-link", 3, "[[#]] names no note"),
        ("unresolved-link", 3, "[[]] names no note"),
        ("unresolved-link", 3, "[[|kept label]] names no note"),
    ]


def test_markdown_link_with_encoded_hash_in_path(vault) -> None:  # type: ignore[no-untyped-def]
    other = {"weird/has #hash.md": "## Sec One\n"}
    body = "[md link](weird/has%20%23hash.md) [s](weird/has%20%23hash.md#Sec%20One)"
    n, coll, report = run(vault, body, **other)
    tid = note(coll, "has #hash").id
    assert links(n) == [(tid, "", "md link"), (tid, "sec-one", "s")]
    assert not [d for d in report.items if d.code == "unresolved-link"]


def test_image_with_encoded_hash_in_path(vault) -> None:  # type: ignore[no-untyped-def]
    n, _, report = run(vault, "![pic](img/a%20%23b.png)", **{"img/a #b.png": b"\x89PNG"})
    assert [kv(x["c"][0]).get("asset") for x in iter_nodes(n.blocks, "Image")] == ["img/a #b.png"]
    assert not [d for d in report.items if d.code == "missing-embed"]


def test_every_image_gets_alt_text(vault) -> None:  # type: ignore[no-untyped-def]
    body = ("![[figures/lens_room-2.png]] ![[figures/lens_room-2.png|300]] ![[figures/lens_room-2.png|The lens room]]"
            " ![[figures/lens_room-2.png|Lens room|300x200]] ![](figures/lens_room-2.png) ![Given](figures/lens_room-2.png)"
            " ![](https://example.org/p.png) ![Remote](https://example.org/q.png)\n\n"
            "| a | b |\n|---|---|\n| ![[figures/lens_room-2.png\\|In a table]] | x |")
    n, _, _ = run(vault, body, **{"figures/lens_room-2.png": b"\x89PNG"})
    images = [(stringify(x["c"][1]), kv(x["c"][0]).get("width")) for x in iter_nodes(n.blocks, "Image")]
    assert images == [("lens room 2", None), ("lens room 2", "300"), ("The lens room", None),
                      ("Lens room", "300"), ("lens room 2", None), ("Given", None), ("In a table", None)]
    remote = [stringify(x["c"][1]) for x in iter_nodes(n.blocks, "Link") if "remote-image" in x["c"][0][1]]
    assert remote == ["https://example.org/p.png", "Remote"]
