"""The app's data layer: cached loaders and pure selection logic (no streamlit).

Caching follows one rule: shared objects that must not be copied (the bundle, the embedders) are cached
per process by folder and file stamp, so a rebuilt bundle or re-released checkpoint is reopened; per-bundle
tables and row selections are cached by :func:`bundle_key` with :func:`bundle_cached`. Callers must not
modify what a cached function returns.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import config
from ..analysis.open_set import class_index, known_truth, stops
from ..bundle import Bundle, open_bundle
from ..errors import ArtExtractError, BadImageError, BundleError
from ..labels import pretty_label
from ..text import csv_text, md_escape


def bundle_cached(maxsize: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Memoise ``fn(_b, key, *args)`` on ``(key, *args)``: ``key`` is :func:`bundle_key` of ``_b``, so a
    rebuilt bundle misses the cache, and the bundle object itself is never hashed. Least recently used
    entries beyond ``maxsize`` are dropped; ``fn.__wrapped__`` is the uncached function."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        store: OrderedDict[Any, Any] = OrderedDict()
        lock = threading.Lock()

        @functools.wraps(fn)
        def wrapper(_b: Any, key: str, *args: Any, **kwargs: Any) -> Any:
            k = (key, args, tuple(sorted(kwargs.items())))
            with lock:
                if k in store:
                    store.move_to_end(k)
                    return store[k]
            value = fn(_b, key, *args, **kwargs)
            with lock:
                store[k] = value
                while len(store) > maxsize:
                    store.popitem(last=False)
            return value

        wrapper.cache_clear = store.clear  # type: ignore[attr-defined]
        return wrapper

    return deco


BUNDLE_ENV = "ARTEXTRACT_BUNDLE"


#: Uploads on the Similar page: accepted extensions (what images.load_image decodes) and size cap.
UPLOAD_TYPES: tuple[str, ...] = ("jpg", "jpeg", "png", "webp", "tif", "tiff", "gif", "bmp")


UPLOAD_MAX_MB = 20


ATTR_LABELS = {"style": "Style", "artist": "Artist", "genre": "Genre"}


INSPECT_COLUMNS = ("id", "title", "artist", "date", "style", "genre", "split", "source", "license")


def bundle_location() -> Path:
    """The bundle folder: ``$ARTEXTRACT_BUNDLE`` or the real public-domain sample's bundle."""
    env = os.environ.get(BUNDLE_ENV)
    return Path(env).expanduser() if env else config.artifacts_dir(config.DEFAULT_BUNDLE)


@dataclass(frozen=True)
class BundleInfo:
    """One entry of the bundle switcher: ``name`` is the folder name, the handle in ``?bundle=`` links."""

    name: str
    path: Path
    title: str  # the collection's name in the manifest
    paintings: int
    created: str
    size_bytes: int
    complete: bool

    def label(self) -> str:
        size = (
            f"{self.size_bytes / 1e6:.1f} MB" if self.size_bytes >= 1e5 else f"{self.size_bytes / 1e3:.0f} kB"
        )
        state = "" if self.complete else " · not built"
        return f"{self.name} · {self.paintings:,} paintings · {size} · {self.created[:10]}{state}"


def _bundle_info(path: Path) -> BundleInfo:
    return _bundle_info_at(str(path), _stamp(path))


@functools.lru_cache(maxsize=256)
def _bundle_info_at(root: str, stamp: int) -> BundleInfo:
    """Read once per manifest version (every page run lists the bundles)."""
    path = Path(root)
    try:
        m = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        m = {}
    size = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                size += os.stat(os.path.join(dirpath, f)).st_size
    return BundleInfo(
        name=path.name,
        path=path,
        title=str(m.get("name", path.name)),
        paintings=int((m.get("collection") or {}).get("n", 0) or 0),
        created=str(m.get("created", "")),
        size_bytes=size,
        complete=bool(m.get("complete")),
    )


