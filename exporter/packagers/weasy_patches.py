"""Where exporter reaches into WeasyPrint 70 beyond its public API (why it is pinned to 70.x).

- footnotes_stay_with_their_calls: a fix, footnotes were moved away from their calls or lost;
- logical_floats_in_lines: a fix, a float to inline-start or inline-end inside a line failed the
  render (its width was counted under a side the line does not know);
- text_tagged_in_its_element: size and joining, a run of text is marked content of the element
  it is in, not of a /Span or /NonStruct structure element made for it alone (45% of a
  dossier's objects);
- footnotes_laid_out_once: speed, each footnote laid out and shaped once per page, not once per
  footnote added to the page, and the area laid out again from the last footnote added, not
  from its first (the pages come out byte for byte the same);
- fonts_subset_by_harfbuzz: speed, fonts subset by the HarfBuzz inside uharfbuzz when the
  system has no libharfbuzz-subset (WeasyPrint then falls back to fontTools, 100x slower);
- stylesheets_parsed_once: speed, a stylesheet a worker has parsed for one document serves the
  next (a theme's sheets are parsed once per worker, not once per dossier part or brief);
- styles_computed_on_a_short_path: speed, a property an element's rules do not set is
  inherited or initial, taken without the general path's checks for what it does not have;
- text_contexts_kept: speed, a text layout takes its Pango context, font description and font
  metrics from those made before for the same direction, language and font, instead of
  making each again for every run of text laid out or drawn;
- text_shaped_once: speed, a run of text is drawn from the Pango layout that laid it out, not
  shaped again for drawing where that would give the same glyphs;
- glyphs_read_at_once: speed, a run's glyphs are copied out of Pango in one call to be drawn,
  not read through cffi field by field;
- font_keys_kept: speed, the key under which a style's line height is cached is made once per
  style, not once per line and run of text;
- page_styles_shared: speed, a page whose @page rules match as another's takes that page's
  computed styles instead of computing them again, margin boxes and all (the bytes are the same);
- page_references_kept: speed, the list of page references is made once per page count, not
  once per tag and link (a part spends 2% of its time there, a 126-page document far more);
- objects_written_once: speed, each PDF object is serialized (and each stream deflated) once,
  not again when pydyf hashes the file for its /ID (the bytes are the same);
- streams_compressed_at_level_6: speed, pydyf deflates content streams at level 9, three times
  the work of level 6 for 2% of the size;
- percentages_resolved_once: speed, a box's used margins, paddings, sizes and borders are
  taken from those of an earlier box with the same style in a containing block of the same size;
- font_arrays_typed_once: speed, the arrays of glyph ids a font is subset with are made from
  one C type, not one per length (cffi parses each new type with pycparser, 20 ms);
- html_scanned_by_kept_patterns: speed, tinyhtml5 2.1 compiles the pattern it scans text with
  again at every call, its cache being filled under the wrong key (a fifth of an HTML parse);
- page_names_found_at_the_ends: speed, a box's start and end page names come from its first and
  last children in flow, found from each end, not by testing every child at every level;
- flow_read_from_the_style: speed, whether a box is in normal flow is read from its style in
  one call, not five (asked 230,000 times over a dossier's parts);
- colours_parsed_once: speed, a colour written as text or as a hex token is parsed once per
  worker, not once per element and property that computes it;
- libraries_found_by_ldconfig: speed, while WeasyPrint is imported, a library name ldconfig
  does not know is not looked for with gcc and ld (0.3 s of every render server's start);
- pages_continued: speed and size, a dossier part's page rules match as on the pages after a
  cover, without a cover page to lay out and drop (1% of a part's instructions, and a font
  subset the dropped page's title added to every part);
- images_named_by_their_place: reproducible, an image's name in the PDF comes from its path in
  the vault (or theme folder), not from where the vault lies on the disk;
- identity_encoding: text extractors read every word, see its docstring.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import re
import sys
from collections.abc import Callable, Iterator
from math import inf
from typing import Any

_DROP = ("BASE", "DSIG", "EBDT", "EBLC", "EBSC", "GPOS", "GSUB", "JSTF", "LTSH", "PCLT", "SVG ")
# Pages laid out before a document's first (pages_continued): 1 while a dossier part renders
CONTINUED: contextvars.ContextVar[int] = contextvars.ContextVar("continued", default=0)
# The folders a document's files come from, as URL prefixes, while it renders (images_named_by_their_place)
ROOTS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("roots", default=())
CIDCHAR = re.compile(rb"<([0-9a-fA-F]{4})>\s+(\d+)")


def apply() -> None:
    """Patch once, before any layout; each patch checks it is not applied twice."""
    footnotes_stay_with_their_calls()
    footnotes_laid_out_once()
    leaders_as_one_run()
    fonts_subset_by_harfbuzz()
    text_tagged_in_its_element()
    footnotes_tagged_as_notes()
    stylesheets_parsed_once()
    styles_computed_on_a_short_path()
    text_contexts_kept()
    text_shaped_once()
    glyphs_read_at_once()
    font_keys_kept()
    percentages_resolved_once()
    page_styles_shared()
    page_references_kept()
    objects_written_once()
    streams_compressed_at_level_6()
    font_arrays_typed_once()
    html_scanned_by_kept_patterns()
    page_names_found_at_the_ends()
    flow_read_from_the_style()
    colours_parsed_once()
    logical_floats_in_lines()
    pages_continued()
    images_named_by_their_place()


def images_named_by_their_place() -> None:
    """Name an image in the PDF after its place under the folders the document reads from.

    WeasyPrint 70 names a raster image in the PDF after the MD5 of its URL, an absolute file
    URL: the same vault built from another folder (another machine, a CI checkout) gave other
    bytes, every page that draws an image and the file's /ID. The name now comes from the URL
    with the folder it lies under (ROOTS: the vault, a theme's folder) replaced by that folder's
    place in the list. A URL under none keeps WeasyPrint's name. Names only ever stand for one
    URL, as before: two folders never share a number, and a path is under one folder.
    """
    from hashlib import md5

    from weasyprint import document
    from weasyprint.images import RasterImage

    original = document.original_get_image_from_uri
    if getattr(original, "patched", False):
        return

    def get(cache: Any, url_fetcher: Any, options: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        image = original(cache, url_fetcher, options, url, *args, **kwargs)
        if type(image) is RasterImage:  # (the cache gives the same image again: named again the same)
            for k, root in enumerate(ROOTS.get()):
                if url.startswith(root):
                    image.id = md5(f"{k}/{url[len(root):]}".encode(), usedforsecurity=False).hexdigest()
                    break
        return image

    get.patched = True  # type: ignore[attr-defined]
    get.original = original  # type: ignore[attr-defined]
    document.original_get_image_from_uri = get


def pages_continued() -> None:
    """Lay out a document as the pages after CONTINUED others: a dossier part, whose first page
    follows the pages of the parts before it.

    A part used to open with a cover page, dropped when the parts were joined, so that its first
    note's first page was no `@page :first` (a theme gives the first page no running header).
    Laying out and writing that page cost 1% of a part's instructions, and the font of its title
    went into every part. Now the page rules match as if the pages before were there: each
    page's index is moved on for `:first` and `:nth()`, and the first page's side is the one
    after as many pages (the left, after one, as behind the cover). Only the matching moves:
    WeasyPrint's own first page (its styles computed before the page size is known,
    page_styles_shared) is still its first.
    """
    from weasyprint import layout
    from weasyprint.css import StyleFor

    original_init = layout.initialize_page_maker
    if getattr(original_init, "patched", False):
        return
    original_match = StyleFor._page_type_match

    def init(context: Any, root_box: Any) -> None:
        original_init(context, root_box)
        if CONTINUED.get() % 2:
            resume_at, next_page, right_page, page_state, remake_state = context.page_maker[0]
            context.page_maker[0] = (resume_at, next_page, not right_page, page_state, remake_state)

    def match(selector: Any, page_type: Any) -> bool:
        if before := CONTINUED.get():
            page_type = page_type._replace(index=page_type.index + before)
        return bool(original_match(selector, page_type))

    init.patched = True  # type: ignore[attr-defined]
    init.original = original_init  # type: ignore[attr-defined]
    layout.initialize_page_maker = init
    StyleFor._page_type_match = staticmethod(match)


@contextlib.contextmanager
def libraries_found_by_ldconfig() -> Iterator[None]:
    """While WeasyPrint is imported, find a shared library by ldconfig's cache alone.

    WeasyPrint 70 asks for each library under several names, Windows' first; for each name
    not found, ctypes.util.find_library runs ldconfig, then gcc, then ld (20-30 ms a name, 0.3 s
    of each render server's start). Every name WeasyPrint gives has a variant with `.so.N`,
    which cffi opens by file name without find_library (LD_LIBRARY_PATH included), so what
    gcc and ld could add is found that way.
    """
    import ctypes.util

    by_ldconfig = getattr(ctypes.util, "_findSoname_ldconfig", None)  # Linux and other ELF systems
    original = ctypes.util.find_library
    if by_ldconfig is None or "weasyprint" in sys.modules:
        yield
        return
    ctypes.util.find_library = by_ldconfig
    try:
        yield
    finally:
        ctypes.util.find_library = original


class _OpenArrays:
    """WeasyPrint's cffi instance for weasyprint.pdf.fonts, except that an array given all its
    items (`T[n]`, n items) is made as `T[]`: the same memory, and one C type to parse."""

    ARRAY = re.compile(r"(\w+)\[(\d+)\]")

    def __init__(self, ffi: Any) -> None:
        self.ffi = ffi

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ffi, name)

    def new(self, cdecl: str, init: Any = None) -> Any:
        if (m := self.ARRAY.fullmatch(cdecl)) and isinstance(init, (list, tuple)) and len(init) == int(m[2]):
            cdecl = m[1] + "[]"
        return self.ffi.new(cdecl, init)


def font_arrays_typed_once() -> None:
    """Give weasyprint.pdf.fonts a cffi instance that makes `hb_codepoint_t[n]` arrays as
    `hb_codepoint_t[]`.

    Font._harfbuzz_subset (the path taken where the system has libharfbuzz-subset) makes its
    arrays of glyph ids from `hb_codepoint_t[n]`, one C type per length; cffi parses each type
    it has not seen with pycparser, about 20 ms, and a part's fonts bring new lengths each time
    (0.1-0.2 s a part, 3-4% of its render).
    """
    from weasyprint.pdf import fonts

    if isinstance(fonts.ffi, _OpenArrays):
        return
    fonts.ffi = _OpenArrays(fonts.ffi)


# At-rules whose effect reaches past the stylesheet (fonts, counters, imports, layers,
# profiles): a sheet holding one is parsed for each document, as WeasyPrint does.
_REACHING = ("@font-face", "@counter-style", "@import", "@layer", "@color-profile")
SHEETS = 32  # parsed stylesheets a worker keeps
KEPT_FONTS = 4096  # font descriptions (and metrics) a worker keeps, each a font at one size
COLOURS = 4096  # colours as text or hex a worker keeps parsed
_SOURCES = ("guess", "filename", "url", "file_obj", "matcher", "layer")  # a sheet not from a string, or bound elsewhere


def stylesheets_parsed_once() -> None:
    """Keep what parsing a <style> sheet made, for the next document with the same sheet.

    A CSS object is its selector matcher and the @page rules it adds to the document's list;
    both are only read once made. So a sheet seen before (same text, base URL and media) gets
    the matcher made the first time, and its @page rules are added to the new document's list
    as parsing would add them. Sheets with at-rules that reach further are parsed again.
    """
    import weasyprint

    original = weasyprint.CSS.__init__
    if getattr(original, "patched", False):
        return
    made: dict[tuple[str, str, str], tuple[Any, list[Any], Any]] = {}

    def init(self: Any, *args: Any, string: str | None = None, base_url: Any = None, media_type: str = "print",
             page_rules: list[Any] | None = None, layers: list[Any] | None = None, **kwargs: Any) -> None:
        key = (string or "", str(base_url), media_type)
        plain = not args and string is not None and all(kwargs.get(k) is None for k in _SOURCES)
        if not plain or (key not in made and any(at in key[0].lower() for at in _REACHING)):
            original(self, *args, string=string, base_url=base_url, media_type=media_type,
                     page_rules=page_rules, layers=layers, **kwargs)
            return
        if key not in made:
            rules: list[Any] = []
            original(self, string=string, base_url=base_url, media_type=media_type, page_rules=rules,
                     layers=layers, **kwargs)
            if len(made) >= SHEETS:
                made.clear()
            made[key] = (self.matcher, rules, self.base_url)
        self.matcher, rules, self.base_url = made[key]
        self.page_rules = [] if page_rules is None else page_rules
        self.page_rules.extend(rules)
        self.layers = [] if layers is None else layers

    init.patched = True  # type: ignore[attr-defined]
    init.original = original  # type: ignore[attr-defined]
    weasyprint.CSS.__init__ = init


def styles_computed_on_a_short_path() -> None:
    """Compute a property that no rule sets on an element without the general path.

    ComputedStyle.__missing__ runs for every property read of every element (a part reads about
    9,000), and for each it looks for var() and math, maps physical to logical names and
    formats the property's name, though most are neither cascaded nor special: an inherited
    one is the parent's value, any other the initial value (computed when WeasyPrint computes
    it). Those take the short path; a property set on the element, or through its logical name,
    the root element, a parent's value with math in it, and the properties __missing__ treats
    apart (float, display, position, page, text decorations, custom properties) go the general
    way. 7% of a part's render.
    """
    from weasyprint.css import ComputedStyle
    from weasyprint.css.computed_values import COMPUTER_FUNCTIONS, PHYSICAL_FUNCTIONS
    from weasyprint.css.functions import check_math
    from weasyprint.css.properties import INHERITED, INITIAL_NOT_COMPUTED, INITIAL_VALUES

    original = ComputedStyle.__missing__
    if getattr(original, "patched", False):
        return
    apart = ("float", "display", "position", "page")
    # 0: inherited; 1: the initial value as it is; 2: the initial value, computed
    how = {key: 0 if key in INHERITED else 2 if key in INITIAL_NOT_COMPUTED else 1
           for key, value in INITIAL_VALUES.items()
           if key not in apart and not key.startswith(("text_decoration_", "__")) and not check_math(value)}
    logical = {key: frozenset(name(block="ttb", inline=way) for way in ("ltr", "rtl"))
               for key, name in PHYSICAL_FUNCTIONS.items()}

    def missing(self: Any, key: str) -> Any:
        cascaded = self.cascaded
        if key in cascaded or (parent := self.parent_style) is None or (kind := how.get(key)) is None:
            return original(self, key)
        if (names := logical.get(key)) is not None and not names.isdisjoint(cascaded):
            return original(self, key)
        if kind == 0:
            value = parent[key]
            if check_math(value):
                return original(self, key)
        else:
            value = INITIAL_VALUES[key]
            if kind == 2 and (compute := COMPUTER_FUNCTIONS.get(key)) is not None:
                value = compute(self, key, value)
        self[key] = value
        return value

    missing.patched = True  # type: ignore[attr-defined]
    missing.original = original  # type: ignore[attr-defined]
    ComputedStyle.__missing__ = missing


def text_contexts_kept() -> None:
    """Keep the Pango contexts, font descriptions and font metrics that text layouts are made of.

    WeasyPrint 70 makes a Layout for each run of text it lays out, and again for each it draws;
    each makes a Pango context, sets its direction and language, makes a font description and,
    for decorated text, asks the context for the font's metrics (which loads the font): 8% of
    a part's render. They depend only on the direction, the language and the font properties,
    and none is changed once made (a layout copies the description it is given), so they are
    kept per font configuration, keyed on those, and shared. A font whose properties cannot be
    a key is described afresh, as before. The text comes out byte for byte the same.
    """
    from weasyprint.text import line_break
    from weasyprint.text.constants import LST_TO_ISO, PANGO_DIRECTION
    from weasyprint.text.ffi import FROM_UNITS, ffi, gobject, pango, unicode_to_char_p
    from weasyprint.text.fonts import font_features, get_font_description

    original = line_break.Layout.setup
    if getattr(original, "patched", False):
        return

    def context(config: Any, direction: str, lang: str | None) -> tuple[Any, Any]:
        contexts = config.__dict__.setdefault("_kept_contexts", {})
        if (found := contexts.get((direction, lang))) is None:
            made = ffi.gc(pango.pango_font_map_create_context(config.font_map), gobject.g_object_unref)
            pango.pango_context_set_round_glyph_positions(made, False)
            pango.pango_context_set_base_dir(made, PANGO_DIRECTION[direction])
            if lang:
                language = pango.pango_language_from_string(unicode_to_char_p(lang)[0])
                pango.pango_context_set_language(made, language)
            else:
                language = pango.pango_language_get_default()
            found = contexts[direction, lang] = (made, language)
        return found

    def described(style: Any) -> tuple[Any, Any]:
        font = (tuple(style["font_family"]), style["font_style"], style["font_stretch"], style["font_weight"],
                style["font_size"], style["font_variant_caps"], style["font_variation_settings"])
        descriptions = style.font_config.__dict__.setdefault("_kept_descriptions", {})
        try:
            if (found := descriptions.get(font)) is None:
                if len(descriptions) >= KEPT_FONTS:  # a worker lives for many documents
                    descriptions.clear()
                found = descriptions[font] = get_font_description(style)
        except TypeError:  # a value that cannot be a key
            return None, get_font_description(style)
        return font, found

    def setup(self: Any, style: Any) -> None:
        self.style = style
        self.first_line_direction = 0
        config = style.font_config
        override = style["font_language_override"]
        lang = LST_TO_ISO.get(override.lower(), override) if override != "normal" else style["lang"] or None
        made, self.language = context(config, style["direction"], lang)
        font, description = described(style)
        self.layout = ffi.gc(pango.pango_layout_new(made), gobject.g_object_unref)
        pango.pango_layout_set_auto_dir(self.layout, False)
        pango.pango_layout_set_font_description(self.layout, description)
        if style["text_decoration_line"] != "none":
            metrics = config.__dict__.setdefault("_kept_metrics", {})
            key = (style["direction"], lang, font)
            if font is None or (found := metrics.get(key)) is None:
                got = ffi.gc(pango.pango_context_get_metrics(made, description, self.language),
                             pango.pango_font_metrics_unref)
                found = tuple(FROM_UNITS * get(got) for get in (
                    pango.pango_font_metrics_get_ascent, pango.pango_font_metrics_get_underline_position,
                    pango.pango_font_metrics_get_strikethrough_position,
                    pango.pango_font_metrics_get_underline_thickness,
                    pango.pango_font_metrics_get_strikethrough_thickness))
                if font is not None:
                    if len(metrics) >= KEPT_FONTS:
                        metrics.clear()
                    metrics[key] = found
            (self.ascent, self.underline_position, self.strikethrough_position, self.underline_thickness,
             self.strikethrough_thickness) = found
        else:
            self.ascent = self.underline_position = self.strikethrough_position = None
        features = font_features(
            style["font_kerning"], style["font_variant_ligatures"], style["font_variant_position"],
            style["font_variant_caps"], style["font_variant_numeric"], style["font_variant_alternates"],
            style["font_variant_east_asian"], style["font_feature_settings"])
        if features:  # as WeasyPrint does it
            settings = ",".join(f"{key} {value}" for key, value in features.items()).encode()
            attr = config.font_features.setdefault(settings, pango.pango_attr_font_features_new(settings))
            attr_list = pango.pango_attr_list_new()
            pango.pango_attr_list_insert(attr_list, attr)
            pango.pango_layout_set_attributes(self.layout, attr_list)

    setup.patched = True  # type: ignore[attr-defined]
    setup.original = original  # type: ignore[attr-defined]
    line_break.Layout.setup = setup


_SEPARATORS = re.compile("[\n\r\x0b\x0c\x85\u2028\u2029]")  # what may end a line or paragraph in Pango


def text_shaped_once() -> None:
    """Draw a run of text from the Pango layout that laid it out, instead of shaping it again.

    WeasyPrint 70 drops each run's Pango layout once the run is laid out (Layout.deactivate),
    and at drawing makes a new one and shapes the text again (Layout.reactivate). The layout
    is kept instead, and drawing takes it as it is where the new one would be the same: the
    same style, no justification spacing (which only drawing adds), the text of one paragraph
    (drawing sets Pango's single-paragraph mode, which is then set from the start, changing
    nothing). Drawing still drops it; a run drawn twice is shaped again. The text comes out
    byte for byte the same. In a dossier's parts 5 runs in 6 are drawn from their layout
    (justified runs are not): 1.4% of a part's instructions.
    """
    from weasyprint.text import line_break
    from weasyprint.text.ffi import pango

    original_set_text = line_break.Layout.set_text
    if getattr(original_set_text, "patched", False):
        return
    original_reactivate = line_break.Layout.reactivate

    def set_text(self: Any, text: str, justify: bool = False) -> None:
        single = _SEPARATORS.search(text) is None
        pango.pango_layout_set_single_paragraph_mode(self.layout, single)
        self._one_paragraph = single
        original_set_text(self, text, justify)

    def deactivate(self: Any) -> None:
        if self.__dict__.pop("_drawing", False):
            del self.layout, self.language, self.style
        # else kept for drawing

    def reactivate(self: Any, style: Any) -> None:
        self._drawing = True
        if (self.__dict__.get("layout") is None or self.style is not style or self.justification_spacing
                or not self.__dict__.get("_one_paragraph")):
            original_reactivate(self, style)

    set_text.patched = True  # type: ignore[attr-defined]
    set_text.original = original_set_text  # type: ignore[attr-defined]
    deactivate.original = line_break.Layout.deactivate  # type: ignore[attr-defined]
    reactivate.original = original_reactivate  # type: ignore[attr-defined]
    line_break.Layout.set_text = set_text
    line_break.Layout.deactivate = deactivate
    line_break.Layout.reactivate = reactivate


def glyphs_read_at_once() -> None:
    """Read a run's glyphs from Pango in one copy, not field by field, to draw a line of text.

    WeasyPrint 70's draw_first_line reads each glyph's id, width and offsets through cffi, one
    attribute access at a time, five a glyph. Here a run's glyph array is copied out in one call
    and unpacked by struct, and the text operators are written from it as WeasyPrint writes
    them. A line with a glyph that draw_first_line handles apart (a missing glyph, a raised or
    lowered one, one from a colour font) or cut with an ellipsis is drawn by WeasyPrint. The text comes out byte for byte the same; a dossier's part takes 2.1% fewer
    instructions.
    """
    import struct

    from weasyprint.draw import text
    from weasyprint.text.ffi import FROM_UNITS, ffi, pango

    original = text.draw_first_line
    if getattr(original, "patched", False) or ffi.sizeof("PangoGlyphInfo") != 20:
        return
    glyph = struct.Struct("=I3i4x")  # PangoGlyphInfo: glyph, width, x_offset, y_offset, attributes
    empty, unknown = pango.PANGO_GLYPH_EMPTY, pango.PANGO_GLYPH_UNKNOWN_FLAG
    sized_by_style = pango.pango_version() < 14802

    def draw_first_line(stream: Any, textbox: Any, text_overflow: str, block_ellipsis: Any, matrix: Any) -> Any:
        if (text_overflow == "ellipsis" or block_ellipsis != "none" or not textbox.text.strip()
                or textbox.style["font_size"] < 1e-6):
            return original(stream, textbox, text_overflow, block_ellipsis, matrix)
        layout = textbox.pango_layout
        pango.pango_layout_set_single_paragraph_mode(layout.layout, True)
        first_line, _ = layout.get_first_line()
        runs: list[tuple[Any, Any, Any, list[tuple[int, int, int, int]], Any, Any]] = []
        previous: Any = None
        font: Any = None
        font_size: Any = None
        run = first_line.runs[0]
        while run != ffi.NULL:
            item = run.data
            run = run.next
            glyphs = item.glyphs
            read = list(glyph.iter_unpack(ffi.buffer(glyphs.glyphs, 20 * glyphs.num_glyphs)))
            pango_font = item.item.analysis.font
            if pango_font != previous:
                previous = pango_font
                font, font_size = stream.add_font(pango_font)
                if font.png or font.svg or font.colr:
                    return original(stream, textbox, text_overflow, block_ellipsis, matrix)
                if sized_by_style:
                    font_size = textbox.style["font_size"]
            else:
                pango_font = None  # the same font as the run before
            if any(g[3] or g[0] & unknown and g[0] != empty for g in read):
                return original(stream, textbox, text_overflow, block_ellipsis, matrix)
            runs.append((pango_font, font, font_size, read, item, glyphs.log_clusters))
        stream.set_text_matrix(*matrix.values)
        string = ""
        utf8_text = None
        for changed, font, font_size, read, item, clusters in runs:
            if changed is not None:
                if string:
                    stream.show_text(string)
                string = ""
                stream.set_font_size(font.hash, 1 if font.bitmap else font_size)
            string += "<"
            widths, to_unicode, bitmap = font.widths, font.to_unicode, font.bitmap
            for i, (glyph_id, width, x_offset, _) in enumerate(read):
                if glyph_id == empty:
                    string += f">{-width / font_size}<"
                    continue
                if glyph_id not in to_unicode:
                    offset = item.item.offset
                    t1 = clusters[i]
                    if item.item.analysis.level % 2:  # right to left
                        t2 = item.item.length if i == 0 else clusters[i - 1]
                    else:
                        t2 = item.item.length if i == len(read) - 1 else clusters[i + 1]
                    utf8_text = utf8_text or layout.text.encode()
                    to_unicode[glyph_id] = utf8_text[offset + t1:offset + t2].decode()
                offset = x_offset / font_size
                if offset:
                    string += f">{-offset}<"
                string += f"{glyph_id:02x}" if bitmap else f"{glyph_id:04x}"
                if glyph_id in widths:
                    logical_width = widths[glyph_id]
                else:
                    pango.pango_font_get_glyph_extents(item.item.analysis.font, glyph_id, stream.ink_rect,
                                                       stream.logical_rect)
                    logical_width = widths[glyph_id] = round(
                        stream.logical_rect.width * 1000 * FROM_UNITS / font_size)
                kerning = logical_width + offset - width * 1000 * FROM_UNITS / font_size
                if kerning:
                    string += f">{int(kerning)}<"
            if string[-1] == "<":
                string = string[:-1]
            else:
                string += ">"
        stream.show_text(string)
        return []

    draw_first_line.patched = True  # type: ignore[attr-defined]
    draw_first_line.original = original  # type: ignore[attr-defined]
    text.draw_first_line = draw_first_line


def font_keys_kept() -> None:
    """Make the key of a style's font (line_break._font_style_cache_key) once per style.

    WeasyPrint 70 looks up a style's line height and baseline (strut) for every line box and
    run of text, under a key it makes each time by formatting fourteen of the style's
    properties as a string. A style's font properties never change once computed (WeasyPrint
    copies a style to change one), so the key is kept on the style.
    """
    from weasyprint.text import line_break

    original = line_break._font_style_cache_key
    if getattr(original, "patched", False):
        return

    def kept(style: Any, include_size: bool = False) -> str:
        name = "_font_key_sized" if include_size else "_font_key"
        found: str | None = style.__dict__.get(name)
        if found is None:
            found = style.__dict__[name] = original(style, include_size)
        return found

    kept.patched = True  # type: ignore[attr-defined]
    kept.original = original  # type: ignore[attr-defined]
    line_break._font_style_cache_key = kept


# what resolve_percentages sets on a box (percent.py, WeasyPrint 70)
USED = tuple(f"{p}_{side}" for p in ("margin", "padding") for side in ("left", "right", "top", "bottom")) + (
    "width", "min_width", "max_width", "height", "min_height", "max_height",
    *(f"border_{side}_width" for side in ("top", "right", "bottom", "left")))
SIZES_KEPT = 16  # containing-block sizes remembered per style


def percentages_resolved_once() -> None:
    """Set a box's used margins, paddings, sizes and borders as an earlier box's with the same
    style in a containing block of the same size.

    resolve_percentages runs each time a box is laid out (again for each page and each try) and
    resolves eighteen lengths one call at a time: 4-5% of a part's render. What it sets depends
    on the box's style, the containing block's width and height and whether the box is a page,
    nothing else, except in tables with collapsed borders (their widths are set beforehand),
    which go the usual way. A style never changes once computed (WeasyPrint copies a style to
    change one), so the values are kept on the style.
    """
    from weasyprint.formatting_structure import boxes
    from weasyprint.layout import absolute, block, column, grid, inline, page, percent, table
    from weasyprint.layout import float as floats

    original = percent.resolve_percentages
    if getattr(original, "patched", False):
        return

    def resolve(box: Any, containing_block: Any) -> None:
        style = box.style
        if style["border_collapse"] == "collapse":
            return original(box, containing_block)
        if isinstance(containing_block, boxes.Box):
            key: tuple[Any, ...] = (containing_block.width, containing_block.height, isinstance(box, boxes.PageBox))
        else:
            width, height = containing_block
            key = (width, height, isinstance(box, boxes.PageBox))
        kept: dict[tuple[Any, ...], dict[str, Any]] | None = style.__dict__.get("_used")
        if kept is None:
            kept = style.__dict__["_used"] = {}
        values = kept.get(key)
        if values is None:
            original(box, containing_block)
            if len(kept) < SIZES_KEPT:
                got = box.__dict__
                kept[key] = {name: got[name] for name in USED}
            return None
        box.__dict__.update(values)
        return None

    resolve.patched = True  # type: ignore[attr-defined]
    resolve.original = original  # type: ignore[attr-defined]
    for module in (percent, absolute, block, column, floats, grid, inline, page, table):  # flex.py calls percent.resolve_percentages
        if getattr(module, "resolve_percentages", None) is original:
            module.resolve_percentages = resolve


def page_styles_shared() -> None:
    """Compute the styles of a page and its margin boxes once per set of matching @page rules.

    WeasyPrint 70 gives every page a page type of its own (its index is part of it) and computes
    its styles and its sixteen margin boxes' again: half the time of a page of footers. What
    they are computed from is the @page rules that match the page, and the root element's
    style, the same for every page; so a page whose rules match as another's takes that page's
    styles (WeasyPrint only reads them). The first page keeps its own: its styles are computed
    before the page size they may refer to is known.
    """
    from weasyprint.layout import page as pages

    original = pages.set_page_type_computed_styles
    if getattr(original, "patched", False):
        return

    def shared(page_type: Any, html: Any, style_for: Any) -> None:
        if page_type.index == 0:
            return original(page_type, html, style_for)
        selectors = [s[2] for sheet, _, _ in style_for._sheets for _, found, _ in sheet.page_rules for s in found]
        matched = tuple(style_for._page_type_match(s, page_type) for s in selectors)
        memo = style_for.__dict__.setdefault("_memo_pages", {})
        if (styles := memo.get(matched)) is None:
            original(page_type, html, style_for)
            memo[matched] = {pseudo: style for (element, pseudo), style in style_for._computed_styles.items()
                             if element == page_type}
            return None
        for pseudo, style in styles.items():
            style_for._computed_styles[page_type, pseudo] = style
        return None

    shared.patched = True  # type: ignore[attr-defined]
    shared.original = original  # type: ignore[attr-defined]
    pages.set_page_type_computed_styles = shared


def page_references_kept() -> None:
    """pydyf makes a tuple of every page's reference each time one page's is asked for, and
    WeasyPrint asks for each structure element, link and anchor: quadratic in a long document.
    Pages are only ever added, so the tuple is kept until the page count changes."""
    import pydyf

    original = pydyf.PDF.page_references
    if getattr(original.fget, "patched", False):
        return

    def kept(self: Any) -> tuple[bytes, ...]:
        count = len(self.pages["Kids"])
        memo = self.__dict__.get("_memo_references")
        if memo is None or memo[0] != count:
            memo = self._memo_references = (count, original.fget(self))
        return memo[1]

    kept.patched = True  # type: ignore[attr-defined]
    kept.original = original.fget  # type: ignore[attr-defined]
    pydyf.PDF.page_references = property(kept)


def objects_written_once() -> None:
    """pydyf's PDF.write, given an identifier (WeasyPrint always gives one), hashes every
    object's bytes for the /ID after writing them: each dictionary is serialized twice and each
    stream joined and deflated twice, the object stream holding most objects included. Keep an
    indirect object's bytes (it has a number; only those are written and hashed, and they do not
    change while the file is written) for the length of one write."""
    import pydyf

    original_write = pydyf.PDF.write
    if getattr(original_write, "patched", False):
        return
    state: dict[str, dict[int, bytes] | None] = {"memo": None}

    def once(getter: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
        def data(self: Any) -> bytes:
            memo = state["memo"]
            if memo is None or self.number is None:  # a direct object, or not in a write
                return getter(self)
            found = memo.get(id(self))  # the object is in pdf.objects until the write ends
            if found is None:
                found = memo[id(self)] = getter(self)
            return found

        data.original = getter  # type: ignore[attr-defined]
        return data

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        state["memo"] = {}
        try:
            return original_write(self, *args, **kwargs)
        finally:
            state["memo"] = None

    for cls in (pydyf.Dictionary, pydyf.Array, pydyf.String, pydyf.Stream):
        cls.data = property(once(cls.data.fget))
    write.patched = True  # type: ignore[attr-defined]
    write.original = original_write  # type: ignore[attr-defined]
    pydyf.PDF.write = write


def html_scanned_by_kept_patterns() -> None:
    """tinyhtml5 2.1's chars_until keeps the pattern it compiles in a dict, but stores it under
    (pattern, opposite) instead of (characters, opposite) (a chained assignment rebinds
    `characters` first), so every call builds the pattern again and asks `re` for it: 21,000
    times over a dossier's parts. A dict that makes the missing pattern itself, under the key
    asked for, is the cache it meant to be: the same patterns, the same trees."""
    from tinyhtml5 import inputstream

    if type(inputstream.characters_until_regex) is _Patterns:
        return
    inputstream.characters_until_regex = _Patterns()  # what it holds sits under keys never asked for


class _Patterns(dict[tuple[Any, bool], "re.Pattern[str]"]):
    def __missing__(self, key: tuple[Any, bool]) -> re.Pattern[str]:
        characters, opposite = key
        chars = "".join(f"\\x{ord(c):02x}" for c in characters)
        found = self[key] = re.compile(f"[{chars}]+" if opposite else f"[^{chars}]+")
        return found


def page_names_found_at_the_ends() -> None:
    """ParentBox.page_values (the page names a box starts and ends on, asked of each child as
    a block lays it out) lists every child in flow to take the first and the last, and each of
    those asks its own children again: over a dossier's parts, 190,000 tests of children for
    23,000 questions. The first and the last are found by looking from each end; what is asked
    of them is what WeasyPrint asks."""
    from weasyprint.formatting_structure import boxes

    original = boxes.ParentBox.page_values
    if getattr(original, "patched", False):
        return
    own = boxes.Box.page_values

    def page_values(self: Any) -> tuple[Any, Any]:
        start_value, end_value = own(self)
        children = self.children
        first = next((c for c in children if c.is_in_normal_flow() or c.is_floated()), None)
        if first is None:
            return start_value, end_value
        last = next(c for c in reversed(children) if c.is_in_normal_flow() or c.is_floated())
        if first is last:
            values = first.page_values()
            return values[0] or start_value, values[1] or end_value
        return first.page_values()[0] or start_value, last.page_values()[1] or end_value

    page_values.patched = True  # type: ignore[attr-defined]
    page_values.original = original  # type: ignore[attr-defined]
    boxes.ParentBox.page_values = page_values


def flow_read_from_the_style() -> None:
    """Box.is_in_normal_flow asks five methods in turn (floated, absolutely positioned, running,
    footnote, note), each reading the style again: layout and ParentBox.page_values ask it of
    boxes 230,000 times over a dossier's parts. One function reads `float`, then `position`
    (the order in which those methods first read them), and gives the same answer; no box class
    overrides any of the five."""
    from weasyprint.formatting_structure import boxes

    original = boxes.Box.is_in_normal_flow
    if getattr(original, "patched", False):
        return
    out_of_flow = ("left", "right", "inline-start", "inline-end", "footnote")  # floated, or a footnote

    def is_in_normal_flow(self: Any) -> bool:
        style = self.style
        if style["float"] in out_of_flow:
            return False
        position = style["position"]
        return position not in ("absolute", "fixed") and position[0] not in ("running()", "note()")

    is_in_normal_flow.patched = True  # type: ignore[attr-defined]
    is_in_normal_flow.original = original  # type: ignore[attr-defined]
    boxes.Box.is_in_normal_flow = is_in_normal_flow


def logical_floats_in_lines() -> None:
    """Float a box inside a line to inline-start or inline-end instead of failing.

    WeasyPrint 70 counts the width a float takes from its line under the float's own value
    (float_widths[float], a dict of left and right only), so `float: inline-start` or
    `inline-end` on an inline element (a theme's or --css rule on a span) raised a KeyError and
    the document did not render. The width is counted on the side the same function then floats
    it to: left for inline-start in a left-to-right line, right in a right-to-left one. Physical
    floats go as before.
    """
    from weasyprint.layout import inline

    original = inline._out_of_flow_layout
    if getattr(original, "patched", False):
        return

    def layout(context: Any, box: Any, containing_block: Any, index: int, child: Any, children: Any,
               line_children: Any, waiting_children: Any, waiting_floats: Any, absolute_boxes: Any,
               fixed_boxes: Any, line_placeholders: Any, float_widths: Any, *rest: Any) -> Any:
        if child.style["float"] in ("inline-start", "inline-end"):
            float_widths = _Sides(float_widths, _SIDES["rtl" if box.style["direction"] == "rtl" else "ltr"])
        return original(context, box, containing_block, index, child, children, line_children, waiting_children,
                        waiting_floats, absolute_boxes, fixed_boxes, line_placeholders, float_widths, *rest)

    layout.patched = True  # type: ignore[attr-defined]
    layout.original = original  # type: ignore[attr-defined]
    inline._out_of_flow_layout = layout


_SIDES = {"ltr": {"inline-start": "left", "inline-end": "right"},
          "rtl": {"inline-start": "right", "inline-end": "left"}}


class _Sides:
    """A line's float widths (left, right) read and written under logical names too."""

    def __init__(self, widths: dict[str, float], sides: dict[str, str]) -> None:
        self.widths, self.sides = widths, sides

    def __getitem__(self, key: str) -> float:
        return self.widths[self.sides.get(key, key)]

    def __setitem__(self, key: str, value: float) -> None:
        self.widths[self.sides.get(key, key)] = value


def colours_parsed_once() -> None:
    """The computed value of a colour property is tinycss2's parse_color of its declared value,
    run for every element and property that reads it: `currentcolor` as text (the initial value
    of borders and outlines, read by every box drawn) and hex tokens from the theme, 10,000
    times over a dossier's parts. Parsing depends on the value (a hex token's digits) and the
    colour scheme alone, and what it returns is never changed once made (a keyword, or a Color
    that WeasyPrint only reads: its one change, for box shadows, is made on a copy), so text and
    hex tokens are parsed once per worker; other values (functions) are parsed each time."""
    from tinycss2.ast import HashToken
    from weasyprint.css import computed_values

    original = computed_values.parse_color
    if getattr(original, "patched", False):
        return
    parsed: dict[tuple[Any, ...], Any] = {}

    def parse_color(value: Any, *args: Any) -> Any:
        if type(value) is str:
            key: tuple[Any, ...] = (value, *args)
        elif type(value) is HashToken:
            key = (HashToken, value.value, *args)
        else:
            return original(value, *args)
        try:
            return parsed[key]
        except KeyError:
            if len(parsed) >= COLOURS:  # a worker lives for many documents
                parsed.clear()
            found = parsed[key] = original(value, *args)
            return found
        except TypeError:  # a colour scheme that is not hashable
            return original(value, *args)

    parse_color.patched = True  # type: ignore[attr-defined]
    parse_color.original = original  # type: ignore[attr-defined]
    computed_values.parse_color = parse_color


def streams_compressed_at_level_6() -> None:
    """pydyf deflates with zlib.compressobj(level=9); give it level 6 instead."""
    import zlib

    import pydyf

    if getattr(pydyf.zlib, "patched", False):
        return

    class Zlib:
        patched = True

        def __getattr__(self, name: str) -> Any:
            return getattr(zlib, name)

        @staticmethod
        def compressobj(level: int = -1, *args: Any, **kwargs: Any) -> Any:
            return zlib.compressobj(min(level, 6), *args, **kwargs)

    pydyf.zlib = Zlib()


class _Run(bytes):
    """A run of text's marked-content id, written in its element's /K where a reference to its
    /Span would be; parent: that element, which the parent tree gives for the id."""

    parent: bytes


class _Later(bytes):
    """Where a /NonStruct element's reference goes until it is known whether it is kept (see
    text_tagged_in_its_element): NUL, which no reference holds, then a serial number."""


PLAIN = {"Type", "S", "K", "Pg", "P"}  # a structure element with nothing more than its place


def _object(pdf: Any, ref: Any) -> Any:
    """The object a reference ("n 0 R") names in a pydyf.PDF, whose n is its place in the list;
    None for anything else (a marked-content id, a run's _Run)."""
    if isinstance(ref, bytes) and ref.endswith(b" 0 R") and not isinstance(ref, (_Run, _Later)):
        return pdf.objects[int(ref.split()[0])]
    return None


class _Tagging:
    """The pydyf.PDF that add_tags is given, but for the elements that may hold nothing but runs
    of text. A /Span made for a run alone (pdf/tags.py: its only kid is the run's marked-content
    id) is not added: its reference is the id (a _Run). A /NonStruct (a box of no element, or a
    pseudo-element such as a footnote's call or marker) is added once its kids are known: its
    reference is a _Later until then."""

    def __init__(self, pdf: Any, run: type, later: type) -> None:
        self._pdf, self._run, self._later = pdf, run, later
        self.waiting: list[Any] = []  # the /NonStruct elements, in the order they were made

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pdf, name)

    def add_object(self, obj: Any) -> None:
        kids = obj.get("K")
        if obj.get("Type") == "/StructElem" and isinstance(kids, list) and obj.keys() == PLAIN:
            if obj["S"] == "/Span" and len(kids) == 1 and type(kids[0]) is int:
                obj.__class__ = self._run
                return
            if obj["S"] == "/NonStruct" and not kids:
                obj.__class__ = self._later
                obj.later = _Later(b"\0%d" % len(self.waiting))
                self.waiting.append(obj)
                return
        self._pdf.add_object(obj)

    def settle(self, made: list[Any], nums: list[Any]) -> None:
        """A /NonStruct that holds runs of text alone gives them to its parent, in its place; any
        other is added. made: every other structure element made; nums: the parent tree's."""
        gone: dict[bytes, bytes] = {}  # a /NonStruct given up -> its parent
        by_later = {e.later: e for e in self.waiting}
        for e in reversed(self.waiting):  # kids before their parents
            parent = by_later.get(e["P"]) or _object(self._pdf, e["P"])
            siblings = parent["K"]
            if all(isinstance(k, _Run) for k in e["K"]) and any(k is e.later for k in siblings):
                at = next(i for i, k in enumerate(siblings) if k is e.later)
                siblings[at:at + 1] = e["K"]
                gone[e.later] = e["P"]
        kept: dict[bytes, bytes] = {}
        for e in self.waiting:
            if e.later not in gone:
                self._pdf.add_object(e)
                kept[e.later] = b"%d 0 R" % e.number

        def final(ref: Any) -> Any:
            while isinstance(ref, _Later) and ref in gone:
                ref = gone[ref]
            return kept.get(ref, ref) if isinstance(ref, _Later) else ref

        for e in [*made, *(e for e in self.waiting if e.later in kept)]:
            e["P"] = final(e["P"])
            e["K"][:] = [final(k) for k in e["K"]]
        for i in range(1, len(nums), 2):
            value = nums[i]
            if isinstance(value, list):
                value[:] = [final(ref.parent if isinstance(ref, _Run) else ref) for ref in value]
            else:
                nums[i] = final(value)


