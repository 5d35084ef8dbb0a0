"""Accessible products: links told apart without colour and at 3:1, links a screen reader can
name, EPUB accessibility metadata that tells the truth about the book."""

from __future__ import annotations

import re
import tomllib
import zipfile

import pytest
from click.testing import CliRunner
from lxml import etree

from exporter.cli import main
from exporter.theme import STYLES, Theme
from tests.conftest import write_vault

OPF = {"o": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}
XHTML = {"x": "http://www.w3.org/1999/xhtml"}


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of #rrggbb."""
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("theme", ["serif", "sans"])
def test_links_stand_out_by_3_to_1_from_the_text_around_them_and_read_on_paper(theme: str) -> None:
    c = tomllib.loads((STYLES / theme / "theme.toml").read_text("utf-8"))["colours"]
    assert contrast(c["link"], c["text"]) >= 3  # links in running text
    assert contrast(c["link"], c["footnote"]) >= 3  # citation moments and back-links in footnotes
    assert contrast(c["link"], c["paper"]) >= 4.5 and contrast(c["text"], c["paper"]) >= 4.5
    assert contrast(c["footnote"], c["paper"]) >= 4.5 and contrast(c["muted"], c["paper"]) >= 4.5


@pytest.mark.parametrize("theme", ["serif", "sans"])
def test_links_are_underlined_not_told_by_colour_alone(theme: str) -> None:
    look = Theme.load(theme)
    for target in ("pdf", "epub"):
        css = re.sub(r"/\*.*?\*/", "", "\n".join(look.css(target).values()), flags=re.S)  # type: ignore[arg-type]
        rules = re.findall(r"([^{}]+)\{([^{}]*)\}", css)
        plain = [sel.strip() for sel, body in rules if re.search(r"(^|[\s,])a\b", sel)
                 and "text-decoration: none" in body and "border-bottom" not in body
                 and not sel.strip().startswith(("nav", ".toc")) and ":not([href])" not in sel]
        assert not plain, (target, plain)  # only contents entries, which are lists, and no-links go plain
        base = next(body for sel, body in rules if sel.strip() == "a")
        assert "text-decoration: underline" in base


NOTES = {
    "code.md": "---\ntitle: Code and pictures\nvideoId: abcdefghijk\n---\nFrom: [[chan]] <br/>\n\n"
               "A fact <a class=\"yt-timestamp\" data-t=\"00:01:02\">[00:01:02]</a>.\n\n"
               "```python\nfor line in log:\n    print(line)\n```\n\n![[pic.png]]\n\n$$x^2$$\n\nSee [[other]].\n",
    "other.md": "---\ntitle: Other\n---\nBack to [[code]].\n",
}


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    from PIL import Image

    tmp = tmp_path_factory.mktemp("a11y")
    vault = write_vault(tmp / "v", NOTES)
    Image.new("RGB", (8, 8), "red").save(vault / "pic.png")
    result = CliRunner().invoke(main, ["epub", str(vault), "-o", str(tmp / "b.epub"), "--lang", "de", "-q"])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(tmp / "b.epub") as z:
        return {n: z.read(n) for n in z.namelist()}


@pytest.mark.parametrize("target", ["pdf", "epub"])
@pytest.mark.parametrize("theme", ["serif", "sans"])
def test_an_a_without_its_link_is_drawn_as_text(theme: str, target: str) -> None:
    """Raw HTML's <a href="javascript:..."> loses its href: it was still drawn blue and
    underlined, a link that goes nowhere."""
    import weasyprint

    sheets = [weasyprint.CSS(string=t) for t in Theme.load(theme).css(target).values()]  # type: ignore[arg-type]
    html = '<p>Text <a>dead</a> and <a href="https://example.org/">live</a></p>'
    styles: dict[str, object] = {}

    def walk(box: object) -> None:
        if type(box).__name__ == "TextBox":
            styles[box.text] = box.style  # type: ignore[attr-defined]
        for child in getattr(box, "children", []):
            walk(child)

    walk(weasyprint.HTML(string=html).render(stylesheets=sheets).pages[0]._page_box)
    text, dead, live = (styles[k] for k in ("Text ", "dead", "live"))
    assert dead["color"] == text["color"] != live["color"]  # type: ignore[index]
    assert "underline" not in dead["text_decoration_line"]  # type: ignore[index, operator]
    assert "underline" in live["text_decoration_line"]  # type: ignore[index, operator]


def test_every_link_has_text_a_screen_reader_can_say(book: dict[str, bytes]) -> None:
    links = 0
    for name, data in book.items():
        if not name.endswith(".xhtml"):
            continue
        for a in etree.fromstring(data).xpath("//x:a[@href]", namespaces=XHTML):
            said = "".join(a.itertext()).strip() or a.get("aria-label") or "".join(a.xpath(".//x:img/@alt",
                                                                                          namespaces=XHTML))
            assert said.strip(), (name, etree.tostring(a))
            links += 1
    assert links > 5
    chapter = etree.fromstring(book["EPUB/n-code.xhtml"])
    back = chapter.xpath("//x:a[@role='doc-backlink']", namespaces=XHTML)
    assert back and all(a.get("aria-label") == "Zurück zum Text" for a in back)
    assert chapter.xpath("//x:pre", namespaces=XHTML)  # the code stays, its line anchors go


def test_package_metadata_tells_what_the_book_holds(book: dict[str, bytes]) -> None:
    opf = etree.fromstring(book["EPUB/content.opf"])
    meta: dict[str, list[str]] = {}
    for m in opf.xpath("//o:meta[@property]", namespaces=OPF):
        meta.setdefault(m.get("property"), []).append(m.text)
    assert meta["schema:accessMode"] == ["textual", "visual"]
    assert meta["schema:accessModeSufficient"] == ["textual", "textual,visual"]
    assert {"structuralNavigation", "tableOfContents", "readingOrder", "alternativeText", "MathML"} <= set(
        meta["schema:accessibilityFeature"])
    assert meta["schema:accessibilityHazard"] == ["none"]
    assert meta["schema:accessibilitySummary"][0].startswith("Text mit Überschriften")
    assert meta["dcterms:conformsTo"] == ["EPUB Accessibility 1.1 - WCAG 2.1 Level AA"]
    assert opf.get("{http://www.w3.org/XML/1998/namespace}lang") == "de"
    assert opf.xpath("string(//dc:language)", namespaces=OPF) == "de"
