"""The render server's last import (pool.PRELOAD): what it holds is frozen before any worker is
forked from it.

WeasyPrint, the fonts and the warm-up live as long as the server and every worker. Frozen here,
a worker's collector never walks them, not even once at its start: walking them wrote to every
page that holds them, so each worker copied those pages from the server (0.1 s and tens of MB
a worker) before its first task. Python's documentation advises the same for forked children
(gc.freeze).
"""

from __future__ import annotations

import gc

gc.collect()
gc.freeze()
