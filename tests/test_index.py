"""VectorIndex (hnswlib, cosine) checked against brute force; save/load; incremental add."""

from __future__ import annotations

import numpy as np
import pytest

from artextract.analysis.index import VectorIndex, exact_knn
from artextract.errors import ArtExtractError


def clustered(n: int, dim: int = 64, clusters: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim))
    return (centers[rng.integers(0, clusters, n)] + rng.normal(size=(n, dim))).astype(np.float32)


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(e)) / exact.shape[1] for a, e in zip(approx, exact, strict=True)]))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    x = clustered(5500)
    return x[:5000], x[5000:]  # held-out queries


def test_exact_knn_matches_full_sort() -> None:
    rng = np.random.default_rng(1)
    base, q = rng.normal(size=(300, 8)), rng.normal(size=(20, 8))
    idx, sims = exact_knn(base, q, 5)
    bn = base / np.linalg.norm(base, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    full = qn @ bn.T
    np.testing.assert_array_equal(idx, np.argsort(-full, axis=1)[:, :5])
    np.testing.assert_allclose(sims, np.sort(full, axis=1)[:, ::-1][:, :5], rtol=1e-5, atol=1e-6)
    assert idx.dtype == np.int64 and sims.dtype == np.float32


def test_recall_at_10_against_brute_force(data) -> None:
    base, queries = data
    index = VectorIndex.build(base)  # the defaults the build uses: M=16, ef_construction=200, ef=64
    ids, sims = index.query(queries, 10)
    exact_ids, exact_sims = exact_knn(base, queries, 10)
    assert ids.shape == (500, 10) and ids.dtype == np.int64 and sims.dtype == np.float32
    assert recall(ids, exact_ids) >= 0.99
    # returned similarities are true cosine similarities, best first
    bn = base / np.linalg.norm(base, axis=1, keepdims=True)
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    np.testing.assert_allclose(sims, np.einsum("qd,qkd->qk", qn, bn[ids]), atol=1e-4)
    assert (np.diff(sims, axis=1) <= 1e-6).all()
    assert np.abs(sims[:, 0] - exact_sims[:, 0]).max() < 1e-4


def test_custom_ids_and_self_query(data) -> None:
    base, _ = data
    ids = np.arange(len(base[:500])) * 7 + 1000
    index = VectorIndex.build(base[:500], ids)
    got, sims = index.query(base[:50], 1)
    np.testing.assert_array_equal(got[:, 0], ids[:50])
    np.testing.assert_allclose(sims[:, 0], 1.0, atol=1e-5)
    np.testing.assert_array_equal(index.ids, np.sort(ids))


def test_save_load_round_trip(data, tmp_path) -> None:
    base, queries = data
    index = VectorIndex.build(base[:2000], ef=80)
    before = index.query(queries, 10)
    index.save(tmp_path / "idx")
    loaded = VectorIndex.load(tmp_path / "idx")
    assert len(loaded) == 2000 and loaded.dim == base.shape[1]
    assert (loaded.M, loaded.ef_construction, loaded.ef) == (16, 200, 80)
    after = loaded.query(queries, 10)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_allclose(before[1], after[1])
    assert VectorIndex.load(tmp_path / "idx", ef=10).ef == 10


def test_incremental_add_without_rebuild(data, tmp_path) -> None:
    base, queries = data
    index = VectorIndex.build(base[:3000])
    index.save(tmp_path / "idx")
    loaded = VectorIndex.load(tmp_path / "idx")  # capacity exactly 3000: add must resize
    new_ids = loaded.add(base[3000:])
    np.testing.assert_array_equal(new_ids, np.arange(3000, 5000))
    assert len(loaded) == 5000
    exact_ids, _ = exact_knn(base, queries, 10)
    assert recall(loaded.query(queries, 10)[0], exact_ids) >= 0.99
    # a newly added painting is its own nearest neighbour
    got, _ = loaded.query(base[4990:], 1)
    np.testing.assert_array_equal(got[:, 0], np.arange(4990, 5000))
    # and the added ones survive another save/load
    loaded.save(tmp_path / "idx")
    assert len(VectorIndex.load(tmp_path / "idx")) == 5000


def test_add_refuses_existing_ids_and_wrong_dim(data) -> None:
    base, _ = data
    index = VectorIndex.build(base[:100])
    with pytest.raises(ArtExtractError, match="already in the index"):
        index.add(base[100:110], np.arange(95, 105))
    with pytest.raises(ArtExtractError, match="64-d"):
        index.add(np.zeros((3, 5), np.float32))
    assert len(index) == 100


def test_query_k_larger_than_ef_and_bad_k(data) -> None:
    base, queries = data
    index = VectorIndex.build(base[:1000], ef=8)
    before, _ = index.query(queries[:20], 5)
    ids, _ = index.query(queries[:20], 50)  # this query searches with ef = k; the setting stays
    assert ids.shape == (20, 50) and index.ef == 8
    after, _ = index.query(queries[:20], 5)
    np.testing.assert_array_equal(before, after)  # a wide query does not change later answers
    exact_ids, _ = exact_knn(base[:1000], queries[:20], 50)
    assert recall(ids, exact_ids) >= 0.95
    with pytest.raises(ArtExtractError, match="between 1 and the 1000"):
        index.query(queries[:1], 1001)


def test_load_refuses_missing_or_mismatched(tmp_path, data) -> None:
    with pytest.raises(ArtExtractError, match="no saved index"):
        VectorIndex.load(tmp_path / "nothing")
    index = VectorIndex.build(data[0][:50])
    index.save(tmp_path / "idx")
    (tmp_path / "idx" / "index.bin").write_bytes(b"truncated")
    with pytest.raises(ArtExtractError, match="rebuild"):
        VectorIndex.load(tmp_path / "idx")


def test_the_index_and_its_answers_are_the_same_on_every_build(data) -> None:
    base, queries = data
    a = VectorIndex.build(base[:3000], seed=3).query(queries, 10)
    b = VectorIndex.build(base[:3000], seed=3).query(queries, 10)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
