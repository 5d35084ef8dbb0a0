"""Generated vaults where one small note expands enormously, beside ordinary notes.

Each kind returns {relative path: content}. The ordinary notes carry ORDINARY, a word that must
reach every product; the hostile ones are named in BAD[kind].
"""

from __future__ import annotations

import struct
import zlib

ORDINARY = "Lanternmarker"


def _ordinary() -> dict[str, str | bytes]:
    return {
        "ordinary.md": f"---\ntitle: Ordinary note\nvideoId: Ordinary001\n---\n\nFrom: [[harbour]] <br/>\n\n"
        f"The {ORDINARY} keeper wrote daily <a class=\"yt-timestamp\" data-t=\"00:01:30\">[00:01:30]</a>.\n"
        "See [[friend]].\n",
        "friend.md": "---\ntitle: Friend note\n---\n\nA second ordinary note, linked from the first.\n",
    }


def yaml_bombs() -> dict[str, str | bytes]:
    """Anchors and aliases, merge keys, a recursive alias: each tiny, each exponential."""
    laughs = ["---", "title: Laughs", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    laughs += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    merge = ["---", "title: Merges", "m0: &m0 {a: 1, b: 2, c: 3}"]
    merge += [f"m{i}: &m{i}\n  <<: *m{i - 1}\n  k{i}: [*m{i - 1}, *m{i - 1}, *m{i - 1}]" for i in range(1, 30)]
    return {
        **_ordinary(),
        "laughs.md": "\n".join([*laughs, "---", "", "Laughing body."]),
        "merges.md": "\n".join([*merge, "---", "", "Merging body."]),
        "loop.md": "---\ntitle: Loop\nself: &s [1, *s]\n---\n\nA loop.\n",
    }


def fan_out(width: int = 10, depth: int = 8) -> dict[str, str | bytes]:
    """Each note embeds the next `width` times, `depth` deep (width**depth copies); the same
    again through section embeds (![[note#Part]])."""
    files: dict[str, str | bytes] = _ordinary()
    for k in range(depth):
        more = k + 1 < depth
        embeds = "\n\n".join(f"![[fan{k + 1}]]" for _ in range(width)) if more else ""
        files[f"fan{k}.md"] = f"---\ntitle: Fan {k}\n---\n\nLevel {k} of the fan with some words.\n\n{embeds}\n"
        parts = "\n\n".join(f"![[sec{k + 1}#Part]]" for _ in range(width)) if more else ""
        files[f"sec{k}.md"] = f"---\ntitle: Sec {k}\n---\n\n## Part\n\nSection {k}.\n\n{parts}\n\n## Other\n\nMore.\n"
    return files


def _use_chain(levels: int = 9, width: int = 10) -> str:
    groups = "".join(f'<g id="g{i}">' + f'<use href="#g{i - 1}"/>' * width + "</g>" for i in range(1, levels))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><defs>'
            f'<rect id="g0" width="1" height="1"/>{groups}</defs><use href="#g{levels - 1}"/></svg>')


def svg_bombs() -> dict[str, str | bytes]:
    """<use> chains, pattern chains, entities and an outside reference, each in its own note."""
    patterns = "".join(f'<pattern id="p{i}" width="4" height="4">' + f'<rect width="1" height="1" fill="url(#p{i - 1})"/>' * 9
                       + "</pattern>" for i in range(1, 9))
    return {
        **_ordinary(),
        "media/use.svg": _use_chain(),
        "media/pattern.svg": ('<svg xmlns="http://www.w3.org/2000/svg"><pattern id="p0" width="1" height="1">'
                              f'<rect width="1" height="1"/></pattern>{patterns}<rect width="9" height="9" fill="url(#p8)"/></svg>'),
        "media/entity.svg": ('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                             '<svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>'),
        "media/outside.svg": '<svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/passwd"/></svg>',
        "media/fine.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><circle r="5" cx="9" cy="9"/></svg>',
        "uses.md": "---\ntitle: Uses\n---\n\nA drawing: ![[use.svg]]\n",
        "patterns.md": "---\ntitle: Patterns\n---\n\n![a pattern](media/pattern.svg)\n",
        "entities.md": "---\ntitle: Entities\n---\n\n![[entity.svg]] and ![[outside.svg]]\n",
        "fine.md": "---\ntitle: Fine drawing\n---\n\nA harmless circle: ![[fine.svg]]\n",
    }


def long_strings(size: int = 300_000) -> dict[str, str | bytes]:
    """A title, a channel name and a heading of a few hundred thousand characters, cited,
    linked and embedded, so that every label naming them would repeat them."""
    words = " ".join(f"word{i % 97}" for i in range(size // 7))
    stamps = " ".join(f'Point {k} <a class="yt-timestamp" data-t="00:0{k}:00">[00:0{k}:00]</a>.' for k in range(1, 9))
    return {
        **_ordinary(),
        "long.md": f"---\ntitle: {words}\nvideoId: LongTitle01\n---\n\nFrom: [[{words[:size // 3]}]] <br/>\n\n"
        f"{stamps}\n\n## {words}\n\nText under the long heading.\n",
        "linker.md": "---\ntitle: Linker\n---\n\n" + " ".join(["[[long]]"] * 50) + "\n\n![[long]]\n",
    }


def _png(width: int, height: int) -> bytes:
    """A 1-bit PNG of width x height pixels, all zero: a few hundred KB on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def pixels() -> dict[str, str | bytes]:
    """A PNG of 40,000 x 40,000 pixels (1.6 gigapixels) embedded two ways."""
    return {
        **_ordinary(),
        "media/huge.png": _png(40_000, 40_000),
        "huge.md": "---\ntitle: Huge picture\n---\n\n![[huge.png]] and ![the same](media/huge.png)\n",
    }


KINDS = {"yaml": yaml_bombs, "fanout": fan_out, "svg": svg_bombs, "strings": long_strings, "pixels": pixels}
BAD = {
    "yaml": ["laughs.md", "merges.md", "loop.md"],
    "fanout": ["fan0.md", "sec0.md"],
    "svg": ["uses.md", "patterns.md", "entities.md"],
    "strings": ["long.md"],
    "pixels": ["huge.md"],
}
