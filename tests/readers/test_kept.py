"""What reading makes of a file is kept by the cache under a hash of its path and bytes: what the
cache gives back must be the note reading the bytes again would give."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.readers.note import RawNote, from_bytes, packed, unpacked

CASES = {
    "plain": "---\ntitle: Lamps\nvideoId: abcdefghijk\n---\nFrom: [[sea2sky | Sea to Sky]] <br/>\n\nThe lamp.\n",
    "crlf and bom": "\ufeff---\r\ntitle: Caf\u0065\u0301\r\ndate: 2021-03-04\r\n---\r\nBody\r\nmore\r\n",
    "unclosed": "---\ntitle: Open\nbody goes on\n",
    "no frontmatter": "# Heading one\n\ntext\n",
    "body twice": "---\ntitle: x\n---\nsame\n\nsame\n",
    "empty body": "---\ntitle: Only a title\n---\n",
    "long channel": "---\ntitle: t\n---\nFrom: [[" + "c" * 150 + "]]\nBody\n",
    "nested meta": "---\ntitle: t\ntags: [a, b]\nmore: {k: [1, 2.5, true, null, 2020-01-02T03:04:05]}\n---\nx\n",
}


def _kept(rel: str, data: bytes) -> RawNote | None:
    got = from_bytes(rel, data)
    assert isinstance(got, RawNote)
    kept = packed(got)
    return None if kept is None else unpacked(rel, data, kept)


def test_a_kept_note_is_the_note_read_again() -> None:
    for name, text in CASES.items():
        data = text.encode("utf-8")
        got = from_bytes(f"{name}.md", data)
        assert _kept(f"{name}.md", data) == got, name
    assert _kept("unclosed.md", CASES["unclosed"].encode())
    assert [w.code for w in from_bytes("u.md", CASES["unclosed"].encode()).warnings] == ["unclosed-frontmatter"]  # type: ignore[union-attr]


def test_values_json_cannot_give_back_are_not_kept() -> None:
    for text in ("---\ntitle: t\nx: .nan\n---\nb\n", "---\ntitle: t\nx: 123456789012345678901234567890\n---\nb\n"):
        got = from_bytes("n.md", text.encode())
        assert isinstance(got, RawNote) and packed(got) is None


def test_a_damaged_entry_is_refused() -> None:
    for broken in (b"{}", b"[1]", b"not json"):
        try:
            unpacked("a.md", CASES["plain"].encode(), broken)
        except (ValueError, KeyError, TypeError, IndexError):
            continue
        raise AssertionError(f"{broken!r} was taken for a note")


@settings(max_examples=60, deadline=None)
@given(front=st.dictionaries(st.text("abcxyz_", min_size=1, max_size=5),
                             st.one_of(st.text(max_size=20), st.integers(), st.floats(), st.booleans(), st.none()),
                             max_size=4),
       byline=st.sampled_from(["", "From: [[chan]] <br/>\n", "From: [[chan \\| Name]]\n"]),
       body=st.text(max_size=200), crlf=st.booleans())
def test_any_note_kept_reads_back_the_same(front: dict[str, object], byline: str, body: str, crlf: bool) -> None:
    import yaml

    text = "---\n" + yaml.safe_dump(front, allow_unicode=True) + "---\n" + byline + body
    if crlf:
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8", "surrogatepass")
    got = from_bytes("p.md", data)
    if not isinstance(got, RawNote):
        return  # not a note: nothing is kept
    kept = packed(got)
    if kept is not None:
        assert unpacked("p.md", data, kept) == got


def test_a_file_past_the_size_a_note_may_have_is_not_read_whole(tmp_path: Path) -> None:
    from exporter.diagnostics import Diagnostic
    from exporter.readers.note import MAX_NOTE_BYTES, read_bytes

    with (tmp_path / "huge.md").open("wb") as f:
        f.truncate(1 << 30)  # a sparse GiB: reading it whole would hold a GiB
    got = read_bytes(tmp_path, "huge.md")
    assert isinstance(got, Diagnostic) and got.message == "note is 1024.0 MiB, over the 2 MiB a note may hold"
    (tmp_path / "edge.md").write_bytes(b"x" * MAX_NOTE_BYTES)
    assert read_bytes(tmp_path, "edge.md") == b"x" * MAX_NOTE_BYTES
