"""A local WikiArt folder plus the ArtGAN split files, indexed into an ArtExtract catalog.

The folder is the ArtGAN WikiArt release: ``<Style>/<artist-slug>_<title-slug>.jpg``. Each image
listed in the split files becomes one catalog row with its ArtGAN style/artist/genre labels
(``""`` where a task does not label it) and its split (see :mod:`artextract.sources.artgan`).
Files listed but missing and files present but unlisted are counted, a few named in the summary,
and all written to ``wikiart_missing.txt`` / ``wikiart_unlisted.txt`` beside the catalog.

Where the catalog goes: in the WikiArt folder itself (default), in a folder containing it, or
anywhere else, in which case ``<out>/images`` is made a symbolic link to the WikiArt folder (so a
read-only copy works; nothing is copied). Extra columns: ``artist_name`` (from the file name, for
display; the ``artist`` label is ArtGAN's, only for its 23 artists). ``id`` is the image's path
relative to the WikiArt folder.
``source_url`` is WikiArt's page address built from the file name (``/en/<artist>/<title>``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..catalog import write_catalog
from ..errors import CatalogError
from ..fileio import write_text_atomic
from .artgan import ON_ERROR, ArtGANReport, index_images, load_artgan, path_key
from .titles import repair_words

LICENSE = "WikiArt: non-commercial research use only"
WIKIART_URL = "https://www.wikiart.org/en/{artist}/{title}"


@dataclass
class WikiArtSummary:
    """What ``artextract data wikiart`` did."""

    root: Path
    catalog: Path
    listed: int = 0
    indexed: int = 0
    missing: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    artgan: ArtGANReport | None = None

    @property
    def ok(self) -> bool:
        return not self.missing and (self.artgan is None or self.artgan.ok)

    def summary_line(self) -> str:
        line = (
            f"wikiart: {self.indexed} painting(s) indexed into {self.catalog} "
            f"(train {self.splits.get('train', 0)}, val {self.splits.get('val', 0)}) of {self.listed} listed; "
            f"{len(self.missing)} listed but missing"
        )
        if self.missing:
            line += f" (e.g. {', '.join(self.missing[:3])})"
        line += f"; {len(self.unlisted)} present but unlisted"
        if self.unlisted:
            line += f" (e.g. {', '.join(self.unlisted[:3])})"
        if self.artgan is not None:
            bad = [i.line() for i in self.artgan.errors if i.kind != "missing image"]
            if bad:
                line += "; split file problems: " + "; ".join(bad)
        return line


#: words a curator leaves in lower case inside a title (English plus the particles of names)
_SMALL_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "but",
        "by",
        "de",
        "del",
        "della",
        "der",
        "des",
        "di",
        "du",
        "en",
        "for",
        "from",
        "in",
        "into",
        "la",
        "le",
        "les",
        "of",
        "on",
        "or",
        "over",
        "the",
        "to",
        "un",
        "under",
        "upon",
        "van",
        "von",
        "with",
        "y",
    ]
)
_NEGATED = frozenset((
    "don", "doesn", "didn", "isn", "wasn", "aren", "weren", "can", "couldn", "wouldn", "shouldn", "won",
    "haven", "hasn", "hadn", "ain", "mustn",
))  # fmt: skip
_PRONOUNS = frozenset(["i", "you", "we", "they", "he", "she", "it", "that", "there", "who"])
_CONTRACTED = frozenset(["ll", "ve", "re", "d", "m"])
_ROMAN = re.compile(r"^(?=[ivxlc])(c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$")
_YEAR_TAIL = re.compile(
    r"^(?P<title>.*?)-(?P<circa>c-)?(?P<year>1[0-9]{3}|20[0-2][0-9])(?:-(?P<dup>[0-9]{1,2}))?$"
)


def _title_word(word: str, first: bool) -> str:
    if word[:2].lower() in ("l'", "d'") and len(word) > 2:  # "L'Hermitage", "Les Demoiselles d'Avignon"
        head = word[:2].capitalize() if first else word[:2]
        rest = word[2:]
        return head + (rest if rest in ("un", "une") else rest[:1].upper() + rest[1:])
    if _ROMAN.match(word):
        return word.upper()
    if word in _SMALL_WORDS and not first:
        return word
    if word == "s":
        return word
    return word[:1].upper() + word[1:]


def title_and_date(title_slug: str) -> tuple[str, str]:
    """A curator's title and date from a WikiArt title slug.

    ``paris-boulevard-in-the-rain-1893`` -> ("Paris Boulevard in the Rain", "1893");
    ``self-portrait-c-1887-2`` -> ("Self Portrait", "c. 1887") (the trailing ``-2`` is WikiArt's
    disambiguation); a slug without a year keeps its words and gets an empty date.
    """
    slug = re.sub(r"\(\d+\)$", "", title_slug.strip("-").lower()).strip("-")  # "untitled-1979(3)"
    date = ""
    m = _YEAR_TAIL.match(slug)
    if m and m.group("title"):
        slug = m.group("title")
        date = ("c. " if m.group("circa") else "") + m.group("year")
    words = repair_words([w for w in slug.replace("_", "-").split("-") if w])
    # "girl-s-head" is how the slug spells "girl's head"; accents and elisions the slug lost come back
    # (titles.repair_words)
    out: list[str] = []
    for w in words:
        if w == "s" and out:
            out[-1] += "'s"
            continue
        # "don-t", "i-m", "you-re": English contractions
        prev = out[-1].lower() if out else ""
        # an "I" inside a title may be a numeral or an initial, not "I'd", "I'm": "francesco-i-d-este" is
        # Francesco I d'Este, "portrait-of-i-m-golovin" I. M. Golovin
        pronoun = prev in _PRONOUNS and (prev != "i" or len(out) == 1 or w in ("ll", "ve"))
        if (w == "t" and prev in _NEGATED) or (w in _CONTRACTED and pronoun):
            out[-1] += "'" + w
            continue
        out.append(_title_word(w, first=not out))
    return " ".join(out), date


def year_of(title_slug: str) -> int | None:
    """The year in a WikiArt title slug, or ``None``."""
    _, date = title_and_date(title_slug)
    return int(date[-4:]) if date else None


def _title_parts(rel: str) -> tuple[str, str, str, str]:
    """(artist slug, title slug, display title, date) from ``Style/artist-slug_title-slug.jpg``."""
    stem = Path(rel).stem
    artist, _, title = stem.partition("_")
    if not title:
        artist, title = "", stem
    display, date = title_and_date(title)
    return artist, title, display, date


def _image_prefix(root: Path, out: Path) -> str:
    """Prefix that makes a path relative to ``root`` relative to the catalog folder ``out``."""
    root_r, out_r = root.resolve(), out.resolve()
    if root_r == out_r:
        return ""
    if out_r in root_r.parents:
        return Path(os.path.relpath(root_r, out_r)).as_posix() + "/"
    link = out / "images"
    if link.is_symlink():
        if link.resolve() != root_r:
            raise CatalogError(
                f"{link} links to {link.resolve()}, not {root_r}; remove it or choose another --out"
            )
    elif link.exists():
        raise CatalogError(f"{link} exists and is not a link to {root_r}; choose another --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        link.symlink_to(root_r, target_is_directory=True)
    # the one link out of this collection folder that image paths may follow (see catalog.image_path)
    from ..catalog import IMAGE_ROOTS_FILE
    from ..fileio import write_json_atomic

    write_json_atomic(out / IMAGE_ROOTS_FILE, {"images": str(root_r)})
    return "images/"


def index_wikiart(
    root: str | Path,
    splits_dir: str | Path,
    out_dir: str | Path | None = None,
    on_missing: str = "skip",
    *,
    check_images: str = "exists",
    workers: int = 4,
    progress: bool | Callable[[int, int], None] = False,
) -> tuple[Path, WikiArtSummary]:
    """Write the catalog for ``root`` from the split files; returns (catalog path, summary).

    ``on_missing``: ``"skip"`` leaves out listed images that are missing (or unreadable, with
    ``check_images="decode"``) and rows the split files get wrong; ``"fail"`` raises
    :class:`~artextract.sources.artgan.ArtGANSplitError` naming counts and examples.
    """
    if on_missing not in ON_ERROR:
        raise CatalogError(f"on_missing must be one of {', '.join(ON_ERROR)}, got {on_missing!r}")
    if check_images not in ("exists", "decode"):
        raise CatalogError(f"check_images must be 'exists' or 'decode', got {check_images!r}")
    root = Path(root)
    if not root.is_dir():
        raise CatalogError(f"WikiArt folder {root} not found (expected <Style>/<artist>_<title>.jpg files)")
    out = Path(out_dir) if out_dir is not None else root
    on_disk = index_images(root)
    splits = load_artgan(
        splits_dir,
        images_root=root,
        image_index=on_disk,
        check_images=check_images,
        on_error=on_missing,
        workers=workers,
        progress=progress,
    )
    rep = splits.report
    table = splits.table
    missing_paths = rep.missing_images
    listed_keys = {path_key(p) for p in table["path"]} | {path_key(p) for p in missing_paths}
    unlisted = sorted(rel for key, rel in on_disk.items() if key not in listed_keys)
    prefix = _image_prefix(root, out)
    parts = table["path"].map(_title_parts)
    df = pd.DataFrame(
        {
            "id": table["path"],
            "image": prefix + table["path"],
            "title": parts.map(lambda t: t[2]),
            "artist": table["artist"],
            "date": parts.map(lambda t: t[3]),
            "style": table["style"],
            "genre": table["genre"],
            "split": table["split"],
            "source": "wikiart",
            "source_url": parts.map(lambda t: WIKIART_URL.format(artist=t[0], title=t[1]) if t[0] else ""),
            "license": LICENSE,
            "artist_name": parts.map(lambda t: t[0].replace("-", " ").title()),
        }
    )
    path = write_catalog(df, out)
    for name, items in (("wikiart_missing.txt", missing_paths), ("wikiart_unlisted.txt", unlisted)):
        if items:
            write_text_atomic(out / name, "\n".join(items) + "\n")
        else:
            (out / name).unlink(missing_ok=True)
    summary = WikiArtSummary(
        root=root,
        catalog=path,
        listed=rep.n_listed,
        indexed=len(df),
        missing=list(missing_paths),
        unlisted=unlisted,
        splits=df["split"].value_counts().to_dict(),
        artgan=rep,
    )
    return path, summary


def run_wikiart(
    root: str | Path,
    splits: str | Path,
    out: str | Path | None = None,
    on_missing: str = "skip",
    **options: Any,
) -> WikiArtSummary:
    """``artextract data wikiart``: :func:`index_wikiart`, returning its summary.

    ``options`` are :func:`index_wikiart`'s keywords (``check_images``, ``workers``, ``progress``); here
    ``progress`` defaults to a bar.
    """
    options.setdefault("progress", True)
    _, summary = index_wikiart(root, splits, out, on_missing, **options)
    return summary
