"""SPEC 4: stamps and runs of stamps become one footnoted citation each."""

from __future__ import annotations

from dataclasses import replace

import pytest

from exporter.model.ast import iter_nodes, stringify
from tests.conftest import note

VID = "pX8D9l7A4-U"


def ts(t: str, shown: str | None = None) -> str:
    return f'<a class="yt-timestamp" data-t="{t}">[{t if shown is None else shown}]</a>'


def one(vault, body: str, video: str | None = VID, title: str = "T"):  # type: ignore[no-untyped-def]
    front = f"---\ntitle: {title}\n" + (f"videoId: {video}\n" if video else "") + "---\n"
    coll, report = vault({"n.md": front + "From: [[chan]] <br/>\n\n" + body + "\n"})
    return note(coll, "n"), report


def urls(n) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.url for c in n.citations for m in c.moments]


def test_single_stamp_is_one_footnote_with_deep_link(vault) -> None:  # type: ignore[no-untyped-def]
    n, _ = one(vault, f"A fact {ts('00:01:14')}.")
    assert len(n.citations) == 1
    assert urls(n) == [f"https://www.youtube.com/watch?v={VID}&t=74s"]
    notes = iter_nodes(n.blocks, "Note")
    assert len(notes) == 1
    text = stringify(notes[0]["c"])
    assert text == "“T”, chan, at 1:14."


def test_run_joined_by_comma_is_one_footnote(vault) -> None:  # type: ignore[no-untyped-def]
    n, _ = one(vault, f"A {ts('00:01:14')}, {ts('00:02:00')}. B {ts('00:03:00')}")
    assert [len(c.moments) for c in n.citations] == [2, 1]


def test_runs_joined_by_space_or_glued(vault) -> None:  # type: ignore[no-untyped-def]
    n, _ = one(vault, f"A {ts('00:01:14')} {ts('00:02:00')}{ts('00:02:30')} end")
    assert len(n.citations) == 1
    assert [m.seconds for m in n.citations[0].moments] == [74, 120, 150]


def test_space_before_run_is_dropped(vault) -> None:  # type: ignore[no-untyped-def]
    n, _ = one(vault, f"stability {ts('00:01:14')}.")
    para = n.blocks[0]["c"]
    assert para[-3]["c"] == "stability" and para[-2]["t"] == "Note" and para[-1]["c"] == "."


def test_mm_ss_00_reading_gives_seconds(vault) -> None:  # type: ignore[no-untyped-def]
    body = " ".join(f"s{i} {ts(t)}." for i, t in enumerate(["01:33:00", "05:30:00", "06:41:00"]))
    n, report = one(vault, body)
    assert [m.seconds for c in n.citations for m in c.moments] == [93, 330, 401]
    assert urls(n)[0].endswith("&t=93s")
    assert "MM:SS" in n.reading
    assert any(d.code == "reading" and "MM:SS" in d.message for d in report.items)


def test_true_hms_reading(vault) -> None:  # type: ignore[no-untyped-def]
    n, _ = one(vault, f"a {ts('00:03:57')}. b {ts('1:04:14')}. c {ts('00:10:12')}.")
    assert [m.seconds for c in n.citations for m in c.moments] == [237, 3854, 612]
    assert [m.label for c in n.citations for m in c.moments] == ["3:57", "1:04:14", "10:12"]


def test_empty_span_and_data_t_differing_from_text(vault) -> None:  # type: ignore[no-untyped-def]
    body = 'a <a class="yt-timestamp" data-t="00:00:30"></a>. b ' + ts("0:06:40", "00:06:40") + "."
    n, _ = one(vault, body)
    assert [m.seconds for c in n.citations for m in c.moments] == [30, 400]


def test_bad_data_t_gives_way_to_shown_text(vault) -> None:  # type: ignore[no-untyped-def]
    n, report = one(vault, "a " + ts("1:2:3:4", "00:01:05") + ".")
    assert [m.seconds for c in n.citations for m in c.moments] == [65]
    assert not [d for d in report.items if d.code == "malformed-stamp"]


def test_malformed_stamp_keeps_text_and_warns_with_line(vault) -> None:  # type: ignore[no-untyped-def]
    n, report = one(vault, "line one\n\na " + ts("zz", "soon") + ".")
    assert not n.citations
    assert "[soon]" in stringify(n.blocks) or "soon" in stringify(n.blocks)
    bad = [d for d in report.items if d.code == "malformed-stamp"]
    assert len(bad) == 1 and bad[0].line == 9 and bad[0].path == "n.md"


def test_an_empty_stamp_is_named_on_its_own_line_not_on_the_first_stamps(vault) -> None:  # type: ignore[no-untyped-def]
    n, report = one(vault, "a " + ts("00:00:05", "00:00:05") + ".\n\nb " + ts("", "x") + ".")
    assert [[m.seconds for m in c.moments] for c in n.citations] == [[5]]
    bad = [d for d in report.items if d.code == "malformed-stamp"]
    assert len(bad) == 1 and bad[0].line == 9 and "timestamp ''" in bad[0].message


