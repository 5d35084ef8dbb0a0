"""exporter: a vault of markdown notes -> PDF briefs and dossiers, EPUB collections, bundles.

Pipeline: readers (files, frontmatter) -> vault (link index) -> transforms (links, embeds,
citations) -> model (one normalized Collection) -> writers (markdown, HTML) -> packagers.
"""

__version__ = "0.1.0"
