"""Benchmark the inspector's "Why this style?" maps: Grad-CAM for two classes plus the overlay, per painting.

    python bench/explain.py [--checkpoint models/rla_mobilenetv2-wikiart] [--n 20]

For ``--n`` sample paintings (decoded beforehand), times what the inspector does when the toggle is on:
one forward pass with gradients, two backward passes (predicted and catalog class) and two overlays.
Baseline in the same run: the plain classification of the same painting (one inference forward pass).
Goal: under 1 s per painting on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=str(ROOT / "models/rla_mobilenetv2-wikiart"))
    ap.add_argument("--collection", default=str(ROOT / "data/sample/collection"))
    ap.add_argument("--n", type=int, default=20)
    args = ap.parse_args(argv)

    from artextract.catalog import image_path, read_catalog
    from artextract.explain import grad_cam, overlay
    from artextract.images import load_image
    from artextract.predict import classify_image, load_embedder

    e = load_embedder(args.checkpoint)
    cat = read_catalog(args.collection)
    cat = cat.iloc[:: max(1, len(cat) // args.n)][: args.n]  # spread over the collection
    imgs = [load_image(image_path(args.collection, r)) for r in cat["image"]]
    grad_cam(e, imgs[0], "style", [0, 1])  # warm-up
    classify_image(e, imgs[0])
    cams, plain = [], []
    for img in imgs:
        t = time.perf_counter()
        classify_image(e, img)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        m = grad_cam(e, img, "style", [0, 4])
        for c in m:
            overlay(e, img, m[c])
        cams.append(time.perf_counter() - t)
    med_c, med_p = statistics.median(cams), statistics.median(plain)
    print(f"{len(imgs)} paintings, {Path(args.checkpoint).name} ({e.precision}, {e.input_size} px)")
    print(f"classification (baseline): median {med_p * 1000:.0f} ms")
    print(
        f"Grad-CAM, 2 classes + 2 overlays: median {med_c * 1000:.0f} ms, max {max(cams) * 1000:.0f} ms "
        f"= {med_c / med_p:.1f}x the classification; goal under 1 s: {'met' if max(cams) < 1 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
