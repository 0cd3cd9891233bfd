"""Pairs of paintings that show the same picture, for the pages (no streamlit): the Duplicates page's
table, filters, record comparison and export; the inspector's "the same picture elsewhere"; and whether
an upload on Similar is a painting the reference collection holds (:func:`upload_same_picture`).
The search itself is :mod:`artextract.analysis.duplicates`."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.duplicates import COLOUR_MIN, DETAIL_MIN
from ..bundle import Bundle
from ..errors import ArtExtractError, BadImageError
from ..labels import pretty_label
from ..text import md_escape, safe_url, slugify
from .data import SOURCE_NAMES, artist_column, artist_of, bundle_cached, painting_path

DUPLICATE_SCOPES = {"collection": "Within the collection", "reference": "Against the reference collection"}
PAIR_QUEUES = ("To review", "Duplicate", "Distinct", "All")
#: the catalogue fields compared between the two records of a pair, in the order they are named
RECORD_FIELDS = ("artist", "title", "date", "style", "genre")
#: records that disagree on all of these name two works that only look alike (``UNRELATED``)
UNRELATED = ("artist", "title", "date")
#: which pairs to list by whether the two pictures' fine detail agrees (analysis.duplicates.detail_agreement)
DETAIL_FILTERS: dict[str, bool | None] = {
    "Any": None,
    "Agrees (the same picture)": True,
    "Differs (a shared layout?)": False,
}


@functools.lru_cache(maxsize=4096)
def pair_detail(path_a: str, path_b: str) -> float:
    """The fine-detail agreement of two paintings' pictures (NaN when either cannot be read)."""
    from ..analysis.duplicates import detail_agreement
    from ..images import load_image

    try:
        return detail_agreement(load_image(path_a), load_image(path_b))
    except BadImageError:
        return float("nan")


def paintings_detail(b: Any, row: int, other: Any, o: int) -> float:
    """:func:`pair_detail` of painting ``row`` of ``b`` and painting ``o`` of ``other`` (the same bundle,
    or its reference collection); NaN when either file is refused or unreadable."""
    pa, pb = painting_path(b, row), painting_path(other, o)
    if isinstance(pa, Exception) or isinstance(pb, Exception):
        return float("nan")
    return pair_detail(str(pa), str(pb))


#: which pairs to list by what their two catalogue records say: the fields of which one at least must
#: disagree (records that disagree on all of ``UNRELATED`` are left to their own list), ``()`` for records
#: that agree on every field both of them fill, ``UNRELATED`` for records that share none of those
RECORD_FILTERS: dict[str, tuple[str, ...] | None] = {
    "Any": None,
    "Different artists": ("artist",),
    "Different dates": ("date",),
    "Different titles": ("title",),
    "Different style or genre": ("style", "genre"),
    "Agree (filed twice?)": (),
    "Unrelated (likely distinct)": UNRELATED,
}


def unrelated(disagree: Sequence[str]) -> bool:
    """Whether records that disagree on ``disagree`` share nothing that links them (artist, title, date)."""
    return set(UNRELATED) <= set(disagree)


_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")


def _field(row: Any, name: str) -> str:
    if name == "artist":
        return artist_of(row)
    v = row.get(name, "")
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()


def _same(name: str, a: str, b: str) -> bool:
    """Whether two values of one catalogue field name the same thing, as a curator would read them."""
    # artist: "Rubens" / "Sir Peter Paul Rubens"; "Velázquez (Diego ... Velázquez)" / "Diego Velázquez"
    if name == "artist":
        ta, tb = set(slugify(a).split("-")) - {""}, set(slugify(b).split("-")) - {""}
        return (ta <= tb or tb <= ta) if ta and tb else a == b
    if name == "title":  # "Isabella Brandt" / "Portrait of Isabella Brandt": one title inside the other
        ta, tb = slugify(a).split("-"), slugify(b).split("-")
        short, long_ = sorted((ta, tb), key=len)
        inside = len(short) >= 2 and any(long_[i : i + len(short)] == short for i in range(len(long_)))
        return slugify(a) == slugify(b) or a.casefold() == b.casefold() or inside
    if name == "date":  # "ca. 1704–9" / "1704": a year in common
        ya, yb = set(_YEAR.findall(a)), set(_YEAR.findall(b))
        return bool(ya & yb) if ya and yb else slugify(a) == slugify(b)
    return a == b


