"""Resolve wikilinks, markdown links and images against the vault (SPEC 3).

Resolved note links become symbolic ``Link.internal`` (note id + anchor) that each writer
turns into its own kind of link; the rest become plain labels, never dead links.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from exporter.model import ast
from exporter.model.document import Block, Heading, Inline
from exporter.vault.index import Index, Resolution
from exporter.vault.keys import link_key

SAFE_SCHEMES = ("http", "https", "mailto")
WIDTH = re.compile(r"^\s*([0-9]{1,4})(?:\s*x\s*([0-9]{1,4}))?\s*$")  # ASCII: it becomes an attribute


@dataclass(frozen=True)
class Target:
    """What a link may point to: a note's id, title, headings and block ids."""

    id: str
    title: str
    headings: tuple[Heading, ...]
    blocks: frozenset[str] = frozenset()


@dataclass
class Linked:
    blocks: list[Block]
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (code, needle, message)
    assets: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # ids of notes linked to
    embeds: int = 0  # embed markers left for the embeds transform


@dataclass(frozen=True)
class Context:
    """What linking may know of the vault. Every fact read goes into `trace` (when given), so a
    cached result can be checked against the vault as it is now (see facts())."""

    path: str  # the linking note
    index: Index
    targets: Mapping[str, Target]  # vault path -> target
    assets: Mapping[str, Any]  # vault path -> file
    trace: list[list[Any]] | None = None

    def resolve(self, name: str) -> Resolution:
        res = self.index.resolve(name, self.path)
        if self.trace is not None:
            self.trace.append(["resolve", name, _resolution(res)])
        return res

    def target(self, path: str | None) -> Target | None:
        found = self.targets.get(path) if path else None
        if self.trace is not None and path:
            self.trace.append(["target", path, face(found)])
        return found

    def asset(self, ref: str) -> tuple[str | None, bool]:
        found = resolve_asset(self, ref)
        if self.trace is not None:
            self.trace.append(["asset", ref, list(found)])
        return found

    def facts(self, trace: list[list[Any]]) -> bool:
        """Would linking read the same facts now? (A trace is replayed, not trusted.)"""
        for kind, query, answer in trace:
            if kind == "resolve":
                now: Any = _resolution(self.index.resolve(query, self.path))
            elif kind == "target":
                now = face(self.targets.get(query))
            elif kind == "asset":
                now = list(resolve_asset(self, query))
            else:
                return False
            if now != answer:
                return False
        return True


def _resolution(res: Resolution) -> list[Any]:
    return [res.path, list(res.candidates), res.outside]


def face(target: Target | None) -> list[Any] | None:
    """What other notes may see of a note, as plain data."""
    if target is None:
        return None
    return [target.id, target.title, [[h.level, h.text, h.id] for h in target.headings],
            sorted(target.blocks)]


def anchor_for(target: Target, fragment: str) -> str | None:
    """Heading (last '#' segment) or '^block' fragment -> anchor id, None if missing."""
    if fragment.startswith("^"):
        return fragment if fragment[1:] in target.blocks else None
    want = link_key(fragment.split("#")[-1])
    for h in target.headings:
        if link_key(h.text) == want:
            return h.id
    return None


def readable(ref: str) -> str:
    """A file name as words, for an image's alt text: figures/lens_room-2.png -> "lens room 2"."""
    name = unquote(ref.rsplit("/", 1)[-1])
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    return " ".join(re.sub(r"[_\-.+]+", " ", stem).split()) or name


def _internal(label: list[Inline], note: str, anchor: str | None) -> Inline:
    return ast.Link(label, "", ast.attr("", ["internal"], {"note": note, "anchor": anchor or ""}))


def unresolved(label: list[Inline], target: str) -> Inline:
    return ast.Span(label, ast.attr("", ["unresolved"], {"target": target}))


def resolve_asset(ctx: Context, ref: str) -> tuple[str | None, bool]:
    """A path written in a note -> vault asset path; second value True if it leaves the vault."""
    # split before unquoting: '%23' and '%3F' belong to the file name
    ref = unquote(ref.split("#")[0].split("?")[0]).strip().replace("\\", "/")
    if not ref:
        return None, False
    folder = posixpath.dirname(ctx.path)
    outside = False
    for cand in (posixpath.join(folder, ref), ref.lstrip("/")):
        p = posixpath.normpath(cand)
        if p.startswith("../") or p == "..":
            outside = True
            continue
        if p in ctx.assets:
            return p, False
    if "/" not in ref:  # Obsidian finds attachments by bare name anywhere in the vault
        hits = sorted(a for a in ctx.assets if posixpath.basename(a) == ref)
        if hits:
            return min(hits, key=lambda a: (a.count("/"), a)), False
    return None, outside


