"""Out-of-fold outlier evidence survives a classifier that memorised the wrong labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from artextract.analysis.crossfit import crossfit_probs
from artextract.analysis.outliers import recall_at_top, score_outliers
from artextract.errors import ArtExtractError


def collection(n: int = 1500, d: int = 32, c: int = 6, seed: int = 0, frac: float = 0.02):
    """Label-free embeddings of ``c`` styles (class centres + noise) and a catalog with 2% swapped labels."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, c, n)
    x = 1.5 * rng.normal(size=(c, d))[true] + rng.normal(size=(n, d))
    planted = rng.choice(n, size=int(frac * n), replace=False)
    catalog = true.copy()
    catalog[planted] = (true[planted] + rng.integers(1, c, len(planted))) % c
    mask = np.zeros(n, bool)
    mask[planted] = True
    return x.astype(np.float32), catalog, mask, [f"s{i}" for i in range(c)]


def memorise(x: np.ndarray, y: np.ndarray, c: int, seed: int = 0):
    """A high-capacity MLP trained on every painting's catalog label until it fits them all."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 512), torch.nn.ReLU(), torch.nn.Linear(512, 64))
    head = torch.nn.Linear(64, c)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(600):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(torch.relu(net(xt))), yt)
        loss.backward()
        opt.step()
    with torch.no_grad():
        emb = torch.relu(net(xt))
        return emb.numpy(), torch.softmax(head(emb), 1).numpy()


def test_planted_swaps_a_memorising_classifier_learnt_still_rank_in_the_top_5_percent():
    x, catalog, planted, names = collection()
    emb, probs = memorise(x, catalog, len(names))
    # the classifier has learnt the wrong labels: it agrees with the catalog on the planted paintings
    assert (probs.argmax(1)[planted] == catalog[planted]).mean() >= 0.95
    classes, labels = {"style": names}, {"style": catalog}
    in_sample = score_outliers(emb, labels, {"style": probs}, classes, k=10)
    clf_in = in_sample["style_classifier_disagreement"].to_numpy()
    assert clf_in[planted].mean() < 0.05  # in-sample, the classifier's evidence is all but gone
    reasons = in_sample["outlier_reasons"].to_numpy()[planted]
    assert not any("never saw" in r for r in reasons)  # and it never says so in words
    recall_in = recall_at_top(clf_in, planted, 0.05)

    oof = crossfit_probs(x, labels, classes, folds=5, seed=0)
    held_out = score_outliers(x, labels, oof, classes, k=10)
    recall_out = recall_at_top(held_out["outlier_score"].to_numpy(), planted, 0.05)
    assert recall_out >= 0.9, (recall_in, recall_out)
    clf_out = held_out["style_classifier_disagreement"].to_numpy()
    assert recall_at_top(clf_out, planted, 0.05) >= 0.9  # the held-out heads alone find them too
    assert clf_out[planted].mean() > 0.5
    said = held_out["outlier_reasons"].to_numpy()[planted]
    assert np.mean(["never saw this label" in r for r in said]) >= 0.8


def test_out_of_fold_rows_never_see_their_own_label():
    x, catalog, _, names = collection(n=300, seed=1)
    classes = {"style": names}
    base = crossfit_probs(x, {"style": catalog}, classes, seed=3)["style"]
    flipped = catalog.copy()
    flipped[0] = (catalog[0] + 1) % len(names)  # change one painting's label only
    again = crossfit_probs(x, {"style": flipped}, classes, seed=3)["style"]
    np.testing.assert_allclose(again[0], base[0])  # its own prediction cannot move
    assert not np.allclose(again[1:], base[1:])  # (the others' heads did see the change)


def test_unlabelled_rows_get_a_prediction_and_shapes_are_checked():
    x, catalog, _, names = collection(n=200, seed=2)
    lab = catalog.copy()
    lab[:20] = -1
    p = crossfit_probs(x, {"style": lab}, {"style": names})["style"]
    assert p.shape == (200, len(names)) and np.allclose(p.sum(1), 1.0)
    assert (p[:20].argmax(1) == catalog[:20]).mean() > 0.7
    with pytest.raises(ArtExtractError, match="rows"):
        crossfit_probs(x, {"style": lab[:10]}, {"style": names})
    with pytest.raises(ArtExtractError, match="folds"):
        crossfit_probs(x, {"style": lab}, {"style": names}, folds=1)