def text_tagged_in_its_element() -> None:
    """Mark each run of text as content of the element it is in, without a /Span of its own,
    nor a /NonStruct that holds it alone.

    WeasyPrint 70 gives every run of text (a line's piece of a paragraph, of a footnote, of a
    heading) a /Span structure element holding its marked-content id alone: 13,000 of a 60-note
    dossier's 30,000 objects, which the join copies one by one (a third of its time), and 16%
    of the bytes of one pass. A /Span without attributes tells a reader nothing (ISO 32000-1
    names it the generic inline element), and an element may hold marked-content ids among its
    kids, as WeasyPrint writes a link's text. Each element is made for one page, so its /Pg is
    its runs' page. The parent tree gives each id its element instead of the /Span.
    A footnote's call and its marker are each a /NonStruct holding one run (2,600 more objects):
    a /NonStruct is by definition read as if its content were its parent's, so one that holds
    runs alone gives them to its parent, in its place.
    """
    import pydyf
    import weasyprint.pdf as wpdf

    original = wpdf.add_tags
    if getattr(original, "patched", False) or getattr(original, "flat", False):
        return

    class TextRun(pydyf.Dictionary):
        @property
        def reference(self) -> bytes:
            run = _Run(b"%d" % self["K"][0])
            run.parent = self["P"]
            return run

    class Waiting(pydyf.Dictionary):
        later: _Later

        @property
        def reference(self) -> bytes:
            return self.later if self.number is None else super().reference

    def add_tags(pdf: Any, document: Any, pdf_version: Any, page_streams: Any) -> None:
        start = len(pdf.objects)
        tagging = _Tagging(pdf, TextRun, Waiting)
        original(tagging, document, pdf_version, page_streams)
        root = pdf.catalog.get("StructTreeRoot")
        if root is None:
            return
        made = [o for o in pdf.objects[start:] if isinstance(o, dict) and o.get("Type") == "/StructElem"]
        mapping = _object(pdf, _object(pdf, root)["ParentTree"])
        tagging.settle(made, mapping["Nums"])

    add_tags.flat = True  # type: ignore[attr-defined]
    wpdf.add_tags = add_tags


