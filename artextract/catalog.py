"""The catalog: one table per collection, one row per painting.

Every source (the built-in demo, NGA open data, WikiArt with the ArtGAN splits) writes this same
table to ``<collection>/catalog.csv``, so everything downstream is source-agnostic. Unknown values
are empty strings, never invented.

Columns: ``id, image, title, artist, date, style, genre, split, source, source_url, license``;
``image`` is a path relative to the collection folder; ``split`` is ``train``, ``val`` or empty.
Extra columns (e.g. ``medium``, ``image_url``) are kept.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .errors import CatalogError
from .fileio import atomic_path

COLUMNS: tuple[str, ...] = (
    "id",
    "image",
    "title",
    "artist",
    "date",
    "style",
    "genre",
    "split",
    "source",
    "source_url",
    "license",
)
#: The attributes the classifier predicts, in head order.
ATTRIBUTES: tuple[str, ...] = ("style", "artist", "genre")
SPLITS: tuple[str, ...] = ("train", "val", "")
CATALOG_FILE = "catalog.csv"


def catalog_path(collection: str | Path) -> Path:
    """``collection`` may be a folder or a catalog file; returns the catalog file."""
    p = Path(collection)
    return p if p.suffix == ".csv" else p / CATALOG_FILE


def validate_catalog(df: pd.DataFrame, where: str = "catalog") -> pd.DataFrame:
    """Check columns, ids and splits; return the table with every column as a string (NaN -> "")."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise CatalogError(
            f"{where}: missing column(s) {', '.join(missing)}; a catalog needs {', '.join(COLUMNS)}"
        )
    df = df.fillna("").astype(str)
    if (df["id"] == "").any():
        n = int((df["id"] == "").sum())
        raise CatalogError(f"{where}: {n} row(s) have an empty id")
    dup = df["id"][df["id"].duplicated()]
    if len(dup):
        raise CatalogError(
            f"{where}: {len(dup)} duplicate id(s), e.g. {', '.join(dup.head(3))}; ids must be unique"
        )
    if (df["image"] == "").any():
        raise CatalogError(f"{where}: {int((df['image'] == '').sum())} row(s) have no image path")
    bad_split = sorted(set(df["split"]) - set(SPLITS))
    if bad_split:
        raise CatalogError(f"{where}: unknown split value(s) {bad_split[:5]}; use train, val or empty")
    return df.reset_index(drop=True)


def read_catalog(collection: str | Path) -> pd.DataFrame:
    """Read and validate ``<collection>/catalog.csv`` (or a CSV path)."""
    path = catalog_path(collection)
    if not path.is_file():
        raise CatalogError(f"no catalog at {path}; create one with 'artextract data demo|nga|wikiart'")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise CatalogError(f"{path}: not a readable CSV ({exc.__class__.__name__}: {exc})") from exc
    return validate_catalog(df, where=str(path))


def write_catalog(df: pd.DataFrame, collection: str | Path) -> Path:
    """Validate and write the catalog atomically; the standard columns come first."""
    path = catalog_path(collection)
    df = validate_catalog(df, where=str(path))
    extra = [c for c in df.columns if c not in COLUMNS]
    with atomic_path(path) as tmp:
        df[list(COLUMNS) + extra].to_csv(tmp, index=False)
    return path


def image_path(collection: str | Path, row_image: str) -> Path:
    """Absolute path of a catalog ``image`` entry; refuses paths that escape the collection folder."""
    # normalise without following links, so a collection may link its images from elsewhere
    # (e.g. a WikiArt download kept outside the project), while "../" still cannot escape
    root = Path(os.path.normpath(catalog_path(collection).parent.absolute()))
    p = Path(os.path.normpath(root / row_image))
    if root != p and root not in p.parents:
        raise CatalogError(f"image path {row_image!r} points outside the collection folder")
    return p


def label_vocab(df: pd.DataFrame, attribute: str) -> list[str]:
    """Sorted non-empty values of an attribute: the class list of its head."""
    if attribute not in df.columns:
        raise CatalogError(f"catalog has no column {attribute!r}")
    return sorted(v for v in df[attribute].unique() if v != "")
