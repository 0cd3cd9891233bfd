"""Is the painter one the classifier knows? An open-set gate for a head with a closed list of classes.

The released classifier's artist head knows 16 artists (those ArtGAN labels and ``../shared`` holds).
Softmax over 16 names always names one of them: a Hokusai print comes back "Martiros Saryan 0.98".
The gate answers the question that comes first: is this painting by one of the head's artists at all?

It is a logistic regression on the classifier's own embedding (L2-normalised, standardised; the
standardisation folded into one weight vector and a bias), fitted on the train paintings, known artist
or not (an artist is known when the painting's artist, label or name, is one of the head's classes).
Its ``C`` (from a short fixed list) and its threshold are chosen on the selection set that was carved out
of train for the classifier's checkpoint choice, never on val: the threshold lets through ``keep`` (95%)
of the selection set's paintings by known artists. What it gives on val is reported, not tuned.

The gate is stored beside the checkpoint it belongs to (``open_set.safetensors``: weight and bias;
``open_set.json``: attribute, classes, threshold, how it was chosen, figures, and the checkpoint's
weights hash), so it is never applied to another model's embedding.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError
from ..text import slugify  # names and labels compared blind to case, accents and punctuation

GATE_WEIGHTS = "open_set.safetensors"
GATE_CARD = "open_set.json"
FORMAT = "artextract-open-set/1"
#: C values tried (chosen by AUROC on the selection set): strong to weak regularisation.
C_GRID = (0.001, 0.01, 0.1, 1.0)
#: Share of the selection set's known-artist paintings the threshold lets through.
KEEP = 0.95


def known_truth(rows: Any, attribute: str, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(known, usable) per row: known when the row's ``attribute`` label, or its ``<attribute>_name``,
    names one of ``classes`` (case, accents and punctuation ignored); usable when the row names any artist at all
    (a row with neither says nothing about the question)."""
    names = {slugify(c) for c in classes}
    n = len(rows)
    label = rows[attribute].fillna("").astype(str) if attribute in rows else None
    alt = rows[f"{attribute}_name"].fillna("").astype(str) if f"{attribute}_name" in rows else None
    known = np.zeros(n, dtype=bool)
    usable = np.zeros(n, dtype=bool)
    for col in (label, alt):
        if col is None:
            continue
        norm = col.map(slugify).to_numpy()
        known |= np.isin(norm, list(names))
        usable |= norm != ""
    return known, usable


def class_index(rows: Any, attribute: str, classes: Sequence[str]) -> np.ndarray:
    """Each row's class among ``classes`` from its label or its ``<attribute>_name`` (-1: none of them)."""
    norm = {slugify(c): i for i, c in enumerate(classes)}
    out = np.full(len(rows), -1, dtype=np.int64)
    for col in (f"{attribute}_name", attribute):  # the label wins where both name a class
        if col in rows:
            idx = rows[col].fillna("").astype(str).map(lambda s: norm.get(slugify(s), -1)).to_numpy()
            out = np.where(idx >= 0, idx, out)
    return out