def list_bundles() -> list[BundleInfo]:
    """The default bundle first, then every bundle folder under ``<data>/artifacts`` by name.

    Only folders found here can be opened from a URL: ``?bundle=`` names one of them, never a path.
    Incomplete bundles (a build that is running, failed or was cancelled) are left out, except the
    default, which then says why it cannot be opened.
    """
    default = bundle_location()
    out = [_bundle_info(default)]
    root = config.data_dir() / "artifacts"
    if root.is_dir():
        for man in sorted(root.glob("*/manifest.json")):
            d = man.parent
            if d.resolve() != default.resolve() and d.name != default.name:
                info = _bundle_info(d)
                if info.complete:  # a build running, failed or cancelled is on the Collections page
                    out.append(info)
    return out


def _stamp(root: Path) -> int:
    """The version of a bundle's manifest, the key of every per-bundle cache (0: no manifest).

    Not the modification time alone: file times tick at the kernel's coarse clock (a few ms), and a build
    rewrites its manifest ("complete": true) moments after the last stage wrote it ("complete": false).
    A page that read the first could have kept the bundle "not built" for good. Every write is atomic (a
    new file renamed over the old), so the inode and size say which file it is too.
    """
    try:
        st = (root / "manifest.json").stat()
    except OSError:
        return 0
    return hash((st.st_mtime_ns, st.st_ino, st.st_size)) or 1


@functools.lru_cache(maxsize=4)
def _open_bundle(root: str, stamp: int) -> Bundle:
    return open_bundle(root)


def load_bundle(root: str | Path | None = None) -> Bundle:
    """The verified bundle (cached per process until its manifest changes); raises BundleError."""
    path = Path(root) if root is not None else bundle_location()
    return _open_bundle(str(path.resolve()), _stamp(path))


def bundle_key(b: Bundle) -> str:
    """Hashable identity of a bundle version: the key of every per-bundle cache."""
    return f"{b.root}@{_stamp(b.root)}"


def verdict_signature(v: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(v.items()))


def attribute_label(attr: str) -> str:
    return ATTR_LABELS.get(attr, attr.capitalize())


MAX_COLOUR_CLASSES = 40  # beyond this many values a categorical colouring is no longer readable


def colour_options(b: Bundle) -> dict[str, str]:
    """``{label: column}`` for Explore's colour-by menu, most useful first; ``_verdict`` is the review verdict.

    Catalog attributes with no values (NGA has no style or genre) are left out: they would paint every
    point "(unlabelled)". One with very many values (NGA's thousands of artists) comes after the
    predictions, so the default colouring stays readable.
    """
    labelled = [a for a in b.attributes if a in b.items.columns and (b.items[a].astype(str) != "").any()]
    few = [a for a in labelled if b.items[a].nunique() <= MAX_COLOUR_CLASSES]
    opts: dict[str, str] = {}
    for a in few:
        opts[attribute_label(a)] = a
    for a in b.attributes:
        opts[f"Predicted {a}"] = f"pred_{a}"
    for a in labelled:
        opts.setdefault(attribute_label(a), a)
    for a in labelled:
        opts[f"Correct? ({a})"] = f"correct_{a}"
    opts["Outlier score"] = "outlier_score"
    opts["Review verdict"] = "_verdict"
    return {k: v for k, v in opts.items() if v == "_verdict" or v in b.items.columns}


@bundle_cached(64)
def filter_values(_b: Bundle, key: str, attr: str) -> list[str]:
    """Distinct catalog values of ``attr``, most frequent first ("" shown as "(unlabelled)")."""
    vc = _b.items[attr].fillna("").astype(str).replace("", "(unlabelled)").value_counts()
    return vc.index.tolist()


def flagged_mask(b: Bundle, threshold: float | None = None) -> np.ndarray:
    """Flagged paintings: the bundle's own flags at its threshold, else ``outlier_score >= threshold``."""
    if "flagged" in b.items.columns and (threshold is None or threshold == b.outlier_threshold):
        return b.items["flagged"].to_numpy(dtype=bool)
    t = b.outlier_threshold if threshold is None else threshold
    return b.items["outlier_score"].to_numpy(dtype=float) >= float(t)


