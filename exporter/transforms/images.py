"""Images that must not be drawn (readers/images.py says why) become links or labels."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.model import ast
from exporter.model.document import Block
from exporter.readers.images import Verdict


@dataclass
class Refused:
    blocks: list[Block]
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (code, needle, message)
    dropped: set[str] = field(default_factory=set)  # assets no product may carry


def refuse(blocks: list[Block], verdicts: Mapping[str, Verdict]) -> Refused:
    """A raster image over the pixel budget becomes a link to its file (the bundle still carries
    it); an unsafe or expanding SVG becomes its label, and no link to it is left either."""
    out = Refused([])

    def one(x: Any) -> Any:
        t = x["t"]
        if t != "Image" and t != "Link":
            return x
        path = ast.kv(x["c"][0]).get("asset")
        verdict = verdicts.get(path) if path else None
        if verdict is None or path is None:
            return x
        label = x["c"][1] or ast.text_inlines(posixpath.basename(path))
        needle = posixpath.basename(path)
        if verdict.kind != "large":
            out.dropped.add(path)
            code = {"unsafe": "unsafe-content", "unreadable": "missing-embed"}.get(verdict.kind, "too-large")
            out.problems.append((code, needle, f"{verdict.reason}; left out"))
            return ast.Span(label, ast.attr("", ["unresolved"]))
        if t == "Link":
            return x
        out.problems.append(("too-large", needle, f"{verdict.reason}; linked instead"))
        return ast.Link(label, "", ast.attr("", ["asset"], {"asset": path}))

    def visit(inlines: list[Any]) -> list[Any]:
        if not any(x["t"] in ("Image", "Link") for x in inlines):
            return inlines
        return [one(x) for x in inlines]

    out.blocks = ast.map_inlines(blocks, visit)
    return out