def footnotes_tagged_as_notes() -> None:
    """Tag footnotes as /Note in the structure tree.

    WeasyPrint 70 maps tags by element name only: the footnote area of a page (a box without an
    element) becomes /NonStruct and each footnote in it a /Span, so a screen reader cannot tell
    a footnote from text. After its tree is built, each /Span directly in a page's footnote area
    (a /NonStruct under the Document) becomes /Note.
    """
    import weasyprint.pdf as wpdf

    original = wpdf.add_tags
    if getattr(original, "patched", False):
        return

    def add_tags(pdf: Any, document: Any, pdf_version: Any, page_streams: Any) -> None:
        original(pdf, document, pdf_version, page_streams)
        root = _object(pdf, pdf.catalog.get("StructTreeRoot"))
        if root is None:
            return
        doc = _object(pdf, root["K"][0])
        for ref in doc["K"] if doc is not None else ():
            area = _object(pdf, ref)
            if area is None or area.get("S") != "/NonStruct":
                continue
            for kid in area.get("K", ()):
                note = _object(pdf, kid) if isinstance(kid, bytes) else kid if isinstance(kid, dict) else None
                if isinstance(note, dict) and note.get("S") == "/Span":
                    note["S"] = "/Note"

    add_tags.patched = True  # type: ignore[attr-defined]
    wpdf.add_tags = add_tags


