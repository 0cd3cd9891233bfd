"""The catalog: one table per collection, one row per painting.

Every source (the built-in demo, NGA open data, WikiArt with the ArtGAN splits) writes this same
table to ``<collection>/catalog.csv``, so everything downstream is source-agnostic. Unknown values
are empty strings, never invented.

Columns: ``id, image, title, artist, date, style, genre, split, source, source_url, license``;
``image`` is a path relative to the collection folder; ``split`` is ``train``, ``val`` or empty.
Extra columns (e.g. ``medium``, ``image_url``) are kept.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath

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
#: links this project made inside a collection folder to images kept elsewhere (``artextract data wikiart
#: --out``): ``{"images": "/abs/target"}``. A link not recorded here is never followed out of the folder.
IMAGE_ROOTS_FILE = "image_roots.json"
_DRIVE = re.compile(r"^[A-Za-z]:")


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
    for pid, img in zip(df["id"], df["image"], strict=True):
        problem = image_path_problem(img)
        if problem:
            raise CatalogError(f"{where}: row {pid!r}: image path {img!r} {problem}")
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


def image_path_problem(row_image: str) -> str:
    """Why a catalog ``image`` entry is not a plain relative path inside its folder ("" when it is)."""
    s = str(row_image)
    if not s or "\x00" in s:
        return "is empty or holds a NUL byte"
    if s.startswith(("/", "\\")) or _DRIVE.match(s) or os.path.isabs(s):
        return "is absolute; image paths are relative to the collection folder"
    parts = PurePosixPath(s.replace("\\", "/")).parts
    if ".." in parts:
        return "climbs outside the collection folder with '..'"
    return ""


def _image_roots(root: Path) -> list[Path]:
    """Real targets of the links the project recorded in ``image_roots.json`` (and that still match)."""
    f = root / IMAGE_ROOTS_FILE
    try:
        recorded = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    out = []
    for name, target in recorded.items() if isinstance(recorded, dict) else []:
        link = root / str(name)
        if "/" in str(name) or not link.is_symlink():
            continue
        real = link.resolve()
        if str(real) == str(Path(str(target)).resolve()):
            out.append(real)
    return out


def image_path(collection: str | Path, row_image: str) -> Path:
    """The one place a catalog ``image`` entry becomes a file path (training, build, bundle, app, downloads).

    The entry must be relative without ``..`` and its real path (symbolic links followed) must lie inside
    the collection folder, or inside the target of a link the project recorded in ``image_roots.json``
    (how ``artextract data wikiart --out`` reaches a read-only WikiArt copy); anything else, e.g. a link
    to ``/etc`` or ``/proc``, raises :class:`CatalogError`.
    """
    problem = image_path_problem(row_image)
    if problem:
        raise CatalogError(f"image path {row_image!r} {problem}")
    root = catalog_path(collection).parent.absolute()
    p = root / str(row_image)
    real, real_root = p.resolve(), root.resolve()
    allowed = [real_root, *_image_roots(root)]
    if not any(real == a or a in real.parents for a in allowed):
        raise CatalogError(f"image path {row_image!r} leads outside the collection folder (to {real})")
    return p


def label_vocab(df: pd.DataFrame, attribute: str) -> list[str]:
    """Sorted non-empty values of an attribute: the class list of its head."""
    if attribute not in df.columns:
        raise CatalogError(f"catalog has no column {attribute!r}")
    return sorted(v for v in df[attribute].unique() if v != "")
