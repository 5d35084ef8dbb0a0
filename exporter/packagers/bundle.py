"""Package the markdown bundle: folder, index.md, manifest.json, copied assets, reproducible zip."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from exporter.cache import Cache
from exporter.i18n import Words, language
from exporter.model.document import Collection, Note, channel_names
from exporter.packagers.output import (
    GENERATOR,
    Deflate,
    Zip,
    atomic_dir,
    check_replaceable,
    source_date_epoch,
    write_bytes,
)
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


def _zip(name: str, files: dict[str, bytes], assets: dict[str, str], epoch: int, deflate: Deflate) -> bytes:
    """The bundle as a reproducible zip, from what the folder gets (run beside the folder's
    writing: zlib lets go of the interpreter while it compresses)."""
    buffer = io.BytesIO()
    with Zip(buffer, epoch, deflate) as z:
        for rel in sorted([*files, *assets], key=lambda r: r.split("/")):
            z.writestr(f"{name}/{rel}", files[rel] if rel in files else Path(assets[rel]).read_bytes())
    return buffer.getvalue()


def _reuse(old: Path, new: Path, data: bytes) -> bool:
    """Link new to the file of the output being replaced when that already holds data: after
    an edit, most files of a large bundle are the same, and a link costs a seventh of a write."""
    try:
        st = os.lstat(old)  # one call: a symlink is no regular file here
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return False
        with open(old, "rb") as f:
            if f.read() != data:
                return False
        os.link(old, new, follow_symlinks=False)
    except OSError:  # no hard links on this file system: write it
        return False
    return True


def _readable(assets: dict[str, str], problems: list[tuple[str, str, str]] | None) -> dict[str, str]:
    """The assets that can be opened now, whatever collecting found (one made unreadable since is
    kept in the cache as it was): one that could not failed the whole bundle, naming the bundle."""
    kept = {}
    for rel, source in assets.items():
        try:
            with open(source, "rb"):
                kept[rel] = source
        except OSError as e:
            if problems is not None:
                problems.append(("missing-embed", rel, f"not copied into the bundle: it cannot be read "
                                                       f"({e.strerror or e})"))
    return kept


def package(
    collection: Collection, notes: list[Note], out: Path, title: str, epoch: int | None = None,
    failed: dict[str, str] | None = None, cache: Cache | None = None, backlinks: bool = True,
    lang: str | None = None, problems: list[tuple[str, str, str]] | None = None,
) -> Path:
    """Write out/ (a folder) and out.zip; returns the zip path. Notes pandoc could not write
    within their budget are named in failed (note path -> why), files that cannot be read
    (and are left out) in problems (code, path, message)."""
    check_replaceable(out, Path(collection.root))
    paths = markdown.bundle_paths(notes)
    words = Words(language(notes, lang))
    texts = markdown.write_notes(notes, paths, failed, cache, backlinks, words)
    files = {paths[n.id]: texts[paths[n.id]].encode("utf-8") for n in notes}
    manifest = [{"path": paths[n.id], "source": n.path, "title": n.title, "videoId": n.video_id,
                 "channel": n.channel, "url": n.source.url if n.source else None,
                 "sha256": hashlib.sha256(files[paths[n.id]]).hexdigest()} for n in notes]
    assets = _readable({a: collection.assets[a] for a in sorted({a for n in notes for a in n.assets
                                                                 if a in collection.assets})}, problems)
    doc = {"generator": GENERATOR, "title": title, "notes": manifest, "assets": list(assets)}
    files["index.md"] = _index(title, notes, collection, paths, words).encode("utf-8")
    files["manifest.json"] = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    before = out if out.is_dir() else None  # ours: check_replaceable says so
    zip_path = out.with_name(out.name + ".zip")
    deflate = Deflate(6, cache, files.values())  # the cache is read here, in its thread
    with ThreadPoolExecutor(1) as beside:
        zipped = beside.submit(_zip, out.name, files, assets, source_date_epoch(epoch), deflate)
        with atomic_dir(out) as tmp:
            made: set[Path] = set()  # folders made: a thousand notes in a few folders ask again and again
            for rel, data in files.items():
                dest = tmp / rel
                if "/" in rel and dest.parent not in made:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    made.add(dest.parent)
                if before is None or not _reuse(before / rel, dest, data):
                    dest.write_bytes(data)
            for rel, source in assets.items():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, tmp / rel)
        write_bytes(zip_path, zipped.result())
    deflate.keep()
    return zip_path
