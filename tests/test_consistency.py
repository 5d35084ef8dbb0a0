"""One theme, one look: the PDF and the EPUB of the same note use the same fonts, heading scale
and colours, and all three products word citations the same way. Read from the outputs."""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from exporter.cli import main
from tests.conftest import SAMPLE

NOTE = "fresnel_lenses_and_the_range_of_a_light"
TITLE = "Fresnel lenses and the range of a light"


def styles_in_pdf(path: Path) -> dict[str, Any]:
    """Font family, size and fill colour of the note title (h1), a heading (h2) and body text."""
    reader = PdfReader(path)
    runs: list[tuple[str, str, float, tuple[float, ...]]] = []
    for page in reader.pages:
        colour: list[tuple[float, ...]] = [(0.0, 0.0, 0.0)]

        def before(op: bytes, args: list[Any], cm: Any, tm: Any, colour: list[Any] = colour) -> None:
            if op == b"rg":
                colour[0] = tuple(round(float(a), 2) for a in args)

        def text(t: str, cm: Any, tm: Any, font: Any, size: float, colour: list[Any] = colour) -> None:
            if t.strip() and font is not None:
                name = str(font.get("/BaseFont", "")).split("+")[-1]
                runs.append((t.strip(), name, round(size * tm[0], 2), colour[0]))

        page.extract_text(visitor_operand_before=before, visitor_text=text)
    return _classify(runs)


def _classify(runs: list[tuple[str, str, float, tuple[float, ...]]]) -> dict[str, Any]:
    title = max((r for r in runs if r[0].startswith("Fresnel lenses and")), key=lambda r: r[2])
    heading = max((r for r in runs if r[0].startswith("Orders of lens")), key=lambda r: r[2])
    body = Counter((r[1], r[2], r[3]) for r in runs if len(r[0]) > 30).most_common(1)[0][0]
    return {
        "title_font": _family(title[1]),
        "heading_font": _family(heading[1]),
        "body_font": _family(body[0]),
        "scale": (round(title[2] / body[1] * 20) / 20, round(heading[2] / body[1] * 20) / 20),  # to 0.05
        "title_colour": title[3],
        "body_colour": body[2],
    }


def _family(font: str) -> str:
    return re.sub(r"[-,](Bold|Oblique|Italic|BoldOblique|BoldItalic|Book)$", "", font)


def build(tmp: Path, theme: str) -> tuple[Path, Path, Path]:
    runner = CliRunner()
    pdf, epub, bundle = tmp / f"{theme}.pdf", tmp / f"{theme}.epub", tmp / f"{theme}-bundle"
    for args in (
        ["pdf", str(SAMPLE), NOTE, "-o", str(pdf)],
        ["epub", str(SAMPLE), NOTE, "-o", str(epub)],
        ["bundle", str(SAMPLE), "-o", str(bundle)],
    ):
        r = runner.invoke(main, [*args, "--theme", theme, "--quiet"])
        assert r.exit_code == 0, r.stderr
    return pdf, epub, bundle


def epub_as_pdf(epub: Path, out: Path) -> Path:
    """Lay out the EPUB chapter with its own stylesheets through a CSS engine (WeasyPrint), so the
    computed fonts, sizes and colours can be read back the same way as the PDF's."""
    from weasyprint import HTML

    with zipfile.ZipFile(epub) as z:
        folder = out.parent / (epub.stem + "-unzipped")
        z.extractall(folder)
    chapter = next(
        p
        for p in folder.rglob("*.xhtml")
        if TITLE in p.read_text("utf-8")
        and "<h1" in p.read_text("utf-8")
        and "Orders of lens" in p.read_text("utf-8")
    )
    HTML(filename=str(chapter)).write_pdf(out)
    return out


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, Path]]:
    tmp = tmp_path_factory.mktemp("look")
    return {theme: build(tmp, theme) for theme in ("serif", "sans")}


@pytest.mark.parametrize("theme", ["serif", "sans"])
def test_pdf_and_epub_share_fonts_scale_and_colours(
    products: dict[str, tuple[Path, Path, Path]], theme: str
) -> None:
    pdf, epub, _ = products[theme]
    in_pdf = styles_in_pdf(pdf)
    in_epub = styles_in_pdf(epub_as_pdf(epub, pdf.parent / f"{theme}-epub.pdf"))
    assert in_pdf == in_epub


def test_switching_theme_changes_pdf_and_epub_alike(products: dict[str, tuple[Path, Path, Path]]) -> None:
    serif, sans = styles_in_pdf(products["serif"][0]), styles_in_pdf(products["sans"][0])
    assert "Serif" in serif["body_font"] and "Serif" not in sans["body_font"]
    assert serif["title_colour"] != sans["title_colour"]


@pytest.mark.parametrize("theme", ["serif", "sans"])
def test_three_products_word_citations_the_same(
    products: dict[str, tuple[Path, Path, Path]], theme: str
) -> None:
    pdf, epub, bundle = products[theme]
    md = (bundle / f"{NOTE}.md").read_text("utf-8")
    first = re.search(r"^\[\^1\]: (.*)$", md, re.M)
    assert first
    # what a markdown viewer shows: link labels, backslash escapes resolved
    wording = re.sub(r"\\(.)", r"\1", re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", first.group(1)))
    with zipfile.ZipFile(epub) as z:
        xhtml = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xhtml"))
    aside = re.search(r'<aside[^>]*epub:type="footnote"[^>]*>(.*?)</aside>', xhtml, re.S)
    assert aside
    epub_text = re.sub(r"<[^>]+>", "", aside.group(1)).replace("↩", "").strip()
    pdf_text = " ".join(p.extract_text() for p in PdfReader(pdf).pages)
    pdf_text = re.sub(r"\s+", " ", pdf_text)
    assert epub_text == wording
    assert wording in pdf_text
    expected = {
        "serif": "“Fresnel lenses and the range of a light”, harbour_lights, at 3:57.",
        "sans": "harbour_lights: “Fresnel lenses and the range of a light”, 3:57.",
    }[theme]
    assert wording == expected
    # the second citation of the same video names only its moment, in every product
    second = re.search(r"^\[\^2\]: (.*)$", md, re.M)
    assert second and re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", second.group(1)) == "At 5:12."
    asides = re.findall(r'<aside[^>]*epub:type="footnote"[^>]*>(.*?)</aside>', xhtml, re.S)
    assert re.sub(r"<[^>]+>", "", asides[1]).replace("↩", "").strip() == "At 5:12."
    assert "2. At 5:12." in pdf_text


def test_a_theme_token_gives_every_citation_in_full(tmp_path: Path) -> None:
    theme = tmp_path / "full"
    theme.mkdir()
    tokens = (SAMPLE.parent / "styles" / "serif" / "theme.toml").read_text("utf-8")
    (theme / "theme.toml").write_text(tokens.replace('repeats = "short"', 'repeats = "full"'), "utf-8")
    out = tmp_path / "archive"
    result = CliRunner().invoke(main, ["bundle", str(SAMPLE), "-o", str(out), "--theme", str(theme), "-q"])
    assert result.exit_code == 0, result.output
    md = (out / f"{NOTE}.md").read_text("utf-8")
    defs = re.findall(r"^\[\^\d+\]: (.*)$", md, re.M)
    assert len(defs) > 5 and all(d.startswith("“Fresnel lenses") for d in defs)
