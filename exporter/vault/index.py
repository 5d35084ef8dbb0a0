"""Resolve link targets to notes: relative path, stem, title, alias, then the ambiguity rule."""

from __future__ import annotations

import posixpath
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from exporter.vault.keys import SUFFIX, link_key, path_key


class Linkable(Protocol):
    path: str
    title: str
    meta: dict[str, Any]


@dataclass(frozen=True)
class Resolution:
    path: str | None  # vault path of the note, None if unresolved
    candidates: tuple[str, ...] = ()  # all matches in the winning tier, when more than one
    outside: bool = False  # the target leaves the vault


def _exact(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()


def _stem(path: str) -> str:
    return posixpath.splitext(posixpath.basename(path))[0]


@dataclass
class Index:
    by_path: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_stem: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_title: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_alias: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_file: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # name with suffix

    @classmethod
    def build(cls, notes: Sequence[Linkable]) -> Index:
        ix = cls()
        for n in notes:
            ix.by_file[_exact(n.path)].append(n.path)
            ix.by_path[path_key(posixpath.splitext(n.path)[0])].append(n.path)
            ix.by_stem[link_key(_stem(n.path))].append(n.path)
            ix.by_title[link_key(n.title)].append(n.path)
            aliases = n.meta.get("aliases") or []
            if isinstance(aliases, str):
                aliases = [aliases]
            for a in aliases if isinstance(aliases, list) else []:
                if isinstance(a, str | int) and str(a).strip():
                    ix.by_alias[link_key(str(a))].append(n.path)
        return ix

    def resolve(self, target: str, from_path: str) -> Resolution:
        """Match in SPEC order; among several matches prefer same folder, shortest, alphabetical."""
        target = target.strip().replace("\\", "/")
        folder = posixpath.dirname(from_path)
        tiers: list[list[str]] = []
        if SUFFIX.search(target):  # [[a.txt]] beside a.md: the file named wins
            for p in (posixpath.join(folder, target), target.lstrip("/")):
                tiers.append(self.by_file.get(_exact(posixpath.normpath(p)), []))
        if "/" in target:
            joined = posixpath.normpath(posixpath.join(folder, target))
            rooted = posixpath.normpath(target.lstrip("/"))
            if joined.startswith("../") and rooted.startswith("../"):
                return Resolution(None, outside=True)
            for p in (joined, rooted):
                if not p.startswith("../"):
                    tiers.append(self.by_path.get(path_key(posixpath.splitext(p)[0]), []))
        key = link_key(target)
        tiers += [self.by_stem.get(key, []), self.by_title.get(key, []), self.by_alias.get(key, [])]
        for found in tiers:
            unique = sorted(set(found))
            if unique:
                best = min(unique, key=lambda p: (posixpath.dirname(p) != folder, p.count("/"), len(p), p))
                return Resolution(best, tuple(unique) if len(unique) > 1 else ())
        return Resolution(None)
