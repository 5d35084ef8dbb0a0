"""Atomic outputs and the one source of build time: nothing half-written, same bytes twice."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from exporter import cache as store
from exporter.cache import Cache

DEFAULT_EPOCH = 315532800  # 1980-01-01, the earliest date a zip entry can hold
LATEST_EPOCH = 4354819198  # 2107-12-31 23:59:58, the latest (a later SOURCE_DATE_EPOCH ended in a traceback)


def source_date_epoch(value: int | None = None) -> int:
    """SOURCE_DATE_EPOCH when set, else a fixed date, so outputs never depend on the clock."""
    if value is not None:
        return min(value, LATEST_EPOCH)
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    try:
        return min(max(DEFAULT_EPOCH, int(raw)), LATEST_EPOCH) if raw else DEFAULT_EPOCH
    except ValueError:
        return DEFAULT_EPOCH


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside target; rename it over target only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # the name cut so that the temporary one fits where target's does (255 bytes on most systems)
    name = target.name.encode()[:200].decode("utf-8", "ignore")
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_bytes(target: Path, data: bytes) -> None:
    with atomic_file(target) as tmp:
        tmp.write_bytes(data)


class OutputError(ValueError):
    """An output path that must not be written: the message is one line for the user."""


GENERATOR = "exporter"  # in every bundle's manifest.json: how a folder is known to be ours


def is_bundle(folder: Path) -> bool:
    """Is folder a markdown bundle this tool wrote (so it may be replaced, and is no vault)?"""
    try:
        doc = json.loads((folder / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("generator") == GENERATOR


def check_replaceable(target: Path, vault: Path) -> None:
    """A folder output replaces target whole: never a vault, a file, or someone else's folder."""
    t, v = target.resolve(), vault.resolve()
    if t == v or v.is_relative_to(t):
        raise OutputError(f"{target} holds the vault {vault}; choose an output folder outside it")
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target} is a file; choose a folder name for the output")
    if target.is_dir() and any(target.iterdir()) and not is_bundle(target):
        raise OutputError(f"{target} exists and is not a bundle written by exporter; choose another folder")


MARK_BYTES = 4 << 20  # an EPUB's container and package documents are read up to this to find the mark
MARK = re.compile(rb"<meta\s+name=\"generator\"\s+content=\"exporter[\s\"]")
ROOTFILE = re.compile(rb"full-path=\"([^\"]+)\"")


def made_here(path: Path) -> bool:
    """Did exporter write path (an earlier output, which it may replace)? A PDF says so in its
    /Creator, an EPUB in its package's generator; a file that cannot be read did not."""
    try:
        if path.suffix.lower() == ".pdf":
            import pikepdf

            with pikepdf.open(path) as pdf:
                return str(pdf.docinfo.get("/Creator", "")).split(" ", 1)[0] == GENERATOR
        if path.suffix.lower() == ".epub":
            with zipfile.ZipFile(path) as book:
                def read(name: str) -> bytes:
                    if book.getinfo(name).file_size > MARK_BYTES:
                        raise ValueError(f"{name} is too large")
                    return book.read(name)

                found = ROOTFILE.search(read("META-INF/container.xml"))
                return found is not None and MARK.search(read(found.group(1).decode("utf-8"))) is not None
    except Exception:  # any file that is not what it seems, including a damaged one: not ours
        return False
    return False


def replaceable(target: Path, vault: Path, suffixes: tuple[str, ...] = (".pdf", ".epub")) -> bool:
    """May a file output replace target? Not a file of the vault that exporter did not write."""
    if not target.exists() or not target.resolve().is_relative_to(vault.resolve()):
        return True
    return target.resolve().suffix.lower() in suffixes and made_here(target)


def check_file_target(target: Path, vault: Path, suffixes: tuple[str, ...]) -> None:
    """A file output replaces target: never a file of the vault that exporter did not write.
    `-o vault/note.md` wrote the PDF over the note; `-o vault/paper.pdf`, over a paper the notes
    cite."""
    if not replaceable(target, vault, suffixes):
        raise OutputError(f"{target} is a file of the vault {vault} that exporter did not write; "
                          "choose another output name")


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder; it replaces target only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / "x")
        os.replace(tmp, target)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


RECORD = ".exporter-files.json"


