"""Benchmark the near-duplicate self-join at collection scale (default 100,000 paintings).

    python bench/duplicates.py                 # 100,000 paintings, baseline 20,000
    python bench/duplicates.py --n 50000 --baseline 10000

The layout descriptors of the committed sample's paintings (``artextract.analysis.duplicates``) are tiled
to ``--n`` paintings: every tile is a jittered copy of a real painting's descriptor (noise at the level
that separates two different paintings), and 30 of them get a near-exact twin (noise at the level of a
re-encoded copy), so the set has the sample's real structure, is as large as asked, and has pairs to
find. Times :func:`duplicate_pairs` (exact k-NN up to 20,000 paintings, hnswlib above) at ``--baseline``
and at ``--n`` in the same run and prints the ratio (linear scaling would be n / baseline), the pairs
listed, and whether the 30 planted twins are the top 30 pairs. Describing the images (decoding them) is
not timed here: it is part of the build's duplicates stage, at about 1,400 images/s on 2 cores for the
sample's ~160 px JPEGs (``bench/import_zip.py``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def synthetic(desc: np.ndarray, n: int, twins: int, seed: int) -> tuple[np.ndarray, set[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    base = desc[np.arange(n) % len(desc)].copy()
    base += rng.normal(0, 0.05, base.shape).astype(np.float32)  # tiles: different pictures, same style
    src = rng.choice(n, twins, replace=False)
    dst = rng.choice(np.setdiff1d(np.arange(n), src), twins, replace=False)
    base[dst] = base[src] + rng.normal(0, 0.005, base[src].shape).astype(np.float32)
    base -= base.mean(axis=2, keepdims=True)
    base /= np.maximum(np.linalg.norm(base, axis=2, keepdims=True), 1e-6)
    return base, {(int(min(a, b)), int(max(a, b))) for a, b in zip(src, dst, strict=True)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--baseline", type=int, default=20_000)
    ap.add_argument("--collection", default=str(ROOT / "data/sample/collection"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from artextract.analysis.duplicates import describe_paths, duplicate_pairs
    from artextract.catalog import image_path, read_catalog

    cat = read_catalog(args.collection)
    t = time.perf_counter()
    real, failed = describe_paths([image_path(args.collection, r) for r in cat["image"]])
    rate = len(cat) / (time.perf_counter() - t)
    real = np.delete(real, list(failed), axis=0)
    print(f"described {len(real)} sample paintings at {rate:.0f} images/s")
    times = {}
    for n in (args.baseline, args.n):
        desc, planted = synthetic(real, n, 30, args.seed)
        t = time.perf_counter()
        pairs = duplicate_pairs(desc, seed=args.seed)
        times[n] = time.perf_counter() - t
        top = {(int(a), int(b)) for a, b in zip(pairs["a"][:30], pairs["b"][:30], strict=True)}
        print(
            f"{n:>7,} paintings: self-join {times[n]:6.1f} s, {len(pairs):,} pairs at similarity >= 0.80, "
            f"planted twins in the top 30: {len(top & planted)}/30"
        )
    ratio = times[args.n] / times[args.baseline]
    print(
        f"{args.n:,} vs {args.baseline:,}: {ratio:.1f}x the time for {args.n / args.baseline:.0f}x the paintings"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
