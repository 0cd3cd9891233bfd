"""classification_metrics checked against scikit-learn, with unlabelled rows ignored."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from artextract.analysis.metrics import classification_metrics
from artextract.errors import ArtExtractError


def fake_predictions(n: int = 400, c: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    logits = 1.5 * np.eye(c)[y] + rng.normal(size=(n, c))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y[rng.random(n) < 0.2] = -1  # unlabelled, must be ignored
    return y, probs


def test_matches_sklearn() -> None:
    y, probs = fake_predictions()
    classes = [f"c{i}" for i in range(probs.shape[1])]
    m = classification_metrics(y, probs, classes)
    keep = y >= 0
    yt, p = y[keep], probs[keep]
    pred = p.argmax(1)
    assert m["n"] == keep.sum()
    assert m["accuracy"] == pytest.approx(accuracy_score(yt, pred))
    assert m["top5"] == pytest.approx(top_k_accuracy_score(yt, p, k=5, labels=range(7)))
    assert m["macro_f1"] == pytest.approx(f1_score(yt, pred, average="macro", zero_division=0))
    np.testing.assert_array_equal(np.array(m["confusion"]), confusion_matrix(yt, pred, labels=range(7)))
    prec, rec, f1, sup = precision_recall_fscore_support(yt, pred, labels=range(7), zero_division=0)
    for i, row in enumerate(m["per_class"]):
        assert row["class"] == classes[i]
        assert row["precision"] == pytest.approx(prec[i])
        assert row["recall"] == pytest.approx(rec[i])
        assert row["f1"] == pytest.approx(f1[i])
        assert row["support"] == sup[i]
    assert m["chance"]["uniform"] == pytest.approx(1 / 7)
    assert m["chance"]["majority"] == pytest.approx(np.bincount(yt).max() / len(yt))


def test_macro_f1_skips_absent_classes_like_sklearn() -> None:
    y = np.array([0, 0, 1, 1, -1])
    probs = np.array([[0.9, 0.1, 0, 0], [0.2, 0.8, 0, 0], [0.1, 0.9, 0, 0], [0.6, 0.4, 0, 0], [0, 0, 0, 1]])
    m = classification_metrics(y, probs, ["a", "b", "c", "d"])
    pred = probs[:4].argmax(1)
    assert m["macro_f1"] == pytest.approx(f1_score(y[:4], pred, average="macro"))
    assert m["top5"] == 1.0 and m["top5_k"] == 4  # fewer than 5 classes: top-k is every class
    assert m["per_class"][3] == {
        "class": "d",
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
        "predicted": 0,
    }


def test_no_labelled_rows() -> None:
    m = classification_metrics(np.array([-1, -1]), np.full((2, 3), 1 / 3), ["a", "b", "c"])
    assert m["n"] == 0 and m["accuracy"] is None and m["macro_f1"] is None
    assert np.array(m["confusion"]).shape == (3, 3)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ArtExtractError, match="3 class names"):
        classification_metrics(np.array([0, 1]), np.full((2, 2), 0.5), ["a", "b", "c"])
    with pytest.raises(ArtExtractError, match="outside -1..1"):
        classification_metrics(np.array([0, 2]), np.full((2, 2), 0.5), ["a", "b"])
    with pytest.raises(ArtExtractError, match="shape"):
        classification_metrics(np.array([0, 1, 1]), np.full((2, 2), 0.5), ["a", "b"])
