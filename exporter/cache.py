"""One content-addressed cache for every product: what a build computed, kept for the next.

An entry's key is a hash of everything that can change it: the inputs, and fingerprints of
this code, of pandoc and of the PDF renderer (see key()). Values are stored with a checksum of
their key and bytes, so a damaged, truncated or foreign entry is noticed, dropped and computed
again (with a warning), never used. The store is SQLite in WAL mode, so builds running at once
share it safely; past the size cap, the least recently used entries go. When each entry was last
used is kept apart from its value (SQLite rewrites a whole row on update, blob included), and a
build records what it used as one row of a log, folded into the entries' uses only when the
store is over its cap or the log grows long: a rebuild reads thousands of entries, and marking
each of them one by one cost 0.07 s of every rebuild, and as much again in writing the pages.

Where it lives: $EXPORTER_CACHE_DIR, else $XDG_CACHE_HOME/exporter, else ~/.cache/exporter.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path

DEFAULT_CAP = 1 << 30  # bytes
MAGIC = b"exporter-cache-2\0"
SEALED = re.compile(rb"exporter-cache-(\d+)\0")  # how every version of the seal starts
DIGEST = 4  # a CRC-32: it is damage the check is for, and it reads 4x faster than a hash
BATCH = 500  # keys per SQL statement (SQLite allows 999 parameters at least)
LOG = 32  # builds whose uses are logged before they are folded into the entries' last uses


def folder() -> Path:
    if env := os.environ.get("EXPORTER_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "exporter"


def key(*parts: bytes | str) -> str:
    """A key from parts, each length-prefixed so that no two lists of parts share one."""
    h = hashlib.blake2b(digest_size=24)
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


@cache
def code() -> str:
    """This code, as it is on disk: a change to any module (or translation) changes every key."""
    root = Path(__file__).resolve().parent
    h = hashlib.blake2b(digest_size=16)
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.lua"), *root.rglob("*.po")]):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _check(k: str, payload: bytes | memoryview) -> bytes:
    """A checksum of the key and the payload: an entry moved under another key fails it too."""
    return zlib.crc32(payload, zlib.crc32(k.encode())).to_bytes(DIGEST, "little")


def _seal(k: str, payload: bytes) -> bytes:
    return MAGIC + _check(k, payload) + payload


def _open(k: str, value: bytes) -> bytes | None:
    head = len(MAGIC) + DIGEST
    if len(value) < head or not value.startswith(MAGIC):
        return None
    payload = memoryview(value)[head:]  # no copy until it is found intact
    return bytes(payload) if _check(k, payload) == value[len(MAGIC):head] else None


def _schema(db: sqlite3.Connection) -> None:
    """Values in `entries`, size and last use in `uses`, what later builds used in `log` (one
    row a build); a store of the first layout, which kept them in one row, starts again empty."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if "used" in [row[1] for row in db.execute("PRAGMA table_info(entries)")]:
            db.execute("DROP TABLE entries")
        db.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS uses (key TEXT PRIMARY KEY, size INTEGER NOT NULL, "
                   "used INTEGER NOT NULL) WITHOUT ROWID")
        db.execute("CREATE INDEX IF NOT EXISTS by_use ON uses (used)")
        db.execute("CREATE TABLE IF NOT EXISTS log (build INTEGER PRIMARY KEY, used INTEGER NOT NULL, "
                   "keys BLOB NOT NULL)")
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.DatabaseError):
            db.execute("ROLLBACK")
        raise


# SQLite's primary result codes for a database that cannot be used now but is not damaged:
# PERM, BUSY, LOCKED, NOMEM, READONLY, INTERRUPT, IOERR, FULL, CANTOPEN, PROTOCOL, AUTH.
# A cache busy for over a minute, on a full disk or owned by another user was taken for a
# damaged one and deleted (under the build that held it, or another user's).
BUSY_SECONDS = 60.0  # how long a build waits for another that holds the cache
NOT_DAMAGE = frozenset({3, 5, 6, 7, 8, 9, 10, 13, 14, 15, 23})


def _damaged(e: Exception) -> bool:
    """Is e a damaged or foreign database (which a new one may replace), rather than one that
    cannot be used now?"""
    code = getattr(e, "sqlite_errorcode", None)
    return isinstance(e, sqlite3.DatabaseError) and (code is None or code & 0xFF not in NOT_DAMAGE)


