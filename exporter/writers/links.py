"""Settle the model's symbolic links for one product: real hrefs, or plain unresolved text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exporter.model import ast
from exporter.model.document import Block

Href = Callable[[str, str], str | None]  # (note id, anchor) -> href, None if not in the product
AssetHref = Callable[[str], str | None]


def settle_inlines(inlines: list[Any], href: Href, asset: AssetHref, unresolved: str = "text") -> list[Any]:
    """One inline list with links settled; the same list when nothing in it needs settling."""
    out = None
    for i, x in enumerate(inlines):
        t = x["t"]
        if t != "Link" and t != "Image":
            continue
        a = x["c"][0]
        if not a[2]:
            continue
        kv = dict(a[2])
        if t == "Link" and "internal" in a[1]:
            url = href(kv["note"], kv.get("anchor", ""))
            if url is None:
                cls = ["unresolved"] if unresolved != "plain" else []
                y = ast.Span(x["c"][1], ast.attr("", cls))
            else:
                y = ast.Link(x["c"][1], url, ast.attr("", ["internal"]))
        elif "asset" in kv:
            url = asset(kv["asset"])
            if url is None:
                y = ast.Span(x["c"][1], ast.attr("", ["unresolved"]))
            elif t == "Link":
                y = ast.Link(x["c"][1], url, ast.attr("", ["asset"]))
            else:
                keep = {k: v for k, v in kv.items() if k == "width"}
                y = {"t": "Image", "c": [ast.attr("", [], keep), x["c"][1], [url, ""]]}
        else:
            continue
        if out is None:
            out = list(inlines)
        out[i] = y
    return inlines if out is None else out


def settle(blocks: list[Block], href: Href, asset: AssetHref, unresolved: str = "text") -> list[Block]:
    """Internal links become hrefs of this product, or labels when the target is not in it."""
    return ast.map_inlines(blocks, lambda xs: settle_inlines(xs, href, asset, unresolved))
