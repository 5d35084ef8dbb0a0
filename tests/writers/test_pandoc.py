"""The pandoc bridge: notes parsed alone but in batches, written in batches, split back exactly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.model.ast import depth, iter_nodes, stringify
from exporter.writers import markdown, pandoc


def test_an_unclosed_fence_cannot_swallow_the_next_note() -> None:
    first, second = pandoc.parse(["```\nnever closed [[x]]\n", "# Next\n\n[[link]] text\n"])
    assert not isinstance(first, str) and not isinstance(second, str)
    assert [b["t"] for b in first] == ["CodeBlock"]
    assert iter_nodes(second, "Header") and iter_nodes(second, "Link")


def test_many_notes_cost_a_handful_of_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    real = pandoc._run

    def counting(args: list[str], data: bytes, *more: Any) -> bytes:
        calls.append(args)
        return real(args, data, *more)

    monkeypatch.setattr(pandoc, "_run", counting)
    texts = [f"## Note {i}\n\n" + "word " * 600 + f"[[n{i}]]\n" for i in range(400)]
    parsed = pandoc.parse(texts)
    assert len(parsed) == 400 and len(calls) <= 2 * 4  # chunks, never one per note
    calls.clear()
    docs = [p for p in parsed if not isinstance(p, str)]
    out = pandoc.write(docs, "commonmark", chunk=pandoc.chunk_size(len(docs)))
    assert len(out) == 400 and len(calls) <= 8
    assert all(o.startswith(f"## Note {i}\n") for i, o in enumerate(out))


def test_a_note_cannot_forge_the_split_marker() -> None:
    docs = pandoc.parse(["<!--0-1-->\n\ntext one\n", "```\n<!--x-->\n```\n"])
    out = pandoc.write([d for d in docs if not isinstance(d, str)], "commonmark")
    assert len(out) == 2 and "text one" in out[0] and "<!--x-->" in out[1]
    assert stringify(docs[0]) == "text one"


def test_a_note_too_deep_for_orjson_to_decode_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """orjson decodes at most 1024 levels: the chunk is parsed again in halves, not lost."""
    runs: list[int] = []
    real = pandoc._run

    def counting(args: list[str], data: bytes, *more: Any) -> bytes:
        runs.append(len(orjson.loads(data)) if args[1].endswith("reader.lua") else 1)  # else one note's markdown
        return real(args, data, *more)

    monkeypatch.setattr(pandoc, "_run", counting)
    texts = [f"note {i} [[x]]\n" for i in range(7)]
    texts[3] = ">" * 600 + " deep\n"  # 1200 levels of JSON
    parsed = pandoc.parse(texts)
    assert parsed[3] == f"{pandoc.TOO_DEEP} (over 1020 levels)"
    others = [stringify(p) for i, p in enumerate(parsed) if i != 3]
    assert others == [f"note {i} x" for i in (0, 1, 2, 4, 5, 6)]
    assert len(runs) <= 1 + 2 * 3  # one run, then halves down to the bad note


def test_max_depth_refuses_exactly_the_notes_nested_deeper() -> None:
    nested = "".join("  " * i + f"- item {i}\n" for i in range(20)) + "\n" + ">" * 7 + " *quote*\n"
    (blocks,) = pandoc.parse([nested])
    assert not isinstance(blocks, str)
    d = depth(blocks)
    assert d == 3 * 20 + 4  # a list level is three JSON levels (node, items, item)
    fits = pandoc.parse(["fine\n", nested, "also fine\n"], max_depth=d)
    over = pandoc.parse(["fine\n", nested, "also fine\n"], max_depth=d - 1)
    assert fits[1] == blocks and over[0] == fits[0] and over[2] == fits[2]
    assert over[1] == f"{pandoc.TOO_DEEP} (over {d - 1} levels)"


TOKENS = ["word", "é", "Ωμέγα", "I", "A.", "x:", "ok?", "word,", "1", "12", "1.", "1)", "#", "-", "+"]
TOKENS += [".", ",", "!", "?", "1:05", "12.5", "2024", "don't", "well-known", "end!", "(x", "x)", "x’s", "A-"]
TOKENS += ['"q"', "1,", "a_b", "I.", "iv.", "B)", "ii)", "x.", "*", "_", "`", "[", "]", "<b>", ">", "!", "|", "\\", "&", ":", "~", "=", "$", "\u00a0", "e.g."]


@st.composite
def _inlines(draw: st.DrawFn) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for kind, token in draw(
        st.lists(
            st.tuples(
                st.sampled_from(["Str", "Str", "Space", "SoftBreak", "LineBreak", "Emph"]),
                st.sampled_from(TOKENS),
            ),
            max_size=14,
        )
    ):
        if kind == "Str":
            out.append({"t": "Str", "c": token})
        elif kind == "Emph":
            out.append({"t": "Emph", "c": [{"t": "Str", "c": token}, {"t": "Space"}, {"t": "Str", "c": "x"}]})
        else:
            out.append({"t": kind})
    return out


def _unmerged(docs: list[list[dict[str, object]]], fmt: str) -> list[str]:
    """What pandoc writes for the documents exactly as given, each word its own Str."""
    blocks: list[object] = []
    for k, d in enumerate(docs):
        blocks += [{"t": "RawBlock", "c": ["html", f"<!--sep-{k}-->"]}, *d]
    doc = {"pandoc-api-version": pandoc.API_VERSION, "meta": {}, "blocks": blocks}
    out = pandoc._run(["-f", "json", "-t", fmt, "--wrap=none"], orjson.dumps(doc)).decode()
    return [p.strip("\n") for p in re.split(r"<!--sep-\d+-->\n?", out)[1:]]


@settings(max_examples=15, deadline=None)
@given(st.lists(_inlines(), min_size=1, max_size=30))
def test_words_sent_as_one_str_write_exactly_as_before(paras: list[list[dict[str, object]]]) -> None:
    docs = [[{"t": "Para", "c": p}, {"t": "Header", "c": [2, ["", [], []], p]}] for p in paras]
    for fmt in (markdown.FORMAT, "html5"):
        assert [m.strip("\n") for m in pandoc.write(docs, fmt)] == _unmerged(docs, fmt)


def test_a_note_past_its_parse_budget_is_an_error_and_its_neighbours_parse(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """15,000 nested brackets keep pandoc busy for about 15 s (quadratic); the budget stops it
    and the chunk is parsed again without that note."""
    monkeypatch.setattr(pandoc, "SECONDS", 1.0)
    texts = ["first [[a]] note\n", "[" * 15_000 + "x" + "]" * 15_000 + "\n", "third note\n"]
    first, slow, third = pandoc.parse(texts)
    assert isinstance(slow, str) and slow.startswith(pandoc.OVER) and "to convert" in slow
    assert stringify(first) == "first a note" and stringify(third) == "third note"


def test_a_document_past_its_write_budget_is_named_and_the_others_are_written(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch that runs over is written again in halves until the one document is alone."""
    real = pandoc._run
    calls: list[int] = []

    def poisoned(args: list[str], data: bytes, *more: Any) -> bytes:
        if args[:2] != ["-f", "json"]:  # parsing: untouched
            return real(args, data, *more)
        calls.append(data.count(b"<!--"))
        if b"POISON" in data:
            raise pandoc.Overrun("took over 1 s to convert", None)
        return real(args, data, *more)

    monkeypatch.setattr(pandoc, "_run", poisoned)
    docs = pandoc.parse([f"note {i}\n" for i in range(5)] + ["POISON\n"] + [f"late {i}\n" for i in range(2)])
    failed: dict[int, str] = {}
    out = pandoc.write([d for d in docs if not isinstance(d, str)], "commonmark", failed=failed)
    assert failed == {5: "took over 1 s to convert"}
    assert out[5] == "" and out[:5] == [f"note {i}\n" for i in range(5)] and out[6] == "late 0\n"
    assert len(calls) <= 2 * 3 + 1  # halving: a few calls, not one per document
    with pytest.raises(pandoc.Overrun):
        pandoc.write([d for d in docs if not isinstance(d, str)], "commonmark")


