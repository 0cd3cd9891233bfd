"""The public-domain sample that ships with the project: real paintings, openable with no download.

``artextract data sample`` builds two collections from a local WikiArt folder (ArtGAN layout and splits),
the NGA open-data constituents table and a folder of open-access museum thumbnails:

* ``<out>/collection``: the **public-domain val paintings** (the official ArtGAN val split, so the
  released classifier never trained on them): what Home, Explore and Confusion show by default;
* ``<out>/reference``: public-domain **train** paintings plus the museum thumbnails: what Similar
  searches.

The rule for "public domain" (from the shared data's README): the year in the WikiArt file name is
before 1930 and the artist died before 1956, the death year being ``endyear`` in the NGA
``constituents.csv`` matched on the slug of ``forwarddisplayname``, or, where NGA writes the name
otherwise, on the NGA name that ``NGA_NAMES`` gives the WikiArt slug (``rembrandt`` is NGA's "Rembrandt van
Rijn"); an artist not found there does not count. Titles and dates are written as a curator writes them ("Paris Boulevard in the Rain", 1893),
artists by NGA's display name (``artist_name``); ``artist`` keeps the label form of the classifier's
artist head (``Claude_Monet``), so its figures can be checked on the sample. Images are copied as
they are (no re-encoding); each row keeps its source and a link to the work's page.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalog import image_path, read_catalog, write_catalog
from ..errors import CatalogError
from ..text import slugify
from .wikiart import WIKIART_URL, index_wikiart, title_and_date

PD_YEAR_BEFORE = 1930
PD_DEATH_BEFORE = 1956
_MUSEUM_LINK = re.compile(r"via (?P<museum>[^()]+?) \((?P<url>https?://[^)\s]+)\)")
#: a museum as it names itself, where the thumbnails' credit line names it otherwise
MUSEUM_NAMES = {"Cleveland Art Museum": "The Cleveland Museum of Art"}
#: WikiArt artist slug -> the artist's ``forwarddisplayname`` in NGA's constituents table, where NGA
#: writes the name otherwise (a title, a first name dropped or added, another transliteration). Each pair
#: was checked by hand against NGA's dates and nationality; the death year still comes from NGA's table.
NGA_NAMES = {
    "rembrandt": "Rembrandt van Rijn",
    "pierre-auguste-renoir": "Auguste Renoir",
    "peter-paul-rubens": "Sir Peter Paul Rubens",
    "anthony-van-dyck": "Sir Anthony van Dyck",
    "joshua-reynolds": "Sir Joshua Reynolds",
    "louise-elisabeth-vigee-le-brun": "Élisabeth Louise Vigée Le Brun",
    "jean-baptiste-simeon-chardin": "Jean Siméon Chardin",
    "jacob-isaakszoon-van-ruisdael": "Jacob van Ruisdael",
    "armand-guillaumin": "Jean-Baptiste-Armand Guillaumin",
    "hiroshige": "Andō Hiroshige",
    "william-james-glackens": "William Glackens",
    "louis-marcoussis": "Louis Casimir Ladislas Marcoussis",
    "esaias-van-de-velde": "Esaias van de Velde I",
}


def death_years(constituents_csv: str | Path, aliases: dict[str, str] | None = None) -> pd.DataFrame:
    """``slug -> (endyear, display name)`` from NGA's constituents table (latest death year on a clash),
    plus a row under each WikiArt slug of ``aliases`` (default ``NGA_NAMES``) whose NGA name the table has."""
    path = Path(constituents_csv)
    if not path.is_file():
        raise CatalogError(f"NGA constituents table not found: {path}")
    try:
        df = pd.read_csv(path, usecols=["forwarddisplayname", "endyear"], dtype=str, keep_default_na=False)
    except ValueError as exc:
        raise CatalogError(f"{path}: needs columns forwarddisplayname and endyear ({exc})") from exc
    df = df[df["endyear"].str.fullmatch(r"\d{3,4}")].copy()
    df["slug"] = df["forwarddisplayname"].map(slugify)
    df["endyear"] = df["endyear"].astype(int)
    df = df.sort_values("endyear").drop_duplicates("slug", keep="last").set_index("slug")
    aliases = NGA_NAMES if aliases is None else aliases
    extra = {
        w: df.loc[slugify(n)] for w, n in aliases.items() if w not in df.index and slugify(n) in df.index
    }
    if extra:
        df = pd.concat([df, pd.DataFrame.from_dict(extra, orient="index")])
    return df[["endyear", "forwarddisplayname"]]


def artist_label(slug: str) -> str:
    """``pierre-auguste-renoir`` -> ``Pierre_Auguste_Renoir``: the ArtGAN artist-class spelling."""
    return "_".join(w[:1].upper() + w[1:] for w in slug.split("-") if w)


@dataclass
class SampleSummary:
    collection: int
    reference_wikiart: int
    reference_museum: int
    megabytes: float

    def summary_line(self) -> str:
        return (
            f"sample: {self.collection} public-domain val paintings in the collection; reference "
            f"{self.reference_wikiart} public-domain train paintings + {self.reference_museum} museum "
            f"thumbnails; {self.megabytes:.1f} MB of images"
        )


def public_domain_rows(catalog: pd.DataFrame, deaths: pd.DataFrame) -> pd.DataFrame:
    """The WikiArt rows that pass the public-domain rule, with curator-facing columns filled in."""
    stems = catalog["id"].map(lambda p: Path(p).stem)
    artist_slug = stems.str.partition("_")[0]
    title_slug = stems.str.partition("_")[2]
    parsed = title_slug.map(title_and_date)
    year = parsed.map(lambda t: int(t[1][-4:]) if t[1] else 0)
    death = artist_slug.map(lambda s: int(deaths["endyear"].get(s, 9999)))
    keep = (year > 0) & (year < PD_YEAR_BEFORE) & (death < PD_DEATH_BEFORE)
    out = catalog[keep].copy()
    out["title"] = parsed[keep].map(lambda t: t[0])
    out["date"] = parsed[keep].map(lambda t: t[1])
    # the artist by file name, in the head's label form; ArtGAN's own label wins where it has one
    slug_label = artist_slug[keep].map(artist_label)
    out["artist"] = np.where(out["artist"] != "", out["artist"], slug_label)
    out["artist_name"] = artist_slug[keep].map(lambda s: deaths["forwarddisplayname"].get(s, s))
    out["license"] = [
        f"public domain (dated {y}; artist died {d}); image via WikiArt"
        for y, d in zip(year[keep], death[keep], strict=True)
    ]
    out["source_url"] = [
        WIKIART_URL.format(artist=a, title=t)
        for a, t in zip(artist_slug[keep], title_slug[keep], strict=True)
    ]
    return out.reset_index(drop=True)


def museum_rows(museum_dir: str | Path) -> pd.DataFrame:
    """The museum thumbnails' catalog with each work's museum page as its link."""
    cat = read_catalog(museum_dir)
    museum = cat["license"].map(lambda s: m.group("museum").strip() if (m := _MUSEUM_LINK.search(s)) else "")
    museum = museum.map(lambda name: MUSEUM_NAMES.get(name, name))
    url = cat["license"].map(lambda s: m.group("url") if (m := _MUSEUM_LINK.search(s)) else "")
    out = cat.copy()
    out["image_url"] = cat["source_url"]
    out["source"] = np.where(museum != "", museum, cat["source"])
    out["source_url"] = np.where(url != "", url, cat["source_url"])
    out["artist_name"] = cat["artist"]
    out["artist"] = ""  # not a classifier label: shown through artist_name
    out["split"] = ""
    return out


def _copy_images(rows: pd.DataFrame, src_root: Path, dst_root: Path, *, keep_parent: bool) -> pd.DataFrame:
    """Copy each row's image under ``dst_root/images/`` (in its style folder with ``keep_parent``)."""
    rows = rows.copy()
    new = []
    for img in rows["image"]:
        src = image_path(src_root, img)
        name = Path(img).name
        rel = f"images/{Path(img).parent.name}/{name}" if keep_parent else f"images/{name}"
        dst = dst_root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        new.append(rel)
    rows["image"] = new
    return rows


