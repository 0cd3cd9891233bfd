"""Put back the accented words and elisions that WikiArt's title slugs break.

WikiArt drops every letter outside ASCII when it writes a slug, so "Démolition de l'Église Saint-Jean-
en-Grève" reaches us as ``d-molition-de-l-glise-saint-jean-en-gr-ve`` and "Fray Pedro Fernández" as
``fray-pedro-fern-ndez``. :func:`repair_words` looks each run of pieces up in a list of accented words
(``accents.txt.gz``, built by ``scripts/title_lexicon.py`` from wordfreq's lists of the European
languages) and joins French and Italian elisions (``l-hermitage`` -> ``l'hermitage``). A piece
that could be a title's own word is left as it is: the list holds no word whose broken form is
English (``in-a`` is not "inşa"). A ``d`` is elided where a French or Italian (or accented) word is
around it, where it opens the title, or after a word such as "Villa" ("Villa d'Este"); an ``l`` before a
vowel always, as "L'" in an English title ("Arcades at L'Estaque"). Without the list the words are
left as they are.
"""

from __future__ import annotations

import functools
import gzip
import re
from pathlib import Path

LEXICON_FILE = Path(__file__).with_name("accents.txt.gz")
#: the most pieces one broken word in the list spans (Hungarian "bevásárlóközpont" is ``bev-s-rl-k-zpont``)
_MAX_PIECES = 6
_NON_ASCII_RUN = re.compile(r"[^a-z]+")
_VOWEL_START = re.compile(r"^[aeiouyhàâäéèêëîïôöœùûü]")
#: words around an elided ``l`` or ``d`` that say the title is French or Italian
_ROMANCE = frozenset((
    "le", "la", "les", "de", "des", "du", "et", "au", "aux", "sur", "sous", "dans", "pour", "avec", "une", "un",
    "en", "il", "lo", "della", "del", "dei", "di", "da", "nel", "con", "per", "verso", "lungo",
    "femme", "trompe", "paysage", "vue",
))  # fmt: skip


#: words an elision never takes ("Yvonne D in Profile" is Yvonne D., "Sis and L Il Sis" no "l'Il")
_ENGLISH_SMALL = frozenset(
    ["a", "aka", "an", "and", "as", "at", "i", "if", "in", "is", "it", "of", "on", "up", "us", "il"]
)


#: words before a French "d'" in an English title ("Villa d'Este", "Rue d'Amsterdam")
_BEFORE_D = frozenset(
    ["rue", "villa", "chemin", "place", "pont", "porte", "route", "duc", "comte", "marquis"]
)


def slug_key(word: str) -> str:
    """A word as WikiArt's slug spells it: lower case, each run of other letters a hyphen, none at the ends."""
    return _NON_ASCII_RUN.sub("-", word.lower()).strip("-")


@functools.cache
def lexicon() -> dict[str, str]:
    """``slug key -> word`` (``fern-ndez`` -> ``fernández``; ``l-glise`` -> ``l'église``); empty without the list."""
    try:
        text = gzip.decompress(LEXICON_FILE.read_bytes()).decode("utf-8")
    except OSError:
        return {}
    out: dict[str, str] = {}
    for word in text.split():
        out.setdefault(slug_key(word), word)
    return out


def repair_words(words: list[str]) -> list[str]:
    """The slug's pieces with broken accented words put back and elisions joined."""
    lex = lexicon()
    out: list[str] = []
    i = 0
    while i < len(words):
        for j in range(min(len(words), i + _MAX_PIECES), i, -1):
            word = lex.get("-".join(words[i:j]))
            if word is not None:
                out.append(word)
                i = j
                break
        else:
            out.append(words[i])
            i += 1
    romance = any(w in _ROMANCE or not w.isascii() for w in out)
    joined: list[str] = []
    k = 0
    while k < len(out):
        w = out[k]
        nxt = out[k + 1] if k + 1 < len(out) else ""
        if (
            w in ("l", "d")
            and len(nxt) >= 2
            and nxt.isalpha()
            and _VOWEL_START.match(nxt)
            and nxt not in _ENGLISH_SMALL
            and (romance or k == 0 or w == "l" or (out[k - 1] if k else "") in _BEFORE_D)
        ):
            # in an English title "l'" starts a French name: "Arcades at L'Estaque"
            joined.append(f"{w if romance or w == 'd' else 'L'}'{nxt}")
            k += 2
            continue
        joined.append(w)
        k += 1
    return joined