@bundle_cached(64)
def filtered_rows(
    _b: Bundle,
    key: str,
    filters: tuple[tuple[str, tuple[str, ...]], ...] = (),
    flagged_only: bool = False,
    threshold: float | None = None,
) -> np.ndarray:
    """Row indices passing the attribute filters (empty tuple = any) and the flagged-only switch."""
    mask = np.ones(len(_b.items), dtype=bool)
    for attr, values in filters:
        if values:
            col = _b.items[attr].fillna("").astype(str).replace("", "(unlabelled)")
            mask &= col.isin(values).to_numpy()
    if flagged_only:
        mask &= flagged_mask(_b, threshold)
    return np.flatnonzero(mask)


def map_mark(
    b: Bundle, projection: str, row: int | None, shown: np.ndarray | None = None
) -> tuple[int, float, float] | None:
    """``(row, x, y)`` of painting ``row`` on the ``projection`` map, to ring it there; None when there
    is no painting or the map does not show it (``shown``: the rows drawn, None for all)."""
    if row is None or not 0 <= int(row) < len(b.items):
        return None
    if shown is not None and not bool((np.asarray(shown) == int(row)).any()):
        return None
    item = b.items.iloc[int(row)]
    # float32, as the map's figure holds the coordinates: the ring sits on the point
    x, y = np.float32(item[f"{projection}_x"]), np.float32(item[f"{projection}_y"])
    if not (np.isfinite(x) and np.isfinite(y)):
        return None
    return int(row), float(x), float(y)


def selection_table(b: Bundle, rows: Sequence[int], verdict_of: dict[str, str] | None = None) -> pd.DataFrame:
    """The selected paintings with labels, predictions, outlier score/reasons and verdict (for display/CSV)."""
    rows = np.asarray(list(rows), dtype=np.int64)
    items = b.items.iloc[rows]
    cols = [c for c in ("id", "title", "artist", "date", "style", "genre", "split") if c in items.columns]
    for a in b.attributes:
        cols += [c for c in (f"pred_{a}", f"conf_{a}", f"correct_{a}") if c in items.columns]
    cols += [c for c in ("outlier_score", "flagged", "outlier_reasons", "source_url") if c in items.columns]
    out = items[cols].reset_index(drop=True)
    if verdict_of is not None:
        out["verdict"] = out["id"].map(verdict_of).fillna("")
    return out


def readable_table(b: Bundle, rows: Sequence[int], table: pd.DataFrame) -> pd.DataFrame:
    """:func:`selection_table` of ``rows`` as a curator reads it on screen: class names as WikiArt writes
    them (Naïve Art (Primitivism), genre painting, Paul Cézanne), the artist's name where the catalog has
    it, and the id last. The same rows in the same order; the CSV export keeps the catalog's own values."""
    out = table.copy()
    labelled = [
        c for c in out.columns if c in b.attributes or (c.startswith("pred_") and c[5:] in b.attributes)
    ]
    for c in labelled:
        out[c] = out[c].fillna("").astype(str).map(pretty_label)
    if "artist" in out.columns:
        out["artist"] = artist_column(b.items.iloc[list(rows)]).to_numpy()
    if "id" in out.columns:  # a file path in WikiArt's layout: after what a curator reads first
        out = out[[c for c in out.columns if c != "id"] + ["id"]]
    return out


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    return csv_text(df).encode("utf-8")


def rows_from_selection(state: Any) -> list[int]:
    """Bundle rows from a plotly_chart selection (customdata holds the row), de-duplicated, in order."""
    sel = _get(state, "selection") or {}
    points = _get(sel, "points") or []
    rows: list[int] = []
    for p in points:
        cd = _customdata(p)
        if isinstance(cd, list):
            cd = cd[0] if cd else None
        if cd is None:
            continue
        try:
            rows.append(int(cd))
        except (TypeError, ValueError):
            continue
    return list(dict.fromkeys(rows))


def _customdata(point: Any) -> Any:
    """A point's customdata: a scalar, or a list (typed arrays arrive as {"0": a, "1": b, ...})."""
    cd = point.get("customdata") if isinstance(point, dict) else None
    if isinstance(cd, dict):
        try:
            return [cd[k] for k in sorted(cd, key=int)]
        except (TypeError, ValueError):
            return None
    if isinstance(cd, tuple):
        return list(cd)
    return cd


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def artist_of(row: Any) -> str:
    """The artist as a curator reads it: the catalog's display name (``artist_name``) where it has one,
    else the ``artist`` label as :func:`pretty_label` writes it (``Paul_Cezanne`` -> ``Paul Cézanne``)."""
    name = str(row.get("artist_name", "") or "")
    if name and name != "nan":
        return name
    label = str(row.get("artist", "") or "")
    return "" if label == "nan" else pretty_label(label)


