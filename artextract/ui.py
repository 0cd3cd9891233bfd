"""The app's one Streamlit helper module: cached loaders, figures and the shared painting inspector.

Pages (``pages/*.py``) read widgets, call these functions and render; nothing else in the library
imports streamlit. Caching follows one rule: ``st.cache_resource`` for shared objects that must not be
copied (the bundle, the embedders, a lock), ``st.cache_data`` for frames, arrays, figures and image
bytes, always keyed by :func:`bundle_key` so a rebuilt bundle is never shown stale.

Session-state keys are namespaced by page (``"explore.focus"``, ``"confusion.style.focus"``, ...):
``<ns>.focus`` is the row shown in the inspector, ``<ns>.selected`` the rows of the last selection,
``<ns>.history`` the rows walked through via neighbour links.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from . import config, review
from .bundle import Bundle, open_bundle
from .catalog import image_path
from .errors import ArtExtractError, BadImageError, BundleError
from .text import csv_text, md_escape, safe_url

BUNDLE_ENV = "ARTEXTRACT_BUNDLE"
#: Uploads on the Similar page: accepted extensions (what images.load_image decodes) and size cap.
UPLOAD_TYPES: tuple[str, ...] = ("jpg", "jpeg", "png", "webp", "tif", "tiff", "gif", "bmp")
UPLOAD_MAX_MB = 20
#: Categorical colourings show the most frequent classes; the rest are drawn grey as "(other)".
MAX_LEGEND = 20
OTHER = "(other)"
ATTR_LABELS = {"style": "Style", "artist": "Artist", "genre": "Genre"}
PALETTE = [
    "#4C78A8",
    "#F58518",
    "#54A24B",
    "#E45756",
    "#72B7B2",
    "#B279A2",
    "#FF9DA6",
    "#9D755D",
    "#EECA3B",
    "#BAB0AC",
    "#1F77B4",
    "#FF7F0E",
    "#2CA02C",
    "#D62728",
    "#9467BD",
    "#8C564B",
    "#E377C2",
    "#17BECF",
    "#BCBD22",
    "#7F7F7F",
]
VERDICT_COLOURS = {"to review": "#D62728", "confirmed": "#7B1FA2", "dismissed": "#757575"}
INSPECT_COLUMNS = ("id", "title", "artist", "date", "style", "genre", "split", "source", "license")


# --------------------------------------------------------------------------- bundle


def bundle_location() -> Path:
    """The bundle folder: ``$ARTEXTRACT_BUNDLE`` or the real public-domain sample's bundle."""
    env = os.environ.get(BUNDLE_ENV)
    return Path(env).expanduser() if env else config.artifacts_dir(config.DEFAULT_BUNDLE)


def _stamp(root: Path) -> int:
    try:
        return (root / "manifest.json").stat().st_mtime_ns
    except OSError:
        return 0


@st.cache_resource(show_spinner="Opening the artifact bundle…", max_entries=4)
def _open_bundle(root: str, stamp: int) -> Bundle:
    return open_bundle(root)


def load_bundle(root: str | Path | None = None) -> Bundle:
    """The verified bundle (cached per process until its manifest changes); raises BundleError."""
    path = Path(root) if root is not None else bundle_location()
    return _open_bundle(str(path.resolve()), _stamp(path))


def current_bundle() -> Bundle:
    """The bundle for this page; on a BundleError show the message and stop the page (the app stays up)."""
    try:
        return load_bundle()
    except BundleError as exc:
        st.error(str(exc))
        st.caption(f"Bundle folder: `{bundle_location()}` (set {BUNDLE_ENV} to open another).")
        st.stop()
        raise  # unreachable: st.stop raises


def bundle_key(b: Bundle) -> str:
    """Hashable identity of a bundle version, for st.cache_data keys."""
    return f"{b.root}@{_stamp(b.root)}"


# --------------------------------------------------------------------------- review


def verdicts(b: Bundle) -> dict[str, str]:
    """Current verdict per painting id for this bundle (read fresh: verdicts change under us)."""
    try:
        return review.verdict_map(b.name)
    except review.ReviewError as exc:
        st.warning(f"Review verdicts unavailable: {exc}")
        return {}


def reviewers(b: Bundle) -> dict[str, str]:
    """Who made the current verdict on each painting of this bundle."""
    try:
        return review.reviewer_map(b.name)
    except review.ReviewError:
        return {}


