"""SPEC 3: embeds are transcluded; sections stop at the next heading; cycles and misses are cut."""

from __future__ import annotations

from exporter.model.ast import iter_nodes, kv, stringify
from tests.conftest import note

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def test_section_embed_stops_at_same_level_and_shifts_headings(vault) -> None:  # type: ignore[no-untyped-def]
    coll, report = vault(
        {
            "src.md": "## Part A\nalpha\n### Sub\nbeta\n## Part B\ngamma\n",
            "host.md": "### Deep\n\n![[src#Part A]]\n",
        }
    )
    host = note(coll, "host")
    embeds = [d for d in iter_nodes(host.blocks, "Div") if "embed" in d["c"][0][1]]
    assert len(embeds) == 1
    text = stringify(embeds[0]["c"][1])
    assert "alpha" in text and "beta" in text and "gamma" not in text
    levels = [h["c"][0] for h in iter_nodes(embeds[0]["c"][1], "Header")]
    assert levels == [4, 5]  # under the embedding ### heading
    ids = [h["c"][1][0] for h in iter_nodes(host.blocks, "Header")]
    assert len(ids) == len(set(ids))
    assert not [d for d in report.items if d.code in ("missing-embed", "embed-cycle")]


def test_whole_note_embed_and_frontmatter_dropped(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault({"src.md": "---\ntitle: S\nsecret: key\n---\nbody text\n", "host.md": "![[src]]\n"})
    text = stringify(note(coll, "host").blocks)
    assert "body text" in text and "secret" not in text


def test_cycle_is_cut_with_link_back_and_warning(vault) -> None:  # type: ignore[no-untyped-def]
    coll, report = vault({"a.md": "A says\n\n![[b]]\n", "b.md": "B says\n\n![[a]]\n"})
    a = note(coll, "a")
    assert "B says" in stringify(a.blocks)
    cut = [s for s in iter_nodes(a.blocks, "Span") if "embed-cut" in s["c"][0][1]]
    assert len(cut) == 1
    assert any(d.code == "embed-cycle" for d in report.items)


def test_self_embed_and_deep_chain_terminate(vault) -> None:  # type: ignore[no-untyped-def]
    files = {f"n{i}.md": f"level {i}\n\n![[n{i + 1}]]\n" for i in range(15)}
    files["self.md"] = "me\n\n![[self]]\n"
    coll, report = vault(files)
    assert "level 10" in stringify(note(coll, "n0").blocks)
    assert any(d.code == "embed-cycle" and "deeper" in d.message for d in report.items)
    assert any(d.code == "embed-cycle" and d.path == "self.md" for d in report.items)


def test_missing_embed_is_visible_and_warned(vault) -> None:  # type: ignore[no-untyped-def]
    coll, report = vault({"a.md": "before\n\n![[nowhere]]\n\nafter\n"})
    text = stringify(note(coll, "a").blocks)
    assert "[missing embed: nowhere]" in text and "after" in text
    assert [d.line for d in report.items if d.code == "missing-embed"] == [3]


def test_image_embed_with_width_and_missing_image(vault) -> None:  # type: ignore[no-untyped-def]
    coll, report = vault({"img/p.png": PNG, "a.md": "![[img/p.png|300]] ![[p.png]] ![[nope.png]]\n"})
    a = note(coll, "a")
    imgs = [kv(i["c"][0]) for i in iter_nodes(a.blocks, "Image")]
    assert imgs == [{"asset": "img/p.png", "width": "300"}, {"asset": "img/p.png"}]
    assert a.assets == ["img/p.png"]
    assert any(d.code == "missing-embed" for d in report.items)


def test_image_outside_vault_is_not_embedded(vault, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "secret.png").write_bytes(PNG)
    coll, report = vault({"a.md": "![x](../secret.png) ![[../secret.png]]\n"})
    a = note(coll, "a")
    assert not iter_nodes(a.blocks, "Image") and not coll.assets
    assert any(d.code == "outside-vault" for d in report.items)


def test_fan_out_is_cut_by_the_budget_into_links(vault) -> None:  # type: ignore[no-untyped-def]
    """Ten notes each embedding the next ten times, eight deep, would be 10^7 copies."""
    import orjson

    from exporter.transforms.embeds import GROWTH, NOTE_FLOOR, size_of

    files = {f"f{k}.md": f"Level {k} words.\n\n" + "\n\n".join([f"![[f{k + 1}]]"] * 10) for k in range(7)}
    files["f7.md"] = "Bottom.\n"
    files["hub.md"] = "\n\n".join(f"![[small{i}]]" for i in range(10))  # an ordinary hub note
    files.update({f"small{i}.md": f"Small note {i} with a few words in it.\n" for i in range(10)})
    coll, report = vault(files)
    top = note(coll, "f0")
    assert len(orjson.dumps(top.blocks)) <= max(GROWTH * size_of(top.blocks), NOTE_FLOOR) * 2
    cut = [d for d in report.items if d.code == "too-large" and d.path == "f0.md"]
    assert cut and all("linked instead" in d.message for d in cut)
    links = [x for x in iter_nodes(top.blocks, "Span") if "embed-cut" in x["c"][0][1]]
    fans = {note(coll, f"f{k}").id for k in range(1, 8)}
    assert links and all(kv(x["c"][1][0]["c"][0])["note"] in fans for x in links)
    hub = note(coll, "hub")
    assert stringify(hub.blocks).count("Small note") == 10  # ordinary embeds are untouched
    assert not [d for d in report.items if d.path == "hub.md" and d.code == "too-large"]


def test_section_fan_out_is_cut_too(vault) -> None:  # type: ignore[no-untyped-def]
    files = {f"s{k}.md": f"## Part\n\nSection {k} words.\n\n" + "\n\n".join([f"![[s{k + 1}#Part]]"] * 10)
             + "\n\n## Other\n\nmore\n" for k in range(7)}
    files["s7.md"] = "## Part\n\nBottom.\n"
    coll, report = vault(files)
    assert [d for d in report.items if d.code == "too-large" and d.path == "s0.md"]
    assert len(stringify(note(coll, "s0").blocks)) < 200_000
