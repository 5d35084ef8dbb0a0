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
_UNKNOWN = re.compile(r"<m[ion][^>]*>\\[A-Za-z]+</m[ion]>")  # a command latex2mathml did not know


@lru_cache(maxsize=4096)
def problem(tex: str) -> str | None:
    """Why tex cannot be typeset, or None: what latex2mathml refuses or leaves as a command."""
    if len(tex) > MAX_TEX:
        return f"formula of {len(tex):,} characters, over {MAX_TEX}"
    import latex2mathml.converter  # here: most vaults hold no math, and the import costs 70 ms

    try:
        mathml = latex2mathml.converter.convert(tex)
    except Exception as e:  # the converter raises many kinds, some bare (AssertionError)
        return f"TeX it cannot read ({type(e).__name__}{': ' + str(e) if str(e) else ''})"
    unknown = _UNKNOWN.search(mathml)
    if unknown:
        return f"unknown command {re.sub(r'<[^>]+>', '', unknown.group(0))}"
    return None


def problems(blocks: list[Block]) -> list[tuple[str, str, str]]:
    """(code, needle, message) for each formula the PDF would have to show as TeX."""
    found: list[tuple[str, str, str]] = []
    for x in ast.iter_nodes(blocks, "Math"):
        tex = x["c"][1]
        why = problem(tex)
        if why:
            found.append(("math", tex[:40], f"formula kept as TeX in PDFs: {why}"))
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


def typeset(blocks: list[Block], colour: str) -> list[Block]:
    """Every formula that can be typeset as an image; the others stay Math (TeX in the PDF)."""

    def visit(inlines: list[Any]) -> list[Any]:
        if not any(x["t"] == "Math" for x in inlines):
            return inlines
        out: list[Any] = []
        for x in inlines:
            if x["t"] == "Math":
                display = x["c"][0]["t"] == "DisplayMath"
                img = image(x["c"][1], display, colour)
                if img is not None:
                    html = f'<span class="math display">{img}</span>' if display else img
                    out.append({"t": "RawInline", "c": ["html", html]})
                    continue
            out.append(x)
        return out

    return ast.map_inlines(blocks, visit)
