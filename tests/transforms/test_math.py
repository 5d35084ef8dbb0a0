"""Math: typeset as images in PDFs (TeX as alt text), MathML in EPUB, $...$ in bundles;
a formula that cannot be typeset stays TeX, with a warning naming its line."""

from __future__ import annotations

import base64
import re
import zipfile
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from exporter.cli import main
from exporter.model.ast import iter_nodes
from exporter.transforms import math
from tests.conftest import note, write_vault

NOTE = """---
title: Standard error
videoId: abcdefghijk
---
From: [[stats]] <br/>

The standard error is $\\sigma_{\\bar{x}} = \\frac{\\sigma}{\\sqrt{n}}$ for $n$ draws.
A book costs $5 and a course $10.

$$ \\int_0^1 x^2\\,dx = \\frac{1}{3} $$

Unknown here: $\\notacommand{q}$.
"""


def test_problem_names_what_cannot_be_typeset() -> None:
    assert math.problem(r"\sigma_{\bar{x}} = \frac{\sigma}{\sqrt{n}}") is None
    assert math.problem(r"\begin{pmatrix}a & b\\ c & d\end{pmatrix}") is None
    assert "unknown command \\notacommand" in (math.problem(r"x + \notacommand{y}") or "")
    assert "cannot read" in (math.problem(r"\left( x") or "")
    assert "over" in (math.problem("x+" * 2000) or "")


def test_dollar_amounts_stay_text_and_bad_formulas_are_reported_with_their_line(vault) -> None:  # type: ignore[no-untyped-def]
    coll, report = vault({"n.md": NOTE})
    tex = [x["c"][1].strip() for x in iter_nodes(note(coll, "n").blocks, "Math")]
    assert tex == [r"\sigma_{\bar{x}} = \frac{\sigma}{\sqrt{n}}", "n", r"\int_0^1 x^2\,dx = \frac{1}{3}",
                   r"\notacommand{q}"]
    found = [(d.line, d.message) for d in report.items if d.code == "math"]
    assert found == [(12, "formula kept as TeX in PDFs: unknown command \\notacommand")]


def test_typeset_gives_sized_images_on_the_baseline_with_tex_as_alt(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault({"n.md": NOTE})
    blocks = math.typeset(note(coll, "n").blocks, "#1d1d1b")
    raws = [x["c"][1] for x in iter_nodes(blocks, "RawInline")]
    imgs = [r for r in raws if "<img" in r]
    assert len(imgs) == 3
    assert [x["c"][1] for x in iter_nodes(blocks, "Math")] == [r"\notacommand{q}"]  # left as TeX
    first = imgs[0]
    assert 'alt="\\sigma_{\\bar{x}} = \\frac{\\sigma}{\\sqrt{n}}"' in first
    style = re.search(r'style="width:([\d.]+)em;height:([\d.]+)em;vertical-align:(-[\d.]+)em"', first)
    assert style and float(style.group(2)) > 1 and float(style.group(3)) < 0  # a fraction reaches below
    svg = etree.fromstring(base64.b64decode(first.split("base64,")[1].split('"')[0]))
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert not svg.xpath("//*[local-name()='text']")  # glyphs are outlines: no TeX in the PDF text
    assert "#1d1d1b" in etree.tostring(svg).decode()
    assert raws[[i for i, r in enumerate(raws) if "<img" in r][2]].startswith('<span class="math display">')


def test_products_carry_math_each_in_its_own_way(tmp_path: Path) -> None:
    root = write_vault(tmp_path / "v", {"n.md": NOTE})
    runner = CliRunner()
    for args in (["pdf", str(root), "-o", str(tmp_path / "d.pdf")], ["epub", str(root), "-o", str(tmp_path / "b.epub")],
                 ["bundle", str(root), "-o", str(tmp_path / "a")]):
        result = runner.invoke(main, [*args, "-q", "--no-cache"])
        assert result.exit_code == 0, result.output
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(tmp_path / "d.pdf").pages)
    assert "The standard error is" in text and "$5 and a course $10" in text
    assert "\\frac" not in text and "\\sigma" not in text and "\\int" not in text  # typeset
    assert "\\notacommand{q}" in text  # kept as source
    with zipfile.ZipFile(tmp_path / "b.epub") as z:
        chapter = next(z.read(n).decode() for n in z.namelist() if n.endswith("n-n.xhtml"))
    assert chapter.count("<math") == 3 and "<img" not in chapter  # pandoc's MathML
    assert "$\\notacommand{q}$" in chapter  # what pandoc cannot convert stays TeX here too
    md = (tmp_path / "a" / "n.md").read_text("utf-8")
    assert "$\\sigma_{\\bar{x}} = \\frac{\\sigma}{\\sqrt{n}}$" in md and "$$" in md


