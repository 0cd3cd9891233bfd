"""Build ``artextract/sources/accents.txt.gz``: the accented words that WikiArt's slugs break.

WikiArt writes a title's slug by dropping every letter outside ASCII: "Démolition de l'Église" becomes
``d-molition-de-l-glise``, "Fernández" ``fern-ndez``. ``artextract.sources.titles`` puts such words back
from this list. The list is the accented words among the most frequent words of the European languages
WikiArt's titles are written in, from wordfreq (Apache-2.0 code; its word lists CC BY-SA 4.0, so the
built list carries that licence: ``accents-LICENSE.txt``).

A word is left out when its broken form could be a title's own words:

* the word keeps fewer than three ASCII letters ("été" -> ``t``);
* it breaks into one piece (a leading or trailing accent: "café" -> ``caf``) shorter than four letters
  or seen at all as a word in wordfreq's lists of these languages or English;
* it breaks into pieces that are all short words, initials or frequent English words ("in-a", "on-a",
  "as-a": not "inşa", "onça", "asía"), or starts on ``l`` or ``s`` or ends on ``s`` or ``t`` ("l-ger"
  is "à Léger", "aragon-s" "Aragon's", "don-t" "don't");
* it ends on a lone ``e`` without being French "-ée": "Leda e o Cisne" is Portuguese "and".

Where two languages break a word alike, the more frequent wins, French weighted first (``PRIOR``).
French and Italian words that start with an accent also go in elided ("l'église", "d'été"): an
elision before such a word loses both ("l-glise"), which no English title spells.

``--changes CATALOG`` prints what the list changes in a catalog's titles. On the 23,824 shared WikiArt
paintings it changes 339 titles (with the elisions and contractions ``artextract.sources.titles`` and
``wikiart.title_and_date`` join); read one by one, about a dozen of the changes are wrong (``la-mo-i``
becomes Czech "moři" where the Romanian is "moși").

Run it where wordfreq is installed (``pip install wordfreq==3.1.1``; not a dependency of the app)::

    python scripts/title_lexicon.py [--per-language 50000]
    python scripts/title_lexicon.py --changes data/wikiart/catalog.csv   # needs no wordfreq
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from artextract.sources.titles import LEXICON_FILE, slug_key  # noqa: E402
from artextract.sources.wikiart import _NEGATED as NEGATED_STEMS  # noqa: E402  ("don" of "don-t")

LANGUAGES = ["fr", "es", "it", "de", "pt", "nl", "ca", "pl", "cs", "hu", "ro", "sv", "da", "nb"]
#: where two languages break words the same way, the language more of WikiArt's titles are in wins
#: ("c-te" is French "côte" before Romanian "câte")
PRIOR = {"fr": 1.0, "es": 0.5, "it": 0.5, "de": 0.5, "pt": 0.3, "nl": 0.3, "ro": 0.3, "ca": 0.0, "pl": 0.0}
OTHER_PRIOR = -0.5
#: languages that elide their articles: "l'église", "d'été", "l'ombra"
ELIDING = ("fr", "it")
#: pieces of English titles: particles, initials, contractions ("don-t", "i-d", "we-ve"), abbreviations
LEGIT = {
    "a", "an", "and", "as", "at", "by", "for", "in", "is", "it", "my", "no", "of", "on", "or", "so", "the",
    "to", "up", "us", "we", "be", "do", "go", "he", "me", "la", "le", "de", "el", "en", "un", "da",
    "di", "du", "y", "o", "e", "s", "t", "d", "m", "ll", "ve", "re", "st", "mr", "mrs", "dr", "mt",
    # and everyday short words of the other languages ("ou-le" is French "ou le", not Romanian "ouăle")
    "ou", "et", "au", "aux", "sur", "des", "les", "il", "lo", "del", "los", "las", "em", "um", "der", "die",
    "das", "im", "am", "zu", "und", "von", "mit", "cu", "pe", "din", "si",
} | set("abcdefghijklmnopqrstuvwxyz")  # fmt: skip


def _latin(word: str) -> bool:
    return all(c.isalpha() and (c.isascii() or "LATIN" in unicodedata.name(c, "")) for c in word)


def _print_changes(catalog: Path) -> int:
    import pandas as pd

    from artextract.sources import wikiart

    stems = pd.read_csv(catalog, usecols=["id"], dtype=str)["id"].map(lambda p: Path(p).stem)
    slugs = stems.str.partition("_")[2]
    after = [wikiart.title_and_date(s)[0] for s in slugs]
    repair, wikiart.repair_words = wikiart.repair_words, lambda words: words
    try:
        before = [wikiart.title_and_date(s)[0] for s in slugs]
    finally:
        wikiart.repair_words = repair
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    for b, a in changed:
        print(f"{b}  =>  {a}")
    print(f"{len(changed)} of {len(slugs)} titles changed")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-language", type=int, default=50_000, help="most frequent words read per language")
    ap.add_argument("--out", type=Path, default=LEXICON_FILE)
    ap.add_argument(
        "--changes",
        type=Path,
        metavar="CATALOG",
        help="build nothing: print each title of a WikiArt catalog.csv that the list changes, before => after",
    )
    args = ap.parse_args(argv)
    if args.changes is not None:
        return _print_changes(args.changes)
    try:
        import wordfreq
    except ImportError:
        print("title_lexicon: needs wordfreq (pip install wordfreq==3.1.1)", file=sys.stderr)
        return 2

    def zipf_anywhere(word: str) -> float:
        return max(wordfreq.zipf_frequency(word, lang) for lang in [*LANGUAGES, "en"])

    def ambiguous(key: str, word: str) -> bool:
        pieces = key.split("-")
        if len(pieces) == 1:
            return len(key) < 4 or zipf_anywhere(key) > 0
        if pieces[0] in ("l", "s") or pieces[-1] == "s":  # "l-ger" is "à Léger"; "aragon-s" "Aragon's"
            return True
        if pieces[-1] == "t" and pieces[-2] in NEGATED_STEMS:  # "don-t" is "don't"
            return True
        if pieces[-1] == "e" and not word.endswith("ée"):
            return True
        return all(p in LEGIT or (len(p) > 2 and wordfreq.zipf_frequency(p, "en") >= 3.5) for p in pieces)

    best: dict[str, tuple[float, str, str]] = {}
    for lang in LANGUAGES:
        for i, word in enumerate(wordfreq.iter_wordlist(lang)):
            if i >= args.per_language:
                break
            if word.isascii() or not _latin(word):
                continue
            key = slug_key(word)
            if len(key.replace("-", "")) < 3:
                continue
            z = wordfreq.zipf_frequency(word, lang) + PRIOR.get(lang, OTHER_PRIOR)
            if key not in best or best[key][0] < z:
                best[key] = (z, word, lang)
    kept = sorted((k, w) for k, (_, w, _) in best.items() if not ambiguous(k, w))
    # an elision before a word that starts with an accent loses both: "l'église" -> "l-glise", whatever
    # "glise" alone could be
    taken = {k for k, _ in kept}
    for key, (_, word, lang) in best.items():
        if lang in ELIDING and not word[0].isascii() and "-" not in key:
            kept += [
                (k, w) for k, w in ((f"l-{key}", f"l'{word}"), (f"d-{key}", f"d'{word}")) if k not in taken
            ]
    kept.sort()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write("".join(f"{w}\n" for _, w in kept).encode("utf-8"))
    args.out.write_bytes(buf.getvalue())
    print(f"{args.out.name}: {len(kept)} words of {len(best)} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