def test_pandoc_out_of_heap_names_the_note_it_was_on(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """pandoc runs with +RTS -M; past it, it says so and exits 251 (as this stand-in does, on the
    second note: a real run gets there in seconds of garbage collection)."""
    fake = tmp_path / "pandoc"
    fake.write_text("#!/bin/sh\necho '+RTS' \"$@\" > " + str(tmp_path / "args") + "\n"
                    "printf '@@n0\\n@@n1\\npandoc: Heap exhausted;\\n' >&2\nexit 251\n")
    fake.chmod(0o755)
    monkeypatch.setattr(pandoc, "pandoc_path", lambda: str(fake))
    monkeypatch.setattr(pandoc, "_parse_chunk", _only_first_run(pandoc._parse_chunk))
    first, second = pandoc.parse(["one\n", "two\n"])
    assert second == f"{pandoc.OVER}pandoc needed more than {pandoc.HEAP}B of memory to convert"
    assert f"-M{pandoc.HEAP}" in (tmp_path / "args").read_text()


def _only_first_run(real: Any) -> Any:
    """After the stand-in's first run, the other notes are parsed again: let them be."""
    runs = [0]

    def once(texts: Any, r: range, max_depth: int) -> Any:
        runs[0] += 1
        if runs[0] == 1:
            return real(texts, r, max_depth)
        return [[] for _ in r]

    return once


WHICH = "import sys; from exporter.writers import pandoc; print(pandoc.pandoc_path(), 'pypandoc' in sys.modules)"


def test_the_shipped_pandoc_is_found_without_importing_pypandoc() -> None:
    """pypandoc-binary's own pandoc, whatever else is on PATH, and pypandoc's imports spared;
    PYPANDOC_PANDOC, when set, is honoured as pypandoc honours it."""
    env = {k: v for k, v in os.environ.items() if k != "PYPANDOC_PANDOC"}
    out = subprocess.run([sys.executable, "-c", WHICH], capture_output=True, text=True, timeout=60, env=env)
    path, imported = out.stdout.strip().rsplit(" ", 1)
    assert path.endswith(os.path.join("pypandoc", "files", "pandoc")) and imported == "False", out.stderr
    chosen = subprocess.run([sys.executable, "-c", WHICH], capture_output=True, text=True, timeout=60,
                            env={**env, "PYPANDOC_PANDOC": path})
    assert chosen.stdout.strip().rsplit(" ", 1) == [path, "True"], chosen.stderr


def test_the_first_chunk_is_cut_short_so_notes_come_back_early_and_none_is_lost() -> None:
    sizes = [3000] * 200
    chunks = pandoc._first_cut(sizes, pandoc._chunks(sizes, per_core=2, most=pandoc.PARSE_MAX_BYTES))
    assert [i for r in chunks for i in r] == list(range(200))  # every note once, in order
    assert sum(sizes[i] for i in chunks[0]) <= pandoc.FIRST_BYTES + 3000 < sum(sizes[i] for i in chunks[1])
    small = [100] * 5
    assert pandoc._first_cut(small, pandoc._chunks(small, per_core=2)) == pandoc._chunks(small, per_core=2)
    assert pandoc._first_cut([pandoc.FIRST_BYTES * 9, 10], [range(0, 2)]) == [range(0, 1), range(1, 2)]
    texts = [f"## Note {i}\n\n" + "word " * 600 for i in range(12)]
    assert pandoc.parse(texts) == [pandoc.parse([t])[0] for t in texts]


PIECES = ["[[", "]]", "|", " | ", "*", "**", "_", "`", "```", "# ", "## ", "> ", "- ", "1. ", "\n", "\n\n", "\t",
          "    ", "word", "é", "中", "&amp;", "<!-- c -->", "<div>", "</div>", "<br/>", "$x^2$", "$$", "~~", "==",
          "[link](http://x.example)", "![img](a.png)", "[^1]", "[^9]: a note", "---", "\r\n", "|a|b|\n|-|-|\n|c|d|",
          '<a class="yt-timestamp" data-t="01:02:03">[01:02:03]</a>', "[[note#Head | label *em*]]", "[[a|b]]",
          "\\", "<", ">", "{.class}", ":::", "~", "^", "@cite", "http://x.example/a_b", "{=html}", "<p>", "> ", "- "]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
def test_one_note_read_without_the_script_is_read_as_the_script_reads_it(text: str) -> None:
    """(No piece defines a footnote that a piece calls: one that calls itself keeps pandoc busy
    until its budget ends it, whichever way it is read.)"""
    alone = pandoc._parse_chunk([text], range(1), pandoc.JSON_DEPTH - pandoc.NOTE_AT)  # pandoc's own reader
    with_another = pandoc._parse_chunk([text, "x\n"], range(2), pandoc.JSON_DEPTH - pandoc.NOTE_AT)  # reader.lua
    assert alone == with_another[:1]


def test_one_note_is_read_without_the_script_unless_a_label_has_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[list[str]] = []
    real = pandoc._run

    def run(args: list[str], data: bytes, sizes: dict[str, int] | None = None) -> bytes:
        runs.append(args)
        return real(args, data, sizes)

    monkeypatch.setattr(pandoc, "_run", run)
    pandoc.parse(["plain [[a | b]] note\n"])
    pandoc.parse(["a label with markup [[a | *b*]]\n"])
    pandoc.parse([f"a stamp {STAMP}\n\n<div>\nand raw HTML\n</div>\n"])
    pandoc.parse([f"> - <p>a stamp {STAMP} in raw HTML in a list in a quote</p>\n"])
    pandoc.parse([f"a stamp {STAMP}\n\n<div>\nraw HTML without one\n</div>\n"])  # read either way
    assert [any(a.endswith("reader.lua") for a in args) for args in runs] == [False, True, True, True, True]


STAMP = '<a class="yt-timestamp" data-t="00:02:00">[00:02:00]</a>'


@pytest.mark.parametrize("text", [
    f"<div class=\"tip\">\n<p>A {STAMP}.</p>\n</div>\n",
    f"- item\n\n  <p>A {STAMP}.</p>\n",
    f"```{{=html}}\n<p>A {STAMP}.</p>\n```\n",
])
def test_a_stamp_in_a_raw_html_block_is_read_as_the_text_s_stamps_are(text: str) -> None:
    (blocks,) = pandoc.parse([text])
    assert not isinstance(blocks, str)
    raws = [x["c"][1] for x in iter_nodes(blocks, "RawInline")]
    assert raws == ['<a class="yt-timestamp" data-t="00:02:00">', "</a>"]
    assert not iter_nodes(blocks, "RawBlock")
    assert pandoc.parse([text, "x\n"])[0] == blocks  # the same with another note
