"""The one caller of pandoc: many notes per process, a process per core at most.

Notes are parsed by a Lua reader that runs ``pandoc.read`` on each note separately (so
one note's unclosed fence cannot swallow the next), and written as one document split at
markers, so a whole vault costs a handful of processes whatever its size.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib.resources import files
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from exporter import cache as store
from exporter.cache import Cache
from exporter.model import ast
from exporter.model.document import Block

API_VERSION = [1, 23, 1, 1]
CHUNK_BYTES = 256 * 1024  # below this a second process costs more than it saves
# Above this a chunk is cut again: its parse is held whole in memory (about 70x its markdown as
# Python objects) until its notes are taken one by one.
PARSE_MAX_BYTES = 256 * 1024
# The first chunk is cut short, to about this: the caller works on each note as it comes (in
# Python, most of a parse's time), and would otherwise wait for a whole chunk before the first.
FIRST_BYTES = 8 * 1024
JSON_DEPTH = 1024  # the deepest JSON orjson.loads decodes
NOTE_AT = 4  # JSON levels above a note's blocks in the reader's output: document, blocks, Div, content
TOO_DEEP = "lists, quotes or emphasis nested too deeply to export"
# Every pandoc run is on a budget: a few KB of brackets can keep pandoc busy for minutes.
# A note may take SECONDS plus SECONDS_PER_MB of its size to parse (real notes take a
# hundredth of that); a write call, the same for its JSON; pandoc's heap is capped at HEAP.
SECONDS = 10.0
SECONDS_PER_MB = 10.0
HEAP = "1g"
OVER = "over-budget: "  # starts the error of a note that ran past its budget
PROGRESS = b"@@"  # the Lua reader's line on stderr as it starts each note
LABEL_MARKUP_LUA = "%[%[[^%]\\n]*|[^%]\\n]*[%*`~=%$<]"  # reader.lua's, checked against it (_reader)
LABEL_MARKUP = re.compile(r"\[\[[^\]\n]*\|[^\]\n]*[*`~=$<]")  # the same, in Python
# Where a raw HTML block may start (in more places than it can): a line opening with a tag after
# any quote or list markers, or a raw block of the raw_attribute kind. reader.lua reads such a
# block again as HTML when it holds a stamp.
RAW_HTML = re.compile(r"^[ \t>*+\-\d.)]*<|=html", re.M)
STAMP = "yt-timestamp"


class PandocError(RuntimeError):
    pass


class Overrun(PandocError):
    """pandoc ran past its time or memory budget while on note `at` (None: not known)."""

    def __init__(self, why: str, at: str | None) -> None:
        super().__init__(why)
        self.why, self.at = why, at


@cache
def pandoc_path() -> str:
    """The pandoc pypandoc-binary ships, found without importing pypandoc (it imports urllib
    and email for its downloader: 0.08 s of every command), whose get_pandoc_path would also
    run every pandoc it finds (on PATH, in ~/bin...) and take the newest, not the one shipped.
    PYPANDOC_PANDOC, when set, is asked of pypandoc, which honours it."""
    if not os.environ.get("PYPANDOC_PANDOC"):
        spec = importlib.util.find_spec("pypandoc")
        for folder in (spec.submodule_search_locations or []) if spec else []:
            shipped = Path(folder) / "files" / ("pandoc.exe" if os.name == "nt" else "pandoc")
            if shipped.is_file() and os.access(shipped, os.X_OK):
                return str(shipped)
    import pypandoc

    return str(pypandoc.get_pandoc_path())


@cache
def fingerprint() -> str:
    """Which pandoc this is, for cache keys: its file, size and date (no process started)."""
    st = os.stat(pandoc_path())
    return f"{pandoc_path()}:{st.st_size}:{st.st_mtime_ns}"


def _lua(name: str) -> str:
    return str(files("exporter") / "lua" / name)


@cache
def _nice() -> list[str]:
    """pandoc runs a notch below us, so the Python stage feeding or draining it never starves."""
    nice = shutil.which("nice")
    return [nice, "-n", "5"] if nice else []


def allowance(size: int) -> float:
    """Seconds pandoc may spend on size bytes of input."""
    return SECONDS + SECONDS_PER_MB * size / 1e6


def _run(args: list[str], data: bytes, sizes: dict[str, int] | None = None) -> bytes:
    """Run pandoc on data. Without sizes the whole run gets allowance(len(data)); with sizes
    (note id -> bytes), each progress line the reader writes opens allowance(size) for that
    note. Past a budget, or out of heap, pandoc is stopped and Overrun names the note."""
    proc = subprocess.Popen(
        [*_nice(), pandoc_path(), "+RTS", f"-M{HEAP}", "-RTS", "--sandbox", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "LANG": "C.UTF-8"},
    )
    assert proc.stdin and proc.stdout and proc.stderr
    out: list[bytes] = []
    lines: queue.Queue[bytes | None] = queue.Queue()

    def feed() -> None:
        try:
            proc.stdin.write(data)  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
        except OSError:  # pandoc stopped early; its exit status says why
            pass

    def listen() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.put(line)
        lines.put(None)

    workers = [threading.Thread(target=f, daemon=True)
               for f in (feed, lambda: out.append(proc.stdout.read()), listen)]
    for w in workers:
        w.start()
    at: str | None = None
    last = next(reversed(sizes)) if sizes else None  # after it, pandoc writes the whole output
    allowed = allowance(len(data))
    until = time.monotonic() + allowed
    errors: list[bytes] = []
    try:
        while (line := lines.get(timeout=max(0.0, until - time.monotonic()))) is not None:
            if sizes is not None and line.startswith(PROGRESS):
                at = line[len(PROGRESS):].strip().decode()
                allowed = allowance(sizes.get(at, len(data)) + (len(data) if at == last else 0))
                until = time.monotonic() + allowed
            else:
                errors.append(line)
        proc.wait(timeout=max(0.0, until - time.monotonic()))
    except (queue.Empty, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()
        raise Overrun(f"took over {allowed:.0f} s to convert", at) from None
    finally:
        for w in workers:
            w.join(timeout=5)
    message = b"".join(errors).decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        if "Heap exhausted" in message:
            raise Overrun(f"needed more than {HEAP}B of memory to convert", at)
        raise PandocError(message)
    return out[0] if out else b""


def _chunks(sizes: Sequence[int], per_core: int = 1, most: int | None = None) -> list[range]:
    """Contiguous chunks balanced by size: one per core, or more so work can overlap; none
    over most bytes (unless a text alone is)."""
    total = sum(sizes)
    n = max(1, min((os.cpu_count() or 1) * per_core, total // CHUNK_BYTES, len(sizes)))
    if most:
        n = max(n, min(-(-total // most), len(sizes)))
    target, start, acc = total / n, 0, 0
    out: list[range] = []
    for i, s in enumerate(sizes):
        acc += s
        if acc >= target * (len(out) + 1) and len(out) < n - 1:
            out.append(range(start, i + 1))
            start = i + 1
    out.append(range(start, len(sizes)))
    return [r for r in out if len(r)]


def _first_cut(sizes: Sequence[int], chunks: list[range]) -> list[range]:
    """chunks, the first cut after its first notes of about FIRST_BYTES (one note at least),
    when it is several times that: a short first chunk is soon there anyway."""
    if not chunks or len(chunks[0]) < 2 or sum(sizes[i] for i in chunks[0]) <= 4 * FIRST_BYTES:
        return chunks
    head, acc = chunks[0], 0
    for cut in head[:-1]:
        acc += sizes[cut]
        if acc >= FIRST_BYTES:
            break
    return [range(head.start, cut + 1), range(cut + 1, head.stop), *chunks[1:]]


def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(os.cpu_count() or 1)


Parsed = list[Block] | str


def parse(
    texts: Sequence[str],
    each: Callable[[int, Parsed], None] | None = None,
    max_depth: int = JSON_DEPTH - NOTE_AT,
) -> list[Parsed]:
    """Parse each markdown text alone; returns its blocks, or an error string (given each, it
    takes them instead, and nothing is returned).

    each(i, result) is called in the caller's thread, in input order, as chunks arrive, so
    per-note work overlaps with pandoc still parsing later chunks. Blocks nesting deeper than
    max_depth (ast.depth) are an error starting with TOO_DEEP: later stages could not take them.
    """
    sizes = [len(t) for t in texts]
    chunks = iter(_first_cut(sizes, _chunks(sizes, per_core=2, most=PARSE_MAX_BYTES)))
    results: list[Parsed] = []
    with _pool() as pool:
        ahead = os.cpu_count() or 1  # chunks parsed ahead of the caller: memory stays bounded
        pending = deque((r, pool.submit(_parse_chunk, texts, r, max_depth)) for r in islice(chunks, ahead))
        while pending:
            r, fut = pending.popleft()
            done = fut.result()
            pending.extend((r, pool.submit(_parse_chunk, texts, r, max_depth)) for r in islice(chunks, 1))
            for i, x in zip(r, done, strict=True):
                if each:
                    each(i, x)  # the caller keeps what it needs: results are not held here
                else:
                    results.append(x)
    return results


@cache
def _reader() -> str:
    """The format reader.lua parses a note in, read from the script itself, which is checked
    to parse again the wikilink labels that LABEL_MARKUP finds (its Lua pattern, LABEL_MARKUP_LUA)."""
    lua = Path(_lua("reader.lua")).read_text("utf-8")
    fmt = re.search(r"^local FORMAT = '([^']+)'", lua, re.M)
    label = re.search(r"^local LABEL_MARKUP = '([^']+)'", lua, re.M)
    if fmt is None or label is None or label[1] != LABEL_MARKUP_LUA:
        raise PandocError("reader.lua does not say its format as expected")
    return fmt[1]


def _read_one(text: str, ident: str) -> bytes | None:
    """One note parsed by pandoc's own reader, in the shape reader.lua gives it (a Div with the
    note's id around its blocks), without the Lua interpreter's start (30 ms of the 60 a
    rebuild's one parse took); None where only the script reads it right (a wikilink label
    with markup, a stamp in a raw HTML block) or pandoc fails, which the script reports its own way."""
    fmt = _reader()
    if LABEL_MARKUP.search(text) or (STAMP in text and RAW_HTML.search(text)):
        return None
    # reader.lua reads the text ending in one newline; pandoc's command line adds one itself
    data = (text[:-1] if text.endswith("\n") else text).encode()
    try:
        out = _run(["-f", fmt, "--preserve-tabs", "-t", "json"], data)
    except Overrun:
        raise  # past its budget: reported as the script's run would be
    except PandocError:
        return None
    at = out.find(b',"blocks":')
    if not out.startswith(b'{"pandoc-api-version":') or at < 0 or not out.rstrip().endswith(b"}"):
        return None
    blocks = out[at + len(b',"blocks":'):out.rstrip().rfind(b"}")]
    div = b'{"t":"Div","c":[[' + orjson.dumps(ident) + b',["note"],[]],' + blocks + b"]}"
    return out[:at] + b',"blocks":[' + div + b"]}"


def _parse_chunk(texts: Sequence[str], r: range, max_depth: int) -> list[Parsed]:
    """Parse texts[r] in one pandoc run; on output orjson will not decode, again in halves.

    orjson refuses JSON deeper than JSON_DEPTH, so the output is decoded inside enough extra
    brackets that it refuses exactly the chunks holding a note deeper than max_depth: the
    depth check costs nothing, and halving leaves only the deep notes as errors. A note that
    runs past its budget is an error too, and the others are parsed again without it.
    """
    if not len(r):
        return []
    items = [{"id": f"n{i}", "text": texts[i]} for i in r]
    sizes = {f"n{i}": len(texts[i].encode()) for i in r}
    try:
        out = (len(r) == 1 and _read_one(texts[r.start], f"n{r.start}")) or \
            _run(["-f", _lua("reader.lua"), "-t", "json"], orjson.dumps(items), sizes)
    except Overrun as e:
        bad = int(e.at[1:]) if e.at else None
        if bad is None or bad not in r:  # not inside a note: halve until it is
            if len(r) == 1:
                return [f"{OVER}pandoc {e.why}"]
            half = len(r) // 2
            return _parse_chunk(texts, r[:half], max_depth) + _parse_chunk(texts, r[half:], max_depth)
        k = bad - r.start
        return (_parse_chunk(texts, r[:k], max_depth) + [f"{OVER}pandoc {e.why}"]
                + _parse_chunk(texts, r[k + 1:], max_depth))
    pad = max(0, JSON_DEPTH - NOTE_AT - max_depth)
    try:
        doc = orjson.loads(b"[" * pad + out + b"]" * pad)
    except orjson.JSONDecodeError as e:
        if len(r) > 1:
            half = len(r) // 2
            return _parse_chunk(texts, r[:half], max_depth) + _parse_chunk(texts, r[half:], max_depth)
        if "depth" in str(e):
            return [f"{TOO_DEEP} (over {min(max_depth, JSON_DEPTH - NOTE_AT)} levels)"]
        return [f"pandoc's output cannot be decoded: {e}"]
    for _ in range(pad):
        doc = doc[0]
    parsed: list[Parsed] = []
    for div in doc["blocks"]:
        (_, _, kv), blocks = div["c"]
        parsed.append(dict(kv).get("error", "") or blocks)
    return parsed


# Words pandoc's markdown writers never escape, wherever they stand: a word that starts with a
# letter (never line-start syntax), a number that cannot be an ordered list marker ("1." or
# "1)"), or a lone mark of punctuation. "a." and "iv." could be list markers too: not plain.
PLAIN_WORD = re.compile(
    r"(?![^\W\d_]\.$|(?i:[ivxlcdm]+)\.$)[^\W\d_][^\W_]*(?:['’-][^\W_]+)*[,.;:?!”’]?"
    r"|\d+(?:[:.,]\d+)*[,;:?]?"
    r"|[.,;:?!]"
)
_PLAIN: dict[str, bool] = {}  # a vault's vocabulary repeats: remembering beats matching


def plain_word(w: str) -> bool:
    known = _PLAIN.get(w)
    if known is None:
        if len(_PLAIN) > 200_000:
            _PLAIN.clear()
        known = _PLAIN[w] = PLAIN_WORD.fullmatch(w) is not None
    return known


def _runs(xs: list[Any], plain: Callable[[str], bool] | None) -> list[Any]:
    """Each "word space word ..." run as one Str: pandoc writes it the same, with fewer nodes to
    decode. Only single spaces between two words join (pandoc trims spaces at line ends), and
    for markup formats only plain words (pandoc escapes markup by what surrounds it)."""
    out: list[Any] = []
    start = -1  # where the current run of words began in out

    def close() -> None:
        end = len(out) if out[-1]["t"] == "Str" else len(out) - 1  # a space after stays
        if end - start > 1:
            out[start:end] = [{"t": "Str", "c": "".join([n["c"] if n["t"] == "Str" else " " for n in out[start:end]])}]

    for x in xs:
        t = x["t"]
        if t == "Str" and (plain is None or plain(x["c"])):
            if start >= 0 and out[-1]["t"] == "Str":  # two words side by side: a new run
                close()
                start = -1
            if start < 0:
                start = len(out)
        elif start >= 0 and not ((t == "Space" or t == "SoftBreak") and out[-1]["t"] == "Str"):
            close()
            start = -1
        out.append(x)
    if start >= 0:
        close()
    return out


def write(docs: Iterable[list[Block]], fmt: str, extra: Sequence[str] = (), chunk: int = 0,
          failed: dict[int, str] | None = None, cache: Cache | None = None) -> list[str]:
    """Write each block list as its own document in pandoc format fmt.

    Documents go through a few conversions, separated by comment markers that carry a
    per-call nonce (no note can forge one), and each output is split at the markers. docs
    may be a generator: a chunk is sent to pandoc as soon as it is ready, so preparing the
    next chunk overlaps with pandoc writing this one. Notes must hold no pandoc Note
    elements: writers settle footnotes themselves.

    Output is unwrapped, so spaces and soft breaks write as " " and each run of words can
    go as one Str: pandoc's JSON decoding costs per node, and this more than halves it.

    A document's output depends on its JSON, the format and this pandoc alone, so the cache
    keeps it under a hash of those: only documents that changed go to pandoc.

    A batch that runs past its budget is written again in halves; a document that still
    does is written as "" and failed[index] says why (without `failed`, Overrun is raised).
    """
    nonce = uuid.uuid4().hex
    plain = None if fmt.startswith("html") else plain_word
    cache = cache or Cache.off()

    def runs(xs: list[Any]) -> list[Any]:
        return _runs(xs, plain)

    args = ["-f", "json", "-t", fmt, "--wrap=none", *extra]
    salt = store.key("write", store.code(), fingerprint(), *args)
    size = chunk or 64

    def one(batch: list[tuple[int, bytes]]) -> list[tuple[int, str]]:
        """(index, the document's blocks as JSON) -> (index, output), in one pandoc run."""
        parts = []
        for i, data in batch:
            parts.append(orjson.dumps({"t": "RawBlock", "c": ["html", f"<!--{nonce}-{i}-->"]}))
            if len(data) > 2:  # "[]" holds nothing
                parts.append(data[1:-1])
        doc = b'{"pandoc-api-version":' + orjson.dumps(API_VERSION) + b',"meta":{},"blocks":[' + \
            b",".join(parts) + b"]}"
        try:
            out = _run(args, doc).decode("utf-8")
        except Overrun as e:
            if failed is None:
                raise
            if len(batch) == 1:
                failed[batch[0][0]] = e.why
                return [(batch[0][0], "")]
            half = len(batch) // 2
            return one(batch[:half]) + one(batch[half:])
        texts = re.split(rf"<!--{nonce}-\d+-->\n?", out)
        if len(texts) != len(batch) + 1:
            raise PandocError("pandoc output lost a note separator")
        return [(i, t.strip("\n") + "\n" if t.strip() else "") for (i, _), t in zip(batch, texts[1:], strict=True)]

    results: dict[int, str] = {}
    keys: dict[int, str] = {}
    futures = []

    def send(batch: list[tuple[int, bytes]]) -> None:
        found = cache.get_many([keys[i] for i, _ in batch])
        for i, _ in batch:
            if keys[i] in found:
                results[i] = found[keys[i]].decode("utf-8")
        misses = [(i, data) for i, data in batch if keys[i] not in found]
        if misses:
            futures.append(pool.submit(one, misses))

    with _pool() as pool:
        batch: list[tuple[int, bytes]] = []
        count = 0
        for d in docs:
            data = orjson.dumps(ast.map_inlines(d, runs))
            keys[count] = store.key(salt, data) if cache.enabled else ""
            batch.append((count, data))
            count += 1
            if len(batch) >= size:
                send(batch)
                batch = []
        if batch:
            send(batch)
        made: dict[str, bytes] = {}
        for fut in futures:
            for i, text in fut.result():
                results[i] = text
                if cache.enabled and (failed is None or i not in failed):
                    made[keys[i]] = text.encode("utf-8")
    cache.put_many(made)
    return [results[i] for i in range(count)]


def notice(why: str) -> str:
    """What stands in a product for a note body pandoc could not write within its budget."""
    return f"This note could not be converted (pandoc {why}); it is left out."


def chunk_size(n: int) -> int:
    """Notes per write batch: a few batches per core for big vaults, one for small ones."""
    cores = os.cpu_count() or 1
    return max(64, -(-n // (cores * 3)))