def test_a_note_of_thousands_of_formulas_typesets_them_up_to_its_budget_and_says_so(vault) -> None:  # type: ignore[no-untyped-def]
    # each distinct formula costs its TeX and PER_FORMULA; repeats cost nothing
    count = math.BUDGET // (len("x_{1000}") + math.PER_FORMULA) + 150
    lines = [f"Term ${'x_{' + str(1000 + i) + '}'}$ and again $x_{{1000}}$." for i in range(count)]
    text = "---\ntitle: Series\n---\n\n" + "\n\n".join(lines) + "\n"
    coll, report = vault({"n.md": text})
    blocks = note(coll, "n").blocks
    within = math.BUDGET // (len("x_{1000}") + math.PER_FORMULA)
    typeset = math.typeset(blocks, "#000")
    alts = [re.search(r'alt="([^"]*)"', x["c"][1]).group(1) for x in iter_nodes(typeset, "RawInline")  # type: ignore[union-attr]
            if "<img" in x["c"][1]]
    assert alts[:3] == ["x_{1000}", "x_{1000}", "x_{1001}"] and len(set(alts)) == within
    kept = [x["c"][1] for x in iter_nodes(typeset, "Math")]
    assert kept[0] == "x_{" + str(1000 + within) + "}" and len(kept) == count - within
    found = [(d.line, d.message) for d in report.items if d.code == "math"]
    assert len(found) == 1 and found[0][0] == 5 + 2 * within  # the line of the first formula past it
    assert found[0][1].startswith(f"{count - within:,} formulas kept as TeX in PDFs from here on")


@pytest.mark.parametrize(("tex", "text"), [
    ("E = mc^2", "E = mc²"),
    (r"\alpha \leq \beta", "α ≤ β"),
    ("x_{i+1}", "xᵢ₊₁"),
    (r"e^{i\pi}", "e^(iπ)"),  # no superscript π: after ^, in parentheses
    (r"\frac{a+b}{c}", "(a + b)/c"),
    (r"\frac{10}{3}", "10/3"),
    (r"\sqrt{2}", "√2"),
    (r"\sqrt[3]{x}", "³√x"),
    ("-x + 1", "−x + 1"),  # a sign stays on its term
    (r"\hat{x}", "x\u0302"),
    (r"\mathbb{R}^n", "ℝⁿ"),
    (r"\text{speed}", "speed"),
    (r"\unknowncmd{x}", r"\unknowncmd{x}"),  # cannot be typeset: its TeX
    (r"\text{<!DOCTYPE x>}", r"\text{<!DOCTYPE x>}"),  # markup latex2mathml copies: its TeX
])
def test_plain_writes_a_formula_as_text(tex: str, text: str) -> None:
    assert math.plain(tex) == text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*"xyab12^_{}()+-=<>& ", "\\", "\\frac", "\\sqrt", "\\alpha", "\\text"]),
                max_size=30).map("".join))
def test_plain_never_fails_and_gives_one_line(tex: str) -> None:
    text = math.plain(tex)
    assert "\n" not in text and text == text.strip()
    assert text == tex.strip() or not math.problem(tex)  # TeX only where it cannot be typeset


def test_formulas_in_headings_past_the_note_s_budget_stay_tex_in_the_outline(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Written as text, a formula costs about 2 ms: a note of thousands of headings, each with a
    formula, keeps to the budget its images keep to (the rest stay TeX, as on the page)."""
    monkeypatch.setattr(math, "BUDGET", 3 * (math.PER_FORMULA + 5))  # three formulas of 5 characters
    heads = "".join(f"## Step $x^{k}+1$\n\ntext\n\n" for k in range(2, 7))
    vault = write_vault(tmp_path / "v", {"m.md": "---\ntitle: Steps\n---\n\n" + heads})
    r = CliRunner().invoke(main, ["pdf", str(vault), "-o", str(tmp_path / "d.pdf"), "-q", "--no-cache", "-j", "1"])
    assert r.exit_code == 0, r.output
    titles = [str(x.title) for x in pypdf.PdfReader(tmp_path / "d.pdf").outline[1]]
    assert titles == ["Step x² + 1", "Step x³ + 1", "Step x⁴ + 1", "Step x^5+1", "Step x^6+1"]
