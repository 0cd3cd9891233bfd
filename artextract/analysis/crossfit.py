"""Out-of-fold label predictions: evidence about a painting's catalog label from a model that never saw it.

A classifier trained on a catalog label can learn it, right or wrong: once it has memorised a mislabelled
painting it agrees with the mistake, and an outlier score built on its predictions stops flagging exactly
the painting a curator needs to see. ``crossfit_probs`` instead splits the labelled paintings into K
folds and predicts each fold with logistic-regression heads fitted on the other folds, over embeddings
that were learnt without these labels (a BYOL encoder, or ImageNet features). A painting's probabilities
therefore come from a model that has not seen its label. Paintings without a label for an attribute get
the prediction of a head fitted on every labelled painting (there is no label of theirs to leak).
``C`` is small (strong regularisation): a few hundred paintings per fold in 128 dimensions otherwise give
overconfident heads (probabilities of 1.00 for a guess).

The features are standardised and, above ``dim`` dimensions, projected with PCA fitted on every painting
(label-free, so no leak either); the heads are multinomial logistic regressions with ``C`` fixed, so no
label of the collection tunes anything.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ArtExtractError


def _features(x: np.ndarray, dim: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(x, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # cosine geometry, as everywhere
    x = StandardScaler().fit_transform(x)
    if x.shape[1] > dim and len(x) > dim:
        x = PCA(n_components=dim, svd_solver="randomized", random_state=seed).fit_transform(x)
    return x


def _fit_predict(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, c: int, C: float) -> np.ndarray:
    """[len(x_te), c] probabilities; classes absent from the training rows get 0."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    out = np.zeros((len(x_te), c))
    present = np.unique(y_tr)
    if len(present) == 1:  # one class only: it is all the model can say
        out[:, present[0]] = 1.0
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lr = LogisticRegression(C=C, max_iter=300).fit(x_tr, y_tr)
    out[:, lr.classes_] = lr.predict_proba(x_te)
    return out


def crossfit_probs(
    features: np.ndarray,
    labels: dict[str, np.ndarray],
    classes: dict[str, list[str]],
    *,
    folds: int = 5,
    seed: int = 0,
    dim: int = 128,
    C: float = 0.05,
    progress=None,
) -> dict[str, np.ndarray]:
    """Attribute -> [N, C] out-of-fold probabilities (see the module docstring).

    Args:
        features: [N, D] label-free embeddings of the paintings.
        labels: attribute -> [N] class indices into ``classes[attr]``, -1 = unknown.
        classes: attribute -> class names.
        folds: K; a painting's row is predicted by heads fitted on the other K - 1 folds.
        progress: ``callback(done, total)`` after each fitted head (``folds`` per attribute).
    """
    x_raw = np.asarray(features)
    if x_raw.ndim != 2 or len(x_raw) == 0:
        raise ArtExtractError(f"features must be a non-empty [N, D] array; got shape {x_raw.shape}")
    if folds < 2:
        raise ArtExtractError(f"folds must be at least 2; got {folds}")
    n = len(x_raw)
    x = _features(x_raw, dim, seed)
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    total, done = folds * len(labels), 0
    for a, lab in labels.items():
        lab = np.asarray(lab, dtype=np.int64)
        c = len(classes[a])
        if len(lab) != n:
            raise ArtExtractError(f"labels[{a!r}] has {len(lab)} rows; features have {n}")
        probs = np.full((n, c), 1.0 / max(c, 1))
        known = np.where(lab >= 0)[0]
        if len(known) < 2:
            out[a] = probs
            done += folds
            if progress is not None:
                progress(done, total)
            continue
        k = min(folds, len(known))
        fold = np.empty(len(known), dtype=np.int64)
        fold[rng.permutation(len(known))] = np.arange(len(known)) % k  # balanced, seeded
        for f in range(k):
            te, tr = known[fold == f], known[fold != f]
            probs[te] = _fit_predict(x[tr], lab[tr], x[te], c, C)
            if progress is not None:
                progress(done + f + 1, total)
        done += folds
        unknown = np.where(lab < 0)[0]
        if len(unknown):
            probs[unknown] = _fit_predict(x[known], lab[known], x[unknown], c, C)
        out[a] = probs
    return out


__all__ = ["crossfit_probs"]
