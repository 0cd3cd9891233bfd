"""Cosine similarity index over painting embeddings (hnswlib), plus exact search to check it against.

:class:`VectorIndex` wraps an hnswlib HNSW graph in cosine space. Results are ``(ids, sims)`` with
``sims`` the cosine similarity (higher = closer), best first. Paintings can be added to a built index
without rebuilding it (the graph is resized in place), and an index saved by one process can be loaded
by another: ``save(dir)`` writes ``index.bin`` and then ``meta.json`` atomically, so a folder with a
``meta.json`` always has a complete index beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtExtractError
from ..fileio import atomic_path, read_format_json, write_json_atomic

FORMAT = "artextract.hnsw/1"
INDEX_FILE = "index.bin"
META_FILE = "meta.json"


def _as_matrix(vectors: np.ndarray, dim: int | None = None, what: str = "vectors") -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2:
        raise ArtExtractError(f"{what} must be a 2-D array [N, D]; got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ArtExtractError(f"{what} have {x.shape[1]} dimensions; the index holds {dim}-d vectors")
    if not np.isfinite(x).all():
        raise ArtExtractError(f"{what} contain NaN or infinite values")
    return np.ascontiguousarray(x)


def _as_ids(ids: np.ndarray | list[int] | None, n: int, start: int) -> np.ndarray:
    if ids is None:
        return np.arange(start, start + n, dtype=np.int64)
    out = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(out) != n:
        raise ArtExtractError(f"got {len(out)} ids for {n} vectors; give one id per vector")
    if (out < 0).any():
        raise ArtExtractError("ids must be non-negative integers")
    if len(np.unique(out)) != n:
        raise ArtExtractError("ids must be unique")
    return out


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)


def cosine_topk(
    queries: np.ndarray, base: np.ndarray, k: int, *, exclude: np.ndarray | None = None, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """The exact k-NN primitive: the ``k`` rows of ``base`` with the highest dot product with each query
    (cosine similarity for unit vectors): ``(idx int64 [Q,k], sims float32 [Q,k])``, best first.

    ``exclude``: for each query, a row of ``base`` it may not return (the query itself in a
    leave-one-out search), or ``-1`` for none. Memory stays bounded by ``chunk`` queries at a time.
    """
    q = np.asarray(queries, dtype=np.float32)
    b = np.asarray(base, dtype=np.float32)
    n = len(b) - (exclude is not None)
    if not 1 <= k <= n:
        raise ArtExtractError(f"k={k} must be between 1 and the {n} base vectors that can be returned")
    idx = np.empty((len(q), k), dtype=np.int64)
    sims = np.empty((len(q), k), dtype=np.float32)
    for s in range(0, len(q), chunk):
        block = q[s : s + chunk] @ b.T
        if exclude is not None:
            rows = np.flatnonzero(exclude[s : s + chunk] >= 0)
            block[rows, exclude[s : s + chunk][rows]] = -np.inf
        part = (
            np.argpartition(-block, k - 1, axis=1)[:, :k]
            if k < len(b)
            else np.tile(np.arange(len(b)), (len(block), 1))
        )
        top = np.take_along_axis(block, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        idx[s : s + chunk] = np.take_along_axis(part, order, axis=1)
        sims[s : s + chunk] = np.take_along_axis(top, order, axis=1)
    return idx, sims


def exact_knn(
    base: np.ndarray, queries: np.ndarray, k: int, *, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force cosine k nearest neighbours: ``(idx int64 [Q,k], sims float32 [Q,k])``, best first.

    ``idx`` are row numbers of ``base``. Memory stays bounded by processing ``chunk`` queries at a time.
    """
    b = l2_normalize(_as_matrix(base, what="base vectors"))
    q = l2_normalize(_as_matrix(queries, b.shape[1], what="query vectors"))
    if not 1 <= k <= len(b):
        raise ArtExtractError(f"k={k} must be between 1 and the {len(b)} base vectors")
    return cosine_topk(q, b, k, chunk=chunk)