def artist_column(items: pd.DataFrame) -> pd.Series:
    """:func:`artist_of` for every row."""
    label = items["artist"].fillna("").astype(str).map(pretty_label)
    if "artist_name" not in items.columns:
        return label
    name = items["artist_name"].fillna("").astype(str)
    return name.where(name != "", label)


def confusion_matrix(b: Bundle, attr: str, normalise: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(shown values, raw counts, class names) of an attribute's val-split confusion (rows = true)."""
    m = b.metrics.get(attr)
    if not m or "confusion" not in m:
        raise BundleError(f"no confusion matrix for {attr!r}; this bundle has {', '.join(b.metrics)}")
    counts = np.asarray(m["confusion"], dtype=np.int64)
    classes = list(m.get("classes") or b.classes[attr])
    if normalise:
        tot = counts.sum(axis=1, keepdims=True)
        shown = np.divide(counts, tot, out=np.zeros(counts.shape, dtype=float), where=tot > 0)
    else:
        shown = counts.astype(float)
    return shown, counts, classes


def cell_from_selection(state: Any) -> tuple[int, int] | None:
    """(true, predicted) class indices of the clicked confusion cell, if any."""
    points = _get(_get(state, "selection") or {}, "points") or []
    for p in points:
        cd = _customdata(p)
        if isinstance(cd, list) and len(cd) >= 2:
            return int(cd[0]), int(cd[1])
    return None


def cell_rows(b: Bundle, attr: str, true_idx: int, pred_idx: int) -> np.ndarray:
    """Rows behind a confusion cell: catalog label ``true_idx``, prediction ``pred_idx``, within the
    paintings the matrix was computed on (the val split, or all paintings when there is none)."""
    classes = b.classes[attr]
    items = b.items
    on_val = (b.metrics.get(attr) or {}).get("split", "val") == "val" and "split" in items.columns
    val = items["split"].astype(str).to_numpy() == "val" if on_val else True
    mask = (
        val
        & (items[attr].astype(str).to_numpy() == classes[true_idx])
        & (items[f"pred_{attr}"].astype(str).to_numpy() == classes[pred_idx])
    )
    return np.flatnonzero(mask)


def per_class_table(b: Bundle, attr: str) -> pd.DataFrame:
    """Precision, recall and support per class; a figure with nothing to measure is empty, not 0: no
    recall for a class the collection has no painting of, no precision for one never predicted."""
    pc = b.metrics.get(attr, {}).get("per_class") or []
    df = pd.DataFrame(pc, columns=["class", "precision", "recall", "support", "predicted"])
    df["class"] = df["class"].map(pretty_label)
    df["recall"] = df["recall"].where(df["support"] > 0)
    if df["predicted"].notna().all():  # bundles from before "predicted" was stored keep their figures
        df["precision"] = df["precision"].where(df["predicted"] > 0)
    return df.drop(columns="predicted")


@functools.lru_cache(maxsize=4000)
def image_bytes(path: str, max_side: int = 512) -> tuple[bytes | None, str]:
    """A painting as JPEG bytes no larger than ``max_side`` (or None and the reason it is unreadable)."""
    from PIL import Image

    from ..images import load_image

    try:
        img = load_image(path)
    except BadImageError as exc:
        return None, str(exc)
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=88)
    return buf.getvalue(), ""


def painting_path(b: Any, row: int) -> Path | ArtExtractError:
    """A painting's file through the confined resolver, or the error that refused it (shown, not raised)."""
    try:
        return b.image_path(int(row))
    except ArtExtractError as exc:
        return exc


def upload_id(uploaded: Any) -> str:
    """``upload:<digest>``: names an st.file_uploader file by its bytes, so the same picture uploaded
    again (or kept across reruns) is recognised whatever its file name."""
    return "upload:" + hashlib.blake2b(uploaded.getvalue(), digest_size=16).hexdigest()