def stops(p_known: Any, threshold: float) -> Any:
    """Whether the gate stops a painting (names none of the classes): below the threshold, or no score
    at all (NaN: an embedding it cannot judge). One rule for every page, the CLI and the figures."""
    return ~(np.asarray(p_known, dtype=np.float64) >= threshold)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def auroc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half); None without both classes. The Mann-Whitney U
    statistic from average ranks, in numpy: the app's Home asks for it, and importing scikit-learn there
    took a cold server a second."""
    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        return None
    scores = np.asarray(scores, dtype=np.float64)
    scores = np.where(np.isfinite(scores), scores, -1.0)  # no score ranks lowest, as the gate stops it
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based, ties share their average
    n_pos = int(positive.sum())
    n_neg = len(scores) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@dataclass(frozen=True)
class OpenSetGate:
    """P(the painting is by one of ``classes``) = sigmoid(unit(embedding) . weight + bias)."""

    attribute: str
    classes: tuple[str, ...]
    weight: np.ndarray  # [D], on L2-normalised embeddings (standardisation folded in)
    bias: float
    threshold: float
    card: dict[str, Any] = field(default_factory=dict)

    def p_known(self, embeddings: np.ndarray) -> np.ndarray:
        e = np.atleast_2d(np.asarray(embeddings))
        if e.shape[1] != len(self.weight):
            raise CheckpointError(
                f"open-set gate expects {len(self.weight)}-d embeddings, got {e.shape[1]}-d: it belongs to "
                "another checkpoint"
            )
        e = np.asarray(e, dtype=np.float64)
        norms = np.linalg.norm(e, axis=1)
        p = _sigmoid(_unit(e) @ self.weight + self.bias)
        # an all-zero or non-finite embedding (an image that could not be read) gets no score
        return np.where(np.isfinite(norms) & (norms > 0), p, np.nan)

    def known(self, embeddings: np.ndarray) -> np.ndarray:
        return ~stops(self.p_known(embeddings), self.threshold)


def fit_gate(
    train_emb: np.ndarray,
    train_known: np.ndarray,
    sel_emb: np.ndarray,
    sel_known: np.ndarray,
    *,
    attribute: str,
    classes: Sequence[str],
    c_grid: Sequence[float] = C_GRID,
    keep: float = KEEP,
    seed: int = 0,
) -> OpenSetGate:
    """Fit on train, choose ``C`` (AUROC) and the threshold (``keep`` of known let through) on selection."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train_known = np.asarray(train_known, dtype=bool)
    sel_known = np.asarray(sel_known, dtype=bool)
    for name, k in (("train", train_known), ("selection", sel_known)):
        if k.all() or not k.any():
            raise CheckpointError(f"the open-set gate needs {name} paintings by known and by other artists")
    if not 0 < keep < 1:
        raise ValueError(f"keep must be in (0, 1), got {keep}")
    xt, xs = _unit(train_emb), _unit(sel_emb)
    sc = StandardScaler().fit(xt)
    tried = []
    best = None
    for c in c_grid:
        lr = LogisticRegression(C=float(c), max_iter=5000, random_state=seed).fit(
            sc.transform(xt), train_known
        )
        w = lr.coef_[0] / sc.scale_
        b = float(lr.intercept_[0] - np.dot(lr.coef_[0], sc.mean_ / sc.scale_))
        p = _sigmoid(xs @ w + b)
        a = auroc(p, sel_known)
        tried.append({"C": float(c), "selection_auroc": a})
        if best is None or a > best[0]:
            best = (a, float(c), w, b, p)
    a, c, w, b, p = best
    # the largest threshold that still lets ``keep`` of the selection set's known paintings through
    threshold = float(np.quantile(p[sel_known], 1.0 - keep, method="lower"))
    card = {
        "format": FORMAT,
        "attribute": attribute,
        "classes": list(classes),
        "rule": (
            f"logistic regression on the L2-normalised, standardised embedding; C chosen by AUROC on the "
            f"selection set from {list(map(float, c_grid))}; threshold lets {keep:.0%} of the selection set's "
            "known-artist paintings through"
        ),
        "C": c,
        "keep": keep,
        "tried": tried,
        "threshold": threshold,
        "n_train": {"known": int(train_known.sum()), "other": int((~train_known).sum())},
        "selection": gate_figures(p, sel_known, threshold),
    }
    return OpenSetGate(attribute, tuple(classes), w.astype(np.float32), b, threshold, card)


