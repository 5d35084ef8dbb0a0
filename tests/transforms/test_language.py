"""A note without `lang` in its frontmatter gets the language its text reads in."""

from __future__ import annotations

from exporter.transforms.language import lingua_version, prose
from tests.conftest import note

GERMAN = ("Der Leuchtturm steht seit hundert Jahren auf dem Felsen und warnt die Schiffe vor der "
          "gefährlichen Küste. Die Wärter lebten dort oben mit ihren Familien.")
FRENCH = ("Le phare se dresse depuis cent ans sur le rocher et avertit les navires du danger de la côte. "
          "Les gardiens vivaient là-haut avec leurs familles.")


def test_language_is_guessed_from_the_text_only_when_not_declared(vault) -> None:  # type: ignore[no-untyped-def]
    coll, _ = vault({
        "de.md": f"---\ntitle: Leuchtturm\n---\n{GERMAN} <a class=\"yt-timestamp\" data-t=\"00:01:02\">[00:01:02]</a>\n",
        "fr.md": f"---\ntitle: Phare\nvideoId: abcdefghijk\n---\n{FRENCH} `code in English is not prose`\n",
        "declared.md": f"---\ntitle: Declared\nlang: it\n---\n{GERMAN}\n",
        "short.md": "---\ntitle: Short\n---\nDer Leuchtturm.\n",
    })
    assert note(coll, "de").lang == "de"
    assert note(coll, "fr").lang == "fr"  # its citations ("At 1:02.") are chrome, not its words
    assert note(coll, "declared").lang == "it"
    assert note(coll, "short").lang is None  # too short to tell: the book's language applies


def test_prose_leaves_out_code_math_raw_html_and_footnotes() -> None:
    blocks = [{"t": "Para", "c": [{"t": "Str", "c": "Words"}, {"t": "Space"}, {"t": "Code", "c": [["", [], []], "x=1"]},
                                  {"t": "Math", "c": [{"t": "InlineMath"}, "\\frac{a}{b}"]},
                                  {"t": "RawInline", "c": ["html", "<b>"]},
                                  {"t": "Note", "c": [{"t": "Para", "c": [{"t": "Str", "c": "At"}]}]}]},
              {"t": "CodeBlock", "c": [["", [], []], "print('hello')"]}]
    assert prose(blocks) == "Words"


def test_prose_leaves_out_addresses_and_runs_too_long_for_words() -> None:
    """A note that opens with long addresses is read from its words (lingua read
    "https://example.org/aaaa…?q=bbbb…" as Portuguese)."""
    url = "https://example.org/" + "a" * 300 + "?q=" + "b" * 200
    blocks = [{"t": "Para", "c": [{"t": "Str", "c": "Pneumono" * 20}, {"t": "Space"}, {"t": "Str", "c": url},
                                  {"t": "Space"}, {"t": "Str", "c": "www.example.org"}, {"t": "Space"},
                                  {"t": "Str", "c": "The"}, {"t": "Space"}, {"t": "Str", "c": "keeper."}]}]
    assert prose(blocks) == "The keeper."


def test_lingua_version_read_from_its_folder_is_the_installed_one() -> None:
    from importlib.metadata import version

    lingua_version.cache_clear()
    assert lingua_version() == version("lingua-language-detector")
