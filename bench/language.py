"""Compare lingua and langdetect for guessing a note's language when its frontmatter has no `lang`.

Each detector configuration runs in a fresh subprocess so that import time, model-loading time and
peak memory are measured in isolation. Run: `.venv/bin/python bench/language.py`.
"""

from __future__ import annotations

import json
import random
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTE_GLOBS = [(ROOT / "notes", "**/*.md"), (Path("/work/shared/samples/real"), "*.md")]
CANDIDATES = ["en", "de", "fr", "es", "it", "pt", "ru", "el", "zh", "ja"]
CONFIGS = [
    "lingua-high",
    "lingua-high-preload",
    "lingua-low",
    "lingua-low-preload",
    "langdetect",
    "langdetect-prior",
]
BUCKETS = [(0, 20), (20, 40), (40, 80), (80, 10**9)]  # chars, for the short texts
SENTENCES_PER_NOTE = 6
FRAGMENTS_PER_NOTE = 3

FRONTMATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)
TIMESTAMP_LINK = re.compile(r"<a\b[^>]*>.*?</a>", re.S)
HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")
WIKILINK = re.compile(r"\[\[([^\]|]*)(?:\|([^\]]*))?\]\]")
MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
MD_PUNCT = re.compile(r"[#*_`>|~$\\\[\]{}]+|^\s*[-+]\s+|^\s*\d+\.\s+", re.M)
SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
LETTER_WORD = re.compile(r"[^\W\d_]{2,}")  # skips formulas like "e^x + 2(e^x)"


@dataclass
class Sample:
    """One text to classify, with where it came from and the expected ISO 639-1 code."""

    kind: str  # note | first200 | sentence | fragment
    source: str
    expected: str
    text: str


def clean(markdown: str) -> tuple[str, str]:
    """Return (expected language, plain text) of a note: frontmatter, tags, links and markup stripped."""
    expected = "en"
    match = FRONTMATTER.match(markdown)
    if match:
        lang = re.search(r"^lang:\s*['\"]?([A-Za-z-]+)", match.group(1), re.M)
        if lang:
            expected = lang.group(1).lower().split("-")[0]
        markdown = markdown[match.end() :]
    text = TIMESTAMP_LINK.sub(" ", markdown)
    text = HTML_TAG.sub(" ", text)
    text = WIKILINK.sub(lambda m: (m.group(2) or m.group(1)).strip(), text)
    text = MD_LINK.sub(r"\1", text)
    text = MD_PUNCT.sub(" ", text)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n\s*", "\n", text)
    return expected, text.strip()


def build_samples() -> list[Sample]:
    """Full notes plus deterministic short texts cut from them."""
    rng = random.Random(0)
    samples: list[Sample] = []
    for base, pattern in NOTE_GLOBS:
        if not base.is_dir():
            continue
        for path in sorted(base.glob(pattern)):
            expected, text = clean(path.read_text(encoding="utf-8"))
            if not text:
                continue
            name = str(path.relative_to(base.parent))
            samples.append(Sample("note", name, expected, text))
            samples.append(Sample("first200", name, expected, text[:200].replace("\n", " ")))
            sentences = [s.strip() for s in SENTENCE_END.split(text)]
            good = [s for s in sentences if 8 <= len(LETTER_WORD.findall(s)) <= 15 and prose(s)]
            for s in rng.sample(good, min(SENTENCES_PER_NOTE, len(good))):
                samples.append(Sample("sentence", name, expected, s))
            long_ones = [s.split() for s in sentences if len(LETTER_WORD.findall(s)) >= 8 and prose(s)]
            for words in rng.sample(long_ones, min(FRAGMENTS_PER_NOTE, len(long_ones))):
                n = rng.randint(3, 6)
                start = rng.randrange(0, len(words) - n + 1)
                samples.append(Sample("fragment", name, expected, " ".join(words[start : start + n])))
    return samples


def prose(sentence: str) -> bool:
    """True when most whitespace-separated tokens are words, not formula pieces."""
    tokens = sentence.split()
    return sum(bool(re.fullmatch(r"[^\W\d_]+[,.;:!?)\"']*", t)) for t in tokens) >= 0.8 * len(tokens)


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_lingua(low: bool, preload: bool) -> tuple[float, Callable[[str], str]]:
    """Import lingua and build a detector; returns (import seconds, detect function)."""
    t = time.perf_counter()
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    import_s = time.perf_counter() - t
    codes = [getattr(IsoCode639_1, c.upper()) for c in CANDIDATES]
    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
    if low:
        builder = builder.with_low_accuracy_mode()
    if preload:
        builder = builder.with_preloaded_language_models()
    detector = builder.build()

    def detect(text: str) -> str:
        lang = detector.detect_language_of(text)
        return "none" if lang is None else lang.iso_code_639_1.name.lower()

    return import_s, detect