def test_plain_brackets_and_links_to_hash_are_stamps(vault) -> None:  # type: ignore[no-untyped-def]
    n, _ = one(vault, "a [00:00:36]. b ([00:01:12](#), [00:08:08](#)) c")
    assert [[m.seconds for m in c.moments] for c in n.citations] == [[36], [72, 488]]
    assert "(" not in stringify(n.blocks) and ")" not in stringify(n.blocks)


def test_plain_brackets_are_text_without_video(vault) -> None:  # type: ignore[no-untyped-def]
    n, _ = one(vault, "a [00:00:36].", video=None)
    assert not n.citations
    assert "[00:00:36]" in stringify(n.blocks)


def test_no_video_id_keeps_times_without_links_and_warns(vault) -> None:  # type: ignore[no-untyped-def]
    n, report = one(vault, f"a {ts('00:01:14')}.", video=None)
    assert [m.url for c in n.citations for m in c.moments] == [None]
    assert not iter_nodes(n.blocks, "Link")
    assert [d.code for d in report.items if d.code == "no-video-id"] == ["no-video-id"]


def test_invalid_video_id_is_reported(vault) -> None:  # type: ignore[no-untyped-def]
    n, report = one(vault, f"a {ts('00:01:14')}.", video="short")
    assert n.video_id is None
    assert any("not an 11-character" in d.message for d in report.items)


def test_stamps_in_code_and_math_are_literal(vault) -> None:  # type: ignore[no-untyped-def]
    n, _ = one(vault, f"`{ts('00:01:00')}` and $[00:00:36]$\n\n```\n{ts('00:02:00')}\n```\n")
    assert not n.citations
    assert ts("00:01:00") in [c["c"][1] for c in iter_nodes(n.blocks, "Code")]


def test_stamps_in_heading_list_table_quote(vault) -> None:  # type: ignore[no-untyped-def]
    body = (
        f"## Head {ts('00:01:00')}\n\n- item {ts('00:02:00')}\n\n"
        f"| a | b |\n|---|---|\n| x {ts('00:03:00')} | y |\n\n> quoted {ts('00:04:00')}\n"
    )
    n, _ = one(vault, body)
    assert len(n.citations) == 4
    assert n.headings[0].text == "Head"



def test_stamps_in_a_raw_html_block_are_citations_and_the_block_keeps_its_class(vault) -> None:  # type: ignore[no-untyped-def]
    """CommonMark keeps a block that opens with a tag, up to a blank line, as raw HTML: its
    stamps were left as bare "[00:02:00]" text with no link. Read as HTML, they cite."""
    body = (f"Before {ts('00:01:05')}.\n\n<div class=\"admonition tip\">\n"
            f"<p>Inside <b>the</b> block {ts('00:02:07')}, {ts('00:02:31', '00:02:30')} and "
            f"<a href=\"javascript:alert(1)\">a bad link</a>.</p>\n</div>\n\nAfter.")
    n, _ = one(vault, body)
    assert [[m.seconds for m in c.moments] for c in n.citations] == [[65], [127, 151]]  # data-t rules
    (div,) = [d for d in iter_nodes(n.blocks, "Div") if "admonition" in d["c"][0][1]]
    assert div["c"][0][1] == ["admonition", "tip"]
    inside = stringify(div["c"][1])
    assert "Inside the block" in inside and "a bad link" in inside and "[00:02:07]" not in inside
    assert len(iter_nodes(div["c"][1], "Note")) == 1  # the run of two stamps: one footnote
    assert not any("javascript" in str(x) for x in iter_nodes(n.blocks, "Link"))


@pytest.mark.parametrize("block", [
    "<div>" * 40 + f"deep {ts('00:01:05')}" + "</div>" * 40,  # read, too deep to export
    f"<details>\n<summary>More {ts('00:01:05')}</summary>\n</details>",  # read, tags apart from their text
])
def test_a_raw_html_block_the_html_reader_would_not_keep_whole_stays_raw(vault, block: str) -> None:  # type: ignore[no-untyped-def]
    n, _ = one(vault, f"Text {ts('00:00:31')}.\n\n{block}\n\nAfter.")
    assert [[m.seconds for m in c.moments] for c in n.citations] == [[31]]
    raws = "".join(x["c"][1] for x in iter_nodes(n.blocks, "RawBlock"))
    assert "[00:01:05]" in raws and ("<summary>More" in raws) == ("details" in block)
    assert "After." in stringify(n.blocks)  # the note is exported

