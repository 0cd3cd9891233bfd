"""A curator's own collection into the app: a ZIP of images or a server folder, plus an optional CSV.

Everything that enters here is untrusted:

- a **server folder** can only be named relative to the import root (``$ARTEXTRACT_IMPORT_ROOT``,
  default ``<data>/incoming``): absolute paths, ``..`` and links leading outside it are refused;
- a **ZIP** is read entry by entry: absolute names, ``..``, links and device files are refused, and the
  archive stops at a cap on the total uncompressed size, on the number of entries and on the compression
  ratio of any entry (a zip bomb); entries that are not images are listed and skipped;
- a **CSV** is read as text; the curator maps its columns to ours (``title``, ``artist``, ``date``,
  ``style``, ``genre``, ``source_url``) and names the column that holds the image file name.

:func:`validate` reports first (rows, images found, images named in the CSV but missing, unreadable
images, duplicate files by content hash, skipped entries); :func:`write_collection` then writes the
collection folder (``catalog.csv`` + ``images/``) that ``artextract build`` reads.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from . import config
from .errors import ArtExtractError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif")
#: The fields a curator may map from their CSV (the rest of the catalog is filled in).
MAPPABLE = ("title", "artist", "date", "style", "genre", "source_url")
MAX_ZIP_BYTES = 2 * 1024**3  # total uncompressed
MAX_ZIP_ENTRIES = 50_000
MAX_RATIO = 200  # uncompressed / compressed of any one entry
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ImportRefused(ArtExtractError):
    """An import that cannot go ahead: the message says what was refused and why."""


def import_root() -> Path:
    """Where server folders may be imported from: ``$ARTEXTRACT_IMPORT_ROOT`` or ``<data>/incoming``."""
    env = os.environ.get("ARTEXTRACT_IMPORT_ROOT")
    return Path(env).expanduser() if env else config.data_dir() / "incoming"


def check_name(name: str) -> str:
    """A collection name: letters, digits, ``_ . -``, up to 64 characters, not starting with a dot."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise ImportRefused(
            f"collection name {name!r} not allowed: use letters, digits, '_', '.', '-' (up to 64), "
            "starting with a letter or digit"
        )
    return name


def server_folders(root: Path | None = None) -> list[str]:
    """Folders under the import root (relative names), for the page's picker."""
    root = (root or import_root()).resolve()
    if not root.is_dir():
        return []
    out = []
    for dirpath, dirnames, _ in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            out.append(rel.replace(os.sep, "/"))
        if rel.count("/") >= 2:
            dirnames[:] = []
    return out


def resolve_folder(rel: str, root: Path | None = None) -> Path:
    """A folder named relative to the import root; anything that leads outside it is refused."""
    root = (root or import_root()).resolve()
    rel = (rel or "").strip()
    p = PurePosixPath(rel.replace("\\", "/"))
    if not rel or p.is_absolute() or re.match(r"^[A-Za-z]:", rel) or ".." in p.parts:
        raise ImportRefused(f"folder {rel!r} refused: name a folder inside the import root, without '..'")
    path = (root / p).resolve()
    if not path.is_relative_to(root):
        raise ImportRefused(f"folder {rel!r} refused: it leads outside the import root")
    if not path.is_dir():
        raise ImportRefused(f"no folder {rel!r} in the import root")
    return path


# ---------------------------------------------------------------------------------------------- ZIP
@dataclass
class Source:
    """Images gathered from a ZIP or a folder: ``files`` maps a relative name to its bytes or path."""

    files: dict[str, bytes | Path] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    csv: bytes | None = None  # a catalog.csv found inside the ZIP or folder

    def read(self, name: str) -> bytes:
        v = self.files[name]
        return v if isinstance(v, bytes) else Path(v).read_bytes()


