"""SPEC 1-2: which files are notes, what is metadata, and what cannot be read."""

from __future__ import annotations

import os

from exporter.model.ast import stringify
from tests.conftest import note


def test_scan_suffixes_hidden_and_exportignore(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault(
        {
            "a.md": "a",
            "b.markdown": "b",
            "c/000_x.txt": "c",
            "d.png": b"\x89PNG",
            ".obsidian/e.md": "hidden",
            "drafts/f.md": "ignored",
            "g.MD": "upper",
            ".exportignore": "drafts/\n*.tmp.md\n",
            "h.tmp.md": "ignored too",
        }
    )
    assert sorted(n.path for n in coll.notes) == ["a.md", "b.markdown", "c/000_x.txt", "g.MD"]


def test_byline_variants_become_metadata(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault(
        {
            "a.md": "From: [[bonus_professor]] <br/> \n\nBody a\n",
            "b.md": "---\ntitle: B\n---\n\nFrom: [[tidewatch.tv | Tidewatch TV]]\n## Head\ntext\n",
            "c.md": "From: [[chan-2]] <br/>Not glued\n",
        }
    )
    a, b = note(coll, "a"), note(coll, "b")
    assert (a.channel, a.channel_name) == ("bonus_professor", "bonus_professor")
    assert (b.channel, b.channel_name) == ("tidewatch.tv", "Tidewatch TV")
    assert b.headings[0].text == "Head"
    from exporter.model.ast import stringify

    assert "From" not in stringify(a.blocks) and "From" not in stringify(b.blocks)


def test_title_fallbacks(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault(
        {
            "t.md": "---\ntitle: from frontmatter\n---\n# Other\n",
            "h.md": "```\n# not this\n```\n\n# The H1 Title\n\ntext\n",
            "s.md": "no title here\n",
            "n.md": "---\ntitle: 2024\n---\nnumeric title\n",
        }
    )
    assert note(coll, "t").title == "from frontmatter"
    assert note(coll, "h").title == "The H1 Title"
    assert note(coll, "s").title == "s"
    assert note(coll, "n").title == "2024"


def test_frontmatter_kept_as_metadata(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault(
        {"a.md": "---\ntitle: A\nvideoId: -abcdefghij\ndate: 2024-05-01\ntags: [x, y]\n---\nbody\n"}
    )
    a = note(coll, "a")
    assert a.video_id == "-abcdefghij"
    assert a.meta["date"] == "2024-05-01" and a.meta["tags"] == ["x", "y"]


def test_unreadable_files_are_reported_and_the_rest_exported(vault, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside.md"
    outside.write_text("secret")
    coll, report = vault(
        {
            "ok.md": "fine",
            "yaml.md": "---\ntitle: [unclosed\nvideoId: x\n---\nbody\n",
            "latin1.md": "caf\xe9 ok".encode("latin-1"),
            "bin.md": b"\x00\x01\x02binary",
        }
    )
    os.symlink(outside, tmp_path / "vault" / "link.md")
    from exporter.collect import collect

    coll, report = collect(tmp_path / "vault")
    assert [n.path for n in coll.notes] == ["ok.md"]
    errs = {d.path: d for d in report.errors}
    assert set(errs) == {"yaml.md", "latin1.md", "bin.md"}
    assert "YAML" in errs["yaml.md"].message and errs["yaml.md"].line is not None
    assert "UTF-8" in errs["latin1.md"].message and errs["latin1.md"].line == 1
    assert "binary" in errs["bin.md"].message
    assert any(d.code == "outside-vault" and d.path == "link.md" for d in report.items)


def test_bom_crlf_and_no_final_newline(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault({"a.md": "\ufeff---\r\ntitle: A\r\n---\r\nFrom: [[c]] <br/>\r\n\r\nbody"})
    a = note(coll, "a")
    assert a.title == "A" and a.channel == "c"


def test_frontmatter_that_is_not_a_mapping_or_not_closed(vault) -> None:  # type: ignore[no-untyped-def]
    coll, report = vault(
        {
            "list.md": "---\n- just\n- a list\n---\nbody\n",
            "open.md": "---\ntitle: never closed\nbody text\n",
            "digits.md": "---\ntitle: D\nvideoId: 12345678901\n---\nbody\n",
        }
    )
    assert sorted(n.path for n in coll.notes) == ["digits.md", "open.md"]
    (err,) = report.errors
    assert (err.path, err.line, err.message) == ("list.md", 2, "frontmatter is not a mapping of keys")
    assert "title: never closed body text" in stringify(note(coll, "open").blocks)  # kept as text
    assert note(coll, "digits").video_id == "12345678901"
