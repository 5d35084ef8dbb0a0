"""Themes: one source of design tokens per theme, from which every product's look is made.

A theme is a folder styles/<name>/ with theme.toml (fonts, sizes, colours, spacing,
citation wording). The CSS is rendered from shared templates in styles/common/ (a theme may
ship its own copy of any of them): base.css.j2 for every product, print.css.j2 for PDF,
epub.css.j2 for e-readers. The EPUB CSS is made reader-safe here. Page templates are looked
up in the theme first, then in styles/common/templates.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from exporter.readers.small import Unreadable, small_text
from exporter.transforms.citations import Wording

if TYPE_CHECKING:
    import jinja2

    from exporter.cache import Cache


def _styles() -> Path:
    """The checkout's styles/ (a clone, an editable install), else the copy inside the package."""
    here = Path(__file__).resolve().parent
    return next((p for p in (here.parent / "styles", here / "styles") if (p / "common").is_dir()), here.parent / "styles")


STYLES = _styles()
COMMON = STYLES / "common"
DEFAULT = "serif"
Target = Literal["pdf", "epub"]


class ThemeError(ValueError):
    """No such theme, or a theme that cannot be read."""

    option = "--theme"  # the command-line option to blame


class CssError(ThemeError):
    """Extra CSS that cannot be read."""

    option = "--css"


def _markup(name: str | None) -> bool:
    """Escape in page templates, not in stylesheets (font names carry quotes)."""
    return bool(name) and not str(name).endswith((".css.j2", ".css"))


def available() -> dict[str, str]:
    """Built-in theme names and their one-line descriptions."""
    out = {}
    for p in sorted(STYLES.glob("*/theme.toml")):
        try:
            out[p.parent.name] = str(tomllib.loads(p.read_text("utf-8")).get("description", ""))
        except (OSError, tomllib.TOMLDecodeError):
            out[p.parent.name] = "(unreadable theme.toml)"
    return out


def reader_safe(css: str) -> str:
    """No page rules, imports, fonts or url() in a book: readers ignore them or fetch remotely."""
    css = re.sub(r"@page[^{]*\{(?:[^{}]|\{[^{}]*\})*\}|@font-face\s*\{[^}]*\}|@import[^;]*;", "", css)
    css = re.sub(r"[^;{}]*url\s*\([^)]*\)[^;{}]*;?", "", css)
    return re.sub(r"[^;{}]*var\(--[^)]*\)[^;{}]*;?|--[\w-]+\s*:[^;{}]*;?", "", css)


