"""Images are judged before any product draws them: bounded SVG, rasters under a pixel budget."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from exporter.readers.images import MAX_PIXELS, inspect
from tests.hostile import _png, _use_chain

SVG = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def _svg(tmp_path: Path, body: str, name: str = "x.svg", prolog: str = "") -> Path:
    path = tmp_path / name
    path.write_text(f"{prolog}<svg {SVG}>{body}</svg>", encoding="utf-8")
    return path


def _chain(tag: str, attr: str, levels: int = 8, width: int = 9) -> str:
    """levels of `tag` elements, each drawing the previous one `width` times."""
    return "".join(f'<{tag} id="e{i}">' + f"<rect width='1' height='1' {attr.format(i - 1)}/>" * width
                   + f"</{tag}>" for i in range(1, levels)) + f'<{tag} id="e0"><rect width="1" height="1"/></{tag}>'


@pytest.mark.parametrize("body, why", [
    ('<rect id="e0" width="1" height="1"/>' + "".join(
        f'<symbol id="e{i}">' + f'<use xlink:href="#e{i - 1}"/>' * 9 + "</symbol>" for i in range(1, 8)),
     "expand to over 50,000 shapes"),
    (_chain("pattern", 'fill="url(#e{})"'), "expand to over 50,000 shapes"),
    (_chain("g", 'filter="url(#e{})"'), "expand to over 50,000 shapes"),
    ("<style>" + "".join(f".c{i}{{fill:url(#e{i - 1})}}" for i in range(1, 9)) + "</style>"
     + "".join(f'<pattern id="e{i}">' + f'<rect class="c{i}" width="1" height="1"/>' * 9 + "</pattern>"
               for i in range(1, 9)) + '<pattern id="e0"><rect width="1" height="1"/></pattern>',
     "expand to over 50,000 shapes"),
    ('<marker id="m"><g>' + "<circle r='1'/>" * 40 + "</g></marker><polyline marker-mid='url(#m)' points='"
     + " ".join(f"{i},{i % 5}" for i in range(5000)) + "'/>", "expand to over 50,000 shapes"),
    ('<g id="a"><use href="#b"/></g><g id="b"><use xlink:href="#a"/></g>', "form a cycle"),
])
def test_svg_references_that_expand_are_refused(tmp_path: Path, body: str, why: str) -> None:
    verdict = inspect(_svg(tmp_path, body))
    assert verdict is not None and verdict.kind == "expands" and why in verdict.reason


def test_the_use_chain_of_the_hostile_vault_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "u.svg"
    path.write_text(_use_chain(), encoding="utf-8")
    verdict = inspect(path)
    assert verdict is not None and verdict.kind == "expands"


@pytest.mark.parametrize("body, prolog, kind", [
    ("<text>&b;</text>", '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aa"><!ENTITY b "&a;&a;">]>',
     "expands"),
    ('<image href="file:///etc/passwd" width="5" height="5"/>', "", "unsafe"),
    ('<image href="data:image/png;base64,AAAA"/>', "", "unsafe"),
    ('<rect style="fill: url(https://example.org/x)"/>', "", "unsafe"),
    ("<style>@import url(x.css);</style>", "", "unsafe"),
    ("<script>alert(1)</script>", "", "unsafe"),
    ('<circle r="4" onclick="alert(1)"/>', "", "unsafe"),
    ("<foreignObject><p>x</p></foreignObject>", "", "unsafe"),
])
def test_svg_with_entities_scripts_or_outside_references_is_refused(
        tmp_path: Path, body: str, prolog: str, kind: str) -> None:
    verdict = inspect(_svg(tmp_path, body, prolog=prolog))
    assert verdict is not None and verdict.kind == kind


def test_an_ordinary_illustration_passes_quickly(tmp_path: Path) -> None:
    """Gradients named by class rules, markers, symbols reused: what drawing tools write."""
    grads = "".join(f'<linearGradient id="g{i}"><stop offset="0"/><stop offset="1"/></linearGradient>'
                    for i in range(30))
    css = "".join(f".cls-{i}{{fill:url(#g{i})}}" for i in range(30))
    shapes = "".join(f'<path class="cls-{i % 30}" d="M0 0L{i} 1L2 {i}Z"/>' for i in range(3000))
    body = (f"<defs><style>{css}</style>{grads}<marker id='arrow'><path d='M0,0 L10,5 L0,10z'/></marker>"
            f"<symbol id='s'><circle r='2'/></symbol></defs>{shapes}"
            "<line x1='0' y1='0' x2='5' y2='5' marker-end='url(#arrow)'/>"
            + "<use href='#s' x='3'/>" * 200)
    start = time.perf_counter()
    assert inspect(_svg(tmp_path, body)) is None
    assert time.perf_counter() - start < 5  # bounded work, not a benchmark


def test_rasters_are_judged_by_their_header(tmp_path: Path) -> None:
    huge, fine = tmp_path / "huge.png", tmp_path / "fine.png"
    huge.write_bytes(_png(40_000, 2_000))  # 80 megapixels, a few KB on disk
    fine.write_bytes(_png(200, 100))
    verdict = inspect(huge)
    assert verdict is not None and verdict.kind == "large"
    assert verdict.reason == f"image huge.png is 40,000 x 2,000 pixels, over {MAX_PIXELS // 1_000_000} megapixels"
    assert inspect(fine) is None
    (tmp_path / "noise.png").write_bytes(b"not an image at all")
    assert inspect(tmp_path / "noise.png") is None  # products skip what they cannot read


def test_an_image_that_cannot_be_read_is_left_out_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An image the user may not read (a permission) failed a whole bundle or EPUB, naming the
    output; it is left out of every product now and named at the note's line. Simulated for a
    test run as root, who may read any file."""
    import builtins
    import errno
    import io

    from click.testing import CliRunner
    from PIL import Image

    from exporter.cli import main
    from exporter.readers.images import Verdict
    from tests.conftest import write_vault

    vault = write_vault(tmp_path / "v", {"good.md": "---\ntitle: Good\n---\nA keeper's log.\n",
                                         "bad.md": "---\ntitle: Bad\n---\nBefore.\n\n![a lamp](pic.png)\n"})
    Image.new("RGB", (4, 4), "red").save(vault / "pic.png")
    real = builtins.open

    def refusing(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(file).endswith("pic.png"):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing)
    monkeypatch.setattr(io, "open", refusing)  # what Path.open calls
    assert inspect(vault / "pic.png") == Verdict("unreadable", "image pic.png cannot be read (Permission denied)")
    for argv in (["bundle", str(vault), "-o", str(tmp_path / "b")], ["epub", str(vault), "-o", str(tmp_path / "b.epub")]):
        r = CliRunner().invoke(main, [*argv, "--no-cache"])
        assert r.exit_code == 0, r.output
        assert "bad.md:6: warning: image pic.png cannot be read (Permission denied); left out [missing-embed]" in r.output
    assert {p.name for p in (tmp_path / "b").iterdir()} >= {"good.md", "bad.md"}
    assert "a lamp" in (tmp_path / "b" / "bad.md").read_text("utf-8") and not (tmp_path / "b" / "pic.png").exists()
