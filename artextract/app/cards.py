"""Checkpoint cards and training logs for the Models page (no streamlit)."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from .. import config
from ..bundle import Bundle
from ..errors import BundleError


@functools.lru_cache(maxsize=32)
def read_card(checkpoint_dir: str, stamp: int = 0) -> dict[str, Any] | None:
    p = Path(checkpoint_dir) / "card.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


@functools.lru_cache(maxsize=32)
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
    roles: dict[Path, tuple[list[str], Path]] = {}  # one entry per folder, naming every role it plays
    if b is not None:
        for role in b.manifest.get("checkpoints", {}):
            try:
                d = b.checkpoint_dir(role)
            except BundleError:
                continue
            roles.setdefault(d.resolve(), ([], d))[0].append(role)
    found = {f"{' and '.join(r)} (used by {b.name})": d for r, d in roles.values()}
    seen = set(roles)
    mdir = config.models_dir()
    if mdir.is_dir():
        for card in sorted(mdir.glob("*/card.json")):
            if card.parent.resolve() not in seen:
                found[card.parent.name] = card.parent
    return found


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
    arch = f"**{card.get('arch', '?')}**"
    members = (
        (card.get("arch_kwargs") or {}).get("members") if isinstance(card.get("arch_kwargs"), dict) else None
    )
    if card.get("arch") == "ensemble" and isinstance(members, list):
        names = " + ".join(str(m.get("arch", "?")) for m in members if isinstance(m, dict))
        arch = f"**ensemble** of {names} (their logits averaged; embedding: their features side by side)"
    lines = [
        f"{arch} · {card.get('kind', '?')} · input {size} px",
        f"Heads: {head_txt} · embedding {card.get('embedding_dim', '?')}-d",
        f"Weights sha256 `{str(card.get('weights_sha256', ''))[:16]}…` · created {card.get('created', '?')}",
        f"Folder `{cdir}`",
    ]
    if isinstance(train, dict) and train:
        lines.append(trained_on(train))
    return "  \n".join(lines)


#: How the counts of a card's ``train_data`` read ("17,760 train").
_COUNTS = {"n_train": "train", "n_selection": "for selection", "n_val": "val"}


def _count(v: Any) -> int | None:
    """A count as written on a card, or None for anything that is not a finite number."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return int(v)


def trained_on(train: dict[str, Any]) -> str:
    """One line for a card's ``train_data``: collection, catalog hash, paintings per part, other facts."""
    parts = [f"`{train['collection']}`"] if train.get("collection") else []
    if train.get("catalog_sha256"):
        parts.append(f"catalog sha256 `{str(train['catalog_sha256'])[:12]}…`")
    counted = [k for k in _COUNTS if _count(train.get(k)) is not None]
    if counted:
        parts.append(" · ".join(f"{_count(train[k]):,} {_COUNTS[k]}" for k in counted) + " paintings")
    if _count(train.get("n_images")) is not None:
        counted.append("n_images")
        parts.append(f"{_count(train['n_images']):,} paintings")
    known = {"collection", "catalog_sha256", *counted}  # the rest reads as written
    parts += [f"{k}: {v}" for k, v in train.items() if k not in known and not isinstance(v, dict | list)]
    return "Trained on " + ", ".join(parts)


#: Column names of a card's per-head metrics as the Models page shows them (as on Home and Confusion).
METRIC_LABELS = {
    "n": "paintings",
    "top1": "accuracy",
    "top5": "top-5",
    "macro_f1": "macro-F1",
    "chance": "chance",
    "majority": "majority",
}

#: What a group of per-head metrics measured, where it is not the head itself (a BYOL card's k-NN probe).
_PROBES = {"knn": "k-NN probe"}


