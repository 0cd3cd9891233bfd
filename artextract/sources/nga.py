"""The National Gallery of Art open data (CC0) as an ArtExtract collection.

Tables (CSV, published at https://github.com/NationalGalleryOfArt/opendata, ``data/``):

- ``objects``: one row per art object; we keep ``classification == "Painting"``.
- ``published_images``: IIIF images; joined on ``depictstmsobjectid``. An image is open access when
  the table's ``openaccess`` column is 1 where the table has one; otherwise when ``maxpixels`` is
  empty (the data dictionary: ``maxpixels`` is the fair-use limit set on images the NGA does not
  hold the rights to). The primary view is preferred, then the lowest ``sequence``.
- ``objects_constituents`` + ``constituents``: artist names (``roletype == "artist"``, in
  ``displayorder``), falling back to the object's ``attribution`` text.

The catalog (``source`` "nga", ``license`` "CC0") has ``id`` ``nga-<objectid>``, ``image``
``images/<objectid>.jpg``, the object page as ``source_url`` and extra columns ``medium``,
``attribution``, ``accession``, ``iiif_url``, ``image_url``. ``style`` and ``genre`` are empty: the
NGA does not publish them in these tables.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..catalog import COLUMNS, catalog_path, image_path, write_catalog
from ..errors import ArtExtractError, CatalogError, OfflineError
from ..fileio import atomic_path
from .download import DownloadSummary, DownloadTask, check_reachable, download_files, fetch_file

NGA_DATA_URL = "https://github.com/NationalGalleryOfArt/opendata/raw/main/data/"
OBJECT_PAGE_URL = "https://www.nga.gov/collection/art-object-page.{objectid}.html"
IIIF_IMAGE_URL = "{iiifurl}/full/!{size},{size}/0/default.jpg"
DEFAULT_SIZE = 512

#: Columns each table must have (lower case, as published).
TABLES: dict[str, tuple[str, ...]] = {
    "objects": ("objectid", "title", "displaydate", "medium", "attribution", "classification"),
    "published_images": ("iiifurl", "viewtype", "sequence", "maxpixels", "depictstmsobjectid"),
    "objects_constituents": ("objectid", "constituentid", "displayorder", "roletype"),
    "constituents": ("constituentid", "preferreddisplayname", "forwarddisplayname"),
}
_OPTIONAL = {"objects": ("accessionnum",), "published_images": ("openaccess", "uuid")}
_TABLE_HINT = (
    "download objects.csv, published_images.csv, objects_constituents.csv and constituents.csv from "
    "https://github.com/NationalGalleryOfArt/opendata (folder data/) and pass --tables DIR"
)


# --------------------------------------------------------------------------------------- tables
def _read_table(tables_dir: Path, name: str) -> pd.DataFrame:
    path = tables_dir / f"{name}.csv"
    if not path.is_file():
        raise CatalogError(f"NGA table {path} not found; {_TABLE_HINT}")
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8").columns
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: not a readable CSV ({exc.__class__.__name__}: {exc})") from None
    lower = {c.strip().lower(): c for c in header}
    need = TABLES[name]
    missing = [c for c in need if c not in lower]
    if missing:
        raise CatalogError(
            f"{path}: missing column(s) {', '.join(missing)}; the NGA {name} table needs {', '.join(need)}"
        )
    want = [c for c in need + _OPTIONAL.get(name, ()) if c in lower]
    df = pd.read_csv(
        path, dtype=str, keep_default_na=False, usecols=[lower[c] for c in want], encoding="utf-8"
    )
    df.columns = [c.strip().lower() for c in df.columns]
    return df


def _csv_verifier(name: str) -> Callable[[Path], None]:
    def verify(path: Path) -> None:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        if head.startswith(b"version https://git-lfs"):
            raise ArtExtractError(f"{name}.csv: got a Git LFS pointer, not the table")
        first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lower()
        missing = [c for c in TABLES[name] if c not in first]
        if missing:
            raise ArtExtractError(f"{name}.csv: header lacks {', '.join(missing)}: {first[:120]!r}")

    return verify


def fetch_nga_tables(
    dest: str | Path,
    *,
    base_url: str = NGA_DATA_URL,
    force: bool = False,
    timeout: float = 30.0,
    retries: int = 4,
    backoff: float = 1.0,
    log: Callable[[str], None] = print,
) -> Path:
    """Download the four tables into ``dest`` (reusing ones already there); returns ``dest``.

    Each table is fetched as ``<name>.csv``; if that is not found (404) ``<name>.zip`` is tried and
    the CSV extracted. Offline: :class:`OfflineError` naming what to download by hand.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    base = base_url if base_url.endswith("/") else base_url + "/"
    checked = False
    for name in TABLES:
        path = dest / f"{name}.csv"
        verify = _csv_verifier(name)
        if path.is_file() and not force:
            try:
                verify(path)
                continue
            except ArtExtractError:
                pass
        if not checked:  # offline: one line, before anything else is said
            check_reachable([base], timeout=min(timeout, 10.0), hint=_TABLE_HINT)
            checked = True
        log(f"fetching {base}{name}.csv")
        kw = dict(timeout=timeout, retries=retries, backoff=backoff, offline_hint=_TABLE_HINT)
        res = fetch_file(base + f"{name}.csv", path, verify=verify, **kw)
        if res.status == "failed" and res.reason == "HTTP 404":
            zpath = dest / f"{name}.zip"
            zres = fetch_file(base + f"{name}.zip", zpath, verify=None, **kw)
            if zres.status != "failed":
                _extract_csv(zpath, f"{name}.csv", path)
                zpath.unlink(missing_ok=True)
                verify(path)
                continue
        if res.status == "failed":
            msg = f"could not fetch the NGA table {name}.csv ({res.reason}: {res.detail}); {_TABLE_HINT}"
            offline = res.reason in ("cannot resolve host", "connection failed")
            raise OfflineError(msg) if offline else ArtExtractError(msg)
    return dest


