"""SPEC 7: raw HTML and attributes are made safe in the model, for every product."""

from __future__ import annotations

import json

from tests.conftest import note


def test_scripts_handlers_and_frames_removed(vault) -> None:  # type: ignore[no-untyped-def]
    body = (
        '<script>alert(1)</script>\n\ntext <span onclick="x()" class="k">hi</span> '
        '<script>bad()</script> ok <iframe src="http://e.org"></iframe>\n\n'
        '<div class="admonition tip" onmouseover="x"><p>Tip</p><style>@import url(http://e.org/a.css);</style></div>\n\n'
        '## Head {onclick="y" style="color:red"}\n\n<img src="/etc/passwd"> <a href="javascript:x">j</a>\n'
    )
    coll, report = vault({"a.md": body})
    dump = json.dumps(note(coll, "a").blocks).lower()
    for bad in (
        "<script",
        "onclick",
        "onmouseover",
        "iframe",
        "@import",
        "style",
        "javascript:",
        "<img",
        "alert(1)",
        "bad()",
    ):
        assert bad not in dump, bad
    assert "admonition tip" in dump and "hi" in dump and "ok" in dump
    assert any(d.code == "unsafe-content" for d in report.items)
