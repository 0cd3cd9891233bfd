"""Benchmark the build's analysis stages on synthetic embeddings (issue 6, item 6).

Measures, in one run on N synthetic 512-d embeddings (default N = 100,000):

- UMAP and openTSNE (FFT) wall time on all N, and openTSNE against scikit-learn's t-SNE on a subset
  (same perplexity and iteration count) as a speed ratio;
- hnswlib index build time, single-query latency p50/p99 against exact numpy search over the same
  vectors (and the ratio), batched throughput, and recall@10 against exact search for a few ``ef``;
- outlier scoring (k-NN graph from the index, LOF, per-attribute components, reasons).

The embeddings imitate a network's: a 200-component Gaussian mixture in a 64-d latent space, mapped
linearly to 512-d, plus isotropic noise; queries are held-out draws from the same distribution.

Usage::

    .venv/bin/python bench/build.py                 # full run, N = 100,000
    .venv/bin/python bench/build.py --n 20000       # smaller
    .venv/bin/python bench/build.py --skip umap tsne --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ("umap", "tsne", "tsne_subset", "index", "outliers")


def synthetic_embeddings(
    n: int, dim: int = 512, *, clusters: int = 200, latent: int = 64, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """[n, dim] float32 clustered embeddings with low intrinsic dimension, and their cluster ids."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, latent))
    lift = rng.normal(size=(latent, dim)) / np.sqrt(latent)
    ids = rng.integers(0, clusters, n)
    z = centers[ids] + rng.normal(size=(n, latent))
    x = z @ lift + 0.5 * rng.normal(size=(n, dim))
    return x.astype(np.float32), ids


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


class Rows(list):
    """Table rows, each also logged as soon as it is measured."""

    def append(self, row: tuple[str, str]) -> None:
        log(f"  {row[0]}: {row[1]}")
        super().append(row)


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    k = exact.shape[1]
    return float(np.mean([len(set(a) & set(e)) / k for a, e in zip(approx, exact, strict=True)]))