def card_metrics(card: dict[str, Any]) -> pd.DataFrame:
    """The card's ``metrics`` as a table: one row per head, or one row of scalars.

    Heads are nested dicts (``{"style": {"top1": ...}}``); a group of heads one level further down
    (a BYOL card's ``{"knn": {"style": {...}}}``) gives a row per head named after the group ("style ·
    k-NN probe"). Known columns get the names Home uses (``top1`` reads "accuracy"), in that order.
    """
    m = card.get("metrics") or {}
    if not isinstance(m, dict) or not m:
        return pd.DataFrame()

    def scalars(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if isinstance(v, int | float | str) and not isinstance(v, bool)}

    recs = []
    for k, v in m.items():
        if not isinstance(v, dict):
            continue
        if v and all(isinstance(x, dict) for x in v.values()):  # a group of heads
            probe = _PROBES.get(k, k)
            recs += [{"head": f"{h} · {probe}", **scalars(hv)} for h, hv in v.items()]
        elif scalars(v):
            recs.append({"head": k, **scalars(v)})
    if not recs and not scalars(m):
        return pd.DataFrame()
    table = pd.DataFrame(recs or [scalars(m)])
    order = [c for c in ["head", *METRIC_LABELS] if c in table.columns]
    table = table[order + [c for c in table.columns if c not in order]]
    return table.rename(columns=METRIC_LABELS)


def metrics_note(card: dict[str, Any]) -> str:
    """Where the card's metrics come from, in one line for the table under them."""
    training = card.get("training") if isinstance(card.get("training"), dict) else {}
    parts = ["Measured once by the trainer at the end of training"]
    if str(training.get("trainer", "")).endswith("ensemble"):
        parts = ["Measured once by `python -m artextract.train ensemble`, after its members were trained"]
    if card.get("selected_on"):  # e.g. "500 train paintings carved out (seeded); val reported once, ..."
        parts.append(f"the checkpoint was chosen on {str(card['selected_on']).split(';')[0]}")
    precision = training.get("precision")
    if precision and precision != "fp32":
        parts.append(
            f"in {precision} arithmetic, so the app (fp32) may answer differently for a few paintings per head"
        )
    return "; ".join(parts) + "."


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


def curve_chart(log: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One chart of :func:`curve_columns` as Vega-Lite: the log's ``columns[1:]`` against ``columns[0]``,
    one coloured line each, long-form data and its spec for ``st.vega_lite_chart``. What ``st.line_chart``
    draws, without its Altair spec built and schema-checked on every run (about 0.14 s a chart, most of
    the Models page's run)."""
    x, ys = columns[0], list(columns[1:])
    data = log[[x, *ys]].melt(id_vars=x, var_name="series", value_name="value").dropna(subset=["value"])
    spec: dict[str, Any] = {
        "mark": {"type": "line", "point": len(log) <= 30},
        "encoding": {
            "x": {"field": x, "type": "quantitative", "title": x},
            "y": {"field": "value", "type": "quantitative", "title": None, "scale": {"zero": False}},
            "color": {
                "field": "series",
                "type": "nominal",
                "title": None,
                "legend": {"orient": "bottom", "columns": 2},
            },
            "tooltip": [
                {"field": x, "type": "quantitative"},
                {"field": "series", "type": "nominal"},
                {"field": "value", "type": "quantitative", "format": ".4g"},
            ],
        },
    }
    return data.reset_index(drop=True), spec


def open_set_note(cdir: Path) -> str | None:
    """One line on the open-set gate stored beside a checkpoint (its held-out figures), None without one."""
    from ..analysis.open_set import GATE_CARD

    try:
        g = json.loads((Path(cdir) / GATE_CARD).read_text(encoding="utf-8"))
        attr, v, n = str(g["attribute"]), g["val"], len(g["classes"])
        card = json.loads((Path(cdir) / "card.json").read_text(encoding="utf-8"))
        if not card.get("weights_sha256") or g.get("weights_sha256") != card["weights_sha256"]:
            return (
                f"**Open-set check ({attr})**: the one beside this checkpoint was fitted for other weights, so "
                "it is not used; refit it with `python -m artextract.train open-set`."
            )
        return (
            f"**Open-set check ({attr})**: says whether a painting is by one of the {n} {attr}s the head "
            f"knows before it names one. On the val split it lets through {v['known_let_through']:.0%} of "
            f"the paintings by them and stops {v['other_stopped']:.0%} of the paintings by others (AUROC "
            f"{v['auroc']:.2f}); C and threshold chosen on the selection set carved out of train."
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
