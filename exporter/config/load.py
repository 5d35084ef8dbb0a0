"""Find and read the configuration: exporter.toml, else [tool.exporter] in pyproject.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from exporter.config.schema import ConfigError, Defaults, Publication, build, key_line
from exporter.readers.small import Unreadable, small_text


@dataclass(frozen=True)
class Config:
    path: Path | None  # the file read, None when there is none
    defaults: Defaults = field(default_factory=Defaults)
    publications: dict[str, Publication] = field(default_factory=dict)

    @property
    def base(self) -> Path:
        """Relative paths in the config are relative to its folder."""
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, p: str) -> Path:
        return (self.base / p).resolve()


def find(start: Path) -> Path | None:
    for name in ("exporter.toml", "pyproject.toml"):
        p = start / name
        if p.is_file() and (name == "exporter.toml" or "[tool.exporter" in p.read_text("utf-8", "replace")):
            return p
    return None


def load_config(path: Path | None = None, start: Path | None = None) -> Config:
    """Read the config at path, or the one found in start (default: the current folder)."""
    path = path or find(start or Path.cwd())
    if path is None:
        return Config(None)
    file = str(path)
    try:
        text = small_text(path)
        data: dict[str, Any] = tomllib.loads(text)
    except Unreadable as e:
        raise ConfigError([f"{file}: cannot read: {e}"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{file}: not valid TOML: {e}"]) from None
    prefix = ""
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("exporter", {})
        prefix = "tool.exporter."
    problems: list[str] = []
    unknown = sorted(set(data) - {"defaults", "publications"})
    for key in unknown:
        problems.append(f"{file}: {prefix}{key}: unknown section; allowed: defaults, publications")
    defaults = build(
        Defaults,
        _table(data, "defaults", file, problems),
        f"{prefix}defaults.",
        file,
        text,
        f"{prefix}defaults",
        problems,
    )
    pubs: dict[str, Publication] = {}
    for name, table in _table(data, "publications", file, problems).items():
        if why := _unsafe_name(name):
            problems.append(f"{file}: {prefix}publications.{name!r}: {why}")
            continue
        if not isinstance(table, dict):
            problems.append(
                f"{file}: {prefix}publications.{name}: must be a table ([{prefix}publications.{name}])"
            )
            continue
        pubs[name] = build(
            Publication,
            table,
            f"{prefix}publications.{name}.",
            file,
            text,
            f"{prefix}publications.{name}",
            problems,
        )
    if not problems:
        _check_looks(path, text, prefix, defaults, pubs, problems)
        _check_outputs(file, prefix, pubs, problems)
    if problems:
        raise ConfigError(problems)
    return Config(path.resolve(), defaults, pubs)


OUTPUTS = {"bundle": ("{}", "{}.zip"), "pdf": ("{}.pdf",), "briefs": ("{}-briefs",), "epub": ("{}.epub",)}


def _check_outputs(file: str, prefix: str, pubs: dict[str, Publication], problems: list[str]) -> None:
    """No two publications write the same output: a bundle named "a-briefs" beside the briefs
    of "a" mixed both in one folder, and a bundle "a.zip" beside a bundle "a" failed half-way."""
    owner: dict[str, str] = {}
    for name, pub in pubs.items():
        for fmt in pub.formats:
            for pattern in OUTPUTS.get(fmt, ()):
                out = pattern.format(name).casefold()
                if out in owner and owner[out] != name:
                    problems.append(f"{file}: {prefix}publications.{name}: its {fmt} would be written where "
                                    f"{prefix}publications.{owner[out]} writes {pattern.format(name)}; rename one")
                owner.setdefault(out, name)


def _check_looks(path: Path, text: str, prefix: str, defaults: Defaults, pubs: dict[str, Publication],
                 problems: list[str]) -> None:
    """Each theme and extra CSS the config names, loaded as a build would: a bad one is a config
    problem with its line (it failed the build later, exit 3, naming neither file nor key)."""
    from exporter.theme import Theme, ThemeError

    sections: list[tuple[str, str | None, str | None]] = [(f"{prefix}defaults", defaults.theme, defaults.css)]
    sections += [(f"{prefix}publications.{n}", p.theme, p.css) for n, p in pubs.items()]
    for section, theme, css in sections:
        for key, value in (("theme", theme), ("css", css)):
            if not value:
                continue
            try:
                Theme.load(value if key == "theme" else Defaults.theme, base=path.parent,
                           extra_css=path.parent / value if key == "css" else None)
            except ThemeError as e:
                line = key_line(text, key, section)
                problems.append(f"{path}{f':{line}' if line else ''}: {section}.{key}: {e}")


def _table(data: dict[str, Any], key: str, file: str, problems: list[str]) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"{file}: {key}: must be a table ([{key}])")
        return {}
    return value


def with_overrides(config: Config, **defaults: Any) -> Config:
    """Command-line options win over the file."""
    given = {k: v for k, v in defaults.items() if v is not None}
    return replace(config, defaults=replace(config.defaults, **given)) if given else config


def _unsafe_name(name: str) -> str | None:
    """Why a publication's name cannot name its output files in the output folder, if so:
    "../evil" wrote a bundle beside the output folder."""
    if any(c in name for c in "/\\") or any(ord(c) < 32 or c == "\x7f" for c in name):
        return "a publication's name names its files: no / or \\ and no control characters"
    if not name.strip() or name.startswith("."):
        return "a publication's name names its files: it must not be empty or start with a dot"
    if len(name.encode()) > 100:
        return "a publication's name names its files: at most 100 bytes"
    return None