def prune(folder: Path, keep: Iterable[str]) -> list[str]:
    """Remove files an earlier run wrote into folder that are no longer part of the output.

    Only files listed in the folder's record (what this tool wrote there) are ever removed,
    so anything a person put beside them stays. The record is then rewritten to keep.
    """
    keep = sorted(set(keep))
    record = folder / RECORD
    try:
        before = json.loads(record.read_text("utf-8"))
        old = [p for p in before if isinstance(p, str)] if isinstance(before, list) else []
    except (OSError, ValueError):
        old = []
    removed = []
    root = folder.resolve()
    for rel in sorted(set(old) - set(keep)):
        path = (folder / rel).resolve()
        if not path.is_relative_to(root) or path == root or not path.is_file():
            continue  # a tampered record cannot reach outside the folder
        path.unlink()
        removed.append(rel)
        for parent in path.parents:  # folders left empty go too
            if parent == root or not parent.is_relative_to(root) or any(parent.iterdir()):
                break
            parent.rmdir()
    if folder.is_dir():
        write_bytes(record, (json.dumps(keep, ensure_ascii=False, indent=0) + "\n").encode("utf-8"))
    return removed


class Deflate:
    """Raw deflate streams as zipfile makes them (one compress call, then flush), the ones of
    blobs named beforehand kept in the cache: after an edit most entries of a zip are the
    same, and compressing them is most of its writing. Lookups happen here, in the thread
    that owns the cache; compressing may happen in another (zlib lets go of the interpreter)."""

    def __init__(self, level: int, cache: Cache | None = None, blobs: Iterable[bytes] = ()) -> None:
        self.level, self.cache = level, cache or Cache.off()
        self.wanted: dict[bytes, str] = {}  # blob -> its key, for those named beforehand
        self.made: dict[str, bytes] = {}
        self.ready: dict[bytes, bytes] = {}  # blob -> its stream, found in the cache
        if self.cache.enabled:
            salt = store.key("deflate", str(level), zlib.ZLIB_RUNTIME_VERSION)
            self.wanted = {b: store.key(salt, b) for b in blobs}
            found = self.cache.get_many(list(self.wanted.values()))
            self.ready = {b: found[k] for b, k in self.wanted.items() if k in found}

    def __call__(self, data: bytes) -> bytes:
        if (packed := self.ready.get(data)) is not None:
            return packed
        squeeze = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        packed = squeeze.compress(data) + squeeze.flush()
        if (k := self.wanted.get(data)) is not None:
            self.made[k] = packed
        return packed

    def keep(self) -> None:
        """What was compressed of the blobs named beforehand, into the cache (in its thread)."""
        self.cache.put_many(self.made)
        self.made = {}


class Zip(zipfile.ZipFile):
    """A reproducible zip: every entry with one date (the epoch's), -rw-r--r--, made on Unix,
    whatever the clock says; deflated entries compressed by a Deflate, so the same bytes
    whether their streams came from the cache or not."""

    def __init__(self, file: str | IO[bytes], epoch: int, deflate: Deflate) -> None:
        super().__init__(file, "w", zipfile.ZIP_DEFLATED, compresslevel=deflate.level)
        self.stamp = time.gmtime(max(epoch, DEFAULT_EPOCH))[:6]
        self.deflate = deflate

    def writestr(self, zinfo_or_arcname: Any, data: Any, compress_type: int | None = None,
                 compresslevel: int | None = None) -> None:
        data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        info = zinfo_or_arcname
        if isinstance(info, str):
            info = zipfile.ZipInfo(info, self.stamp)
            info.external_attr, info.create_system = 0o644 << 16, 3
            info.compress_type = zipfile.ZIP_DEFLATED if compress_type is None else compress_type
        small = len(data) * 1.05 <= zipfile.ZIP64_LIMIT  # no zip64 header
        if info.compress_type != zipfile.ZIP_DEFLATED or not small or not getattr(self, "_seekable", False):
            return super().writestr(info, data, compress_type, compresslevel)
        if (fp := self.fp) is None:
            raise ValueError("Attempt to write to ZIP archive that was already closed")
        packed = self.deflate(data)
        info.file_size, info.compress_size, info.CRC, info.flag_bits = len(data), len(packed), zlib.crc32(data), 0
        with self._lock:  # type: ignore[attr-defined]  # what writestr writes, its stream given: header, stream, in the directory
            fp.seek(self.start_dir)
            info.header_offset = fp.tell()
            self._writecheck(info)  # type: ignore[attr-defined]
            self._didModify = True
            fp.write(info.FileHeader(False))
            fp.write(packed)
            self.start_dir = fp.tell()
            self.filelist.append(info)
            self.NameToInfo[info.filename] = info
        return None