def test_same_video_cited_in_sources_once(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault(
        {
            "a.md": f"---\ntitle: A\nvideoId: {VID}\n---\nx {ts('00:01:00')}\n",
            "b.md": f"---\ntitle: B\nvideoId: {VID}\n---\ny {ts('00:02:00')}\n",
        }
    )
    assert [s.video_id for s in coll.sources()] == [VID]


def test_unclosed_anchor_keeps_following_text_and_stamps(vault) -> None:  # type: ignore[no-untyped-def]
    body = (
        'first <a class="yt-timestamp" data-t="00:00:20">[00:00:20] lost words '
        '<a class="yt-timestamp" data-t="00:00:30">[00:00:30]</a> end.'
    )
    n, _ = one(vault, body, video="dQw4w9WgXcQ")
    assert [[m.seconds for m in c.moments] for c in n.citations] == [[20], [30]]
    text = stringify(n.blocks)
    assert "lost words" in text and "end." in text and "[00:00:20]" not in text


def test_anchor_nested_in_anchor_loses_no_text(vault) -> None:  # type: ignore[no-untyped-def]
    body = (
        'a <a class="yt-timestamp" data-t="00:00:01"><a class="yt-timestamp" data-t="00:00:02">'
        "[00:00:02]</a>[00:00:01]</a> b"
    )
    n, _ = one(vault, body)
    assert [[m.seconds for m in c.moments] for c in n.citations] == [[1, 2]]
    assert stringify(n.blocks).split()[-2:] == ["a", "b"]
    n, _ = one(vault, body, video=None)  # no video: the bare '[00:00:01]' is no stamp and stays
    assert [[m.seconds for m in c.moments] for c in n.citations] == [[1, 2]]
    assert "[00:00:01]" in stringify(n.blocks)


def test_stamp_in_link_label_puts_footnote_after_the_link(vault) -> None:  # type: ignore[no-untyped-def]
    n, _ = one(vault, f"see [label *{ts('00:00:15')}*](https://example.com) end")
    assert len(n.citations) == 1
    para = n.blocks[-1]["c"]
    k = next(i for i, x in enumerate(para) if x["t"] == "Link")
    assert stringify(para[k]["c"][1]).strip() == "label"
    assert not iter_nodes(para[k]["c"][1], "Note")
    assert para[k + 1]["t"] == "Note"
    assert len(iter_nodes(n.blocks, "Note")) == 1


def footnotes(n) -> list[str]:  # type: ignore[no-untyped-def]
    return [stringify(x["c"]) for x in iter_nodes(n.blocks, "Note")]


def test_repeat_citations_of_a_video_are_short(vault) -> None:  # type: ignore[no-untyped-def]
    n, _ = one(vault, f"A {ts('00:01:14')}. *B {ts('00:02:05')}*, C {ts('00:03:01')}, {ts('00:03:30')}.")
    assert footnotes(n) == ["“T”, chan, at 1:14.", "At 2:05.", "At 3:01, 3:30."]
    repeat = iter_nodes(n.blocks, "Note")[2]
    links = [x for x in iter_nodes(repeat["c"], "Link") if "moment" in x["c"][0][1]]
    assert [x["c"][2][0] for x in links] == [f"https://www.youtube.com/watch?v={VID}&t={t}s" for t in (181, 210)]


def test_repeats_in_full_when_the_theme_says_so(vault) -> None:  # type: ignore[no-untyped-def]
    from exporter.transforms.citations import Wording

    n, _ = one_with(vault, f"A {ts('00:01:14')}. B {ts('00:02:05')}.", Wording(short_repeats=False))
    assert footnotes(n) == ["“T”, chan, at 1:14.", "“T”, chan, at 2:05."]


def one_with(vault, body: str, wording):  # type: ignore[no-untyped-def]
    coll, report = vault({"n.md": f"---\ntitle: T\nvideoId: {VID}\n---\nFrom: [[chan]] <br/>\n\n{body}\n"},
                         wording=wording)
    return note(coll, "n"), report


def test_embeds_are_worded_in_the_host_s_reading_order(vault) -> None:  # type: ignore[no-untyped-def]
    other = "abcdefghijk"
    coll, _ = vault({
        "host.md": f"---\ntitle: Host\nvideoId: {VID}\n---\nFrom: [[chan]] <br/>\n\n"
                   f"First {ts('00:00:10')}.\n\n![[guest#Later]]\n\nAgain {ts('00:00:21')}.\n",
        "guest.md": f"---\ntitle: Guest\nvideoId: {other}\n---\nFrom: [[other]] <br/>\n\n"
                    f"Opening {ts('00:01:01')}.\n\n## Later\n\nMore {ts('00:02:02')}.\n",
    })
    assert footnotes(note(coll, "guest")) == ["“Guest”, other, at 1:01.", "At 2:02."]
    # in the host, the guest's repeat is the first citation of its video: full again
    assert footnotes(note(coll, "host")) == ["“Host”, chan, at 0:10.", "“Guest”, other, at 2:02.", "At 0:21."]


def test_shorten_is_idempotent_and_keeps_unchanged_blocks(vault) -> None:  # type: ignore[no-untyped-def]
    from exporter.transforms.citations import Wording, shorten

    n, _ = one(vault, f"A {ts('00:01:14')}. B {ts('00:02:05')}. C {ts('00:02:05')}.")
    once = n.blocks
    assert shorten(once, Wording()) is once
    full = shorten(once, Wording(short_repeats=False))
    worded = replace(n)
    worded.blocks = full
    assert footnotes(worded) == ["“T”, chan, at 1:14.", "“T”, chan, at 2:05.", "“T”, chan, at 2:05."]
    assert shorten(full, Wording()) == once
