"""SPEC 3: link keys and the order in which targets match."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.vault.index import Index
from exporter.vault.keys import link_key


@dataclass
class N:
    path: str
    title: str
    meta: dict = field(default_factory=dict)


def test_key_normalization_meets_title_stem_and_spacing() -> None:
    keys = {
        link_key(s)
        for s in [
            "Large Language Models and Causality",
            "large_language_models_and_causality",
            "  large-language  models_and causality.md ",
        ]
    }
    assert len(keys) == 1


def test_key_is_nfc_and_casefolded() -> None:
    assert link_key("Straße") == link_key("STRASSE")
    assert link_key("e\u0301te") == link_key("\u00e9te")


def idx(*notes: N) -> Index:
    return Index.build(list(notes))


def test_match_order_path_stem_title_alias() -> None:
    ix = idx(N("a/x.md", "Alpha"), N("b/alpha.md", "Other"), N("c.md", "Gamma", {"aliases": ["Alpha"]}))
    assert ix.resolve("a/x", "z.md").path == "a/x.md"  # path
    assert ix.resolve("alpha", "z.md").path == "b/alpha.md"  # stem beats title
    assert ix.resolve("Gamma", "z.md").path == "c.md"  # title
    assert idx(N("c.md", "Gamma", {"aliases": ["Delta"]})).resolve("delta", "z.md").path == "c.md"


def test_relative_path_from_linking_folder() -> None:
    ix = idx(N("a/x.md", "X"), N("a/b/y.md", "Y"))
    assert ix.resolve("b/y", "a/x.md").path == "a/b/y.md"
    assert ix.resolve("../x", "a/b/y.md").path == "a/x.md"


def test_path_leaving_the_vault_is_outside() -> None:
    res = idx(N("x.md", "X")).resolve("../../etc/passwd", "x.md")
    assert res.path is None and res.outside


def test_ambiguity_prefers_same_folder_then_shortest_then_alphabetical() -> None:
    ix = idx(N("a/note.md", "1"), N("b/note.md", "2"), N("b/c/note.md", "3"))
    same = ix.resolve("note", "b/other.md")
    assert same.path == "b/note.md" and len(same.candidates) == 3
    assert ix.resolve("note", "z/other.md").path == "a/note.md"  # shortest, then alphabetical


def test_unresolved() -> None:
    assert idx(N("x.md", "X")).resolve("nothing", "x.md").path is None


def test_a_file_named_with_its_suffix_wins_over_same_stem_notes() -> None:
    ix = Index.build([N("a.md", "a"), N("a.txt", "a"), N("sub/a.markdown", "a")])
    assert ix.resolve("a.txt", "x.md") == ix.resolve("A.TXT", "x.md") and ix.resolve("a.txt", "x.md").path == "a.txt"
    assert ix.resolve("a.markdown", "sub/y.md").path == "sub/a.markdown"
    assert ix.resolve("a.txt", "x.md").candidates == ()
    assert ix.resolve("a", "x.md").path == "a.md" and len(ix.resolve("a", "x.md").candidates) == 3