REVIEWER_KEY = "review.reviewer"  # one name per browser session, shared by every page


def reviewer_name() -> str:
    return " ".join(str(st.session_state.get(REVIEWER_KEY, "") or "").split())


def verdict_signature(v: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(v.items()))


# --------------------------------------------------------------------------- tables


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


@st.cache_data(show_spinner=False, max_entries=64)
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


@st.cache_data(show_spinner=False, max_entries=64)
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


#: class names whose spelling is not just underscores for spaces
_PRETTY = {"Ukiyo_e": "Ukiyo-e"}


def pretty_label(label: str) -> str:
    """A class name as a curator reads it: ``Naive_Art_Primitivism`` -> ``Naive Art Primitivism``."""
    label = str(label)
    return _PRETTY.get(label, label.replace("_", " "))


def artist_of(row: Any) -> str:
    """The artist as a curator reads it: the catalog's display name (``artist_name``) where it has one,
    else the ``artist`` label with underscores as spaces (``Claude_Monet`` -> ``Claude Monet``)."""
    name = str(row.get("artist_name", "") or "")
    if name and name != "nan":
        return name
    label = str(row.get("artist", "") or "")
    return "" if label == "nan" else label.replace("_", " ")


def artist_column(items: pd.DataFrame) -> pd.Series:
    """:func:`artist_of` for every row."""
    label = items["artist"].fillna("").astype(str).str.replace("_", " ", regex=False)
    if "artist_name" not in items.columns:
        return label
    name = items["artist_name"].fillna("").astype(str)
    return name.where(name != "", label)


# --------------------------------------------------------------------------- figures


def _hover_text(items: pd.DataFrame) -> np.ndarray:
    import html

    title = items["title"].fillna("").astype(str).replace("", "(untitled)")
    artist = artist_column(items).replace("", "unknown artist")
    # plotly renders a subset of HTML in hover labels: catalog text is shown as text
    return np.array([html.escape(t) for t in (title + " — " + artist)], dtype=object)