@dataclass(frozen=True)
class Theme:
    name: str
    folder: Path
    tokens: dict[str, Any] = field(hash=False, compare=False)
    extra_css: Path | None = None
    wording: Wording = field(default_factory=Wording)

    @classmethod
    def load(
        cls,
        name: str = DEFAULT,
        base: Path | None = None,
        extra_css: Path | None = None,
        wording: str | None = None,
    ) -> Theme:
        """A built-in theme by name, or a theme folder by path (relative to base)."""
        folder = STYLES / name if "/" not in name and "\\" not in name else (base or Path.cwd()) / name
        spec = folder / "theme.toml"
        if not spec.is_file():
            known = ", ".join(available()) or "none"
            raise ThemeError(f"no theme {name!r} (built-in themes: {known})")
        try:
            tokens = tomllib.loads(spec.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ThemeError(f"{spec}: cannot read theme: {e}") from None
        if extra_css is not None and not extra_css.exists():
            raise CssError(f"extra CSS {extra_css} does not exist")
        if extra_css is not None:
            try:
                small_text(extra_css)
            except Unreadable as e:
                raise CssError(f"extra CSS {extra_css}: {e}") from None
        cite = tokens.get("citation", {})
        words = Wording(
            with_channel=wording or cite.get("with_channel", Wording.with_channel),
            without_channel=wording.replace("{channel}", "").replace(" ()", "").replace(", ,", ",")
            if wording
            else cite.get("without_channel", Wording.without_channel),
            moment_separator=cite.get("separator", Wording.moment_separator),
            repeat=cite.get("repeat", Wording.repeat),
            short_repeats=cite.get("repeats", "short") != "full",
        )
        return cls(folder.name, folder.resolve(), tokens, extra_css, words)

    @property
    def folders(self) -> tuple[Path, ...]:
        """Where theme files may be read from (also what the PDF fetcher may serve)."""
        return (self.folder, COMMON.resolve())

    @cached_property
    def fingerprint(self) -> str:
        """The theme's files (tokens, templates, stylesheets) and the extra CSS, by content: a
        cached page or stylesheet made from this theme is good while this is the same."""
        return files_key(self.folders, [self.extra_css] if self.extra_css else [])

    @cached_property
    def env(self) -> jinja2.Environment:
        import jinja2  # here: a bundle never renders a template, and starts faster

        loader = jinja2.FileSystemLoader(
            [str(self.folder / "templates"), str(COMMON / "templates"), str(self.folder), str(COMMON)]
        )
        return jinja2.Environment(
            loader=loader, autoescape=_markup, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
        )

    def keep_compiled(self, cache: Cache) -> None:
        """Templates compiled once into the cache, not again by every build (Jinja's bytecode
        cache): a build's templates and stylesheets took 20 ms to compile, a sixtieth of an
        EPUB's rebuild. Jinja itself checks an entry's source and Python version."""
        if cache.enabled:
            self.env.bytecode_cache = _compiled(cache)

    @property
    def backlinks(self) -> bool:
        """Show "Linked from" under each note ([backlinks] show = false turns it off)."""
        return bool(self.tokens.get("backlinks", {}).get("show", True))

    def render(self, template: str, **values: Any) -> str:
        """A page template; t (exporter.i18n.Words) says the fixed strings, English by default."""
        if "t" not in values:
            from exporter.i18n import Words

            values["t"] = Words()
        import jinja2

        try:
            return self.env.get_template(template).render(**values)
        except jinja2.TemplateError as e:
            raise ThemeError(f"theme {self.name!r}: template {template}: {e}") from None

    def _css(self, template: str) -> str:
        import jinja2

        try:
            tpl = self.env.get_template(template)
            return tpl.render(**self.tokens)
        except jinja2.TemplateError as e:
            raise ThemeError(f"theme {self.name!r}: {template}: {e}") from None

    def css(self, target: Target) -> dict[str, str]:
        """File name -> stylesheet text for a product, in cascade order."""
        sheets = {"base.css": self._css("base.css.j2")}
        if target == "pdf":
            sheets["print.css"] = self._css("print.css.j2")
        else:
            sheets["epub.css"] = self._css("epub.css.j2")
        if self.extra_css:
            try:
                sheets["user.css"] = small_text(self.extra_css)
            except Unreadable as e:  # changed since the theme was loaded
                raise CssError(f"extra CSS {self.extra_css}: {e}") from None
        if target == "epub":
            sheets = {k: reader_safe(v) for k, v in sheets.items()}
        return sheets


def _compiled(cache: Cache) -> jinja2.BytecodeCache:
    import jinja2

    from exporter import cache as store

    class Compiled(jinja2.BytecodeCache):
        def _key(self, bucket: jinja2.bccache.Bucket) -> str:
            return store.key("template", store.code(), jinja2.__version__, bucket.key, bucket.checksum)

        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            if (data := cache.get(self._key(bucket))) is not None:
                bucket.bytecode_from_string(data)

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            cache.put(self._key(bucket), bucket.bytecode_to_string())

    return Compiled()


def files_key(folders: Iterable[Path], files: Iterable[Path] = ()) -> str:
    """Every file under folders, and files, by path and content (a missing one as missing):
    what a cache entry made from theme files is keyed on."""
    from exporter import cache as store

    parts: list[bytes] = []
    for path in [*(p for root in folders for p in sorted(root.rglob("*")) if p.is_file()), *files]:
        try:
            parts += [str(path).encode(), path.read_bytes()]
        except OSError:
            parts += [str(path).encode(), b"\0missing"]
    return store.key("files", *parts)