def leaders_as_one_run() -> None:
    """Draw a leader (the dots of a contents line) as one run of text, not one per dot.

    WeasyPrint 70 fills a leader with a copy of its text box per repetition, each drawn on its
    own: a contents page of 60 lines draws 5,000 boxes, most of the front matter's cost. The
    copies sit edge to edge, from the right edge leftwards, so one box holding the repeated text,
    placed where the leftmost copy was, draws the same glyphs at the same places.
    """
    from weasyprint.layout import inline, leader
    from weasyprint.text.line_break import create_layout

    original = leader.handle_leader
    if getattr(original, "patched", False):
        return

    def handle(context: Any, line: Any, containing_block: Any) -> None:
        original(context, line, containing_block)
        _, box = leader.leader_index(line)
        if box is None or len(box.children) < 2:
            return
        first = min(box.children, key=lambda b: b.position_x)
        run = first.copy()
        run.text = first.text * len(box.children)
        run.width = sum(b.width for b in box.children)
        run.pango_layout = create_layout(run.text, run.style, context, None, first.justification_spacing)
        run.pango_layout.deactivate()
        box.children = (run,)

    handle.patched = True  # type: ignore[attr-defined]
    handle.original = original  # type: ignore[attr-defined]
    inline.handle_leader = handle


def footnotes_stay_with_their_calls() -> None:
    """Work around WeasyPrint 70 moving footnotes away from their calls, or losing them.

    When a line overflows the page and orphans forbid breaking before it, WeasyPrint moves the
    page's last footnotes to the next page to make room and keeps the line; the footnotes the
    line itself calls are then never laid out and vanish. Undo such moves and give the block up
    instead (it starts the next page, as without footnotes); on an otherwise empty page, place
    a lost footnote after the moved ones.
    """
    from weasyprint.layout import block

    original = getattr(block, "_linebox_layout", None)
    if original is None or getattr(original, "patched", False):
        return

    def patched(context: Any, box: Any, index: int, child: Any, new_children: list[Any],
                page_is_empty: bool, absolute: Any, fixed: Any, margins: Any, bottom_space: float,
                *args: Any) -> Any:
        before = len(context.reported_footnotes)
        result = original(context, box, index, child, new_children, page_is_empty, absolute,
                          fixed, margins, bottom_space, *args)
        abort, stop, new_footnotes = result[0], result[1], result[4]
        moved = context.reported_footnotes[before:]
        if moved and not page_is_empty:
            del context.reported_footnotes[before:]
            context.current_page_footnotes.extend(moved)
            context._update_footnote_area()
            last = new_children[-1] if new_children else None
            kept = stop and not abort and last is not None and context.overflows_page(
                bottom_space, last.position_y + last.height)  # it fitted only thanks to the move
            return (True, False, *result[2:]) if kept else result
        if stop and not abort and new_children:
            for b in new_children[-1].descendants():
                if (footnote := getattr(b, "footnote", None)) in context.footnotes:
                    if context.layout_footnote(footnote) or context.reported_footnotes:
                        context.report_footnote(footnote)
                    new_footnotes.append(footnote)
        return result

    patched.patched = True  # type: ignore[attr-defined]
    patched.original = original  # type: ignore[attr-defined]
    block._linebox_layout = patched


