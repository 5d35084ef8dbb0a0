"""Where a render may read from: data: URLs, and files inside the vault and the theme.

Apart from weasy.py so that importing it patches nothing (bench/pdf.py renders with WeasyPrint
as it comes, through the same fetcher).
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import DataHandler, Request

from weasyprint.urls import URLFetcher, URLFetcherResponse


class SafeFetcher(URLFetcher):
    """Serve data: URLs and files under the allowed roots; refuse and record anything else."""

    def __init__(self, roots: Iterable[str]) -> None:
        super().__init__(timeout=1, allowed_protocols={"data", "file"}, allow_redirects=False)
        self.roots = tuple(Path(os.path.realpath(r)) for r in roots)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        scheme = url.partition(":")[0].lower()
        if scheme == "data":
            got = DataHandler().data_open(Request(url))
            return URLFetcherResponse(url, got.read(), {"Content-Type": got.headers["Content-Type"]})
        path = self.allowed(url) if scheme == "file" else None
        if path is None:
            self.refused.append(url[:200])
            raise ValueError(f"refused to fetch {url[:80]!r}: outside the vault and theme")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})

    def allowed(self, url: str) -> Path | None:
        """The real path of a file:// URL if it lies inside a root (symlinks resolved)."""
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            return None
        path = Path(os.path.realpath(unquote(parts.path)))
        inside = any(path.is_relative_to(root) for root in self.roots)
        return path if inside and path.is_file() else None

