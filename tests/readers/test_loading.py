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


def test_cr_only_line_ends_keep_frontmatter_and_lines(vault) -> None:  # type: ignore[no-untyped-def]
    text = "---\rtitle: CR Only\rvideoId: dQw4w9WgXcQ\r---\rFrom: [[chan]]\r\rline a\r\r## Head\r\rline b\r"
    coll, _ = vault({"mac.md": text.encode()})
    mac = note(coll, "mac")
    assert (mac.title, mac.video_id, mac.channel) == ("CR Only", "dQw4w9WgXcQ", "chan")
    assert [b["t"] for b in mac.blocks] == ["Para", "Header", "Para"]
    assert [stringify(b) for b in mac.blocks] == ["line a", "Head", "line b"]


def test_multi_line_titles_become_one_line(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault(
        {
            "quoted.md": '---\ntitle: "line1\\nline2"\n---\nbody\n',
            "block.md": "---\ntitle: |\n  first  part\n  second\tpart\n---\nbody\n",
            "h1.md": "# spaced \t out   title\n\nbody\n",
        }
    )
    assert note(coll, "quoted").title == "line1 line2"
    assert note(coll, "block").title == "first part second part"
    assert note(coll, "h1").title == "spaced out title"


def test_a_date_yaml_cannot_build_stays_text(vault) -> None:  # type: ignore[no-untyped-def]
    coll, report = vault(
        {
            "bad.md": "---\ntitle: Bad date\ndate: 2020-13-45\nupdated: 2021-02-30 10:00:00\n---\nbody\n",
            "good.md": "---\ntitle: Good\ndate: 2024-05-01\nat: 2024-05-01 10:20:30\n---\nbody\n",
        }
    )
    assert not report.errors
    bad, good = note(coll, "bad"), note(coll, "good")
    assert (bad.title, bad.meta["date"]) == ("Bad date", "2020-13-45")
    assert bad.meta["updated"] == "2021-02-30 10:00:00"
    assert (good.meta["date"], good.meta["at"]) == ("2024-05-01", "2024-05-01T10:20:30")


def test_unclosed_frontmatter_stays_text_with_a_warning(vault) -> None:  # type: ignore[no-untyped-def]
    coll, report = vault(
        {
            "open.md": "---\ntitle: never closed\nbody text\n",
            "closed.md": "---\ntitle: Closed\n---\nbody\n\n---\n\nafter a rule\n",
        }
    )
    assert "title: never closed body text" in stringify(note(coll, "open").blocks)
    assert note(coll, "closed").title == "Closed"
    found = [(d.path, d.line, d.severity.value) for d in report.items if d.code == "unclosed-frontmatter"]
    assert found == [("open.md", 1, "warning")]
    assert not report.errors