def footnotes_laid_out_once() -> None:
    """Make WeasyPrint 70 lay out each footnote once per page instead of once per footnote
    added to the page; the pages come out byte for byte the same.

    LayoutContext._update_footnote_area, run each time a footnote is added to or moved off
    the page, lays out a deep copy of the whole footnote area to learn its height: a page with
    n footnotes lays out n(n+1)/2 of them, then make_page lays the area out once more to draw
    it. The footnotes already in the area sit at the same place each time, so their layout is
    the same: remember it, per footnote area (make_page makes one per page and per remake), keyed
    on what block_level_layout reads for a child of the area; make_page's own layout of the
    area gets deep copies of the remembered boxes. Footnotes whose layout has side effects or
    depends on more than the footnote (positioned, floated or running descendants, calls to
    other footnotes, columns), and anything while floats are around, go the usual way.

    Each update also shaped a deep copy of the whole area (create_anonymous_boxes) to lay it
    out. Where every footnote on the page is of the kind remembered, the area is made of
    shallow copies of each footnote shaped once, deep-copied only when laid out: in a
    dossier's parts, 30% fewer boxes copied and two thirds fewer shaped.

    Even remembered, each footnote already in the area was visited again at every update: the
    area is resumed after those of the last update instead (resumed(), 3% of a part).

    Also, `descendant.footnote in context.footnotes` (block._linebox_layout) scans the list
    of all pending footnotes for every box of every line, nearly always for None.
    """
    from weasyprint.formatting_structure import boxes, build
    from weasyprint.layout import LayoutContext, block, page

    original_update = LayoutContext._update_footnote_area
    if getattr(original_update, "patched", False):
        return
    original_layout = block.block_level_layout  # used by block.py for children of the area
    original_page_layout = page.block_level_layout  # used by make_page for the drawn area
    original_container = block.block_container_layout  # used by block_box_layout, for the area too
    state: dict[str, Any] = {"mode": None, "cache": None, "by_style": None}

    def memoizable(footnote: Any) -> bool:
        ok = footnote.__dict__.get("_memo_ok")
        if ok is None:
            ok = isinstance(footnote, boxes.BlockBox) and footnote.style["position"] == "static"
            for b in footnote.descendants():
                style = b.style
                if (getattr(b, "footnote", None) is not None
                        or style["position"] not in ("static", "relative")
                        or (b is not footnote and style["float"] != "none")
                        or style["column_width"] != "auto" or style["column_count"] != "auto"
                        or not isinstance(b, (boxes.BlockBox, boxes.LineBox, boxes.InlineBox,
                                              boxes.TextBox))):
                    ok = False
                    break
            footnote._memo_ok = ok
        return ok

    def start(context: Any, mode: str) -> bool:
        area = context.current_footnote_area
        if (state["mode"] is not None or context.excluded_shapes
                or area.establishes_formatting_context() or not context.current_page_footnotes):
            return False
        cache = area.__dict__.get("_memo_cache")
        if cache is None:
            cache = area._memo_cache = {}
        by_style = {id(f.style): f for f in context.current_page_footnotes if memoizable(f)}
        state.update(mode=mode, cache=cache, by_style=by_style)  # footnotes own their style
        return True

    def update(self: Any) -> Any:
        if not start(self, "update"):
            return original_update(self)
        try:
            if len(state["by_style"]) < len(self.current_page_footnotes):
                return original_update(self)
            state["mode"] = "quick"
            return quick_update(self)
        finally:
            state.update(mode=None, cache=None, by_style=None)

    def shaped(footnote: Any) -> Any:
        """The footnote as create_anonymous_boxes makes it inside the area (a block among
        blocks: made alone, the same), made once; each update lays out copies of it."""
        made = footnote.__dict__.get("_memo_shaped")
        if made is None:
            made = footnote._memo_shaped = build.create_anonymous_boxes(footnote.deepcopy())
        return made

    def quick_update(self: Any) -> Any:
        """LayoutContext._update_footnote_area, except that the area's copy is made of the
        footnotes' shaped copies rather than shaped again whole for every footnote added."""
        area = self.current_footnote_area
        if area.height != "auto" and not self.in_column:
            self.page_bottom += area.margin_height()
        area.children = self.current_page_footnotes
        copy = area.copy()
        copy.children = [shaped(f).copy() for f in area.children]  # deep copies on a miss (layout)
        if copy.leading_collapsible_space is False:  # as inline_in_block sets it
            copy.leading_collapsible_space = copy.children[0].leading_collapsible_space
        laid = original_layout(self, copy, -inf, None, area.page)[0]
        area.height = laid.height
        if not self.in_column:
            self.page_bottom -= laid.margin_height()
        last = laid.children[-1]
        return (last.position_y + last.margin_height() - last.margin_bottom
                > laid.position_y + laid.margin_height() - laid.margin_bottom)

    def page_layout(context: Any, box: Any, *args: Any, **kwargs: Any) -> Any:
        if type(box) is not boxes.FootnoteAreaBox or not start(context, "final"):
            return original_page_layout(context, box, *args, **kwargs)
        try:
            return original_page_layout(context, box, *args, **kwargs)
        finally:
            state.update(mode=None, cache=None, by_style=None)

    def layout(context: Any, box: Any, bottom_space: Any, skip_stack: Any,
               containing_block: Any, page_is_empty: bool = True, absolute_boxes: Any = None,
               fixed_boxes: Any = None, adjoining_margins: Any = None,
               first_letter_style: Any = None, first_line_style: Any = None,
               discard: bool = False, max_lines: Any = None) -> Any:
        mode = state["mode"]
        if (mode is None or type(containing_block) is not boxes.FootnoteAreaBox
                or skip_stack is not None or first_letter_style is not None
                or first_line_style is not None or context.excluded_shapes
                or (footnote := state["by_style"].get(id(box.style))) is None):
            return original_layout(context, box, bottom_space, skip_stack, containing_block,
                                   page_is_empty, absolute_boxes, fixed_boxes,
                                   adjoining_margins, first_letter_style, first_line_style,
                                   discard, max_lines)
        cache = state["cache"]
        key = (id(footnote), box.position_x, box.position_y, containing_block.width,
               containing_block.style["direction"], bottom_space, page_is_empty,
               tuple(adjoining_margins or ()), discard, max_lines, context.current_page,
               context.forced_break, context.in_column)
        if (hit := cache.get(key)) is not None:
            _, (new_child, resume_at, next_page, next_margins, through, lines), after = hit
            if adjoining_margins is not None:
                adjoining_margins[:] = after  # the real call appends to the list it is given
            if mode == "final":
                new_child = new_child.deepcopy()  # drawn, and moved by make_page
            return new_child, resume_at, dict(next_page), list(next_margins), through, lines
        if mode == "quick":
            box = box.deepcopy()  # a shaped footnote's copy shares its children with the next
        result = original_layout(context, box, bottom_space, skip_stack, containing_block,
                                 page_is_empty, absolute_boxes, fixed_boxes, adjoining_margins,
                                 first_letter_style, first_line_style, discard, max_lines)
        new_child, resume_at, next_page, next_margins, through, lines = result
        if mode in ("update", "quick") and new_child is not None and resume_at is None:
            cache[key] = (footnote, (new_child, None, dict(next_page), list(next_margins),
                                     through, lines), list(adjoining_margins or ()))
        return result

    def container(context: Any, box: Any, bottom_space: Any, skip_stack: Any, page_is_empty: bool,
                  absolute_boxes: Any, fixed_boxes: Any, adjoining_margins: Any, first_letter_style: Any,
                  first_line_style: Any, discard: bool, max_lines: Any) -> Any:
        args = (context, box, bottom_space, skip_stack, page_is_empty, absolute_boxes, fixed_boxes,
                adjoining_margins, first_letter_style, first_line_style, discard, max_lines)
        if (state["mode"] != "quick" or type(box) is not boxes.FootnoteAreaBox or skip_stack is not None
                or first_letter_style is not None or first_line_style is not None or discard
                or max_lines is not None or not resumable(box)):
            return original_container(*args)
        y, given = box.position_y, None if adjoining_margins is None else list(adjoining_margins)
        try:
            return resumed(context, box, bottom_space, page_is_empty, absolute_boxes, fixed_boxes,
                           adjoining_margins)
        except _Unusual:  # undone, then laid out the usual way
            box.position_y = y
            if adjoining_margins is not None:
                adjoining_margins[:] = given
            context.current_footnote_area._memo_run = None
            return original_container(*args)

    def resumable(box: Any) -> bool:
        """Is the area of the kind resumed() lays out as block_container_layout would?"""
        style = box.style
        return (box.first_line_style is None and box.first_letter_style is None
                and style["continue"] != "discard" and style["box_decoration_break"] != "clone"
                and style["max_lines"] == "none" and style["position"] == "static"
                and not box.force_fragmentation and box.height == "auto"
                and not box.establishes_formatting_context() and not box.top_margin_collapses())

    def resumed(context: Any, box: Any, bottom_space: Any, page_is_empty: bool, absolute_boxes: Any,
                fixed_boxes: Any, adjoining_margins: Any) -> Any:
        """block_container_layout for a footnote area of the usual kind, resumed after the
        footnotes it laid out at the last update of the page, where those are still its first.

        Each update laid out the whole area again, visiting every footnote already there (each
        a remembered layout, but still its margins, page-break checks and percentages): a
        page of n footnotes made n(n+1)/2 of those visits. The loop's state after a child
        depends only on the state before it and the child, so the state kept after the last
        child of one update is the state the next update reaches at that child, to the bit.
        Anything the usual kind does not have raises _Unusual, and the area is laid out the
        usual way instead."""
        box.remove_decoration(start=False, end=False)
        margins = [] if adjoining_margins is None else adjoining_margins
        margins.append(box.margin_top)
        box.position_y += block.collapse_margin(margins) - box.margin_top  # the top does not collapse
        position_y, position_x = box.content_box_y(), box.content_box_x()
        area = context.current_footnote_area  # the area this is a copy of (quick_update)
        feet = tuple(area.children)
        where = (box.position_y, position_x, box.width, bottom_space, page_is_empty,
                 context.current_page, context.forced_break, context.in_column)
        run = area.__dict__.get("_memo_run")
        if (run is not None and run[0] == where and len(run[1]) <= len(feet)
                and all(a is b for a, b in zip(run[1], feet[:len(run[1])], strict=True))):
            _, done, position_y, kept, children, next_page = run
            adjoining, new_children, next_page = list(kept), list(children), dict(next_page)
        else:
            done, adjoining, new_children, next_page = (), [], [], {"break": "any", "page": None}
        for index in range(len(done), len(box.children)):
            child = box.children[index]
            if isinstance(child, boxes.LineBox) or not child.is_in_normal_flow() or child.style["position"] != "static":
                raise _Unusual
            child.position_x, child.position_y = position_x, position_y
            last = block.find_last_class_a_break_point_child(new_children)
            if last is not None and (block.block_level_page_name(last, child) or block.force_page_break(
                    block.block_level_page_break(last, child), context)):
                raise _Unusual  # a break between footnotes
            abort, stop, _, position_y, adjoining, next_page, new_children, _ = block._in_flow_layout(
                context, box, index, child, new_children, page_is_empty, absolute_boxes, fixed_boxes,
                adjoining, bottom_space, position_y, None, None, None, False, next_page, None)
            if abort or stop:
                raise _Unusual
        if block.find_last_in_flow_child(new_children) is None:
            raise _Unusual
        area._memo_run = (where, feet, position_y, list(adjoining), list(new_children), dict(next_page))
        # the rest of block_container_layout, for a box not fragmented
        if not box.bottom_margin_collapses():
            position_y += block.collapse_margin(adjoining)
            adjoining = []
        new_box = box.copy_with_children(new_children)
        new_box.remove_decoration(start=False, end=False)
        new_box.height = max(0, position_y - new_box.content_box_y())
        new_box.height = max(min(new_box.height, new_box.max_height), new_box.min_height)
        if next_page["page"] is None:
            next_page["page"] = new_box.page_values()[1]
        return new_box, None, next_page, adjoining, False, None

    class Pending(list):  # context.footnotes: box.footnote is None for nearly every box
        __slots__ = ()

        def __contains__(self, item: object) -> bool:
            return item is not None and list.__contains__(self, item)

    def get_pending(self: Any) -> Any:
        return self.__dict__["footnotes"]

    def set_pending(self: Any, value: Any) -> None:
        self.__dict__["footnotes"] = value if type(value) is Pending else Pending(value)

    update.patched = True  # type: ignore[attr-defined]
    update.original = original_update  # type: ignore[attr-defined]
    layout.original = original_layout  # type: ignore[attr-defined]
    page_layout.original = original_page_layout  # type: ignore[attr-defined]
    container.original = original_container  # type: ignore[attr-defined]
    LayoutContext._update_footnote_area = update
    LayoutContext.footnotes = property(get_pending, set_pending)
    block.block_level_layout = layout
    block.block_container_layout = container
    page.block_level_layout = page_layout


