"""Which lines are fenced code: one pass the first-H1, table-row and footnote passes share."""

from __future__ import annotations

from exporter.readers.fences import fenced


def test_a_fence_closes_only_on_its_own_character_and_an_open_one_runs_to_the_end() -> None:
    lines = ["text", "```", "~~~ not a close", "# code", "```", "# H", "   ~~~~", "open"]
    assert fenced(lines) == [False, True, True, True, True, False, True, True]
    assert fenced(["    ```", "x"]) == [False, False]  # indented four: code, not a fence