def make_langdetect(prior: bool) -> tuple[float, Callable[[str], str]]:
    """Import langdetect and load its 55 profiles; returns (import seconds, detect function).

    Without `prior` the top answer among all profiles is mapped (anything outside CANDIDATES is wrong);
    with it, a prior map gives zero probability to other languages, restricting langdetect like lingua.
    """
    t = time.perf_counter()
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
    from langdetect.lang_detect_exception import LangDetectException

    import_s = time.perf_counter() - t
    DetectorFactory.seed = 0
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)  # what langdetect.detect() does lazily on its first call
    wanted = [lang for lang in factory.get_lang_list() if lang.split("-")[0] in CANDIDATES]
    prior_map = dict.fromkeys(wanted, 1.0) if prior else None

    def detect(text: str) -> str:
        detector = factory.create()
        detector.append(text)
        if prior_map:
            detector.set_prior_map(prior_map)
        try:
            best = detector.detect()
        except LangDetectException:
            return "none"
        code = best.split("-")[0]  # zh-cn, zh-tw -> zh
        return code if code in CANDIDATES else f"other:{best}"

    return import_s, detect


def worker(config: str) -> None:
    """Run one configuration over all samples and print a JSON result line."""
    samples = build_samples()
    base_rss = maxrss_mib()
    t = time.perf_counter()
    if config.startswith("langdetect"):
        import_s, detect = make_langdetect(prior=config.endswith("prior"))
    else:
        import_s, detect = make_lingua(low="low" in config, preload="preload" in config)
    build_s = time.perf_counter() - t - import_s
    t = time.perf_counter()
    first = detect(samples[0].text)
    first_s = time.perf_counter() - t
    results = [first]
    t = time.perf_counter()
    results += [detect(s.text) for s in samples[1:]]
    rest_s = time.perf_counter() - t
    out = {
        "config": config,
        "import_s": import_s,
        "build_s": build_s,
        "first_s": first_s,
        "rest_s": rest_s,
        "n": len(samples),
        "extra_mib": maxrss_mib() - base_rss,
        "got": results,
    }
    print(json.dumps(out))


def run_config(config: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", config],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "--worker":
        worker(argv[1])
        return
    samples = build_samples()
    kinds = ["note", "first200", "sentence", "fragment"]
    counts = {k: sum(s.kind == k for s in samples) for k in kinds}
    langs = sorted({s.expected for s in samples if s.kind == "note"})
    print(f"samples: {counts}  note languages: {langs}")
    header = (
        f"{'config':<20} {'note':>6} {'200ch':>6} {'sent':>6} {'frag':>6} {'import':>7} {'build':>7} "
        f"{'1st':>7} {'rest':>6} {'ms/txt':>7} {'+MiB':>6}"
    )
    print(header)
    print("-" * len(header))
    wrong: dict[str, list[str]] = {}
    by_length: list[str] = []
    short = [i for i, s in enumerate(samples) if s.kind != "note"]
    for config in CONFIGS:
        r = run_config(config)
        cells = []
        for lo, hi in BUCKETS:
            idx = [i for i in short if lo <= len(samples[i].text) < hi]
            ok = sum(r["got"][i] == samples[i].expected for i in idx)
            cells.append(f"{100 * ok / len(idx):5.1f}% ({len(idx):>3})" if idx else "n/a")
        by_length.append(f"{config:<20} " + "  ".join(f"{c:>13}" for c in cells))
        accs = []
        for kind in kinds:
            idx = [i for i, s in enumerate(samples) if s.kind == kind]
            ok = sum(r["got"][i] == samples[i].expected for i in idx)
            accs.append(f"{100 * ok / len(idx):5.1f}%" if idx else "  n/a")
        ms = 1000 * r["rest_s"] / max(1, r["n"] - 1)
        print(
            f"{config:<20} {accs[0]:>6} {accs[1]:>6} {accs[2]:>6} {accs[3]:>6} {r['import_s']:>6.2f}s "
            f"{r['build_s']:>6.2f}s {r['first_s']:>6.2f}s {r['rest_s']:>5.2f}s {ms:>7.2f} "
            f"{r['extra_mib']:>6.0f}"
        )
        wrong[config] = [
            f"  {s.kind:<8} {s.source:<48} want {s.expected} got {g:<12} {s.text[:60]!r}"
            for s, g in zip(samples, r["got"], strict=True)
            if g != s.expected
        ]
    print("(build = builder/profile load; 1st = first detect incl. lazy model load; rest = all other texts;")
    print(" ms/txt = rest / texts; +MiB = peak RSS growth in a fresh process)")
    labels = [f"{lo}-{hi - 1}ch" if hi < 10**9 else f">={lo}ch" for lo, hi in BUCKETS]
    print(f"\nshort-text accuracy by length (n)\n{'config':<20} " + "  ".join(f"{x:>13}" for x in labels))
    print("\n".join(by_length))
    for config, lines in wrong.items():
        print(f"\nwrong answers, {config}: {len(lines)}")
        print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
