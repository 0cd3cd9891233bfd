"""2-D maps of a collection's embeddings: t-SNE (openTSNE, FFT-accelerated at scale) and UMAP.

Both are deterministic for a seed: the same embeddings and seed give the same coordinates. Both use
cosine geometry by default (rows are L2-normalised, then compared by Euclidean distance, which ranks
neighbours exactly as cosine similarity does). Collections too small for a neighbour graph
(fewer than ``MIN_POINTS`` paintings) get a PCA layout instead, so a tiny collection still has a map.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ..errors import ArtExtractError, UnknownNameError

METRICS = ("cosine", "euclidean")
MIN_POINTS = 16
GRADIENTS = ("auto", "fft", "bh")
THREADS_FROM = 2_000  # below this, thread start-up and barriers cost more than they save
FFT_FROM = 10_000  # measured on 2 cores: Barnes-Hut 2x faster at 5k points, FFT wins at scale


def _prepare(X: np.ndarray, metric: str) -> np.ndarray:
    if metric not in METRICS:
        raise UnknownNameError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    x = np.asarray(X, dtype=np.float32)
    if x.ndim != 2:
        raise ArtExtractError(f"embeddings must be a 2-D array [N, D]; got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ArtExtractError("embeddings contain NaN or infinite values")
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(x)


def pca_2d(X: np.ndarray) -> np.ndarray:
    """First two principal components [N, 2] float32 (sign fixed so the result is deterministic)."""
    x = np.asarray(X, dtype=np.float64)
    out = np.zeros((len(x), 2), dtype=np.float32)
    if len(x) < 2:
        return out
    x = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    comps = u[:, :2] * s[:2]
    for j in range(comps.shape[1]):  # make the largest-magnitude coordinate positive
        if comps[np.argmax(np.abs(comps[:, j])), j] < 0:
            comps[:, j] = -comps[:, j]
    out[:, : comps.shape[1]] = comps
    return out


def project_2d(
    X: np.ndarray, method: str, *, seed: int = 0, metric: str = "cosine", **params: Any
) -> np.ndarray:
    """``method`` ("tsne" or "umap") of the embeddings ``X`` [N, D] to [N, 2] float32, deterministic for
    ``seed``; ``params`` are the method's own (:func:`tsne_2d`, :func:`umap_2d`).

    Both compare rows by ``metric`` ("cosine": unit rows, then Euclidean distance, see the module
    docstring); fewer than ``MIN_POINTS`` rows get :func:`pca_2d` instead.
    """
    if method not in METHODS:
        raise UnknownNameError(f"unknown projection {method!r}; choose from {', '.join(METHODS)}")
    x = _prepare(X, metric)
    if params.get("gradient", "auto") not in GRADIENTS:
        raise UnknownNameError(
            f"unknown t-SNE gradient {params['gradient']!r}; choose from {', '.join(GRADIENTS)}"
        )
    if len(x) < MIN_POINTS:
        return pca_2d(x)
    return np.asarray(METHODS[method](x, seed, **params), dtype=np.float32)


def _tsne(x: np.ndarray, seed: int, perplexity: float = 30.0, n_jobs: int = 2, n_iter: int = 500,
          gradient: str = "auto") -> np.ndarray:  # fmt: skip
    """openTSNE t-SNE.

    ``gradient``: "fft" (FFT-interpolated repulsion, linear in N: the fast choice for large
    collections), "bh" (Barnes-Hut, faster below ~10,000 points where the FFT grid's fixed cost
    dominates) or "auto" (bh below ``FFT_FROM`` points, fft from there on).

    ``perplexity`` (effective number of neighbours each point attends to) is lowered to (N - 1) / 3
    for small collections, as t-SNE requires. Initialisation is PCA (keeps global layout stable);
    neighbours come from an exact search below 1,000 points and from seeded Annoy trees above.
    ``n_iter`` counts iterations after the 250 early-exaggeration ones. ``n_jobs`` threads are used
    from ``THREADS_FROM`` points on (one thread is faster below that).
    """
    from openTSNE import TSNE

    if gradient == "auto":
        gradient = "fft" if len(x) >= FFT_FROM else "bh"
    tsne = TSNE(
        n_components=2,
        perplexity=float(min(perplexity, (len(x) - 1) / 3.0)),
        metric="euclidean",  # on unit rows when metric="cosine" (see module docstring)
        initialization="pca",
        negative_gradient_method=gradient,
        n_iter=n_iter,
        n_jobs=1 if len(x) < THREADS_FROM else n_jobs,
        random_state=seed,
        verbose=False,
    )
    return tsne.fit(x)


def _umap(x: np.ndarray, seed: int, n_neighbors: int = 30, min_dist: float = 0.5) -> np.ndarray:
    """UMAP (umap-learn).

    The defaults favour a readable map over tight clumps: a well-trained classifier's embeddings form
    very compact groups, which umap-learn's own defaults (15, 0.1) draw as dots a curator cannot click
    apart. Setting a seed makes umap-learn run its optimisation on one thread (that is what makes it
    reproducible). ``n_neighbors`` is capped at N - 1.
    """
    import umap

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=int(min(n_neighbors, len(x) - 1)),
        min_dist=min_dist,
        metric="euclidean",  # on unit rows when metric="cosine" (see module docstring)
        random_state=seed,
        transform_seed=seed,
        n_jobs=1,
        verbose=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
        return reducer.fit_transform(x)


#: method name -> its body (after the shared preparation)
METHODS: dict[str, Callable[..., np.ndarray]] = {"tsne": _tsne, "umap": _umap}
#: t-SNE and UMAP as functions of their own, for callers that always want one of them
tsne_2d = partial(project_2d, method="tsne")
umap_2d = partial(project_2d, method="umap")