def read_upload(uploaded: Any, max_mb: int = UPLOAD_MAX_MB) -> Any:
    """Decode an st.file_uploader file to an RGB PIL image; BadImageError says what is wrong."""
    from ..images import load_image

    name = getattr(uploaded, "name", "upload")
    data = uploaded.getvalue()
    return load_image(data, name=name, max_bytes=max_mb * 1024 * 1024)


def stopped_label(attr: str, n_classes: int) -> str:
    """What the open-set gate answers instead of a name: the painting is by none of the head's classes."""
    return f"none of the {n_classes} {attr}s it knows"


def _labels_table(b: Bundle, row: int, gated: dict[str, dict[str, float]] | None = None) -> pd.DataFrame:
    """``gated``: ``{attribute: {"p_known", "threshold"}}`` for this painting, from the open-set gate."""
    item = b.items.iloc[row]
    recs = []
    for a in b.attributes:
        top = b.top_k(row, a, 3)
        truth = str(item.get(a, "") or "")
        correct = str(item.get(f"correct_{a}", "") or "")
        match = {"yes": "✓", "no": "✗"}.get(correct, "")
        predicted = pretty_label(top[0][0]) if top else ""
        top3 = " · ".join(f"{pretty_label(lab)} {p:.2f}" for lab, p in top)
        g = (gated or {}).get(a)
        if g is not None:
            stopped = bool(stops(g["p_known"], g["threshold"]))
            if stopped:
                predicted = stopped_label(a, len(b.classes[a]))
                top3 = f"closest of those: {top3}"
            one = b.items.iloc[[row]]
            known, usable = known_truth(one, a, b.classes[a])
            if usable[0]:  # right when it stops exactly the paintings by others (label or name, normalised)
                cls = int(class_index(one, a, b.classes[a])[0])
                named_right = bool(top) and cls >= 0 and b.classes[a].index(top[0][0]) == cls
                match = "✓" if (not known[0] if stopped else named_right) else "✗"
        recs.append(
            {
                "attribute": a,
                "catalog": (artist_of(item) if a == "artist" else pretty_label(truth))
                if truth
                else "(unlabelled)",
                "predicted": predicted,
                "match": match,
                "top-3": top3,
            }
        )
    return pd.DataFrame(recs)


def labels_markdown(b: Bundle, row: int, gated: dict[str, dict[str, float]] | None = None) -> str:
    """One line per head: catalog label, prediction (✓/✗) and the top-3 probabilities; a head with an
    open-set gate that stops this painting says so instead of naming one of its classes."""
    lines = []
    for r in _labels_table(b, row, gated).to_dict("records"):
        lines.append(
            f"- **{r['attribute']}**: catalog *{md_escape(r['catalog'])}*, "
            f"predicted *{md_escape(r['predicted'])}* {r['match']}  \n"
            f"  :gray[top-3: {md_escape(r['top-3'])}]"
        )
    return "\n".join(lines)


def group_reasons(reasons: str, attributes: Sequence[str]) -> list[str]:
    """Split '; '-joined outlier reasons into one line per finding (a part naming an attribute starts one)."""
    out: list[str] = []
    for part in (p.strip() for p in reasons.split("; ")):
        if not part:
            continue
        starts = any(part.lower().startswith(f"{a}:") for a in attributes)
        if out and not starts and any(out[-1].lower().startswith(f"{a}:") for a in attributes):
            out[-1] = f"{out[-1]}; {part}"
        else:
            out.append(part)
    return out


def flagged_on(reasons: str, attributes: Sequence[str]) -> str:
    """What a painting is flagged on, strongest first, short enough for a table column: "genre, style",
    or "unlike the rest" where its place on the map is the finding (from its reasons)."""
    on = []
    for part in (p.strip() for p in reasons.split("; ")):
        head = part.split(":", 1)[0].strip().lower() if ":" in part else ""
        name = head if head in attributes else "unlike the rest" if part.startswith("unlike the rest") else ""
        if name and name not in on:
            on.append(name)
    return ", ".join(on)


def fmt(v: float | None, digits: int = 3) -> str:
    """A metric for display; "—" when it is undefined (e.g. no labelled validation paintings)."""
    return "—" if v is None else f"{float(v):.{digits}f}"


