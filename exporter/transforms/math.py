"""TeX math: checked when a note is read, typeset as vector images for print.

EPUB keeps MathML (pandoc writes it) and bundles keep ``$...$``; a PDF has no math engine, so
each formula becomes an SVG drawn by ziamath (pure Python, no TeX install), sized in em and
set on the text's baseline, with the TeX as its alt text. A formula that cannot be typeset
stays as TeX source in every product, and normalize() reports it with its line.
"""

from __future__ import annotations

import base64
import re
from functools import cache, lru_cache
from html import escape
from typing import Any

from exporter.model import ast
from exporter.model.document import Block

SIZE = 100.0  # units of the SVG per em of the math font
SCALE = 1.1  # STIX math beside body fonts with a tall x-height (DejaVu) looks small at 1em
MAX_TEX = 2000  # characters: a longer formula is kept as source (layout grows with it)
# What a note's formulas may cost, in characters of TeX plus PER_FORMULA for each distinct one,
# checked and typeset in the order they come (a formula of a few characters takes 3 ms to typeset
# and 0.2 ms to check): about 600 short formulas, or 20 of MAX_TEX. Past it formulas stay TeX, so
# a note of 20,000 formulas costs a second, not minutes before its render.
BUDGET = 60_000
PER_FORMULA = 100
_UNKNOWN = re.compile(r"<m[ion][^>]*>\\[A-Za-z]+</m[ion]>")  # a command latex2mathml did not know


@lru_cache(maxsize=4096)
def problem(tex: str) -> str | None:
    """Why tex cannot be typeset, or None: what latex2mathml refuses or leaves as a command."""
    return _read(tex)[1]


def _read(tex: str) -> tuple[str, str | None]:
    """latex2mathml's MathML of tex, and why tex cannot be typeset (then the MathML is "")."""
    if len(tex) > MAX_TEX:
        return "", f"formula of {len(tex):,} characters, over {MAX_TEX}"
    import latex2mathml.converter  # here: most vaults hold no math, and the import costs 70 ms

    try:
        mathml = latex2mathml.converter.convert(tex)
    except Exception as e:  # the converter raises many kinds, some bare (AssertionError)
        return "", f"TeX it cannot read ({type(e).__name__}{': ' + str(e) if str(e) else ''})"
    unknown = _UNKNOWN.search(mathml)
    if unknown:
        return "", f"unknown command {re.sub(r'<[^>]+>', '', unknown.group(0))}"
    return mathml, None


def budgeted(blocks: list[Block]) -> tuple[list[str], list[str]]:
    """The distinct formulas of blocks within BUDGET, in order, and those past it."""
    within: dict[str, None] = {}
    past: dict[str, None] = {}
    spent = 0
    for x in ast.iter_nodes(blocks, "Math"):
        tex = x["c"][1]
        if tex in within or tex in past:
            continue
        if past or spent + len(tex) + PER_FORMULA > BUDGET:
            past[tex] = None
            continue
        spent += len(tex) + PER_FORMULA
        within[tex] = None
    return list(within), list(past)


def problems(blocks: list[Block]) -> list[tuple[str, str, str]]:
    """(code, needle, message) for each formula the PDF would have to show as TeX."""
    within, past = budgeted(blocks)
    found: list[tuple[str, str, str]] = []
    for tex in within:
        why = problem(tex)
        if why:
            found.append(("math", tex[:40], f"formula kept as TeX in PDFs: {why}"))
    if past:
        found.append(("math", past[0][:40], f"{len(past):,} formulas kept as TeX in PDFs from here on: a note's "
                      f"formulas are typeset up to {BUDGET:,} characters of TeX ({PER_FORMULA} more each)"))
    return found


@cache
def version() -> str:
    """What a typeset formula depends on besides this code: the typesetting libraries."""
    from importlib.metadata import version as of

    return ", ".join(f"{name} {of(name)}" for name in ("ziamath", "ziafont", "latex2mathml"))


@lru_cache(maxsize=4096)
def image(tex: str, display: bool, colour: str) -> str | None:
    """An <img> of the formula: an SVG data URL sized in em, its baseline on the line's."""
    if problem(tex):
        return None
    import ziamath  # here: the import costs 250 ms

    try:
        m = ziamath.Latex(tex, size=SIZE, color=colour, inline=not display, margin=0)
        svg = m.svg()
        width, height = m.getsize()
        below = -m.getyofst()  # the depth under the baseline
    except Exception:  # a layout failure in the library: the formula stays as TeX
        return None
    url = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    em = SIZE / SCALE
    style = f"width:{width / em:.3f}em;height:{height / em:.3f}em;vertical-align:{-below / em:.3f}em"
    return f'<img class="math" alt="{escape(tex.strip())}" src="{url}" style="{style}"/>'


