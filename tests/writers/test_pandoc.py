"""The pandoc bridge: notes parsed alone but in batches, written in batches, split back exactly."""

from __future__ import annotations

import pytest

from exporter.model.ast import iter_nodes, stringify
from exporter.writers import pandoc


def test_an_unclosed_fence_cannot_swallow_the_next_note() -> None:
    first, second = pandoc.parse(["```\nnever closed [[x]]\n", "# Next\n\n[[link]] text\n"])
    assert not isinstance(first, str) and not isinstance(second, str)
    assert [b["t"] for b in first] == ["CodeBlock"]
    assert iter_nodes(second, "Header") and iter_nodes(second, "Link")


def test_many_notes_cost_a_handful_of_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    real = pandoc._run

    def counting(args: list[str], data: bytes) -> bytes:
        calls.append(args)
        return real(args, data)

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