def gate_figures(
    p_known: np.ndarray, known: np.ndarray, threshold: float, correct: np.ndarray | None = None
) -> dict[str, Any]:
    """What the gate does on paintings whose answer is known: AUROC, the share of known-artist paintings
    let through, the share of other artists' paintings stopped, and (given ``correct``, whether the head's
    top-1 was right on each known painting) the head's top-1 before and after the gate."""
    p_known = np.asarray(p_known, dtype=np.float64)
    known = np.asarray(known, dtype=bool)
    through = ~stops(p_known, threshold)
    out: dict[str, Any] = {
        "n_known": int(known.sum()),
        "n_other": int((~known).sum()),
        "auroc": auroc(p_known, known),
        "known_let_through": float(through[known].mean()) if known.any() else None,
        "other_stopped": float((~through[~known]).mean()) if (~known).any() else None,
    }
    if correct is not None and known.any():
        correct = np.asarray(correct, dtype=bool)
        out["top1_known"] = float(correct[known].mean())
        # an answer is right when the gate lets a known painting through to the right name
        out["top1_known_after_gate"] = float((correct & through)[known].mean())
    return out


# ------------------------------------------------------------------------------------------ storage
def save_gate(checkpoint_dir: str | Path, gate: OpenSetGate, weights_sha256: str, **extra: Any) -> None:
    """Write the gate beside its checkpoint (weights + a JSON card naming that checkpoint's hash)."""
    from safetensors.numpy import save_file

    from ..fileio import atomic_path, write_json_atomic

    d = Path(checkpoint_dir)
    with atomic_path(d / GATE_WEIGHTS) as tmp:
        save_file(
            {
                "weight": np.ascontiguousarray(gate.weight, dtype=np.float32),
                "bias": np.array([gate.bias], np.float32),
            },
            str(tmp),
        )
    write_json_atomic(d / GATE_CARD, {**gate.card, **extra, "weights_sha256": weights_sha256})


def load_gate(checkpoint_dir: str | Path, model_card: dict[str, Any]) -> OpenSetGate | None:
    """The gate stored beside a checkpoint; None when there is none. Raises CheckpointError (one line)
    when it is unreadable or belongs to another checkpoint (weights hash, classes or dimension differ)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    d = Path(checkpoint_dir)
    wpath, cpath = d / GATE_WEIGHTS, d / GATE_CARD
    if not wpath.exists() and not cpath.exists():
        return None
    try:
        card = json.loads(cpath.read_text(encoding="utf-8"))
        tensors = load_file(str(wpath))
        weight, bias = tensors["weight"].astype(np.float32), float(tensors["bias"].reshape(-1)[0])
        attribute, threshold = str(card["attribute"]), float(card["threshold"])
        classes = tuple(str(c) for c in card["classes"])
    except (OSError, ValueError, KeyError, TypeError, IndexError, SafetensorError) as exc:
        raise CheckpointError(f"{d.name}: unreadable open-set gate ({type(exc).__name__}: {exc})") from None
    if card.get("format") != FORMAT:
        raise CheckpointError(f"{d.name}: open-set gate of format {card.get('format')!r}, expected {FORMAT}")
    want = model_card.get("weights_sha256")
    if not want:
        raise CheckpointError(
            f"{d.name}: the checkpoint's card names no weights hash, so the open-set gate cannot be matched to it"
        )
    if card.get("weights_sha256") != want:
        raise CheckpointError(f"{d.name}: the open-set gate was fitted for other weights; refit it")
    if not (np.isfinite(bias) and np.isfinite(threshold) and 0.0 <= threshold <= 1.0):
        raise CheckpointError(f"{d.name}: the open-set gate's bias or threshold is not a usable number")
    if list(classes) != list(model_card.get("heads", {}).get(attribute, [])):
        raise CheckpointError(
            f"{d.name}: the open-set gate's {attribute} classes differ from the checkpoint's"
        )
    dim = model_card.get("embedding_dim")
    if weight.ndim != 1 or (dim and len(weight) != int(dim)) or not np.isfinite(weight).all():
        raise CheckpointError(f"{d.name}: the open-set gate's weights do not fit this checkpoint's embedding")
    return OpenSetGate(attribute, classes, weight, bias, threshold, card)
