"""The generated cover image of an EPUB.

Library views show a book by its cover image, so the cover is a real PNG, not a page. Its
colours are read from the theme's CSS (.cover-page, .cover-title, .cover-subtitle,
.cover-facts), so one stylesheet restyles both the title page and the cover. Drawing is
deterministic: same text, colours and fonts, same bytes; so the cache keeps each cover under
those (png), and a rebuild neither draws it nor imports Pillow to draw it (50 ms of an EPUB's).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from exporter import cache as store
from exporter.cache import Cache

if TYPE_CHECKING:
    from PIL import ImageFont

    Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

SIZE = (1600, 2400)  # 2:3, what most stores and readers expect
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts"))
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
FONTS = ("NotoSansCJK-Regular.ttc", "NotoSansCJK-Bold.ttc", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf")  # those _font takes
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    background: RGB = (255, 255, 255)
    title: RGB = (22, 50, 79)
    subtitle: RGB = (59, 70, 80)
    facts: RGB = (91, 103, 112)


def palette(css: str) -> Palette:
    """The cover colours from the theme CSS; the last rule wins, as in a browser."""
    from PIL import ImageColor

    def colour(selector: str, prop: str, default: RGB) -> RGB:
        found = default
        for body in re.findall(rf"(?:^|[}},\s]){re.escape(selector)}\s*\{{([^}}]*)\}}", css):
            m = re.search(rf"(?:^|[;\s]){prop}\s*:\s*([^;]+)", body)
            if m:
                with contextlib.suppress(ValueError):
                    r, g, b = ImageColor.getrgb(m.group(1).strip())[:3]
                    found = (r, g, b)
        return found

    d = Palette()
    return Palette(colour(".cover-page", "background-color", d.background),
                   colour(".cover-title", "color", d.title),
                   colour(".cover-subtitle", "color", d.subtitle),
                   colour(".cover-facts", "color", d.facts))


@cache
def _font_file(name: str) -> str | None:
    for root in FONT_DIRS:
        hits = sorted(Path(root).rglob(name)) if Path(root).is_dir() else []
        if hits:
            return str(hits[0])
    return None


def _font(text: str, size: int, bold: bool) -> Font:
    """DejaVu (Latin, Greek, Cyrillic); Noto CJK for CJK text when installed; else Pillow's."""
    from PIL import ImageFont

    weight = "Bold" if bold else "Regular"
    names = [f"NotoSansCJK-{weight}.ttc"] if CJK.search(text) else []
    names.append("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    for name in names:
        path = _font_file(name)
        if path:
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _wrap(text: str, font: Font, width: int) -> list[str]:
    """Greedy line breaking by words; a word wider than the line is cut by characters."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for ch in word:
            if font.getlength(line + ch) > width and line:
                lines.append(line)
                line = ""
            line += ch
    if line:
        lines.append(line)
    return lines


def _fit(text: str, width: int, sizes: range, max_lines: int, bold: bool) -> tuple[Font, list[str]]:
    """The largest size at which text fits in max_lines; past the smallest, cut with an ellipsis."""
    for size in sizes:
        font = _font(text, size, bold)
        lines = _wrap(text, font, width)
        if len(lines) <= max_lines:
            return font, lines
    lines = lines[:max_lines]
    lines[-1] = lines[-1].rstrip()[:-1] + "…"
    return font, lines


def png(title: str, subtitle: str | None, facts: str, author: str | None, css: str, cache: Cache | None = None
        ) -> bytes:
    """The cover as PNG bytes, its colours from css (palette); the cache keeps it under what it
    is drawn from: the texts, the CSS, the font files (by path, size and date, as pandoc is
    known by in writers/pandoc.py), Pillow and zlib."""
    cache = cache or Cache.off()
    if not cache.enabled:
        return draw(title, subtitle, facts, author, palette(css))
    k = store.key("cover", store.code(), _pillow(), title, subtitle or "\0", facts, author or "\0", css,
                  *(_known(name) for name in FONTS))
    if (found := cache.get(k)) is not None:
        return found
    made = draw(title, subtitle, facts, author, palette(css))
    cache.put(k, made)
    return made


def _pillow() -> str:
    import PIL
    from PIL import features

    return f"{PIL.__version__} zlib {features.version('zlib') or ''}"


def _known(name: str) -> str:
    """A font file as a cache key knows it: where it is, its size and date; "" when there is none."""
    path = _font_file(name)
    if path is None:
        return ""
    try:
        st = os.stat(path)
    except OSError:
        return path
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def draw(title: str, subtitle: str | None, facts: str, author: str | None, colours: Palette) -> bytes:
    """The cover as PNG bytes."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = SIZE
    margin = w // 10
    text_w = w - 2 * margin
    img = Image.new("RGB", SIZE, colours.background)
    pen = ImageDraw.Draw(img)
    pen.rectangle((0, 0, w, h // 40), fill=colours.title)

    y = h * 22 // 100
    font, lines = _fit(title or " ", text_w, range(150, 59, -10), 6, bold=True)
    step = int(font.size * 1.18) if isinstance(font, ImageFont.FreeTypeFont) else 70
    for line in lines:
        pen.text((margin, y), line, font=font, fill=colours.title)
        y += step
    y += step // 3
    pen.rectangle((margin, y, w - margin, y + 10), fill=colours.title)
    y += 70

    if subtitle:
        font, lines = _fit(subtitle, text_w, range(72, 39, -8), 4, bold=False)
        for line in lines:
            pen.text((margin, y), line, font=font, fill=colours.subtitle)
            y += int(getattr(font, "size", 40) * 1.3)

    bottom = h - h // 12
    if author:
        font, lines = _fit(author, text_w, range(64, 39, -8), 2, bold=True)
        for line in reversed(lines):
            bottom -= int(getattr(font, "size", 40) * 1.3)
            pen.text((margin, bottom), line, font=font, fill=colours.title)
        bottom -= 30
    font = _font(facts, 52, bold=False)
    pen.text((margin, bottom - 70), facts, font=font, fill=colours.facts)

    out = io.BytesIO()
    img.save(out, "PNG", optimize=False)
    return out.getvalue()
