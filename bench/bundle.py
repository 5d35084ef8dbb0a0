"""Benchmark: `exporter bundle` on an N-note vault against one pandoc call on the same bodies.

Run: .venv/bin/python bench/bundle.py [--notes 1000] [--repeat 3]
Prints absolute times, the ratio (target <= 1.5) and peak memory. Both are timed in the
same run, alternating, and the ratio is the median over back-to-back pairs, so it holds
on a noisy machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import pypandoc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure  # noqa: E402
from vaultgen import make_vault  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--notes", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "vault"
        bodies = make_vault(root, args.notes)
        joined = "\n\n".join(bodies).encode()
        exporter = [
            str(Path(sys.executable).parent / "exporter"),
            "bundle",
            str(root),
            "-o",
            str(Path(tmp) / "out" / "archive"),
            "--quiet",
            "--no-cache",  # a clean build every time: pandoc has no cache either
        ]
        pandoc = [pypandoc.get_pandoc_path(), "-f", "commonmark_x", "-t", "commonmark_x"]
        ours, base = [], []
        for _ in range(args.repeat):
            base.append(measure(pandoc, joined))
            ours.append(measure(exporter))
    t_ours = statistics.median(t for t, _ in ours)
    t_base = statistics.median(t for t, _ in base)
    print(f"vault: {args.notes} notes, {len(joined) / 1024:.0f} KiB of bodies; median of {args.repeat}")
    print(f"{'':28}{'seconds':>10}{'peak MiB':>10}")
    print(f"{'pandoc commonmark_x (1 call)':28}{t_base:>10.2f}{max(m for _, m in base):>10.0f}")
    print(f"{'exporter bundle':28}{t_ours:>10.2f}{max(m for _, m in ours):>10.0f}")
    # each exporter run is paired with the baseline run just before it: drift in the
    # machine's speed hits both sides of a pair alike
    pairs = sorted(o / b for (o, _), (b, _) in zip(ours, base, strict=True))
    print(f"ratio exporter/pandoc: {statistics.median(pairs):.2f} median of pairs (target <= 1.5)")
    print(f"  pairs: {', '.join(f'{r:.2f}' for r in pairs)}")


if __name__ == "__main__":
    main()