class _Unusual(Exception):
    """A footnote area that footnotes_laid_out_once's resumed layout does not handle."""


def fonts_subset_by_harfbuzz() -> None:
    """Subset embedded fonts with HarfBuzz when WeasyPrint 70 cannot load libharfbuzz-subset
    and would fall back to fontTools (about 1 s a 126-page dossier, 0.01 s this way).

    The same two passes as weasyprint.pdf.fonts.Font._harfbuzz_subset, through uharfbuzz's own
    API on a face made from the font's bytes: no HarfBuzz object crosses between the system
    library Pango uses and the copy inside uharfbuzz.
    """
    from weasyprint.pdf import fonts

    if fonts.harfbuzz_subset is not None or getattr(fonts.Font.subset, "patched", False):
        return  # the system library is there: WeasyPrint's own path
    try:
        import uharfbuzz as hb
    except ImportError:
        return

    def subset(self: Any, to_unicode: Any, hinting: bool) -> None:
        if not to_unicode:
            return
        keep = hb.SubsetFlags.PASSTHROUGH_UNRECOGNIZED | hb.SubsetFlags.DESUBROUTINIZE
        if self.missing:
            keep |= hb.SubsetFlags.NOTDEF_OUTLINE
        plan = hb.SubsetInput()
        plan.glyph_set.update(sorted(to_unicode))
        plan.drop_table_tag_set.update(int.from_bytes(t.encode(), "big") for t in _DROP)
        plan.flags = keep | hb.SubsetFlags.RETAIN_GIDS
        try:
            face = hb.subset(hb.Face(hb.Blob(self.file_content), self.index), plan)
            plan.glyph_set.update(range(max(to_unicode) + 1))  # drop empty glyphs after the last
            plan.flags = keep if hinting else keep | hb.SubsetFlags.NO_HINTING
            data = hb.subset(face, plan).blob.data
        except RuntimeError:
            data = b""
        if data:
            self.file_content = bytes(data)
        else:
            fonts.LOGGER.warning('Unable to subset "%s" with HarfBuzz', self.family)

    subset.patched = True  # type: ignore[attr-defined]
    fonts.Font.subset = subset