def chance_levels(m: dict[str, Any]) -> tuple[float | None, float | None]:
    """(uniform 1/C, majority-class accuracy) from a metrics entry (``chance`` a dict or a number)."""
    ch = m.get("chance")
    if isinstance(ch, dict):
        return ch.get("uniform"), ch.get("majority")
    return ch, m.get("majority")


def scored_attributes(b: Bundle) -> tuple[list[str], list[str]]:
    """(attributes with predictions scored against catalog labels, attributes with none to score)."""
    scored = [a for a in b.attributes if (b.metrics.get(a) or {}).get("n")]
    return scored, [a for a in b.attributes if a not in scored]


def metrics_split_label(b: Bundle) -> str:
    splits = {(b.metrics.get(a) or {}).get("split") for a in b.attributes}
    return "the validation split" if splits <= {"val", None} else "all labelled paintings"


def unscored_message(b: Bundle, unscored: list[str]) -> str:
    names = ", ".join(unscored)
    return (
        f"No painting in this collection has a catalogued {names} that the classifier knows, so its "
        f"{names} predictions cannot be scored here (NGA open data, for instance, has no style or genre, "
        "and its artists are not the classifier's classes). The predictions are on Explore ('Predicted "
        "...' colourings) and in each painting's inspector."
    )


def predicted_counts(b: Bundle, attr: str) -> pd.Series:
    """How many paintings the classifier assigns to each class of ``attr``, most frequent first."""
    return b.items[f"pred_{attr}"].value_counts()


def headline_metrics(b: Bundle) -> pd.DataFrame:
    """Per attribute: val accuracy, top-5, macro-F1, chance and majority baselines."""
    recs = []
    for a in b.attributes:
        m = b.metrics.get(a) or {}
        uniform, majority = chance_levels(m)
        recs.append(
            {
                "attribute": a,
                "classes": len(b.classes.get(a, [])),
                "paintings scored": m.get("n"),
                "accuracy": m.get("accuracy"),
                "top-5": m.get("top5"),
                "macro-F1": m.get("macro_f1"),
                "chance": uniform,
                "majority": majority,
            }
        )
    return pd.DataFrame(recs)


def markdown_table(df: pd.DataFrame, digits: int = 3, whole: Sequence[str] = ()) -> str:
    """A small table as Markdown, for a page that should not load the browser's data grid (Streamlit
    fetches a 1.2 MB script, and a dozen more, the first time a page shows an ``st.dataframe``; a
    Markdown table draws with what every page has loaded). Numbers right-aligned: floats to ``digits``
    places, whole numbers (and the columns named in ``whole``) with thousands separators, missing ones
    as a dash; text escaped."""

    def cell(v: Any, count: bool) -> str:
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and not np.isfinite(v)):
            return "—"
        if isinstance(v, (bool, np.bool_)):
            return md_escape(str(v))
        if isinstance(v, (int, np.integer)) or (count and isinstance(v, (float, np.floating))):
            return f"{int(v):,}"
        if isinstance(v, (float, np.floating)):
            return f"{float(v):.{digits}f}"
        return md_escape(v)

    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df]
    lines = [
        "| " + " | ".join(md_escape(c) for c in df.columns) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    counts = [c in whole for c in df.columns]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v, c) for v, c in zip(row, counts, strict=True)) + " |")
    return "\n".join(lines)


def stat_html(label: str, value: str) -> str:
    """One headline number, drawn like ``st.metric`` (a small label over a large value) in Markdown's
    HTML: ``st.metric`` is another script for a fresh browser to fetch before Home can show its numbers."""
    from html import escape

    return (
        f'<div style="font-size:0.875rem">{escape(label)}</div>'
        f'<div style="font-size:2.25rem;line-height:1.3">{escape(value)}</div>'
    )