def bench_index(base: np.ndarray, queries: np.ndarray, k: int, rows: list[tuple[str, str]]) -> dict:
    from artextract.analysis.index import VectorIndex, exact_knn, l2_normalize

    res: dict[str, Any] = {}
    index, t_build = timed(
        lambda: VectorIndex.build(base, num_threads=-1)
    )  # M=16, ef_construction=200, ef=64
    res["build_s"] = t_build
    rows.append(("index build (hnswlib M=16, ef_c=200, all cores)", f"{t_build:.1f} s"))
    exact_idx, _ = timed(lambda: exact_knn(base, queries, k))[0]

    # single-query latency, one thread each (what one app user sees)
    index._index.set_num_threads(1)
    unit_base = l2_normalize(base)
    unit_q = l2_normalize(queries)
    lat_h, lat_e = [], []
    for q in unit_q:
        q1 = q[None, :]
        t = time.perf_counter()
        index.query(q1, k)
        lat_h.append(time.perf_counter() - t)
    for q in unit_q[: min(len(unit_q), 200)]:  # exact search is slow: 200 queries are plenty
        t = time.perf_counter()
        s = unit_base @ q
        top = np.argpartition(-s, k)[:k]
        top[np.argsort(-s[top])]
        lat_e.append(time.perf_counter() - t)
    h50, h99 = np.percentile(lat_h, [50, 99]) * 1e3
    e50, e99 = np.percentile(lat_e, [50, 99]) * 1e3
    res.update(query_p50_ms=h50, query_p99_ms=h99, exact_p50_ms=e50, exact_p99_ms=e99)
    rows.append(("query latency hnswlib p50 / p99 (ef=64, k=10, 1 thread)", f"{h50:.3f} / {h99:.3f} ms"))
    rows.append(("query latency exact numpy p50 / p99", f"{e50:.2f} / {e99:.2f} ms"))
    rows.append(("exact / hnswlib latency ratio (p50, p99)", f"{e50 / h50:.0f}x, {e99 / h99:.0f}x"))

    index._index.set_num_threads(-1)
    for ef in (32, 64, 128, 256):
        index.ef = ef
        (ids, _), t = timed(lambda: index.query(queries, k))
        rec = recall_at_k(ids, exact_idx)
        res[f"recall@{k}_ef{ef}"] = rec
        res[f"batch_qps_ef{ef}"] = len(queries) / t
        mark = "  <- default" if ef == 64 else ""
        rows.append(
            (f"recall@{k} vs exact, ef={ef}{mark}", f"{rec:.4f}  ({len(queries) / t:,.0f} q/s batched)")
        )
    _, t_exact_batch = timed(lambda: exact_knn(base, queries, k))
    rows.append(("exact numpy batched", f"{len(queries) / t_exact_batch:,.0f} q/s"))
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="embeddings to generate (default 100,000)")
    ap.add_argument("--dim", type=int, default=512, help="embedding dimension (default 512)")
    ap.add_argument("--queries", type=int, default=1000, help="held-out queries for latency/recall")
    ap.add_argument("--k", type=int, default=10, help="neighbours per query (recall@k)")
    ap.add_argument(
        "--subset",
        type=int,
        default=20_000,
        help="points for openTSNE vs scikit-learn t-SNE (at 5,000 they tie)",
    )
    ap.add_argument("--skip", nargs="*", default=[], choices=STAGES, help="stages to leave out")
    ap.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1, help="threads for t-SNE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    args = ap.parse_args(argv)

    from artextract.analysis import projection

    x_all, cluster = synthetic_embeddings(args.n + args.queries, args.dim, seed=args.seed)
    base, queries, cluster = x_all[: args.n], x_all[args.n :], cluster[: args.n]
    rows: list[tuple[str, str]] = Rows()
    results: dict[str, Any] = {
        "n": args.n,
        "dim": args.dim,
        "queries": args.queries,
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    }
    log(f"{args.n:,} x {args.dim} synthetic embeddings, {os.cpu_count()} CPUs")

    if "index" not in args.skip:
        log("index: build, latency, recall")
        results["index"] = bench_index(base, queries, args.k, rows)

    if "outliers" not in args.skip:
        from artextract.analysis.index import l2_normalize
        from artextract.analysis.outliers import EXACT_MAX, knn_graph, recall_at_top, score_outliers

        log("outliers: k-NN graph, then components + reasons")
        rng = np.random.default_rng(args.seed)
        c = int(cluster.max()) + 1
        labels = {"artist": cluster.copy(), "style": cluster // 10}  # 200 "artists" in 20 "styles"
        swap = rng.choice(args.n, size=args.n // 50, replace=False)  # 2% catalogued as another artist
        labels["artist"][swap] = (cluster[swap] + 1 + rng.integers(0, c - 1, len(swap))) % c
        logits = 4.0 * np.eye(c, dtype=np.float32)[cluster] + rng.normal(size=(args.n, c)).astype(np.float32)
        probs = np.exp(logits)
        probs /= probs.sum(1, keepdims=True)
        classes = {"artist": [f"artist{i}" for i in range(c)], "style": [f"style{i}" for i in range(c // 10)]}
        (nb, _), t_knn = timed(lambda: knn_graph(l2_normalize(base), args.k, seed=args.seed))
        df, t = timed(
            lambda: score_outliers(base, labels, {"artist": probs}, classes, k=args.k, neighbours=nb)
        )
        truth = np.zeros(args.n, bool)
        truth[swap] = True
        rec = recall_at_top(df["outlier_score"].to_numpy(), truth, 0.05)
        results["outliers"] = {"knn_s": t_knn, "score_s": t, "planted_recall_top5pct": rec}
        how = "hnswlib" if args.n > EXACT_MAX else "exact"
        rows.append((f"outliers: k-NN graph (k={args.k}, {how})", f"{t_knn:.1f} s"))
        rows.append(("outliers: components + reasons (2 attributes)", f"{t:.1f} s"))
        rows.append(("outliers: recall of 2% planted label swaps at top 5%", f"{rec:.3f}"))

    if "tsne_subset" not in args.skip:
        from sklearn.manifold import TSNE as SkTSNE

        m = min(args.subset, args.n)
        sub = base[:m]
        log(f"t-SNE subset: openTSNE vs scikit-learn on {m:,}")
        _, t_open = timed(lambda: projection.tsne_2d(sub, seed=args.seed, n_jobs=args.n_jobs))
        _, t_fft = timed(lambda: projection.tsne_2d(sub, seed=args.seed, n_jobs=args.n_jobs, gradient="fft"))
        unit = sub / np.linalg.norm(sub, axis=1, keepdims=True)
        sk = SkTSNE(
            n_components=2,
            perplexity=30.0,
            init="pca",
            max_iter=750,  # openTSNE: 250 early exaggeration + 500
            random_state=args.seed,
            n_jobs=args.n_jobs,
        )
        _, t_sk = timed(lambda: sk.fit_transform(unit))
        results["tsne_subset"] = {"n": m, "opentsne_s": t_open, "opentsne_fft_s": t_fft, "sklearn_s": t_sk}
        rows.append((f"t-SNE {m:,}: openTSNE (auto=bh) / openTSNE fft", f"{t_open:.1f} s / {t_fft:.1f} s"))
        rows.append((f"t-SNE {m:,}: scikit-learn (barnes_hut)", f"{t_sk:.1f} s"))
        rows.append(
            ("scikit-learn / openTSNE time ratio", f"{t_sk / t_open:.1f}x (fft: {t_sk / t_fft:.1f}x)")
        )

    if "tsne" not in args.skip:
        log(f"t-SNE (openTSNE) on {args.n:,}")
        _, t = timed(lambda: projection.tsne_2d(base, seed=args.seed, n_jobs=args.n_jobs))
        results["tsne_s"] = t
        grad = "fft" if args.n >= projection.FFT_FROM else "bh"
        rows.append((f"t-SNE openTSNE ({grad}) on all {args.n:,}", f"{t:.1f} s"))

    if "umap" not in args.skip:
        log(f"UMAP on {args.n:,}")
        # compile numba kernels outside the timing (NN-descent only runs above 4,096 points)
        projection.umap_2d(base[: min(args.n, 5000)], seed=args.seed)
        _, t = timed(lambda: projection.umap_2d(base, seed=args.seed))
        results["umap_s"] = t
        rows.append((f"UMAP (seeded, so single-threaded) on all {args.n:,}", f"{t:.1f} s"))

    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"\nArtExtract build bench: {args.n:,} x {args.dim} synthetic embeddings, {os.cpu_count()} CPUs")
    print(f"{'measure':<{width}} | result")
    print(f"{'-' * width}-+-{'-' * 36}")
    for name, value in rows:
        print(f"{name:<{width}} | {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
