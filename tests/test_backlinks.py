"""Backlinks: under each note, the notes of the same product that link to it or embed it."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner
from lxml import etree

from exporter.cli import main
from exporter.model.document import backlinks
from tests.conftest import SAMPLE, note, write_vault

NOTES = {
    "hub.md": "---\ntitle: The hub\n---\nEveryone links here.\n",
    "linker.md": "---\ntitle: A linker\n---\nSee [[hub | the hub]] and [[hub#Nowhere]].\n",
    "embedder.md": "---\ntitle: An embedder\n---\nQuoted:\n\n![[hub]]\n",
    "outsider.md": "---\ntitle: An outsider\n---\nAlso [[hub]], but not in every product.\n",
    "self.md": "---\ntitle: Self\n---\n## Part\n\nBack to [[#Part]] and [[self]].\n",
}
XHTML = {"x": "http://www.w3.org/1999/xhtml"}


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    return write_vault(tmp_path / "v", NOTES)


def run(*args: str) -> None:
    result = CliRunner().invoke(main, [*args, "-q", "--no-cache"])
    assert result.exit_code in (0, 1), result.output  # 1: the missing heading warning is not it


def test_links_and_embeds_count_self_links_and_other_products_do_not(vault: Path) -> None:
    from exporter.collect import collect

    coll, _ = collect(vault)
    hub = note(coll, "hub")
    assert sorted(hub.linked_from) == sorted([note(coll, s).id for s in ("linker", "embedder", "outsider")]
                                             + [note(coll, "linker").id])  # linked twice
    product = [note(coll, s) for s in ("embedder", "hub", "linker", "self")]
    back = backlinks(product)
    assert [n.title for n in back[hub.id]] == ["An embedder", "A linker"]  # product order, once each
    assert back[note(coll, "self").id] == [] and back[note(coll, "linker").id] == []


def test_bundle_ends_each_linked_note_with_relative_links(vault: Path, tmp_path: Path) -> None:
    run("bundle", str(vault), "-o", str(tmp_path / "a"))
    text = (tmp_path / "a" / "hub.md").read_text("utf-8")
    section = text.rsplit("## Linked from\n\n", 1)[1]
    assert section.strip().splitlines() == ["- [A linker](linker.md)", "- [An embedder](embedder.md)",
                                            "- [An outsider](outsider.md)"]  # the bundle's order: by title
    for target in re.findall(r"\]\(([^)]+)\)", section):
        assert (tmp_path / "a" / target).is_file()
    assert "Linked from" not in (tmp_path / "a" / "self.md").read_text("utf-8")


def test_epub_chapter_links_back_to_the_linking_chapters(vault: Path, tmp_path: Path) -> None:
    run("epub", str(vault), "hub", "linker", "self", "-o", str(tmp_path / "b.epub"))
    with zipfile.ZipFile(tmp_path / "b.epub") as z:
        names = set(z.namelist())
        page = etree.fromstring(next(z.read(n) for n in names if n.endswith("hub.xhtml")))
    links = page.xpath("//x:section[@class='linked-from']//x:a", namespaces=XHTML)
    assert [(a.text, a.get("href")) for a in links] == [("A linker", "n-linker.xhtml")]  # outsider not in book
    assert "EPUB/n-linker.xhtml" in names


def test_pdf_backlink_jumps_to_the_page_where_the_linking_note_starts(vault: Path, tmp_path: Path) -> None:
    run("pdf", str(vault), "hub", "linker", "embedder", "self", "-o", str(tmp_path / "d.pdf"))
    reader = pypdf.PdfReader(tmp_path / "d.pdf")
    starts = {str(o.title): reader.get_destination_page_number(o) for o in reader.outline if not isinstance(o, list)}
    texts = [p.extract_text() for p in reader.pages]
    hub_page = starts["The hub"]
    assert "Linked from" in texts[hub_page] and "An outsider" not in " ".join(texts)
    jumps = {}
    for annot in reader.pages[hub_page].get("/Annots") or []:
        a = annot.get_object()
        if "/Dest" in a:
            jumps[str(a["/Dest"])] = reader.get_destination_page_number(reader.named_destinations[str(a["/Dest"])])
    assert {starts["A linker"], starts["An embedder"]} <= set(jumps.values())
    assert "Linked from" not in texts[starts["Self"]]
    outline = [str(o.title) for o in reader.outline if not isinstance(o, list)]
    assert "Linked from" not in str(reader.outline) and outline[:4] == ["The hub", "A linker", "An embedder", "Self"]


def test_a_theme_token_turns_backlinks_off(vault: Path, tmp_path: Path) -> None:
    theme = tmp_path / "quiet"
    theme.mkdir()
    tokens = (SAMPLE.parent / "styles" / "serif" / "theme.toml").read_text("utf-8")
    (theme / "theme.toml").write_text(tokens.replace("show = true", "show = false"), "utf-8")
    run("bundle", str(vault), "-o", str(tmp_path / "a"), "--theme", str(theme))
    run("epub", str(vault), "-o", str(tmp_path / "b.epub"), "--theme", str(theme))
    assert "Linked from" not in (tmp_path / "a" / "hub.md").read_text("utf-8")
    with zipfile.ZipFile(tmp_path / "b.epub") as z:
        assert not any(b"Linked from" in z.read(n) for n in z.namelist() if n.endswith(".xhtml"))