def manifest_markdown(manifest: dict[str, Any], max_items: int = 12) -> str:
    """A bundle's manifest as nested Markdown bullets (a list shows its first ``max_items``), keys and
    values escaped: readable in the expander, and no JSON viewer for the browser to fetch."""

    def lines(v: Any, depth: int) -> list[str]:
        pad = "  " * depth
        out: list[str] = []
        items = v.items() if isinstance(v, dict) else enumerate(v)
        for i, (k, x) in enumerate(items):
            if i == max_items:
                out.append(f"{pad}- … {len(v) - max_items:,} more")
                break
            head = f"{pad}- **{md_escape(k)}**" if isinstance(v, dict) else f"{pad}-"
            if isinstance(x, (dict, list, tuple)) and len(x):
                out += [head + ":" if isinstance(v, dict) else f"{pad}- ({i + 1})", *lines(x, depth + 1)]
            else:
                shown = "—" if x is None or isinstance(x, (dict, list, tuple)) else md_escape(x)
                out.append(f"{head}: {shown}" if isinstance(v, dict) else f"{head} {shown}")
        return out

    return "\n".join(lines(manifest, 0))


def bundle_summary(b: Bundle, verdict_of: dict[str, str]) -> dict[str, Any]:
    """Counts for the Home page (paintings, splits, flagged, reviewed, reference size) and the manifest;
    ``warning`` says why the reference collection could not be read, if it could not."""
    split = b.items["split"].astype(str) if "split" in b.items.columns else pd.Series(dtype=str)
    ref, warning = None, ""
    try:
        ref = b.reference
    except (OSError, ValueError) as exc:  # a damaged reference folder should not take Home down
        warning = f"Reference collection unreadable: {exc}"
    manifest = {k: v for k, v in b.manifest.items() if k != "classes"}
    return {
        "paintings": len(b.items),
        "train": int((split == "train").sum()),
        "val": int((split == "val").sum()),
        "flagged": int(flagged_mask(b).sum()),
        "reviewed": len(verdict_of),
        "reference": len(ref.items) if ref is not None else 0,
        "manifest": manifest,
        "warning": warning,
    }


@bundle_cached(64)
def search_items(_b: Bundle, key: str, needle: str) -> np.ndarray:
    """Rows whose title, artist or id contains ``needle`` (case-insensitive); all rows when empty."""
    needle = (needle or "").strip().lower()
    if not needle:
        return np.arange(len(_b.items))
    hay = (
        _b.items["title"].astype(str)
        + " "
        + _b.items["artist"].astype(str)
        + " "
        + artist_column(_b.items)
        + " "
        + _b.items["id"].astype(str)
    ).str.lower()
    return np.flatnonzero(hay.str.contains(needle, regex=False).to_numpy())


#: How a catalog's ``source`` value reads to a curator, where it is a code (``sources/wikiart.py``,
#: ``sources/nga.py``, ``sources/demo.py`` write these; the sample keeps museum names as they are).
SOURCE_NAMES = {
    "wikiart": "WikiArt",
    "nga": "National Gallery of Art",
    "artextract-demo": "the generated demo",
    "artextract-demo-reference": "the generated demo",
}


def provenance(meta: dict[str, str]) -> tuple[str, str]:
    """The inspector's two lines under the artist: where the painting comes from and on what terms
    ("WikiArt · public domain (dated 1641; artist died 1690)"), then its split and id, the file a
    curator may need to find ("val split · Baroque/david-teniers-...jpg"). Either may be empty."""
    source = str(meta.get("source", "") or "").strip()
    where = " · ".join(x for x in (SOURCE_NAMES.get(source.lower(), source), meta.get("license", "")) if x)
    split = str(meta.get("split", "") or "").strip()
    which = " · ".join(x for x in (f"{split} split" if split else "", meta.get("id", "")) if x)
    return where, which


def sources_line(items: pd.DataFrame, most: int = 4) -> str:
    """Where a collection's paintings come from, most first: "2,000 from WikiArt, 52 from The
    Metropolitan Museum of Art and 73 from 4 more sources"; empty when the catalog names none."""
    if "source" not in items.columns:
        return ""
    raw = items["source"].astype(object).value_counts()  # counted first: a name per source, not per row
    names = [str(s).strip() for s in raw.index]
    counts = pd.Series(raw.to_numpy(), index=[SOURCE_NAMES.get(n.lower(), n) for n in names])
    counts = counts[[n != "" for n in names]].groupby(level=0).sum()
    if counts.empty:
        return ""
    counts = counts.iloc[np.lexsort((counts.index.to_numpy(dtype=str), -counts.to_numpy()))]
    parts = [f"{n:,} from {name}" for name, n in counts.iloc[:most].items()]
    rest = counts.iloc[most:]
    if len(rest) == 1:
        parts.append(f"{int(rest.iloc[0]):,} from {rest.index[0]}")
    elif len(rest) > 1:
        parts.append(f"{int(rest.sum()):,} from {len(rest)} more sources")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


