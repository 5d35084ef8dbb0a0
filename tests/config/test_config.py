"""The config schema: defaults, publications, and a clear message for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import ConfigError, load_config


def write(tmp_path: Path, text: str, name: str = "exporter.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_no_config_means_defaults(tmp_path: Path) -> None:
    cfg = load_config(start=tmp_path)
    assert cfg.path is None and cfg.publications == {} and cfg.defaults.vault == "notes"


def test_publications_and_defaults_are_typed(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            """
[defaults]
vault = "vault"
theme = "sans"
reading = "ms"
unresolved = "plain"
jobs = 2

[publications.dossier]
title = "Lights"
formats = ["pdf", "epub"]
channels = "harbour_lights"
order = "title"
""",
        )
    )
    assert cfg.defaults.reading == "ms" and cfg.defaults.jobs == 2
    pub = cfg.publications["dossier"]
    assert pub.formats == ("pdf", "epub") and pub.channels == ("harbour_lights",) and pub.order == "title"
    assert cfg.resolve(cfg.defaults.vault) == (tmp_path / "vault").resolve()


def test_every_mistake_is_named_with_file_line_key_and_allowed_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """[defaults]
vault = "notes"
readng = "auto"
unresolved = "maybe"
jobs = -1

[publications.a]
formats = ["pdf", "epubb"]
parts = "chanel"
title = 3
""",
    )
    with pytest.raises(ConfigError) as e:
        load_config(path)
    f = str(path)
    assert e.value.problems == [
        f"{f}:3: defaults.readng: unknown key; did you mean 'reading'? allowed: vault, output, theme, css, "
        "reading, unresolved, citation, jobs, language",
        f"{f}:4: defaults.unresolved: must be one of 'text', 'plain', 'error' (got 'maybe')",
        f"{f}:5: defaults.jobs: must be a whole number, 0 or more (got -1)",
        f"{f}:8: publications.a.formats: item 'epubb' must be one of 'pdf', 'briefs', 'epub', 'bundle' "
        "(got ['pdf', 'epubb'])",
        f"{f}:9: publications.a.parts: must be one of 'channel', 'folder', 'tag', 'none' (got 'chanel')",
        f"{f}:10: publications.a.title: must be a string (got 3)",
    ]


def test_pyproject_tool_section(tmp_path: Path) -> None:
    write(
        tmp_path,
        '[project]\nname = "x"\n\n[tool.exporter.defaults]\ntheme = "sans"\n\n'
        '[tool.exporter.publications.p]\nformts = ["pdf"]\n',
        "pyproject.toml",
    )
    with pytest.raises(ConfigError) as e:
        load_config(start=tmp_path)
    assert "tool.exporter.publications.p.formts: unknown key; did you mean 'formats'?" in e.value.problems[0]


def test_broken_toml_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "[defaults\nvault = 1\n"))
    assert len(e.value.problems) == 1 and "not valid TOML" in e.value.problems[0]


def test_a_publication_name_must_name_files_inside_the_output_folder(tmp_path: Path) -> None:
    """A publication's name names its outputs (NAME.pdf, NAME/ and NAME.zip): "../evil" wrote a
    bundle beside the output folder."""
    path = tmp_path / "exporter.toml"
    path.write_text('[publications."../evil"]\n[publications."a\\\\b"]\n[publications.".hidden"]\n'
                    '[publications."  "]\n[publications."tab\\there"]\n[publications."Keepers ✓"]\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    bad = [p.split(": ")[1] for p in e.value.problems]
    assert bad == ["publications.'../evil'", "publications.'a\\\\b'", "publications.'.hidden'",
                   "publications.'  '", "publications.'tab\\there'"]
    path.write_text('[publications."Keepers ✓"]\n', encoding="utf-8")
    assert list(load_config(path).publications) == ["Keepers ✓"]