@st.cache_data(show_spinner="Drawing the map…", max_entries=16)
def scatter_figure(
    _b: Bundle,
    key: str,
    projection: str,
    colour: str,
    rows: tuple[int, ...] | None,
    threshold: float,
    verdict_sig: tuple[tuple[str, str], ...] = (),
    height: int = 620,
) -> dict[str, Any]:
    """The Explore map as a plotly figure dict: WebGL points, one trace per colour class, and rings.

    ``customdata`` of every point is its bundle row, so a click or lasso maps straight back to
    paintings. Flagged paintings (score >= ``threshold``) get a ring coloured by their review verdict.
    Built once per (bundle, options) and cached; no per-point Python work.
    """
    import plotly.graph_objects as go

    items = _b.items
    idx = np.arange(len(items)) if rows is None else np.asarray(rows, dtype=np.int64)
    sub = items.iloc[idx]
    x = sub[f"{projection}_x"].to_numpy(dtype=np.float32)
    y = sub[f"{projection}_y"].to_numpy(dtype=np.float32)
    hover = _hover_text(sub)
    cdata = idx.astype(np.int32)
    marker_size = 6 if len(idx) < 5000 else (4 if len(idx) < 30000 else 3)
    hovertemplate = "%{hovertext}<extra></extra>"
    vmap = dict(verdict_sig)
    traces: list[Any] = []

    if colour in ("outlier_score",) or colour.startswith("conf_"):
        val = sub[colour].to_numpy(dtype=np.float32)
        traces.append(
            go.Scattergl(
                x=x,
                y=y,
                mode="markers",
                customdata=cdata,
                hovertext=hover,
                hovertemplate=hovertemplate,
                name=colour,
                showlegend=False,
                marker={
                    "size": marker_size,
                    "color": val,
                    "colorscale": "YlOrRd",
                    "cmin": 0.0,
                    "cmax": 1.0,
                    "colorbar": {"title": {"text": "outlier" if colour == "outlier_score" else "conf."}},
                    "opacity": 0.85,
                },
            )
        )
    else:
        if colour == "_verdict":
            labels = sub["id"].map(vmap).fillna("").to_numpy(dtype=object)
            labels = np.where(labels == "", "no verdict", labels)
        else:
            labels = sub[colour].fillna("").astype(str).replace("", "(unlabelled)").to_numpy(dtype=object)
        counts = pd.Series(labels).value_counts()
        top = counts.index[:MAX_LEGEND].tolist()
        if len(counts) > MAX_LEGEND:
            labels = np.where(pd.Series(labels).isin(top).to_numpy(), labels, OTHER)
            top.append(OTHER)
        for i, lab in enumerate(sorted(top, key=lambda s: (s == OTHER, s))):
            m = labels == lab
            colour_hex = "#C8C8C8" if lab == OTHER else PALETTE[i % len(PALETTE)]
            if colour.startswith("correct_"):
                colour_hex = {"yes": "#54A24B", "no": "#E45756"}.get(lab, "#C8C8C8")
            traces.append(
                go.Scattergl(
                    x=x[m],
                    y=y[m],
                    mode="markers",
                    customdata=cdata[m],
                    hovertext=hover[m],
                    hovertemplate=hovertemplate,
                    name=f"{pretty_label(lab)} ({int(m.sum())})",
                    marker={"size": marker_size, "color": colour_hex, "opacity": 0.8},
                    unselected={"marker": {"opacity": 0.3}},
                )
            )

    flagged = sub["outlier_score"].to_numpy(dtype=float) >= threshold
    if flagged.any():
        status = sub["id"].map(vmap).fillna("to review").to_numpy(dtype=object)
        for lab, hexc in VERDICT_COLOURS.items():
            m = flagged & (status == lab)
            if not m.any():
                continue
            traces.append(
                go.Scattergl(
                    x=x[m],
                    y=y[m],
                    mode="markers",
                    customdata=cdata[m],
                    hovertext=hover[m],
                    hovertemplate="⚑ %{hovertext}<extra></extra>",
                    name=f"flagged: {pretty_label(lab)} ({int(m.sum())})",
                    marker={
                        "size": marker_size + 8,
                        "symbol": "circle-open",
                        "color": hexc,
                        "line": {"width": 2, "color": hexc},
                    },
                )
            )

    fig = go.Figure(traces)
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        # no dragmode: Streamlit then pans on drag and selects on click; lasso and box are on the
        # mode bar (with dragmode lasso, Streamlit turns click-to-select off)
        hovermode="closest",
        uirevision=f"{projection}",
        # legend under the map, so the map gets the column's whole width
        legend={
            "itemsizing": "constant",
            "font": {"size": 11},
            "orientation": "h",
            "yanchor": "top",
            "y": -0.01,
            "x": 0,
        },
        xaxis={"showticklabels": False, "showgrid": False, "zeroline": False, "title": None},
        yaxis={"showticklabels": False, "showgrid": False, "zeroline": False, "title": None},
        plot_bgcolor="white",
    )
    return fig.to_dict()


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