def read_zip(
    data: bytes,
    *,
    max_bytes: int = MAX_ZIP_BYTES,
    max_entries: int = MAX_ZIP_ENTRIES,
    max_ratio: float = MAX_RATIO,
) -> Source:
    """The images of a ZIP archive (in memory), refusing what could harm the server."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportRefused(f"not a readable ZIP archive ({exc})") from None
    infos = zf.infolist()
    if len(infos) > max_entries:
        raise ImportRefused(f"the archive has {len(infos)} entries; the limit is {max_entries}")
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise ImportRefused(
            f"the archive unpacks to {total / 1e6:.0f} MB; the limit is {max_bytes / 1e6:.0f} MB"
        )
    src = Source()
    for info in infos:
        name = info.filename
        if info.is_dir():
            continue
        mode = info.external_attr >> 16
        p = PurePosixPath(name.replace("\\", "/"))
        if p.is_absolute() or re.match(r"^[A-Za-z]:", name) or ".." in p.parts:
            src.skipped.append((name, "refused: the path leads outside the archive"))
            continue
        kind = stat.S_IFMT(mode)  # 0 when the archiver recorded no file type
        if kind and kind != stat.S_IFREG:
            src.skipped.append((name, "refused: a link or special file"))
            continue
        if any(part.startswith(".") or part == "__MACOSX" for part in p.parts):
            continue  # hidden files and macOS resource forks: not listed
        if info.compress_size and info.file_size / info.compress_size > max_ratio:
            raise ImportRefused(
                f"{name}: compressed {info.file_size / info.compress_size:.0f}:1, a zip bomb; refused"
            )
        if p.name.lower() == "catalog.csv" and src.csv is None:
            src.csv = _read_capped(zf, info, max_bytes)
            continue
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            src.skipped.append((name, f"not an image ({p.suffix or 'no extension'})"))
            continue
        src.files[str(p)] = _read_capped(zf, info, max_bytes)
    return src


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    """Read one entry, never more than its declared size (a lying header cannot inflate it)."""
    with zf.open(info) as fh:
        data = fh.read(min(info.file_size, cap) + 1)
    if len(data) > info.file_size:
        raise ImportRefused(f"{info.filename}: larger than its header says; refused")
    return data


def read_folder(folder: Path) -> Source:
    """The images under a server folder (links are not followed out of it)."""
    src = Source()
    root = folder.resolve()
    for dirpath, dirnames, files in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(files):
            if f.startswith("."):
                continue
            full = Path(dirpath) / f
            rel = full.relative_to(root).as_posix()
            if full.is_symlink() and not full.resolve().is_relative_to(root):
                src.skipped.append((rel, "refused: a link leading outside the folder"))
            elif f.lower() == "catalog.csv" and src.csv is None:
                src.csv = full.read_bytes()
            elif full.suffix.lower() not in IMAGE_SUFFIXES:
                src.skipped.append((rel, f"not an image ({full.suffix or 'no extension'})"))
            else:
                src.files[rel] = full
    return src


# ---------------------------------------------------------------------------------------------- CSV
def read_csv(data: bytes) -> pd.DataFrame:
    """A curator's CSV as text columns (one clear error if it is not a table)."""
    try:
        df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding_errors="replace")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise ImportRefused(f"the CSV cannot be read as a table ({exc})") from None
    if df.empty or not len(df.columns):
        raise ImportRefused("the CSV has no rows")
    return df


def guess_mapping(columns: Iterable[str]) -> dict[str, str]:
    """Our field -> their column, by name (case and spaces ignored); ``image`` for the file name."""
    norm = {re.sub(r"[^a-z]", "", c.lower()): c for c in columns}
    synonyms = {
        "image": ("image", "file", "filename", "imagefile", "path", "imagepath"),
        "title": ("title", "name", "worktitle"),
        "artist": ("artist", "artistname", "painter", "creator", "author"),
        "date": ("date", "year", "created", "datecreated"),
        "style": ("style", "movement"),
        "genre": ("genre", "subject", "type"),
        "source_url": ("sourceurl", "url", "link", "source"),
    }
    out = {}
    for ours, names in synonyms.items():
        for n in names:
            if n in norm:
                out[ours] = norm[n]
                break
    return out


# ------------------------------------------------------------------------------------- validation
@dataclass
class Report:
    """What an import would bring in; shown to the curator before anything is built."""

    images: int = 0
    rows: int = 0  # rows of the CSV (0 without one)
    matched: int = 0  # CSV rows whose image is in the archive or folder
    missing: list[str] = field(default_factory=list)  # named by the CSV, not found
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)  # groups of byte-identical files
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unlisted: int = 0  # images with no CSV row (imported with their file name as title)

    @property
    def usable(self) -> int:
        return self.images - len(self.unreadable) - sum(len(g) - 1 for g in self.duplicates)

    def lines(self) -> list[str]:
        out = [f"{self.images} image(s) found, {self.usable} usable"]
        if self.rows:
            out.append(
                f"{self.rows} CSV row(s): {self.matched} matched to an image, {len(self.missing)} missing"
            )
        if self.unlisted and self.rows:
            out.append(f"{self.unlisted} image(s) not in the CSV: imported with their file name as title")
        if self.unreadable:
            out.append(f"{len(self.unreadable)} unreadable image(s): skipped")
        if self.duplicates:
            extra = sum(len(g) - 1 for g in self.duplicates)
            out.append(f"{len(self.duplicates)} group(s) of identical files: {extra} extra cop(ies) skipped")
        if self.skipped:
            out.append(f"{len(self.skipped)} other entr(ies) skipped (not images, or refused)")
        return out