def _extract_csv(zpath: Path, member: str, out: Path) -> None:
    try:
        with zipfile.ZipFile(zpath) as zf:
            names = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] == member]
            if not names:
                raise ArtExtractError(f"{zpath.name} has no {member} (has {zf.namelist()[:5]})")
            with zf.open(names[0]) as src, atomic_path(out) as tmp, open(tmp, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
    except zipfile.BadZipFile as exc:
        raise ArtExtractError(f"{zpath.name}: not a zip file ({exc})") from None


# -------------------------------------------------------------------------------------- catalog
def iiif_image_url(iiifurl: str, size: int = DEFAULT_SIZE) -> str:
    """IIIF Image API URL of the whole image scaled to fit a ``size`` x ``size`` box."""
    return IIIF_IMAGE_URL.format(iiifurl=iiifurl.rstrip("/"), size=int(size))


def _clean_text(s: str) -> str:
    """NGA marks italics with underscores (``_title_``); drop them and collapse whitespace."""
    s = re.sub(r"(?<!\w)_([^_]+)_(?!\w)", r"\1", s)
    return " ".join(s.split())


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def select_nga_paintings(
    tables_dir: str | Path, *, limit: int | None = None, size: int = DEFAULT_SIZE, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Join the tables into catalog rows: paintings with an open-access image.

    Returns (catalog DataFrame, counts) with counts ``objects``, ``paintings``, ``open_access``,
    ``selected``. ``limit`` keeps a seeded random sample of that many (sorted by object id).
    """
    tables_dir = Path(tables_dir)
    objects = _read_table(tables_dir, "objects")
    images = _read_table(tables_dir, "published_images")
    links = _read_table(tables_dir, "objects_constituents")
    people = _read_table(tables_dir, "constituents")

    paintings = objects[objects["classification"].str.strip().str.lower() == "painting"].copy()
    paintings = paintings.drop_duplicates("objectid")

    if "openaccess" in images.columns:
        open_mask = images["openaccess"].str.strip().isin(["1", "1.0", "true", "True"])
    else:
        open_mask = images["maxpixels"].str.strip() == ""
    imgs = images[open_mask & (images["iiifurl"].str.strip() != "")].copy()
    imgs["_rank"] = (imgs["viewtype"].str.strip().str.lower() != "primary").astype(int)
    imgs["_seq"] = _num(imgs["sequence"]).fillna(1e9)
    imgs = imgs.sort_values(["depictstmsobjectid", "_rank", "_seq", "iiifurl"], kind="stable")
    imgs = imgs.drop_duplicates("depictstmsobjectid")[["depictstmsobjectid", "iiifurl"]]
    df = paintings.merge(imgs, left_on="objectid", right_on="depictstmsobjectid", how="inner")
    counts = {"objects": len(objects), "paintings": len(paintings), "open_access": len(df)}

    # artist names, in display order
    arts = links[links["roletype"].str.strip().str.lower() == "artist"].copy()
    arts = arts[arts["objectid"].isin(set(df["objectid"]))]
    people = people.drop_duplicates("constituentid")
    people["_name"] = people["forwarddisplayname"].where(
        people["forwarddisplayname"].str.strip() != "", people["preferreddisplayname"]
    )
    arts = arts.merge(people[["constituentid", "_name"]], on="constituentid", how="left")
    arts["_order"] = _num(arts["displayorder"]).fillna(1e9)
    arts = arts.sort_values(["objectid", "_order"], kind="stable")
    names = (
        arts[arts["_name"].fillna("").str.strip() != ""]
        .groupby("objectid", sort=False)["_name"]
        .agg(lambda s: "; ".join(dict.fromkeys(n.strip() for n in s)))
    )
    df["artist"] = df["objectid"].map(names).fillna("")
    no_artist = df["artist"] == ""
    df.loc[no_artist, "artist"] = df.loc[no_artist, "attribution"].map(_clean_text)

    df = df.assign(_oid=_num(df["objectid"])).sort_values(["_oid", "objectid"], kind="stable")
    if limit is not None:
        if limit < 1:
            raise ArtExtractError(f"limit must be a positive number of paintings, got {limit}")
        if limit < len(df):
            df = df.sample(n=limit, random_state=seed).sort_values(["_oid", "objectid"], kind="stable")
    oid = df["objectid"].str.strip()
    out = pd.DataFrame(
        {
            "id": "nga-" + oid,
            "image": "images/" + oid + ".jpg",
            "title": df["title"].map(_clean_text),
            "artist": df["artist"],
            "date": df["displaydate"].map(_clean_text),
            "style": "",
            "genre": "",
            "split": "",
            "source": "nga",
            "source_url": oid.map(lambda o: OBJECT_PAGE_URL.format(objectid=o)),
            "license": "CC0",
            "medium": df["medium"].map(_clean_text),
            "attribution": df["attribution"].map(_clean_text),
            "accession": df["accessionnum"] if "accessionnum" in df.columns else "",
            "iiif_url": df["iiifurl"].str.strip(),
            "image_url": df["iiifurl"].map(lambda u: iiif_image_url(u.strip(), size)),
        }
    ).reset_index(drop=True)
    counts["selected"] = len(out)
    return out, counts


def build_nga_catalog(
    tables_dir: str | Path,
    out_dir: str | Path,
    limit: int | None = None,
    *,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
) -> Path:
    """Write ``out_dir/catalog.csv`` for every selected painting (images not fetched); returns its path."""
    df, _ = select_nga_paintings(tables_dir, limit=limit, size=size, seed=seed)
    return write_catalog(df, out_dir)


# --------------------------------------------------------------------------------------- images
def download_images(
    catalog: pd.DataFrame | str | Path,
    out_dir: str | Path,
    *,
    size: int = DEFAULT_SIZE,
    workers: int = 8,
    retries: int = 4,
    timeout: float = 30.0,
    progress: bool | Callable = True,
    **kwargs,
) -> DownloadSummary:
    """Fetch each row's IIIF image at ``size`` to ``out_dir/<image>`` (see :func:`download_files`).

    ``catalog``: a DataFrame or a catalog path with ``iiif_url`` (or ``image_url``) and ``image``.
    Extra keyword arguments (``backoff``, ``total_timeout``, ``max_bytes`` ...) go to the downloader.
    """
    df = (
        catalog
        if isinstance(catalog, pd.DataFrame)
        else pd.read_csv(catalog_path(catalog), dtype=str, keep_default_na=False)
    )
    if "iiif_url" not in df.columns and "image_url" not in df.columns:
        raise CatalogError("catalog has neither iiif_url nor image_url; build it with build_nga_catalog")
    out_dir = Path(out_dir)
    tasks = []
    for row in df.itertuples(index=False):
        base = getattr(row, "iiif_url", "") or ""
        url = iiif_image_url(base, size) if base else row.image_url
        tasks.append(DownloadTask(url, image_path(out_dir, row.image), row.id))
    kwargs.setdefault("offline_hint", "use --no-images to write the catalog only, and rerun when online")
    return download_files(
        tasks,
        workers=workers,
        retries=retries,
        timeout=timeout,
        progress=progress,
        desc="NGA images",
        label="images",
        **kwargs,
    )


# ------------------------------------------------------------------------------------------- CLI
@dataclass
class NGASummary:
    """What ``artextract data nga`` did."""

    out: Path
    counts: dict[str, int] = field(default_factory=dict)
    catalog_rows: int = 0
    downloads: DownloadSummary | None = None
    failures_csv: Path | None = None

    @property
    def ok(self) -> bool:
        return self.downloads is None or self.downloads.ok

    def summary_line(self) -> str:
        c = self.counts
        line = (
            f"nga: {c.get('selected', 0)} painting(s) selected ({c.get('open_access', 0)} with an "
            f"open-access image of {c.get('paintings', 0)} paintings); "
            f"catalog {catalog_path(self.out)}: {self.catalog_rows} row(s)"
        )
        if self.downloads is None:
            return line + "; images not downloaded"
        line += "; " + self.downloads.summary_line()
        if self.failures_csv is not None:
            line += f"; failures listed in {self.failures_csv}"
        return line


def run_nga(
    out: str | Path,
    tables: str | Path | None = None,
    limit: int | None = None,
    size: int = DEFAULT_SIZE,
    workers: int = 8,
    skip_images: bool = False,
    *,
    retries: int = 4,
    timeout: float = 30.0,
    seed: int = 0,
    base_url: str = NGA_DATA_URL,
    progress: bool | Callable = True,
    log: Callable[[str], None] = print,
    **download_kwargs,
) -> NGASummary:
    """``artextract data nga``: tables (local or fetched) -> catalog -> IIIF images -> final catalog.

    Without ``tables`` the four tables are fetched into ``out/tables`` (reused on a rerun). With
    images, ``catalog.csv`` lists only paintings whose image is present and verified; failures go to
    ``out/download_failures.csv``; a rerun resumes. ``skip_images`` writes every selected row.
    """
    out = Path(out)
    if size < 16 or size > 4096:
        raise ArtExtractError(f"size must be between 16 and 4096 pixels, got {size}")
    if tables is None:
        tables_dir = fetch_nga_tables(out / "tables", base_url=base_url, timeout=timeout, log=log)
    else:
        tables_dir = Path(tables)
        if not tables_dir.is_dir():
            raise CatalogError(f"--tables {tables_dir} is not a folder; {_TABLE_HINT}")
    df, counts = select_nga_paintings(tables_dir, limit=limit, size=size, seed=seed)
    summary = NGASummary(out=out, counts=counts)
    if skip_images:
        write_catalog(df[_ordered(df)], out)
        summary.catalog_rows = len(df)
        return summary
    dls = download_images(
        df,
        out,
        size=size,
        workers=workers,
        retries=retries,
        timeout=timeout,
        progress=progress,
        **download_kwargs,
    )
    good = {r.task.key for r in dls.results if r.status in ("downloaded", "skipped")}
    final = df[df["id"].isin(good)]
    write_catalog(final[_ordered(final)], out)
    summary.catalog_rows = len(final)
    summary.downloads = dls
    failures = out / "download_failures.csv"
    if dls.failed:
        summary.failures_csv = dls.write_failures_csv(failures)
    else:
        failures.unlink(missing_ok=True)
    return summary


def _ordered(df: pd.DataFrame) -> list[str]:
    return list(COLUMNS) + [c for c in df.columns if c not in COLUMNS]
