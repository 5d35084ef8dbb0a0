"""Package the markdown bundle: folder, index.md, manifest.json, copied assets, reproducible zip."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

from exporter.cache import Cache
from exporter.i18n import Words, language
from exporter.model.document import Collection, Note, channel_names
from exporter.packagers.output import GENERATOR, atomic_dir, atomic_file, check_replaceable, source_date_epoch
from exporter.writers import markdown


def _index(title: str, notes: list[Note], collection: Collection, paths: dict[str, str], words: Words) -> str:
    groups: dict[str, list[Note]] = {}
    names = channel_names(notes)
    for n in notes:
        groups.setdefault(n.channel or "", []).append(n)
    lines = [f"# {_escape(title)}", "", _count(len(notes), len([g for g in groups if g]), words), ""]
    for channel in sorted(groups, key=lambda c: (c == "", (names.get(c) or c).casefold())):
        lines += [f"## {_escape(names.get(channel, '')) or words('Other notes')}", ""]
        for n in sorted(groups[channel], key=lambda n: n.title.casefold()):
            lines.append(f"- [{_escape(n.label)}]({quote(paths[n.id], safe='/')})")
        lines.append("")
    sources = collection.sources(notes)
    if sources:
        lines += [f"## {words('Sources')}", ""]
        for i, s in enumerate(sources, 1):
            who = f", {_escape(s.channel)}" if s.channel else ""
            lines.append(f"{i}. “{_escape(s.title)}”{who}: <{s.url}>")
        lines.append("")
    return "\n".join(lines)


def _count(notes: int, channels: int, words: Words) -> str:
    """20 notes · 3 channels / 1 note / 20 notes (as the EPUB cover says it)."""
    said = words.notes(notes)
    return said + (" · " + words.channels(channels) if channels else "")


def _escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]<>#|!" else c for c in text)


def _zip(folder: Path, target: Path, epoch: int) -> None:
    stamp = time.gmtime(epoch)[:6]
    with atomic_file(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{folder.name}/{path.relative_to(folder).as_posix()}", stamp)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, path.read_bytes(), compresslevel=6)


def _reuse(old: Path, new: Path, data: bytes) -> bool:
    """Link new to the file of the output being replaced when that already holds data: after
    an edit, most files of a large bundle are the same, and a link costs a seventh of a write."""
    try:
        if old.is_symlink() or not old.is_file() or old.stat().st_size != len(data) or old.read_bytes() != data:
            return False
        os.link(old, new, follow_symlinks=False)
    except OSError:  # no hard links on this file system: write it
        return False
    return True


def package(
    collection: Collection, notes: list[Note], out: Path, title: str, epoch: int | None = None,
    failed: dict[str, str] | None = None, cache: Cache | None = None, backlinks: bool = True,
    lang: str | None = None,
) -> Path:
    """Write out/ (a folder) and out.zip; returns the zip path. Notes pandoc could not write
    within their budget are named in failed (note path -> why)."""
    check_replaceable(out, Path(collection.root))
    paths = markdown.bundle_paths(notes)
    words = Words(language(notes, lang))
    texts = markdown.write_notes(notes, paths, failed, cache, backlinks, words)
    manifest = []
    before = out if out.is_dir() else None  # ours: check_replaceable says so
    with atomic_dir(out) as tmp:
        for note in notes:
            rel = paths[note.id]
            data = texts[rel].encode("utf-8")
            dest = tmp / rel
            if "/" in rel:
                dest.parent.mkdir(parents=True, exist_ok=True)
            if before is None or not _reuse(before / rel, dest, data):
                dest.write_bytes(data)
            manifest.append(
                {
                    "path": rel,
                    "source": note.path,
                    "title": note.title,
                    "videoId": note.video_id,
                    "channel": note.channel,
                    "url": note.source.url if note.source else None,
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
        assets = sorted({a for n in notes for a in n.assets if a in collection.assets})
        for a in assets:
            (tmp / a).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(collection.assets[a], tmp / a)
        (tmp / "index.md").write_text(_index(title, notes, collection, paths, words), encoding="utf-8")
        doc = {"generator": GENERATOR, "title": title, "notes": manifest, "assets": assets}
        (tmp / "manifest.json").write_text(
            json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    zip_path = out.with_name(out.name + ".zip")
    _zip(out, zip_path, source_date_epoch(epoch))
    return zip_path