@bundle_cached(8)
def painting_labels(_b: Bundle, key: str) -> list[str]:
    """Every painting as a curator names it: "Paris Boulevard in the Rain — Gustave Caillebotte, 1877",
    with its id added only where that name is not enough: no title, or another painting with the same
    title, artist and date (a detail, a second version)."""
    items = _b.items
    empty = pd.Series("", index=items.index)
    title, date, pid = (
        items[c].fillna("").astype(str) if c in items.columns else empty for c in ("title", "date", "id")
    )
    artist = artist_column(items) if "artist" in items.columns else empty
    base = title.where(title != "", "(untitled)") + " — " + artist.where(artist != "", "unknown")
    base = base + np.where(date != "", ", " + date, "")
    ambiguous = (title == "") | base.duplicated(keep=False)
    return base.where(~ambiguous, base + " (" + pid + ")").tolist()


def painting_label(b: Bundle, row: int) -> str:
    return painting_labels(b, bundle_key(b))[int(row)]


def painting_image(b: Bundle, row: int) -> Any:
    """A collection painting as a PIL image (for a query); BadImageError if unreadable."""
    from ..images import load_image

    return load_image(b.image_path(int(row)))


def label_table(
    labels: dict[str, list[tuple[str, float]]], gated: dict[str, dict[str, float]] | None = None
) -> pd.DataFrame:
    """Top-3 labels per head, one row per attribute. ``gated``: ``{attribute: {"p_known", "threshold",
    "n_classes"}}`` from the open-set gate; a painting it stops gets "none of the N <attribute>s it knows"
    as its top-1 and its top-3 as the closest of those."""
    rows = []
    for a, top in labels.items():
        top1 = pretty_label(top[0][0]) if top else ""
        top3 = " · ".join(f"{pretty_label(lab)} {p:.2f}" for lab, p in top)
        g = (gated or {}).get(a)
        if g is not None and stops(g["p_known"], g["threshold"]):
            top1, top3 = stopped_label(a, int(g["n_classes"])), f"closest of those: {top3}"
        rows.append({"attribute": a, "top-1": top1, "top-3": top3})
    return pd.DataFrame(rows)


def flagged_ids(b: Bundle) -> list[str]:
    return b.items.loc[flagged_mask(b), "id"].astype(str).tolist()


def review_queue(
    b: Bundle, verdict_of: dict[str, str], show: str = "To review", reviewer_of: dict[str, str] | None = None
) -> pd.DataFrame:
    """Flagged paintings, highest outlier score first, with their verdict; ``row`` is the bundle row.

    ``show``: "To review" (no verdict yet), "Confirmed", "Dismissed" or "All flagged".
    """
    choices = ("To review", "Confirmed", "Dismissed", "All flagged")
    if show not in choices:
        raise ValueError(f"unknown queue {show!r}; use one of {', '.join(choices)}")
    rows = np.flatnonzero(flagged_mask(b))
    items = b.items.iloc[rows]
    q = pd.DataFrame(
        {
            "row": rows,
            "outlier_score": items["outlier_score"].to_numpy(dtype=float),
            "title": items["title"].astype(str).to_numpy(),
            "artist": artist_column(items).to_numpy(),
            "verdict": items["id"].astype(str).map(verdict_of).fillna("").to_numpy(),
            "reviewer": items["id"].astype(str).map(reviewer_of or {}).fillna("").to_numpy(),
            "reasons": items["outlier_reasons"].astype(str).to_numpy() if "outlier_reasons" in items else "",
        }
    )
    q.insert(3, "on", q["reasons"].map(lambda r: flagged_on(r, b.attributes)))
    if show == "To review":
        q = q[q["verdict"] == ""]
    elif show != "All flagged":
        q = q[q["verdict"] == show.lower()]
    return q.sort_values("outlier_score", ascending=False, kind="stable").reset_index(drop=True)