def record_disagreements(a: Any, b: Any) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Where the catalogue records of a pair of pictures disagree: ``(field, a's value, b's value)`` for
    each of :data:`RECORD_FIELDS` that both fill and that name different things (artists as a curator
    reads them, class labels as :func:`pretty_label` writes them), and the fields both fill (compared)."""
    differ, compared = [], []
    for name in RECORD_FIELDS:
        va, vb = _field(a, name), _field(b, name)
        if not va or not vb or va == "nan" or vb == "nan":
            continue
        compared.append(name)
        if not _same(name, va, vb):
            pretty = name in ("style", "genre")
            differ.append((name, pretty_label(va) if pretty else va, pretty_label(vb) if pretty else vb))
    return differ, compared


def records_sentence(differ: list[tuple[str, str, str]], compared: list[str]) -> str:
    """One line for a pair: "The catalogue records disagree on the artist (Rubens | Van Dyck) and ..."."""
    if differ:
        parts = [f"the {f} ({md_escape(x)} | {md_escape(y)})" for f, x, y in differ]
        line = "The catalogue records disagree on " + _and(parts) + "."
        if unrelated([f for f, _, _ in differ]):
            line += " Nothing in them links the two: most likely two works that only look alike."
        return line
    if compared:
        return "The catalogue records agree on " + _and([f"the {f}" for f in compared]) + "."
    return "The catalogue records share no field to compare."


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


@bundle_cached(16)
def duplicate_table(
    _b: Bundle,
    key: str,
    scope: str,
    min_sim: float,
    queue: str,
    verdict_of: tuple[tuple[str, str], ...] = (),
    records: str = "Any",
    detail: str = "Any",
) -> pd.DataFrame:
    """Pairs at or above ``min_sim``, most similar first: ``a``/``b`` rows (``b`` a reference row for
    ``scope="reference"``), ``sim``, ``pair`` (the verdict key), ``verdict`` and ``disagree`` (the
    catalogue fields the two records disagree on, :func:`record_disagreements`), kept by ``queue``, by
    ``records`` (one of :data:`RECORD_FILTERS`) and by ``detail`` (one of :data:`DETAIL_FILTERS`; a
    pair whose pictures cannot be read is kept by neither choice but "Any"); empty if none were
    built."""
    from ..analysis.duplicates import pair_key

    if queue not in PAIR_QUEUES:
        raise ValueError(f"unknown queue {queue!r}; use one of {', '.join(PAIR_QUEUES)}")
    if records not in RECORD_FILTERS:
        raise ValueError(f"unknown records filter {records!r}; use one of {', '.join(RECORD_FILTERS)}")
    if detail not in DETAIL_FILTERS:
        raise ValueError(f"unknown detail filter {detail!r}; use one of {', '.join(DETAIL_FILTERS)}")
    pairs = _b.duplicate_pairs(scope)
    if pairs is None:
        return pd.DataFrame(columns=["a", "b", "sim", "pair", "verdict", "disagree"])
    pairs = pairs[pairs["sim"] >= min_sim].rename(columns={"ref": "b"})
    ids = _b.items["id"].astype(str).to_numpy()
    if scope == "reference":
        other = ("ref:" + _b.reference.items["id"].astype(str)).to_numpy()
    else:
        other = ids
    keys = [pair_key(ids[a], other[b]) for a, b in zip(pairs["a"], pairs["b"], strict=True)]
    out = pairs.assign(pair=keys).reset_index(drop=True)
    out["verdict"] = out["pair"].map(dict(verdict_of)).fillna("")
    if queue == "To review":
        out = out[out["verdict"] == ""]
    elif queue != "All":
        out = out[out["verdict"] == queue.lower()]
    others = _b.reference.items if scope == "reference" else _b.items
    out["disagree"] = [
        tuple(f for f, _, _ in record_disagreements(_b.items.iloc[a], others.iloc[o])[0])
        for a, o in zip(out["a"], out["b"], strict=True)
    ]
    want = RECORD_FILTERS[records]
    if want == ():
        out = out[out["disagree"].map(len) == 0]
    elif want == UNRELATED:
        out = out[out["disagree"].map(unrelated)]
    elif want:
        out = out[out["disagree"].map(lambda d: any(f in d for f in want) and not unrelated(d))]
    agrees = DETAIL_FILTERS[detail]
    if agrees is not None:
        other = _b.reference if scope == "reference" else _b
        d = np.array(
            [paintings_detail(_b, a, other, o) for a, o in zip(out["a"], out["b"], strict=True)], dtype=float
        )  # NaN (a file refused or unreadable) is kept by neither choice
        out = out[(d >= DETAIL_MIN) if agrees else (d < DETAIL_MIN)]
    return out.reset_index(drop=True)


#: each side of an exported pair: these catalogue columns, where the collection has them
PAIR_EXPORT_COLUMNS = ("id", "title", "artist", "date", "style", "genre", "source", "source_url")


def pairs_export(b: Bundle, table: pd.DataFrame, scope: str) -> pd.DataFrame:
    """The listed pairs (``duplicate_table``'s rows) for a spreadsheet: similarity, verdict, the fields
    the two records disagree on, then each side's catalogue values (``a_``: the collection's painting;
    ``b_``: the other one, in the collection or the reference). Artists as the catalog names them.
    ``fine_detail``: the pictures' fine-detail agreement (:func:`pair_detail`; blank when a file cannot
    be read) and ``fine_detail_agrees`` (``yes`` from :data:`DETAIL_MIN` on, the Duplicates page's
    "Fine detail" filter)."""
    others = b.reference.items if scope == "reference" else b.items
    other = b.reference if scope == "reference" else b
    detail = np.array(
        [paintings_detail(b, int(a), other, int(o)) for a, o in zip(table["a"], table["b"], strict=True)],
        dtype=float,
    )
    out = pd.DataFrame(
        {
            "similarity": table["sim"].astype(float).round(4).to_numpy(),
            "fine_detail": pd.Series(detail).round(3).to_numpy(),
            "fine_detail_agrees": np.where(np.isnan(detail), "", np.where(detail >= DETAIL_MIN, "yes", "no")),
            "verdict": table["verdict"].to_numpy() if "verdict" in table else "",
            "records_disagree_on": [", ".join(d) for d in table.get("disagree", [()] * len(table))],
            "b_in": "reference" if scope == "reference" else "collection",
        }
    )
    for side, rows, items in (("a", table["a"], b.items), ("b", table["b"], others)):
        picked = items.iloc[rows.astype(int).to_numpy()]
        for c in PAIR_EXPORT_COLUMNS:
            if c == "artist":
                vals = artist_column(picked).to_numpy()
            elif c in picked.columns:
                vals = picked[c].fillna("").astype(str).to_numpy()
            else:
                continue
            out[f"{side}_{c}"] = vals
    return out


#: the inspector lists a painting's near duplicates from this similarity on (the Duplicates page's default)
SAME_PICTURE_MIN = 0.90


@dataclass(frozen=True)
class SamePicture:
    """A near duplicate of an inspected painting: where (``scope``), which row, how alike, and what the
    two catalogue records say (:func:`records_sentence`)."""

    scope: str  # "collection" or "reference"
    row: int
    sim: float
    label: str  # "title — artist, date"
    where: str  # "this collection" / "the reference collection (The Art Institute of Chicago)"
    sentence: str
    url: str  # the reference painting's page (the collection's rows open in the inspector)
    # an upload's match (upload_same_picture): the fine-detail agreement, and the colour agreement
    # (None where either picture has too little colour to compare)
    detail: float | None = None
    colour: float | None = None


def same_picture(b: Bundle, row: int, min_sim: float = SAME_PICTURE_MIN) -> list[SamePicture]:
    """The paintings that show the same picture as ``row`` (near-duplicate pairs of ``build``, both scopes,
    most similar first), leaving out pairs whose records share no artist, title or date: those look alike
    and nothing more (on the real sample every such pair at 0.90-0.92 was two different works); and pairs
    whose pictures' fine detail does not agree (:func:`pair_detail`, or cannot be compared): two
    pictures that share a layout."""
    out: list[SamePicture] = []
    for scope in DUPLICATE_SCOPES:
        pairs = b.duplicate_pairs(scope) if scope == "collection" or b.reference is not None else None
        if pairs is None or pairs.empty:
            continue
        other_col = "b" if scope == "collection" else "ref"
        pairs = pairs[pairs["sim"] >= min_sim]
        if scope == "collection":  # a pair is stored once: this painting on either side
            mine = pd.concat(
                [
                    pairs.loc[pairs["a"] == row, [other_col, "sim"]].rename(columns={other_col: "o"}),
                    pairs.loc[pairs[other_col] == row, ["a", "sim"]].rename(columns={"a": "o"}),
                ]
            )
            others = b.items
        else:
            mine = pairs.loc[pairs["a"] == row, [other_col, "sim"]].rename(columns={other_col: "o"})
            others = b.reference.items
        for o, sim in zip(mine["o"].astype(int), mine["sim"].astype(float), strict=True):
            if not 0 <= o < len(others):
                continue
            differ, compared = record_disagreements(b.items.iloc[row], others.iloc[o])
            if unrelated([f for f, _, _ in differ]):
                continue
            if not paintings_detail(b, row, b.reference if scope == "reference" else b, o) >= DETAIL_MIN:
                continue  # a shared layout, or pictures that cannot be compared
            out.append(_same_picture_entry(scope, others, o, sim, records_sentence(differ, compared)))
    return sorted(out, key=lambda s: -s.sim)


def _same_picture_entry(scope: str, others: pd.DataFrame, o: int, sim: float, sentence: str) -> SamePicture:
    oi = others.iloc[o]
    title = str(oi.get("title", "") or "(untitled)")
    who = artist_of(oi)
    date = str(oi.get("date", "") or "")
    label = title + (f" — {who}" if who else "") + (f", {date}" if date and date != "nan" else "")
    if scope == "collection":
        return SamePicture(scope, o, sim, label, "this collection", sentence, "")
    src = str(oi.get("source", "") or "").strip()
    src = SOURCE_NAMES.get(src.lower(), src)
    where = "the reference collection" + (f" ({src})" if src else "")
    return SamePicture(scope, o, sim, label, where, sentence, safe_url(oi.get("source_url", "")))


#: an upload is named the same picture as a reference painting from this layout match on, when its
#: detail agrees too (UPLOAD_DETAIL_MIN): stricter than the pairs' 0.90, as an upload has no catalogue
#: record to confirm it
UPLOAD_SAME_MIN = 0.92
#: ... and from this correlation of the two pictures' fine structure (analysis.duplicates.detail_descriptor)
UPLOAD_DETAIL_MIN = DETAIL_MIN
#: ... and, where both pictures are in colour, from this agreement of where their colours lie
#: (analysis.duplicates.colour_agreement)
UPLOAD_COLOUR_MIN = COLOUR_MIN
#: an upload is matched as it is and with this share cut from each side, for a photograph of a painting
#: that shows some of its frame or wall
UPLOAD_MARGINS = (0.0, 0.05, 0.10, 0.15)


def upload_same_picture(
    b: Bundle,
    img: Any,
    min_sim: float = UPLOAD_SAME_MIN,
    min_detail: float = UPLOAD_DETAIL_MIN,
    min_colour: float = UPLOAD_COLOUR_MIN,
) -> list[SamePicture]:
    """The reference paintings an uploaded picture is the same picture as, best first: a layout match at
    ``min_sim`` or above (the best of :data:`UPLOAD_MARGINS`), confirmed by the fine structure of the
    two pictures (``min_detail``, the best framing's, against the reference image on disk; a reference
    image that cannot be read confirms nothing) and, where both are in colour, by where their colours
    lie (``min_colour``, :func:`analysis.duplicates.colour_agreement`). Empty when none is, or when the
    bundle keeps no reference layouts (built before they were kept)."""
    from ..analysis.duplicates import (
        central_crop,
        colour_agreement,
        detail_descriptor,
        layout_descriptor,
        match_layouts,
    )
    from ..images import load_image

    ref = b.reference
    layout = ref.layout if ref is not None else None
    if layout is None:
        return []
    framings = [central_crop(img, m) for m in UPLOAD_MARGINS]
    descs = np.stack([layout_descriptor(f) for f in framings])
    hits = [(o, sim) for o, sim in match_layouts(descs, layout, k=3) if sim >= min_sim]
    if not hits:
        return []
    details = np.stack([detail_descriptor(f) for f in framings])
    out = []
    for o, sim in hits:
        try:  # the best of the framings, as for the layout
            other = load_image(ref.image_path(o))
        except ArtExtractError:  # a reference file refused or unreadable confirms nothing
            continue
        agree = details @ detail_descriptor(other)
        best = int(agree.argmax())  # the framing that lines up the detail
        if float(agree[best]) < min_detail:
            continue
        # two colourful pictures: their colours lie in the same places too (that framing's)
        colour = colour_agreement(framings[best], other)
        if colour is None or colour >= min_colour:
            entry = _same_picture_entry("reference", ref.items, o, sim, "")
            out.append(replace(entry, detail=float(agree[best]), colour=colour))
    return out


@functools.lru_cache(maxsize=256)
def pair_difference(path_a: str, path_b: str) -> dict[str, Any]:
    """How the second image of a pair differs from the first (see analysis.duplicates.pair_difference)."""
    from ..analysis.duplicates import pair_difference as diff
    from ..images import load_image

    try:
        return diff(load_image(path_a), load_image(path_b))
    except BadImageError as exc:
        return {"summary": f"cannot compare: {exc}"}