def make_sample(
    wikiart_root: str | Path,
    splits_dir: str | Path,
    constituents_csv: str | Path,
    museum_dir: str | Path,
    out: str | Path,
    *,
    n_reference: int = 2000,
    seed: int = 0,
) -> SampleSummary:
    """Write ``<out>/collection`` and ``<out>/reference`` (see the module docstring)."""
    import tempfile

    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        _, _ = index_wikiart(wikiart_root, splits_dir, Path(tmp) / "wikiart")
        catalog = read_catalog(Path(tmp) / "wikiart")
        pd_rows = public_domain_rows(catalog, death_years(constituents_csv))
        wroot = Path(tmp) / "wikiart"
        # official style-val rows only (a few val rows carry no style: ArtGAN lists them in another
        # task's train split, so their labels are masked)
        val = pd_rows[(pd_rows["split"] == "val") & (pd_rows["style"] != "")]
        val = val.sort_values("id").reset_index(drop=True)
        train = pd_rows[pd_rows["split"] == "train"].sort_values("id").reset_index(drop=True)
        if len(train) > n_reference:  # a seeded subset, at least 20 per style where a style has them
            rng = np.random.default_rng(seed)
            order = rng.permutation(len(train))
            firsts = train.iloc[order].groupby("style", sort=False).head(20).index
            chosen = set(firsts)
            rest = [i for i in train.index[order] if i not in chosen]
            train = train.loc[list(firsts) + rest[: max(0, n_reference - len(firsts))]]
            train = train.sort_values("id").reset_index(drop=True)
        for sub in ("collection", "reference"):
            shutil.rmtree(out / sub, ignore_errors=True)
        coll = _copy_images(val, wroot, out / "collection", keep_parent=True)
        ref_w = _copy_images(train, wroot, out / "reference", keep_parent=True)
        ref_w["split"] = ""
        mus = _copy_images(
            museum_rows(museum_dir), Path(museum_dir), out / "reference" / "museum", keep_parent=False
        )
        mus["image"] = "museum/" + mus["image"]
    write_catalog(coll, out / "collection")
    ref = pd.concat([ref_w, mus], ignore_index=True).fillna("")
    write_catalog(ref, out / "reference")
    size = sum(p.stat().st_size for p in out.rglob("*.jpg"))
    return SampleSummary(len(coll), len(ref_w), len(mus), size / 1e6)