def _check_image(data: bytes, name: str) -> str:
    from .images import load_image

    try:
        load_image(data, name=name)
    except ArtExtractError as exc:
        return str(exc)
    return ""


def _key(name: str) -> str:
    return PurePosixPath(name).name.lower()


def validate(
    src: Source,
    csv: pd.DataFrame | None = None,
    mapping: dict[str, str] | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Report, pd.DataFrame]:
    """Check every image (decoded) and the CSV against them; returns the report and the catalog rows
    that would be imported (``image`` is the source name; unreadable files and extra copies left out)."""
    from concurrent.futures import ThreadPoolExecutor

    rep = Report(images=len(src.files), skipped=list(src.skipped))
    names = sorted(src.files)
    hashes: dict[str, list[str]] = {}
    problems: dict[str, str] = {}

    def one(name: str) -> tuple[str, str, str]:
        data = src.read(name)
        return name, hashlib.sha256(data).hexdigest(), _check_image(data, name)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for i, (name, digest, problem) in enumerate(pool.map(one, names)):
            hashes.setdefault(digest, []).append(name)
            if problem:
                problems[name] = problem
            if progress is not None and (i % 50 == 49 or i == len(names) - 1):
                progress(i + 1, len(names))
    rep.unreadable = sorted(problems.items())
    rep.duplicates = [sorted(g) for g in hashes.values() if len(g) > 1]
    extra = {n for g in rep.duplicates for n in g[1:]}
    keep = [n for n in names if n not in problems and n not in extra]

    by_key: dict[str, str] = {}
    for n in names:
        by_key.setdefault(n.lower(), n)
        by_key.setdefault(_key(n), n)
    rows: dict[str, dict[str, str]] = {}
    if csv is not None:
        mapping = mapping or {}
        col = mapping.get("image")
        if not col or col not in csv.columns:
            raise ImportRefused("name the CSV column that holds each image's file name")
        rep.rows = len(csv)
        for _, r in csv.iterrows():
            ref = str(r[col]).strip().replace("\\", "/")
            hit = by_key.get(ref.lower()) or by_key.get(_key(ref))
            if hit is None:
                rep.missing.append(ref)
                continue
            rep.matched += 1
            rows[hit] = {
                ours: str(r[theirs])
                for ours, theirs in mapping.items()
                if ours in MAPPABLE and theirs in csv.columns
            }
        rep.unlisted = sum(1 for n in keep if n not in rows)
    catalog = pd.DataFrame(
        [{"image": n, "title": PurePosixPath(n).stem.replace("_", " "), **rows.get(n, {})} for n in keep]
    )
    return rep, catalog


def write_collection(src: Source, catalog: pd.DataFrame, dest: Path, *, source: str) -> Path:
    """Write ``dest/catalog.csv`` and ``dest/images/`` (files renamed ``NNNNN<ext>``; the original name
    is kept in the catalog's ``original_name`` column). Returns ``dest``."""
    from .catalog import COLUMNS, write_catalog

    if dest.exists():
        raise ImportRefused(f"a collection named {dest.name!r} already exists; choose another name")
    tmp = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    rows = []
    for i, r in enumerate(catalog.to_dict("records")):
        name = r["image"]
        rel = f"images/{i:05d}{PurePosixPath(name).suffix.lower()}"
        (tmp / rel).write_bytes(src.read(name))
        row = {c: "" for c in COLUMNS}
        row.update({k: v for k, v in r.items() if k in MAPPABLE})
        row.update(id=f"{dest.name}-{i:05d}", image=rel, source=source, original_name=name)
        rows.append(row)
    write_catalog(pd.DataFrame(rows), tmp)
    tmp.rename(dest)
    return dest


__all__ = [
    "IMAGE_SUFFIXES",
    "MAPPABLE",
    "ImportRefused",
    "Report",
    "Source",
    "check_name",
    "guess_mapping",
    "import_root",
    "read_csv",
    "read_folder",
    "read_zip",
    "resolve_folder",
    "server_folders",
    "validate",
    "write_collection",
]
