"""The joined PDF's cross-reference rows, written a column at a time, are the rows the PDF
reference lays out one entry at a time (kind, then each field big-endian)."""

from __future__ import annotations

from array import array

from hypothesis import given
from hypothesis import strategies as st

from exporter.packagers.stitch import _rows

entries = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2**64 - 1), st.integers(0, 65535)), max_size=50)


@given(entries, st.integers(1, 8))
def test_rows_are_each_entry_in_order_big_endian(rows: list[tuple[int, int, int]], wide: int) -> None:
    rows = [(kind, f % (1 << (8 * wide)), g) for kind, f, g in rows]  # field2 fits in wide bytes
    kind, field2, field3 = (array(code, [r[i] for r in rows]) for i, code in enumerate("BQH"))
    expected = b"".join(bytes([k]) + f.to_bytes(wide, "big") + g.to_bytes(2, "big") for k, f, g in rows)
    assert bytes(_rows(kind, field2, field3, wide)) == expected
