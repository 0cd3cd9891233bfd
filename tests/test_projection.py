"""t-SNE and UMAP projections: shape, determinism for a seed, and that they keep clusters apart."""

from __future__ import annotations

import numpy as np
import pytest

from artextract.analysis.projection import pca_2d, tsne_2d, umap_2d
from artextract.errors import UnknownNameError


def blobs(n: int = 300, dim: int = 16, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, dim)) * 3
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(size=(n, dim))).astype(np.float32), y


def separation(xy: np.ndarray, y: np.ndarray) -> float:
    """Share of points whose nearest 2-D neighbour has the same blob."""
    d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((y[d.argmin(1)] == y).mean())


def test_tsne_deterministic_for_a_seed() -> None:
    x, y = blobs(200)
    a = tsne_2d(x, seed=3, n_iter=100, n_jobs=1)
    b = tsne_2d(x, seed=3, n_iter=100, n_jobs=1)
    assert a.shape == (200, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert separation(a, y) > 0.95


@pytest.mark.slow  # the FFT grid has a fixed per-iteration cost (~5 s even for tiny inputs)
def test_tsne_fft_deterministic_for_a_seed() -> None:
    x, _ = blobs(120)
    a = tsne_2d(x, seed=1, n_iter=50, gradient="fft", n_jobs=1)
    np.testing.assert_array_equal(a, tsne_2d(x, seed=1, n_iter=50, gradient="fft", n_jobs=1))


@pytest.mark.slow  # the first UMAP call compiles numba kernels (~10-40 s)
def test_umap_deterministic_for_a_seed() -> None:
    x, y = blobs()
    a = umap_2d(x, seed=5)
    b = umap_2d(x, seed=5)
    c = umap_2d(x, seed=6)
    assert a.shape == (300, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert separation(a, y) > 0.95


def test_tiny_collections_get_a_pca_layout() -> None:
    x, _ = blobs(6)
    for fn in (tsne_2d, umap_2d):
        out = fn(x)
        assert out.shape == (6, 2) and np.isfinite(out).all()
        np.testing.assert_array_equal(out, pca_2d(x / np.linalg.norm(x, axis=1, keepdims=True)))
    assert pca_2d(x[:1]).shape == (1, 2)


def test_unknown_choices_are_named() -> None:
    x, _ = blobs(30)
    with pytest.raises(UnknownNameError, match="cosine, euclidean"):
        tsne_2d(x, metric="manhattan")
    with pytest.raises(UnknownNameError, match="auto, fft, bh"):
        tsne_2d(x, gradient="exact")