def link(blocks: list[Block], ctx: Context) -> Linked:
    out = Linked([])

    def wikilink(x: Inline) -> Inline:
        a, label, (url, _) = x["c"]
        written = ast.stringify(label)
        raw = url.strip().rstrip("\\").strip()  # [[t\|label]] in tables keeps the backslash
        aliased = written.strip() != raw
        name, _, fragment = raw.partition("#")
        name = name.strip()
        if not name and not fragment.strip():  # [[]], [[#]], [[|label]]: no target at all
            shown = f"[[{raw}|{written.strip()}]]" if aliased else f"[[{raw}]]"
            out.problems.append(("unresolved-link", shown, f"{shown} names no note"))
            return unresolved(label if aliased else [], raw)
        if not name:  # [[#Heading]]: this note
            res_path: str | None = ctx.path
        else:
            res = ctx.resolve(name)
            res_path = res.path
            if res.candidates:
                out.problems.append(
                    (
                        "ambiguous-link",
                        f"[[{url}",
                        f"[[{raw}]] matches {', '.join(res.candidates)}; using {res.path}",
                    )
                )
            if res.outside:
                out.problems.append(("outside-vault", f"[[{url}", f"[[{raw}]] leads outside the vault"))
        target = ctx.target(res_path)
        if target is None:
            why = f"no note matches [[{raw}]]" if not res_path else \
                f"[[{raw}]] names {res_path}, which could not be read; stays text"
            out.problems.append(("unresolved-link", f"[[{url}", why))
            return unresolved(label, raw)
        anchor = None
        if fragment.strip():
            anchor = anchor_for(target, fragment.strip())
            if anchor is None:
                out.problems.append(
                    (
                        "missing-heading",
                        f"[[{url}",
                        f"[[{raw}]]: {target.title!r} has no heading or block {fragment.strip()!r};"
                        " linking to the note",
                    )
                )
        if not aliased:
            heading = fragment.split("#")[-1].strip()
            if not name:
                label = ast.text_inlines(heading)
            else:
                label = ast.text_inlines(target.title + (f" › {heading}" if heading else ""))
        out.links.append(target.id)
        return _internal(label, target.id, anchor)

    def mdlink(x: Inline) -> Inline:
        a, label, (url, title) = x["c"]
        scheme = urlsplit(url).scheme.lower()
        if scheme in SAFE_SCHEMES:
            return x
        if scheme or url.startswith("//"):
            out.problems.append(("unsafe-content", url[:40], f"link to {url[:60]!r} removed"))
            return ast.Span(label)
        if url.startswith("#") or not url:
            return ast.Span(label) if url in ("", "#") else x
        # split at the literal '#' first: a '%23' in the path is part of a file name
        path, _, frag = url.partition("#")
        path, frag = unquote(path), unquote(frag)
        res = ctx.resolve(path)
        target = ctx.target(res.path)
        if target is not None:
            out.links.append(target.id)
            return _internal(label, target.id, anchor_for(target, frag) if frag else None)
        asset, outside = ctx.asset(url)
        if asset:
            out.assets.append(asset)
            return ast.Link(label, "", ast.attr("", ["asset"], {"asset": asset}))
        code = "outside-vault" if outside else "unresolved-link"
        out.problems.append((code, url[:40], f"link target {url!r} is not in the vault"))
        return unresolved(label, url)

    def image(x: Inline, ref: str, alt: list[Inline], width: str | None) -> Inline:
        scheme = urlsplit(ref).scheme.lower()
        if scheme in ("http", "https"):  # never fetched: a link to it instead
            return ast.Link(alt or [ast.Str(ref)], ref, ast.attr("", ["remote-image"]))
        if not ast.stringify(alt).strip():  # every image says what it is, to screen readers too
            alt = ast.text_inlines(readable(ref))
        asset, outside = (None, False) if scheme else ctx.asset(ref)
        if asset is None:
            code = "outside-vault" if outside else "missing-embed"
            out.problems.append((code, ref[:40], f"image {ref!r} is not a file in the vault"))
            return ast.Span(
                [ast.Str("[missing"), ast.SPACE, ast.Str("image:"), ast.SPACE, *ast.text_inlines(ref + "]")],
                ast.attr("", ["missing-embed"]),
            )
        out.assets.append(asset)
        kv = {"asset": asset}
        if width:
            kv["width"] = width
        return {"t": "Image", "c": [ast.attr("", [], kv), alt, ["", ""]]}

    def visit(inlines: list[Any]) -> list[Any]:
        for x in inlines:
            if x["t"] == "Link" or x["t"] == "Image":
                break
        else:
            return inlines
        new: list[Any] = []
        for x in inlines:
            t = x.get("t")
            if t == "Link" and "wikilink" in x["c"][0][1]:
                prev = new[-1] if new else None
                if prev and prev.get("t") == "Str" and prev["c"].endswith("!"):  # ![[embed]]
                    new[-1] = ast.Str(prev["c"][:-1])
                    if not new[-1]["c"]:
                        new.pop()
                    new.append(embed(x))
                    continue
                new.append(wikilink(x))
            elif t == "Link" and not {"internal", "asset"} & set(x["c"][0][1]):  # not made here already
                new.append(mdlink(x))
            elif t == "Image" and "asset" not in ast.kv(x["c"][0]):
                new.append(image(x, x["c"][2][0], x["c"][1], ast.kv(x["c"][0]).get("width")))
            else:
                new.append(x)
        return new

    def embed(x: Inline) -> Inline:
        a, label, (url, _) = x["c"]
        raw = url.strip().rstrip("\\").strip()
        written = ast.stringify(label).strip()
        name = raw.partition("#")[0].strip()
        if not raw.strip("#").strip():
            out.problems.append(("missing-embed", f"![[{raw}]]", f"![[{raw}]] names no note"))
            return ast.Span([])
        asset, _ = ctx.asset(name) if name and "." in name else (None, False)
        if asset and not name.lower().endswith((".md", ".markdown", ".txt")):
            # ![[a.png|300]], ![[a.png|caption]], ![[a.png|caption|300x200]]
            caption, _, last = written.rpartition("|") if written != raw else ("", "", "")
            size = WIDTH.match(last)
            if size is None:
                caption = written if written != raw else ""
            return image(x, asset, ast.text_inlines(caption.strip()), size.group(1) if size else None)
        out.embeds += 1
        return ast.Span([], ast.attr("", ["embed"], {"target": raw}))

    out.blocks = ast.map_inlines(blocks, visit)
    return out
