"""Refused images: a raster over budget becomes a link to its file; a refused SVG, its label."""

from __future__ import annotations

from exporter.model import ast
from exporter.readers.images import Verdict
from exporter.transforms.images import refuse


def _image(path: str, alt: str = "") -> dict:  # type: ignore[type-arg]
    return {"t": "Image", "c": [ast.attr("", [], {"asset": path}), ast.text_inlines(alt) if alt else [], ["", ""]]}


def test_each_verdict_has_its_form_and_its_diagnostic() -> None:
    blocks = [ast.Para([
        _image("media/huge.png", "a map"), ast.SPACE, _image("media/bomb.svg"), ast.SPACE,
        _image("media/evil.svg"), ast.SPACE, _image("media/ok.png"),
        ast.Link(ast.text_inlines("the file"), "", ast.attr("", ["asset"], {"asset": "media/evil.svg"})),
    ])]
    verdicts = {"media/huge.png": Verdict("large", "image huge.png is big"),
                "media/bomb.svg": Verdict("expands", "image bomb.svg expands"),
                "media/evil.svg": Verdict("unsafe", "image evil.svg runs script")}
    done = refuse(blocks, verdicts)
    huge, _, bomb, _, evil, _, ok, link = done.blocks[0]["c"]
    assert huge["t"] == "Link" and ast.kv(huge["c"][0]) == {"asset": "media/huge.png"}
    assert ast.stringify(huge["c"][1]) == "a map"
    assert bomb["t"] == "Span" and ast.stringify(bomb) == "bomb.svg" and "unresolved" in bomb["c"][0][1]
    assert evil["t"] == "Span" and link["t"] == "Span"  # no link to an unsafe file either
    assert ok["t"] == "Image"
    assert done.dropped == {"media/bomb.svg", "media/evil.svg"}
    assert sorted(code for code, _, _ in done.problems) == [
        "too-large", "too-large", "unsafe-content", "unsafe-content"]
