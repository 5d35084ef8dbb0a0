"""Settle the model's symbolic links for one product: real hrefs, or plain unresolved text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exporter.model import ast
from exporter.model.document import Block

Href = Callable[[str, str], str | None]  # (note id, anchor) -> href, None if not in the product
AssetHref = Callable[[str], str | None]


def settle(blocks: list[Block], href: Href, asset: AssetHref) -> list[Block]:
    def visit(inlines: list[Any]) -> list[Any]:
        out = []
        for x in inlines:
            t = x.get("t")
            if t in ("Link", "Image"):
                a = x["c"][0]
                kv = ast.kv(a)
                if t == "Link" and "internal" in a[1]:
                    url = href(kv["note"], kv.get("anchor", ""))
                    if url is None:
                        x = ast.Span(x["c"][1], ast.attr("", ["unresolved"]))
                    else:
                        x = ast.Link(x["c"][1], url, ast.attr("", ["internal"]))
                elif "asset" in kv:
                    url = asset(kv["asset"])
                    if url is None:
                        x = ast.Span(x["c"][1], ast.attr("", ["unresolved"]))
                    elif t == "Link":
                        x = ast.Link(x["c"][1], url, ast.attr("", ["asset"]))
                    else:
                        keep = {k: v for k, v in kv.items() if k == "width"}
                        x = {"t": "Image", "c": [ast.attr("", [], keep), x["c"][1], [url, ""]]}
            out.append(x)
        return out

    return ast.map_inlines(blocks, visit)
