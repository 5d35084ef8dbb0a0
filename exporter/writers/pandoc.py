"""The one caller of pandoc: many notes per process, a process per core at most.

Notes are parsed by a Lua reader that runs ``pandoc.read`` on each note separately (so
one note's unclosed fence cannot swallow the next), and written as one document split at
markers, so a whole vault costs a handful of processes whatever its size.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib.resources import files
from typing import Any

import orjson
import pypandoc

from exporter.model.document import Block

API_VERSION = [1, 23, 1, 1]
CHUNK_BYTES = 256 * 1024  # below this a second process costs more than it saves


class PandocError(RuntimeError):
    pass


@cache
def pandoc_path() -> str:
    return str(pypandoc.get_pandoc_path())


def _lua(name: str) -> str:
    return str(files("exporter") / "lua" / name)


def _run(args: list[str], data: bytes) -> bytes:
    proc = subprocess.run(
        [pandoc_path(), "--sandbox", *args],
        input=data,
        capture_output=True,
        env={**os.environ, "LANG": "C.UTF-8"},
        check=False,
    )
    if proc.returncode != 0:
        raise PandocError(proc.stderr.decode("utf-8", "replace").strip())
    return proc.stdout


def _chunks(sizes: Sequence[int]) -> list[range]:
    """Split item indexes into at most one contiguous chunk per core, balanced by bytes."""
    total = sum(sizes)
    n = max(1, min(os.cpu_count() or 1, total // CHUNK_BYTES, len(sizes)))
    target, start, acc = total / n, 0, 0
    out: list[range] = []
    for i, s in enumerate(sizes):
        acc += s
        if acc >= target * (len(out) + 1) and len(out) < n - 1:
            out.append(range(start, i + 1))
            start = i + 1
    out.append(range(start, len(sizes)))
    return [r for r in out if len(r)]


def _parallel(jobs: list[Any], fn: Any) -> list[Any]:
    if len(jobs) == 1:
        return [fn(jobs[0])]
    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(fn, jobs))


def parse(texts: Sequence[str]) -> list[list[Block] | str]:
    """Parse each markdown text alone; returns its blocks, or an error string."""
    chunks = _chunks([len(t) for t in texts])

    def one(r: range) -> list[list[Block] | str]:
        items = [{"id": f"n{i}", "text": texts[i]} for i in r]
        doc = orjson.loads(_run(["-f", _lua("reader.lua"), "-t", "json"], orjson.dumps(items)))
        out: list[list[Block] | str] = []
        for div in doc["blocks"]:
            (_, _, kv), blocks = div["c"]
            out.append(dict(kv).get("error", "") or blocks)
        return out

    return [x for part in _parallel(chunks, one) for x in part]


def write(docs: Sequence[list[Block]], fmt: str, extra: Sequence[str] = ()) -> list[str]:
    """Write each block list as its own document in pandoc format fmt.

    All documents go through one conversion, separated by comment markers that carry a
    per-call nonce (no note can forge one), and the output is split at the markers. Notes
    must hold no pandoc Note elements: writers settle footnotes themselves.
    """
    if not docs:
        return []
    nonce = uuid.uuid4().hex
    sizes = [len(d) for d in docs]
    chunks = _chunks([s * 400 for s in sizes]) if len(docs) > 64 else [range(len(docs))]

    def one(r: range) -> list[str]:
        blocks: list[Block] = []
        for i in r:
            blocks.append({"t": "RawBlock", "c": ["html", f"<!--{nonce}-{i}-->"]})
            blocks.extend(docs[i])
        doc = {"pandoc-api-version": API_VERSION, "meta": {}, "blocks": blocks}
        args = ["-f", "json", "-t", fmt, "--wrap=none", *extra]
        out = _run(args, orjson.dumps(doc)).decode("utf-8")
        parts = re.split(rf"<!--{nonce}-\d+-->\n?", out)
        if len(parts) != len(r) + 1:
            raise PandocError("pandoc output lost a note separator")
        return [p.strip("\n") + "\n" if p.strip() else "" for p in parts[1:]]

    return [x for part in _parallel(chunks, one) for x in part]