def typeset(blocks: list[Block], colour: str, within: set[str] | None = None) -> list[Block]:
    """Every formula within the budget that can be typeset as an image; the others stay Math
    (TeX in the PDF). within: the formulas within it, when the caller counted them already."""
    within = set(budgeted(blocks)[0]) if within is None else within

    def visit(inlines: list[Any]) -> list[Any]:
        if not any(x["t"] == "Math" for x in inlines):
            return inlines
        out: list[Any] = []
        for x in inlines:
            if x["t"] == "Math" and x["c"][1] in within:
                display = x["c"][0]["t"] == "DisplayMath"
                img = image(x["c"][1], display, colour)
                if img is not None:
                    html = f'<span class="math display">{img}</span>' if display else img
                    out.append({"t": "RawInline", "c": ["html", html]})
                    continue
            out.append(x)
        return out

    return ast.map_inlines(blocks, visit)


# Characters with a Unicode superscript or subscript form, for plain() (E = mc², x₀).
SUPERSCRIPT = dict(zip("0123456789+-−=()niaeoxhjklmprstuvwy", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾ⁿⁱᵃᵉᵒˣʰʲᵏˡᵐᵖʳˢᵗᵘᵛʷʸ", strict=True))
SUBSCRIPT = dict(zip("0123456789+-−=()aeoxhklmnpstijruv", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎ₐₑₒₓₕₖₗₘₙₚₛₜᵢⱼᵣᵤᵥ", strict=True))
SPACED = set("=<>≤≥≠≈≡∼→←↔⇒⇐⇔∈∉⊂⊆∝+−±∓×÷·")  # operators written with a space on each side
# accents drawn over a letter -> the combining character that draws them after it
ACCENTS = {"^": "\u0302", "ˆ": "\u0302", "~": "\u0303", "˜": "\u0303", "¯": "\u0304", "―": "\u0305",
           "‾": "\u0305", "→": "\u20d7", "˙": "\u0307", "¨": "\u0308", "ˇ": "\u030c", "´": "\u0301", "`": "\u0300"}


@lru_cache(maxsize=1024)
def plain(tex: str) -> str:
    """A formula as text, where no image can go (an outline entry): symbols as Unicode
    (α ≤ β), super- and subscripts as such where each character has one (E = mc², x₀), else
    after ^ or _ (in parentheses when longer than one character); a fraction a/b, a root √x.
    The TeX itself where it cannot be typeset. About 2 ms a formula: callers keep to a note's
    budget (budgeted), as typeset() does."""
    mathml, why = _read(tex)
    if why:
        return tex.strip()
    from lxml import etree

    # latex2mathml copies \text{...} as it is, markup included: what does not parse stays TeX
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(mathml.encode(), parser)
    except (etree.XMLSyntaxError, ValueError):
        return tex.strip()
    return " ".join(_text(root).split())


def _text(el: Any) -> str:
    tag = str(el.tag).rsplit("}", 1)[-1]
    kids = [k for k in el if isinstance(k.tag, str)]
    if tag in ("mi", "mn", "mtext", "ms", "mo"):
        return "".join(el.itertext())
    if tag in ("msup", "msub", "msubsup", "mover", "munder", "munderover") and kids:
        base = _text(kids[0])
        if tag == "mover" and len(kids) == 2 and (mark := ACCENTS.get("".join(kids[1].itertext()).strip())):
            return base + mark
        parts = [_text(k).strip() for k in kids[1:]]
        if tag in ("msup", "mover"):
            return base + _script(parts[0], SUPERSCRIPT, "^")
        if tag in ("msub", "munder"):
            return base + _script(parts[0], SUBSCRIPT, "_")
        return base + _script(parts[0], SUBSCRIPT, "_") + _script(parts[-1], SUPERSCRIPT, "^")
    if tag == "mfrac" and len(kids) == 2:
        return f"{_grouped(_text(kids[0]), True)}/{_grouped(_text(kids[1]), True)}"
    if tag == "msqrt":
        return "√" + _grouped("".join(_text(k) for k in kids), True)
    if tag == "mroot" and len(kids) == 2:
        return _script(_text(kids[1]).strip(), SUPERSCRIPT, "") + "√" + _grouped(_text(kids[0]), True)
    if tag in ("mspace", "mphantom"):
        return " " * (tag == "mspace")
    if tag in ("mtr", "mtable"):
        return (", " if tag == "mtr" else "; ").join(_text(k).strip() for k in kids)
    out: list[str] = []
    for k, kid in enumerate(kids):  # a row: an operator between two terms is spaced, a sign is not
        text = _text(kid)
        between = k > 0 and str(kids[k - 1].tag).rsplit("}", 1)[-1] != "mo"
        out.append(f" {text.strip()} " if text.strip() in SPACED and between else text)
    return "".join(out)


def _script(text: str, table: dict[str, str], mark: str) -> str:
    squeezed = text.replace(" ", "")
    if squeezed and all(c in table for c in squeezed):
        return "".join(table[c] for c in squeezed)
    return mark + _grouped(text, False) if text else ""


def _grouped(text: str, words: bool) -> str:
    """text, in parentheses unless it is one character (or, with words, a number or a word)."""
    text = text.strip()
    return text if len(text) <= 1 or (words and text.isalnum()) else f"({text})"