class VectorIndex:
    """Approximate cosine k-NN over embeddings with stable integer ids (hnswlib HNSW graph).

    Build with :meth:`build`, reopen with :meth:`load`; do not call the constructor directly.
    """

    def __init__(
        self, index: Any, *, M: int, ef_construction: int, ef: int, seed: int, num_threads: int = 1
    ) -> None:
        import threading

        self._index = index
        self._lock = threading.Lock()  # hnswlib's ef is a property of the index: one query at a time
        self._num_threads = num_threads
        self.M = M
        self.ef_construction = ef_construction
        self._ef = ef
        self.seed = seed

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        ids: np.ndarray | list[int] | None = None,
        *,
        M: int = 16,
        ef_construction: int = 200,
        ef: int = 64,
        seed: int = 0,
        num_threads: int = 1,
    ) -> VectorIndex:
        """Index ``vectors`` [N, D] under ``ids`` (default 0..N-1).

        ``num_threads=1`` (default) inserts in order, so the graph, and every query's answer, is the same
        on every run for a seed. ``-1`` uses every core (faster for very large collections); the graph
        then depends slightly on thread timing, within the recall the tests guarantee.
        """
        import hnswlib

        x = _as_matrix(vectors)
        if len(x) == 0:
            raise ArtExtractError("cannot build an index from 0 vectors")
        for name, value in (("M", M), ("ef_construction", ef_construction), ("ef", ef)):
            if int(value) < 1:
                raise ArtExtractError(f"{name} must be a positive integer; got {value}")
        index = hnswlib.Index(space="cosine", dim=x.shape[1])  # cosine: vectors normalised on insert
        index.init_index(
            max_elements=len(x),
            # M: links kept per node in the graph. More links = higher recall on high-dimensional
            # embeddings but more memory (about M * 8 bytes per painting on top of the vector itself)
            # and slower build. 12-48 is the useful range; 16 reaches recall@10 >= 0.99 here.
            M=int(M),
            # ef_construction: size of the candidate list while inserting. Larger builds a better graph
            # (higher recall at the same query-time ef) at a build cost roughly linear in it; it does
            # not affect query speed. 200 is hnswlib's recommended quality setting.
            ef_construction=int(ef_construction),
            random_seed=int(seed),  # seeds the random level each painting is assigned in the graph
        )
        self = cls(
            index,
            M=int(M),
            ef_construction=int(ef_construction),
            ef=int(ef),
            seed=int(seed),
            num_threads=num_threads,
        )
        self.ef = int(ef)
        index.add_items(x, _as_ids(ids, len(x), 0), num_threads=num_threads)
        return self

    @property
    def ef(self) -> int:
        """Query-time candidate list size (the recall/latency knob; see the setter)."""
        return self._ef

    @ef.setter
    def ef(self, value: int) -> None:
        # ef: candidates kept while searching. Recall rises and latency grows with it; it must be at
        # least k (queries raise it to k when needed). Unlike M and ef_construction it can change
        # after build or load without touching the graph. 64 gives recall@10 >= 0.99 at ~0.1 ms.
        if int(value) < 1:
            raise ArtExtractError(f"ef must be a positive integer; got {value}")
        with self._lock:
            self._ef = int(value)
            self._index.set_ef(self._ef)

    @property
    def dim(self) -> int:
        return int(self._index.dim)

    def __len__(self) -> int:
        return int(self._index.get_current_count())

    @property
    def ids(self) -> np.ndarray:
        """All ids in the index (int64, ascending)."""
        return np.sort(np.asarray(self._index.get_ids_list(), dtype=np.int64))

    # ------------------------------------------------------------------ incremental add
    def add(self, vectors: np.ndarray, ids: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Insert more paintings into the existing graph (no rebuild); returns their ids.

        ``ids`` default to the next integers after the largest id present. An id already in the index
        is refused (hnswlib would silently overwrite that painting's vector).
        """
        x = _as_matrix(vectors, self.dim)
        existing = self.ids
        start = int(existing[-1]) + 1 if len(existing) else 0
        new_ids = _as_ids(ids, len(x), start)
        clash = np.intersect1d(existing, new_ids)
        if len(clash):
            raise ArtExtractError(
                f"{len(clash)} id(s) already in the index (e.g. {clash[:5].tolist()}); give new ids"
            )
        needed = len(self) + len(x)
        if needed > self._index.get_max_elements():
            # grow geometrically so repeated small adds do not resize every time
            self._index.resize_index(max(needed, 2 * self._index.get_max_elements()))
        self._index.add_items(x, new_ids, num_threads=self._num_threads)
        return new_ids

    # ------------------------------------------------------------------ search
    def query(self, vectors: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Approximate ``k`` nearest neighbours: ``(ids int64 [Q,k], sims float32 [Q,k])``, best first."""
        q = _as_matrix(vectors, self.dim, what="query vectors")
        if not 1 <= k <= len(self):
            raise ArtExtractError(f"k={k} must be between 1 and the {len(self)} paintings in the index")
        ef = max(self._ef, k)  # hnswlib needs ef >= k: this query searches wider, the setting stays
        with self._lock:
            if ef != self._ef:
                self._index.set_ef(ef)
            try:
                labels, dist = self._index.knn_query(
                    q, k=k
                )  # queries are independent: threads change nothing
            finally:
                if ef != self._ef:
                    self._index.set_ef(self._ef)
        return labels.astype(np.int64), (1.0 - dist).astype(np.float32)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> Path:
        """Write ``index.bin`` then ``meta.json`` into ``directory`` (each atomically); returns it."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        with atomic_path(d / INDEX_FILE) as tmp:
            self._index.save_index(str(tmp))
        meta = {
            "format": FORMAT,
            "space": "cosine",
            "dim": self.dim,
            "count": len(self),
            "M": self.M,
            "ef_construction": self.ef_construction,
            "ef": self.ef,
            "seed": self.seed,
            "index_bytes": (d / INDEX_FILE).stat().st_size,
        }
        write_json_atomic(d / META_FILE, meta)
        return d

    @classmethod
    def load(cls, directory: str | Path, *, ef: int | None = None) -> VectorIndex:
        """Open an index written by :meth:`save`; ``ef`` overrides the saved query-time setting."""
        import hnswlib

        d = Path(directory)
        meta_path, index_path = d / META_FILE, d / INDEX_FILE
        if not meta_path.is_file() or not index_path.is_file():
            raise ArtExtractError(f"no saved index in {d} (expected {META_FILE} and {INDEX_FILE})")
        meta = read_format_json(meta_path, FORMAT, ArtExtractError, "rebuild the index")
        if index_path.stat().st_size != meta["index_bytes"]:
            raise ArtExtractError(
                f"{index_path} does not match {META_FILE} (size differs); rebuild the index"
            )
        index = hnswlib.Index(space=meta["space"], dim=int(meta["dim"]))
        index.load_index(str(index_path), max_elements=int(meta["count"]))
        self = cls(
            index,
            M=int(meta["M"]),
            ef_construction=int(meta["ef_construction"]),
            ef=int(meta["ef"]),
            seed=int(meta.get("seed", 0)),
        )
        self.ef = int(ef if ef is not None else meta["ef"])
        return self

    def __repr__(self) -> str:
        return (
            f"VectorIndex(n={len(self)}, dim={self.dim}, M={self.M}, "
            f"ef_construction={self.ef_construction}, ef={self.ef})"
        )
