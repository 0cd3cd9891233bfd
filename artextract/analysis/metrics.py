"""Classification metrics for one attribute (style, artist or genre) from predicted probabilities.

Rows whose true label is ``-1`` (unknown in the catalog) are ignored everywhere. The result is a plain,
JSON-ready dict so it can be written straight into the bundle's ``metrics.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArtExtractError


def _check(y_true: np.ndarray, probs: np.ndarray, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).reshape(-1)
    p = np.asarray(probs, dtype=np.float64)
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ArtExtractError(f"y_true must hold integer class indices (-1 = unknown); got dtype {y.dtype}")
    y = y.astype(np.int64)
    if p.ndim != 2 or p.shape[0] != len(y):
        raise ArtExtractError(f"probs must be [N, C] with N = len(y_true) = {len(y)}; got shape {p.shape}")
    if p.shape[1] != len(classes):
        raise ArtExtractError(f"probs has {p.shape[1]} columns but {len(classes)} class names were given")
    bad = (y < -1) | (y >= len(classes))
    if bad.any():
        raise ArtExtractError(
            f"y_true holds {int(bad.sum())} value(s) outside -1..{len(classes) - 1} "
            f"(e.g. {int(y[bad][0])}); use -1 for an unknown label"
        )
    return y, p


def confusion_scores(confusion: np.ndarray) -> dict[str, Any]:
    """Per-class precision, recall and F1, and their macro-F1, from a C x C confusion matrix of counts
    (rows = true class, columns = predicted).

    Precision/recall are 0.0 where undefined (nothing predicted / no support); ``macro_f1`` is the mean F1
    over classes that occur in the truth or the predictions, as scikit-learn does (NaN when none does).
    Returns ``tp``, ``support``, ``predicted``, ``precision``, ``recall``, ``f1`` (arrays) and ``macro_f1``.
    """
    cm = np.asarray(confusion)
    c = cm.shape[0]
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros(c), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(c), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(c), where=denom > 0)
    present = (support > 0) | (predicted > 0)
    return {
        "tp": tp,
        "support": support,
        "predicted": predicted,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
    }


def classification_metrics(y_true: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, top-5, macro-F1, chance levels, confusion matrix and per-class precision/recall.

    Args:
        y_true: [N] true class indices, ``-1`` for paintings without a label (ignored).
        probs: [N, C] predicted probabilities (or any scores; only their ranking is used).
        classes: the C class names, in column order.

    Returns a dict with ``n`` (labelled rows used), ``accuracy``, ``top5`` (true class among the
    ``top5_k = min(5, C)`` highest scores), ``macro_f1`` (mean F1 over classes that occur in the truth
    or the predictions, as scikit-learn does), ``chance`` (``uniform`` = 1/C, ``majority`` = accuracy of
    always predicting the most frequent true class), ``confusion`` (C x C counts, rows = true class,
    columns = predicted), and ``per_class``: one ``{class, precision, recall, f1, support, predicted}``
    per class (precision/recall are 0.0 when undefined, i.e. nothing predicted / no support).
    With no labelled rows the scores are ``None``.
    """
    y, p = _check(y_true, probs, classes)
    c = len(classes)
    keep = y >= 0
    y, p = y[keep], p[keep]
    n = int(len(y))
    top_k = min(5, c)
    confusion = np.zeros((c, c), dtype=np.int64)
    if n == 0:
        return {
            "n": 0,
            "classes": list(classes),
            "accuracy": None,
            "top5": None,
            "top5_k": top_k,
            "macro_f1": None,
            "chance": {"uniform": 1.0 / c if c else None, "majority": None},
            "confusion": confusion.tolist(),
            "per_class": [
                {"class": name, "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "predicted": 0}
                for name in classes
            ],
        }
    pred = p.argmax(axis=1)
    np.add.at(confusion, (y, pred), 1)
    # top-k: the true class scores strictly higher than all but fewer than k classes
    true_score = p[np.arange(n), y]
    top5 = float(np.mean((p > true_score[:, None]).sum(axis=1) < top_k))

    s = confusion_scores(confusion)
    tp, support, predicted = s["tp"], s["support"], s["predicted"]
    precision, recall, f1 = s["precision"], s["recall"], s["f1"]
    return {
        "n": n,
        "classes": list(classes),
        "accuracy": float(tp.sum() / n),
        "top5": top5,
        "top5_k": top_k,
        "macro_f1": s["macro_f1"],
        "chance": {"uniform": 1.0 / c, "majority": float(support.max() / n)},
        "confusion": confusion.tolist(),
        "per_class": [
            {
                "class": classes[i],
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
                "predicted": int(predicted[i]),
            }
            for i in range(c)
        ],
    }


def neighbour_label_precision(
    labels: dict[str, np.ndarray], queries: np.ndarray, neighbours: np.ndarray
) -> dict[str, float]:
    """Per attribute: share of retrieved neighbours that carry the query's label.

    ``labels``: attribute -> [N] label strings ("" = unknown); ``queries`` [Q] row indices;
    ``neighbours`` [Q, k] row indices retrieved for them. Only pairs where both the query and the
    neighbour are labelled count, so a partly catalogued collection is not scored as misses.
    """
    out: dict[str, float] = {}
    for a, lab in labels.items():
        lab = np.asarray(lab, dtype=object)
        known = (lab[queries] != "")[:, None] & (lab[neighbours] != "")
        if known.any():
            out[a] = float((lab[neighbours] == lab[queries][:, None])[known].mean())
    return out