def identity_encoding(data: bytes) -> bytes:
    """Give every font the Identity-H encoding that text extractors expect.

    When a character is missing from a font, WeasyPrint 70 encodes that whole font with a custom
    CMap (WP-Encod-0) that sends the missing glyphs to .notdef; pypdf then reads every word set
    in that font as byte garbage. The same drawing is Identity-H plus a CIDToGIDMap that sends
    those glyphs to .notdef (glyph 0), which is what this writes instead.
    """
    if b"/WP-Encod-" not in data:
        return data
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        for obj in pdf.objects:
            encoding = obj.get("/Encoding") if isinstance(obj, pikepdf.Dictionary) else None
            if not isinstance(encoding, pikepdf.Stream) or not str(encoding.get("/CMapName", "")).startswith(
                    "/WP-Encod-"):
                continue
            pairs = {int(code, 16): int(cid) for code, cid in CIDCHAR.findall(encoding.read_bytes())}
            gids = bytearray(2 * (max(pairs, default=0) + 1))
            for code in range(len(gids) // 2):
                gids[2 * code:2 * code + 2] = pairs.get(code, code).to_bytes(2, "big")
            obj.DescendantFonts[0].CIDToGIDMap = pdf.make_stream(bytes(gids))
            obj.Encoding = pikepdf.Name("/Identity-H")  # pikepdf.Name.Identity_H would be /Identity_H
        out = io.BytesIO()
        pdf.save(out, deterministic_id=True, fix_metadata_version=False,
                 object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return out.getvalue()