@st.cache_data(show_spinner=False, max_entries=32)
def confusion_figure(_b: Bundle, key: str, attr: str, normalise: bool) -> dict[str, Any]:
    """Heatmap of the confusion matrix with a transparent clickable marker on every cell.

    Plotly heatmaps do not report selections, so each cell also carries a square scatter marker
    (``customdata = [true, predicted]`` class indices) that a click selects.
    """
    import plotly.graph_objects as go

    shown, counts, classes = confusion_matrix(_b, attr, normalise)
    c = len(classes)
    ti, pi = np.meshgrid(np.arange(c), np.arange(c), indexing="ij")
    text = np.where(counts > 0, (np.round(shown, 2) if normalise else counts).astype(str), "")
    classes = [pretty_label(c) for c in classes]
    heat = go.Heatmap(
        z=shown,
        x=classes,
        y=classes,
        colorscale="Blues",
        hoverinfo="skip",
        text=text if c <= 30 else None,
        texttemplate="%{text}" if c <= 30 else None,
        colorbar={"title": {"text": "share of row" if normalise else "paintings"}},
    )
    cells = go.Scatter(
        x=[classes[j] for j in pi.ravel()],
        y=[classes[i] for i in ti.ravel()],
        mode="markers",
        marker={"symbol": "square", "size": max(8, min(40, 600 // max(c, 1))), "opacity": 0.0},
        customdata=np.stack([ti.ravel(), pi.ravel(), counts.ravel()], axis=1),
        hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata[2]} painting(s)<extra>click to open</extra>",
        showlegend=False,
    )
    fig = go.Figure([heat, cells])
    side = max(360, min(900, 60 + 32 * c))
    fig.update_layout(
        height=side,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": {"text": "predicted"}, "side": "top", "type": "category"},
        yaxis={"title": {"text": "true (catalog)"}, "autorange": "reversed", "type": "category"},
        clickmode="event+select",
        dragmode=False,
    )
    return fig.to_dict()


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
    pc = b.metrics.get(attr, {}).get("per_class") or []
    df = pd.DataFrame(pc, columns=["class", "precision", "recall", "support"])
    df["class"] = df["class"].map(pretty_label)
    return df


# --------------------------------------------------------------------------- images


@st.cache_data(show_spinner=False, max_entries=4000)
def image_bytes(path: str, max_side: int = 512) -> tuple[bytes | None, str]:
    """A painting as JPEG bytes no larger than ``max_side`` (or None and the reason it is unreadable)."""
    from PIL import Image

    from .images import load_image

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


def show_image(
    path: Path | ArtExtractError, *, max_side: int = 512, caption: str | None = None, width: Any = "stretch"
) -> None:
    if isinstance(path, ArtExtractError):
        st.warning(f"Image unavailable: {path}")
        return
    data, err = image_bytes(str(path), max_side)
    if data is None:
        st.warning(f"Image unavailable: {err}")
    else:
        st.image(data, caption=caption, width=width)


def read_upload(uploaded: Any, max_mb: int = UPLOAD_MAX_MB) -> Any:
    """Decode an st.file_uploader file to an RGB PIL image; BadImageError says what is wrong."""
    from .images import load_image

    name = getattr(uploaded, "name", "upload")
    data = uploaded.getvalue()
    return load_image(data, name=name, max_bytes=max_mb * 1024 * 1024)


# --------------------------------------------------------------------------- models


@st.cache_resource(show_spinner=False)
def _inference_lock() -> threading.Lock:
    """One model call at a time: the embedders are shared by every session (and 2 cores are few)."""
    return threading.Lock()


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _embedder(checkpoint_dir: str, stamp: int) -> Any:
    from .predict import load_embedder

    return load_embedder(checkpoint_dir)


def embedder(b: Bundle, role: str) -> Any:
    """The cached inference wrapper of the bundle's ``classifier`` or ``encoder`` checkpoint."""
    d = b.checkpoint_dir(role)
    weights = d / "model.safetensors"
    stamp = weights.stat().st_mtime_ns if weights.exists() else 0
    return _embedder(str(d), stamp)


def classify(b: Bundle, img: Any) -> dict[str, list[tuple[str, float]]]:
    """Top-3 labels per head for one image (the bundle's classifier)."""
    from .predict import classify_image

    model = embedder(b, "classifier")
    with _inference_lock():
        return classify_image(model, img)


def similar(b: Bundle, img: Any, k: int) -> pd.DataFrame:
    """The ``k`` nearest reference paintings of an image: rank, score and catalog columns."""
    from .predict import embed_query

    ref = b.reference
    if ref is None:
        raise BundleError("this bundle has no reference collection; rebuild it with one to search")
    model = embedder(b, "encoder")
    with _inference_lock():
        q = embed_query(model, img)
        return ref.search(q, k)


# --------------------------------------------------------------------------- checkpoint cards


@st.cache_data(show_spinner=False, max_entries=32)
def read_card(checkpoint_dir: str, stamp: int = 0) -> dict[str, Any] | None:
    p = Path(checkpoint_dir) / "card.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


@st.cache_data(show_spinner=False, max_entries=32)
def read_log(checkpoint_dir: str, stamp: int = 0) -> pd.DataFrame:
    """``log.jsonl`` of a training run as a table (one row per logged epoch), empty if absent."""
    p = Path(checkpoint_dir) / "log.jsonl"
    rows = []
    try:
        for line in p.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        return pd.DataFrame()
    # the trainers also log every N steps and resumes; the curves are per epoch
    rows = [r for r in rows if isinstance(r, dict) and r.get("type", "epoch") == "epoch"]
    log = pd.json_normalize(rows) if rows else pd.DataFrame()
    if "epoch" in log.columns and "type" in log.columns:  # trainers count epochs from 0
        log = log.drop(columns="type").assign(epoch=log["epoch"] + 1)
        log = log.drop_duplicates("epoch", keep="last")  # a resumed run may repeat an epoch
    return log


def checkpoint_dirs(b: Bundle | None) -> dict[str, Path]:
    """Checkpoints to show: the bundle's (by role) plus every folder with a card under models/."""
    found: dict[str, Path] = {}
    if b is not None:
        for role in b.manifest.get("checkpoints", {}):
            try:
                found[f"{role} (used by {b.name})"] = b.checkpoint_dir(role)
            except BundleError:
                continue
    seen = {p.resolve() for p in found.values()}
    mdir = config.models_dir()
    if mdir.is_dir():
        for card in sorted(mdir.glob("*/card.json")):
            if card.parent.resolve() not in seen:
                found[card.parent.name] = card.parent
    return found


# --------------------------------------------------------------------------- inspector


def _labels_table(b: Bundle, row: int) -> pd.DataFrame:
    item = b.items.iloc[row]
    recs = []
    for a in b.attributes:
        top = b.top_k(row, a, 3)
        truth = str(item.get(a, "") or "")
        correct = str(item.get(f"correct_{a}", "") or "")
        recs.append(
            {
                "attribute": a,
                "catalog": pretty_label(truth) if truth else "(unlabelled)",
                "predicted": pretty_label(top[0][0]) if top else "",
                "match": {"yes": "✓", "no": "✗"}.get(correct, ""),
                "top-3": " · ".join(f"{pretty_label(lab)} {p:.2f}" for lab, p in top),
            }
        )
    return pd.DataFrame(recs)


def labels_markdown(b: Bundle, row: int) -> str:
    """One line per head: catalog label, prediction (✓/✗) and the top-3 probabilities."""
    lines = []
    for r in _labels_table(b, row).to_dict("records"):
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


def focus_row(ns: str, row: int | None, *, push: bool = True) -> None:
    """Show ``row`` in the ``ns`` inspector (remembering the previous one for Back)."""
    prev = st.session_state.get(f"{ns}.focus")
    if push and prev is not None and prev != row:
        hist = list(st.session_state.get(f"{ns}.history", []))[-20:]
        st.session_state[f"{ns}.history"] = [*hist, prev]
    st.session_state[f"{ns}.focus"] = row


def _go_back(ns: str) -> None:
    hist = list(st.session_state.get(f"{ns}.history", []))
    if hist:
        st.session_state[f"{ns}.focus"] = hist.pop()
        st.session_state[f"{ns}.history"] = hist


def _record(ns: str, b: Bundle, row: int, verdict: str, advance: bool) -> None:
    item = b.items.iloc[row]
    note = st.session_state.get(f"{ns}.note", "")
    name = reviewer_name()
    if not name:
        st.session_state[f"{ns}.review_msg"] = (
            "error",
            "Enter your name first: each verdict records who made it.",
        )
        return
    try:
        review.record(str(item["id"]), b.name, verdict, note, reviewer=name)
    except review.ReviewError as exc:
        st.session_state[f"{ns}.review_msg"] = ("error", str(exc))
        return
    st.session_state[f"{ns}.review_msg"] = (
        "ok",
        f"Recorded “{verdict}” for {item.get('title') or item['id']}.",
    )
    st.session_state[f"{ns}.note"] = ""
    if advance:  # the page picks the next painting in its queue
        focus_row(ns, None, push=False)


def verdict_controls(b: Bundle, row: int, ns: str, current: dict[str, str], *, advance: bool = False) -> None:
    """Confirm/dismiss buttons with a note, recording to the review database."""
    pid = str(b.items.iloc[row]["id"])
    now = current.get(pid)
    if now:
        by = reviewers(b).get(pid, "")
        st.markdown(f"**Verdict:** {now}" + (f" (by {md_escape(by)})" if by else ""))
    if REVIEWER_KEY not in st.session_state:
        st.session_state[REVIEWER_KEY] = ""
    st.text_input(
        "Your name (recorded with each verdict)",
        key=REVIEWER_KEY,
        max_chars=review.MAX_REVIEWER_CHARS,
        placeholder="asked once per browser session",
    )
    named = bool(reviewer_name())
    st.text_input("Note (optional)", key=f"{ns}.note", placeholder="why, what to fix in the catalog…")
    c1, c2 = st.columns(2)
    c1.button(
        "Confirm: catalog problem",
        key=f"{ns}.confirm",
        on_click=_record,
        args=(ns, b, row, "confirmed", advance),
        type="primary" if now != "confirmed" else "secondary",
        width="stretch",
        disabled=not named,
    )
    c2.button(
        "Dismiss: false alarm",
        key=f"{ns}.dismiss",
        on_click=_record,
        args=(ns, b, row, "dismissed", advance),
        width="stretch",
        disabled=not named,
    )
    msg = st.session_state.pop(f"{ns}.review_msg", None)
    if msg:
        (st.success if msg[0] == "ok" else st.error)(msg[1])


def inspector(
    b: Bundle,
    row: int,
    *,
    ns: str,
    verdict_of: dict[str, str] | None = None,
    n_neighbours: int = 6,
    review_controls: bool = True,
    advance_after_verdict: bool = False,
) -> None:
    """The painting, large: metadata and source link, catalog vs predicted labels with top-3
    probabilities, outlier score and reasons, review verdict, and clickable nearest paintings."""
    if not 0 <= row < len(b.items):
        st.warning(f"Row {row} is not in this bundle ({len(b.items)} paintings).")
        return
    item = b.items.iloc[row]
    verdict_of = verdict_of if verdict_of is not None else verdicts(b)
    with st.container(border=True, key=f"{ns.replace('.', '-')}-inspector"):
        hist = st.session_state.get(f"{ns}.history", [])
        head, back = st.columns([6, 1], vertical_alignment="center")
        title = str(item.get("title", "") or "(untitled)")
        head.markdown(f"### {md_escape(title)}")
        back.button(
            "←",
            key=f"{ns}.back",
            on_click=_go_back,
            args=(ns,),
            disabled=not hist,
            help="Back to the previous painting",
        )
        show_image(painting_path(b, row), max_side=640, width=420)
        meta = {c: str(item.get(c, "")) for c in INSPECT_COLUMNS if c in b.items.columns}
        st.markdown(
            f"**{md_escape(artist_of(item)) or 'unknown artist'}**"
            + (f", {md_escape(meta['date'])}" if meta.get("date") else "")
            + f"  \n{md_escape(meta.get('id', ''))} · {md_escape(meta.get('split')) or 'no split'} · "
            + md_escape(meta.get("source", ""))
            + (f" · {md_escape(meta['license'])}" if meta.get("license") else "")
        )
        url = safe_url(item.get("source_url", ""))
        if url:
            st.link_button("Source record ↗", url)
        st.markdown(labels_markdown(b, row))
        score = float(item.get("outlier_score", 0.0) or 0.0)
        flagged = score >= b.outlier_threshold
        st.markdown(
            f"**Outlier score** {score:.2f}"
            + (" — **flagged** ⚑" if flagged else f" (flagged from {b.outlier_threshold:.2f})")
        )
        reasons = group_reasons(str(item.get("outlier_reasons", "") or ""), b.attributes)
        if reasons:
            st.markdown("\n".join(f"- {md_escape(r)}" for r in reasons))
        if review_controls:
            verdict_controls(b, row, ns, verdict_of, advance=advance_after_verdict)
        elif verdict_of.get(str(item["id"])):
            st.markdown(f"**Verdict:** {verdict_of[str(item['id'])]}")
        neighbours = b.neighbours_of(row, n_neighbours)
        if neighbours:
            st.markdown("**Nearest paintings in the collection**")
            cols = st.columns(3)
            for i, (j, sim) in enumerate(neighbours):
                with cols[i % 3]:
                    show_image(painting_path(b, j), max_side=200)
                    nb = b.items.iloc[j]
                    st.caption(
                        f"{md_escape(nb.get('title', ''))} — {md_escape(artist_of(nb))} · sim {sim:.2f}"
                    )
                    st.button(
                        "Open",
                        key=f"{ns}.nb.{i}",
                        on_click=focus_row,
                        args=(ns, j),
                        width="stretch",
                    )


def gallery(b: Bundle, rows: Sequence[int], *, ns: str, per_page: int = 12, cols: int = 4) -> None:
    """Thumbnails of ``rows`` (paged); "Inspect" shows one in the ``ns`` inspector."""
    rows = list(rows)
    if not rows:
        st.info("No paintings here.")
        return
    pages = max(1, -(-len(rows) // per_page))
    page = 1
    if pages > 1:
        page = int(
            st.number_input(
                f"Page (of {pages})", 1, pages, 1, key=f"{ns}.page", help=f"{len(rows)} paintings"
            )
        )
    chunk = rows[(page - 1) * per_page : page * per_page]
    grid = st.columns(cols)
    for i, r in enumerate(chunk):
        with grid[i % cols]:
            show_image(painting_path(b, r), max_side=220)
            it = b.items.iloc[r]
            st.caption(f"{md_escape(it.get('title', ''))} — {md_escape(artist_of(it))}")
            st.button("Inspect", key=f"{ns}.g.{r}", on_click=focus_row, args=(ns, r), width="stretch")


def init_state(defaults: dict[str, Any]) -> None:
    """Initialise namespaced session-state keys once."""
    for k, v in defaults.items():
        if k not in st.session_state:
            st.session_state[k] = v


def selection_callback(ns: str, chart_key: str) -> Callable[[], None]:
    """on_select callback: copy the chart's selected rows into ``<ns>.selected`` and focus the first."""

    def _cb() -> None:
        rows = rows_from_selection(st.session_state.get(chart_key))
        st.session_state[f"{ns}.selected"] = rows
        if rows:
            focus_row(ns, rows[0])

    return _cb


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


def show_error(exc: ArtExtractError) -> None:
    st.error(str(exc))


def bundle_summary(b: Bundle) -> dict[str, Any]:
    """Counts for the Home page (paintings, splits, flagged, reviewed, reference size) and the manifest."""
    split = b.items["split"].astype(str) if "split" in b.items.columns else pd.Series(dtype=str)
    ref = None
    try:
        ref = b.reference
    except (OSError, ValueError) as exc:  # a damaged reference folder should not take Home down
        st.warning(f"Reference collection unreadable: {exc}")
    manifest = {k: v for k, v in b.manifest.items() if k != "classes"}
    return {
        "paintings": len(b.items),
        "train": int((split == "train").sum()),
        "val": int((split == "val").sum()),
        "flagged": int(flagged_mask(b).sum()),
        "reviewed": len(verdicts(b)),
        "reference": len(ref.items) if ref is not None else 0,
        "manifest": manifest,
    }


def table_callback(ns: str, table_key: str, rows: Sequence[int]) -> Callable[[], None]:
    """on_select callback of a single-row st.dataframe listing ``rows``: focus the picked one."""
    rows = list(rows)

    def _cb() -> None:
        state = st.session_state.get(table_key)
        picked = (_get(_get(state, "selection") or {}, "rows")) or []
        if picked and 0 <= int(picked[0]) < len(rows):
            focus_row(ns, rows[int(picked[0])])

    return _cb


def cell_callback(ns: str, chart_key: str) -> Callable[[], None]:
    """on_select callback of a confusion chart: remember the clicked cell, open its first painting."""

    def _cb() -> None:
        cell = cell_from_selection(st.session_state.get(chart_key))
        st.session_state[f"{ns}.cell"] = cell
        st.session_state[f"{ns}.focus"] = None
        st.session_state[f"{ns}.history"] = []
        st.session_state.pop(f"{ns}.page", None)

    return _cb


@st.cache_data(show_spinner=False, max_entries=64)
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


def painting_label(b: Bundle, row: int) -> str:
    it = b.items.iloc[int(row)]
    return f"{it.get('title', '') or '(untitled)'} — {artist_of(it) or 'unknown'} ({it['id']})"


def painting_image(b: Bundle, row: int) -> Any:
    """A collection painting as a PIL image (for a query); BadImageError if unreadable."""
    from .images import load_image

    return load_image(b.image_path(int(row)))


def label_table(labels: dict[str, list[tuple[str, float]]]) -> pd.DataFrame:
    """Top-3 labels per head, one row per attribute."""
    return pd.DataFrame(
        [
            {
                "attribute": a,
                "top-1": pretty_label(top[0][0]) if top else "",
                "top-3": " · ".join(f"{pretty_label(lab)} {p:.2f}" for lab, p in top),
            }
            for a, top in labels.items()
        ]
    )


def neighbour_grid(ref: Any, hits: pd.DataFrame, *, ns: str, cols: int = 4) -> None:
    """Reference hits: image, similarity, title, artist, date and a link to the source record."""
    grid = st.columns(cols)
    for i, hit in enumerate(hits.itertuples(index=False)):
        h = hit._asdict()
        with grid[i % cols], st.container(border=True, key=f"{ns}-hit-{i}"):
            try:
                path: Path | ArtExtractError = image_path(ref.collection_dir, str(h.get("image", "")))
            except ArtExtractError as exc:
                path = exc
            show_image(path, max_side=300)
            st.markdown(
                f"**{h.get('rank')}. {md_escape(h.get('title')) or '(untitled)'}**  \n"
                f"{md_escape(artist_of(h)) or 'unknown artist'}"
                + (f", {md_escape(h['date'])}" if h.get("date") else "")
            )
            st.caption(f"similarity {float(h.get('score', 0.0)):.3f}")
            url = safe_url(h.get("source_url"))
            if url:
                st.link_button("Source record ↗", url)


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
    if show == "To review":
        q = q[q["verdict"] == ""]
    elif show != "All flagged":
        q = q[q["verdict"] == show.lower()]
    return q.sort_values("outlier_score", ascending=False, kind="stable").reset_index(drop=True)


def mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def card_summary(card: dict[str, Any], cdir: Path) -> str:
    """Markdown lines: architecture, kind, input, heads, embedding size, weights hash, created, folder."""
    heads = card.get("heads") or {}
    head_txt = ", ".join(f"{h} ({len(v)} classes)" for h, v in heads.items()) or "none (encoder)"
    size = card.get("input_size")
    train = card.get("train_data") or {}
    lines = [
        f"**{card.get('arch', '?')}** · {card.get('kind', '?')} · input {size} px",
        f"Heads: {head_txt} · embedding {card.get('embedding_dim', '?')}-d",
        f"Weights sha256 `{str(card.get('weights_sha256', ''))[:16]}…` · created {card.get('created', '?')}",
        f"Folder `{cdir}`",
    ]
    if isinstance(train, dict) and train:
        lines.append(
            "Trained on: " + ", ".join(f"{k} {v}" for k, v in train.items() if not isinstance(v, dict | list))
        )
    return "  \n".join(lines)


def card_metrics(card: dict[str, Any]) -> pd.DataFrame:
    """The card's ``metrics`` as a table: one row per head (nested dicts) or one row of scalars."""
    m = card.get("metrics") or {}
    if not isinstance(m, dict) or not m:
        return pd.DataFrame()
    nested = {k: v for k, v in m.items() if isinstance(v, dict)}
    if nested:
        recs = [
            {"head": k, **{mk: mv for mk, mv in v.items() if isinstance(mv, int | float | str)}}
            for k, v in nested.items()
        ]
        return pd.DataFrame(recs)
    return pd.DataFrame([{k: v for k, v in m.items() if isinstance(v, int | float | str)}])


def curve_columns(log: pd.DataFrame) -> dict[str, list[str]]:
    """Group a training log's numeric columns into charts: ``{title: [x column, y columns...]}``."""
    if log.empty:
        return {}
    x = next((c for c in ("epoch", "step") if c in log.columns), None)
    if x is None:
        return {}
    numeric = [c for c in log.columns if c != x and pd.api.types.is_numeric_dtype(log[c])]
    groups: dict[str, list[str]] = {}
    for c in numeric:
        name = c.lower()
        if "loss" in name:
            g = "loss"
        elif any(t in name for t in ("acc", "top1")) or name == "score":  # BYOL: kNN-probe top-1
            g = "validation top-1"
        elif "lr" in name or "tau" in name:
            g = "schedule"
        else:
            continue
        groups.setdefault(g, []).append(c)
    return {g: [x, *cols] for g, cols in groups.items()}


def ensure_app_navigation() -> None:
    """Make a page opened by its URL right after a server start run inside app.py's navigation.

    Streamlit treats an app with a ``pages/`` folder as a legacy multipage app until the main script
    has called ``st.navigation`` once; a first visit straight to ``/explore`` would otherwise get an
    auto-generated menu (with an "app" page) and no page config. Switch the server to app.py's
    navigation and rerun; a no-op on every later run.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without the legacy mode
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
