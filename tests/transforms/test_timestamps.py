"""SPEC 4: what the times mean, one test per rule."""

from __future__ import annotations

from typing import Any

from exporter.transforms.timestamps import (
    find_stamps,
    human,
    parse_fields,
    split_bracketed,
    third_field_rule,
    to_seconds,
)


def test_two_field_stamp_is_minutes_seconds() -> None:
    f = parse_fields("02:44")
    assert f == (2, 44)
    assert to_seconds(f, None) == 164


def test_three_field_default_is_hours_minutes_seconds() -> None:
    assert to_seconds((1, 4, 14), None) == 3854
    assert to_seconds((0, 3, 57), None) == 237


def test_rule_two_reads_common_00_third_field_as_minutes_seconds() -> None:
    stamps = [(1, 33, 0), (5, 30, 0), (6, 41, 0), (1, 33, 0)]
    v = third_field_rule(stamps)
    assert v == 0
    assert to_seconds((1, 33, 0), v) == 93
    assert to_seconds((6, 41, 0), v) == 401


def test_rule_two_needs_two_distinct_for_00_and_three_otherwise() -> None:
    assert third_field_rule([(1, 33, 0), (1, 33, 0)]) is None  # one distinct stamp only
    assert third_field_rule([(1, 33, 0), (2, 10, 0)]) == 0
    assert third_field_rule([(1, 33, 7), (2, 10, 7)]) is None
    assert third_field_rule([(1, 33, 7), (2, 10, 7), (3, 1, 7)]) == 7


def test_rule_two_needs_at_least_half_of_distinct_stamps() -> None:
    stamps = [(0, 1, 0), (0, 2, 0), (0, 3, 14), (0, 4, 15), (0, 5, 16)]
    assert third_field_rule(stamps) is None
    assert third_field_rule(stamps[:4]) == 0  # 2 of 4 is half


def test_rule_two_keeps_stamps_not_ending_in_v_as_hms() -> None:
    v = third_field_rule([(1, 0, 7), (2, 0, 7), (3, 0, 7), (0, 3, 57)])
    assert v == 7
    assert to_seconds((1, 0, 7), v) == 60
    assert to_seconds((0, 3, 57), v) == 237


def test_rule_two_first_field_of_60_or_more_stays_hms() -> None:
    assert to_seconds((75, 0, 0), 0) == 75 * 3600


def test_rule_three_unparseable_fields() -> None:
    assert parse_fields("1:2:3:4") is None
    assert parse_fields("ab:cd") is None
    assert parse_fields("00:75:00") is None
    assert parse_fields("[00:06:40]") == (0, 6, 40)
    assert parse_fields("0:06:40") == (0, 6, 40)


def test_rule_four_forced_reading() -> None:
    assert to_seconds((1, 4, 14), None, "ms") == 64
    assert to_seconds((1, 33, 0), 0, "hms") == 5580


def test_human_times() -> None:
    assert human(93) == "1:33"
    assert human(3854) == "1:04:14"
    assert human(5) == "0:05"


def test_full_width_digits_are_not_stamps() -> None:
    assert parse_fields("１２:００") is None
    assert parse_fields("[０:１２:００]") is None
    assert find_stamps([{"t": "Str", "c": "[１２:００]"}], plain=True) == []
    glued = [{"t": "Str", "c": "([１２:００],"}]
    assert split_bracketed(glued) == glued


def _raw(html: str) -> dict[str, Any]:
    return {"t": "RawInline", "c": ["html", html]}


def test_unclosed_anchor_stops_at_the_next_anchor() -> None:
    words = [{"t": "Str", "c": "lost"}, {"t": "Space"}, {"t": "Str", "c": "words"}, {"t": "Space"}]
    inlines = [
        _raw('<a class="yt-timestamp" data-t="00:00:20">'),
        {"t": "Str", "c": "[00:00:20]"},
        {"t": "Space"},
        *words,
        _raw('<a class="yt-timestamp" data-t="00:00:30">'),
        {"t": "Str", "c": "[00:00:30]"},
        _raw("</a>"),
    ]
    stamps = find_stamps(inlines, plain=False)
    # the unclosed anchor takes its shown '[00:00:20]' along, and nothing past it
    assert [(s.start, s.end, s.data_t, s.shown) for s in stamps] == [
        (0, 2, "00:00:20", "[00:00:20]"),
        (7, 10, "00:00:30", "[00:00:30]"),
    ]


def test_anchor_opened_inside_another_anchor() -> None:
    inlines = [
        _raw('<a class="yt-timestamp" data-t="00:00:01">'),
        _raw('<a class="yt-timestamp" data-t="00:00:02">'),
        {"t": "Str", "c": "[00:00:02]"},
        _raw("</a>"),
        {"t": "Str", "c": "[00:00:01]"},
        _raw("</a>"),
    ]
    stamps = find_stamps(inlines, plain=False)
    assert [(s.start, s.end, s.data_t) for s in stamps] == [(0, 1, "00:00:01"), (1, 4, "00:00:02")]