class Cache:
    """get_many / put_many of bytes by key; `warnings` says what was found damaged."""

    def __init__(self, where: Path | None, cap: int = DEFAULT_CAP) -> None:
        self.where = where
        self.cap = cap
        self.warnings: list[str] = []
        self._db: sqlite3.Connection | None = None
        self._used: set[str] = set()
        self.hits = self.misses = 0

    def undecoded(self) -> None:
        """An entry read back that did not decode: what it held is computed again."""
        self.warnings.append("a cache entry that did not decode was computed again")

    @classmethod
    def off(cls) -> Cache:
        return cls(None)

    @property
    def enabled(self) -> bool:
        return self.where is not None

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is not None or self.where is None:
            return self._db
        path = self.where / "cache.sqlite"
        for attempt in (1, 2):
            try:
                self.where.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                _schema(db)
                db.execute("SELECT count(*) FROM entries").fetchone()
                self._db = db
                return db
            except (sqlite3.DatabaseError, OSError) as e:
                # a folder that is a file, on a read-only disk, a database that is a folder, busy
                # past the timeout, a full disk, another user's: said, and left as it is
                if attempt == 2 or not _damaged(e) or not self._dropped(path, e):
                    self._unusable(e)
                    return None
        return None

    def _dropped(self, path: Path, why: Exception) -> bool:
        """A damaged database and its journals removed, to start a new one; False if they cannot be."""
        self.warnings.append(f"cache {path} was damaged ({why}); starting a new one")
        try:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        except OSError:
            return False
        return True

    def _unusable(self, why: Exception) -> None:
        self.warnings.append(f"cache {self.where} cannot be used ({why}); building without it")
        self.where = None

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The payloads found intact; a damaged entry is removed and reported."""
        db = self._connect()
        if db is None or not keys:
            self.misses += len(keys)
            return {}
        found: dict[str, bytes] = {}
        damaged: list[str] = []
        stale: list[str] = []
        unique = list(dict.fromkeys(keys))
        try:
            for i in range(0, len(unique), BATCH):
                chunk = unique[i:i + BATCH]
                marks = ",".join("?" * len(chunk))
                for k, value in db.execute(f"SELECT key, value FROM entries WHERE key IN ({marks})", chunk):
                    payload = _open(k, value) if isinstance(value, bytes) else None
                    if payload is not None:
                        found[k] = payload
                    elif isinstance(value, bytes) and (seal := SEALED.match(value)) and seal[0] != MAGIC:
                        stale.append(k)  # sealed by another version of this cache: not damage
                    else:
                        damaged.append(k)
            if stale:
                self._delete(stale)
            if damaged:
                self.warnings.append(f"{len(damaged)} damaged cache entr{'y' if len(damaged) == 1 else 'ies'} "
                                     "dropped and computed again")
                self._delete(damaged)
        except sqlite3.DatabaseError as e:
            self.warnings.append(f"cache {self.where} could not be read ({e}); computed again")
            return {}
        self._used.update(found)
        self.hits += len(found)
        self.misses += len(unique) - len(found)
        return found

    def get(self, k: str) -> bytes | None:
        return self.get_many([k]).get(k)

    def touch(self, keys: Iterable[str]) -> None:
        """Mark entries used without reading them (one read with another, kept as long as it)."""
        if self._connect() is not None:
            self._used.update(keys)

    def put_many(self, items: Mapping[str, bytes]) -> None:
        db = self._connect()
        if db is None or not items:
            return
        now = time.time_ns()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)",
                           [(k, _seal(k, v)) for k, v in items.items()])
            db.executemany("INSERT OR REPLACE INTO uses (key, size, used) VALUES (?, ?, ?)",
                           [(k, len(v), now) for k, v in items.items()])
            db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            self._rollback(db)
            self.warnings.append(f"cache {self.where} could not be written ({e})")

    def put(self, k: str, value: bytes) -> None:
        self.put_many({k: value})

    def _delete(self, keys: Iterable[str]) -> None:
        db = self._db
        if db is None:
            return
        keys = list(keys)
        for i in range(0, len(keys), BATCH):
            chunk = keys[i:i + BATCH]
            marks = ",".join("?" * len(chunk))
            db.execute(f"DELETE FROM entries WHERE key IN ({marks})", chunk)
            db.execute(f"DELETE FROM uses WHERE key IN ({marks})", chunk)

    @staticmethod
    def _rollback(db: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.DatabaseError):  # nothing was begun
            db.execute("ROLLBACK")

    def close(self) -> None:
        """Log what this build used, then keep the store under its cap."""
        db = self._db
        if db is None:
            return
        try:
            db.execute("BEGIN IMMEDIATE")
            if self._used:
                db.execute("INSERT INTO log (used, keys) VALUES (?, ?)",
                           (time.time_ns(), "\n".join(sorted(self._used)).encode()))
            total = db.execute("SELECT coalesce(sum(size), 0) FROM uses").fetchone()[0]
            if total > self.cap or db.execute("SELECT count(*) FROM log").fetchone()[0] > LOG:
                self._fold(db)
            if total > self.cap:  # least recently used out, until the rest fits
                out: list[str] = []
                for k, size in db.execute("SELECT key, size FROM uses ORDER BY used, key"):
                    if total <= self.cap:
                        break
                    out.append(k)
                    total -= size
                self._delete(out)
            db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            self._rollback(db)
            self.warnings.append(f"cache {self.where} could not be updated ({e})")
        finally:
            db.close()
            self._db = None
            self._used.clear()

    @staticmethod
    def _fold(db: sqlite3.Connection) -> None:
        """The log's uses into the entries' last uses (each key marked once, with its latest)."""
        latest: dict[str, int] = {}
        for used, keys in db.execute("SELECT used, keys FROM log ORDER BY build DESC"):
            for k in bytes(keys).decode().split("\n"):
                latest.setdefault(k, used)
        by_time: dict[int, list[str]] = {}
        for k, used in latest.items():
            by_time.setdefault(used, []).append(k)
        for used, keys in by_time.items():
            for i in range(0, len(keys), BATCH):
                chunk = keys[i:i + BATCH]
                db.execute(f"UPDATE uses SET used = max(used, ?) WHERE key IN ({','.join('?' * len(chunk))})",
                           [used, *chunk])
        db.execute("DELETE FROM log")

    def info(self) -> tuple[int, int]:
        """(entries, bytes of their values)."""
        db = self._connect()
        if db is None:
            return 0, 0
        n, size = db.execute("SELECT count(*), coalesce(sum(size), 0) FROM uses").fetchone()
        return int(n), int(size)

    def clear(self) -> None:
        db = self._connect()
        if db is not None:
            db.execute("DELETE FROM entries")
            db.execute("DELETE FROM uses")
            db.execute("DELETE FROM log")
            db.execute("VACUUM")
