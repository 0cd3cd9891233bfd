"""Benchmark the curator's app in headless Chromium: time to first render of Explore and click-to-inspector.

Usage::

    python bench/app.py [--bundle data/artifacts/demo] [--sizes 1000 100000] [--clicks 5] [--sessions 10]

For each size, the source bundle is scaled to that many paintings in a temporary folder (rows tiled,
map coordinates jittered, images, predictions and neighbours reused; the manifest still points at the
source's checkpoints and catalogs, so the app verifies it like any bundle). Then ``streamlit run app.py``
is started on it and Chromium (Playwright) measures:

- ``first render``: from navigation to /explore until the map has drawn all its points, on a cold
  server (figure built and cached) and again warm (second visit, cached figure);
- ``click -> inspector``: from a click on a point until the inspector shows that painting's title
  (median of ``--clicks`` different points).

With ``--sessions N`` (needs a bundle with checkpoints and a reference collection), N browser sessions
upload a painting on Similar at once and the bench checks that every one gets its neighbours.
The first size is the baseline; the last line prints each size against it.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from artextract import config  # noqa: E402
from artextract.bundle import open_bundle, resolve_rel  # noqa: E402


def scale_bundle(src: Path, dst: Path, n: int, seed: int = 0) -> Path:
    """A copy of bundle ``src`` with ``n`` paintings (tiled rows, jittered coordinates) in ``dst``."""
    b = open_bundle(src)
    m = len(b.items)
    rng = np.random.default_rng(seed)
    take = np.arange(n) % m
    block = np.arange(n) // m
    items = b.items.iloc[take].reset_index(drop=True).copy()
    items["id"] = items["id"].astype(str) + np.where(block > 0, "~" + block.astype(str), "")
    items["title"] = items["title"].astype(str) + np.where(block > 0, " #" + block.astype(str), "")
    for p in b.projections:
        for ax in ("x", "y"):
            col = items[f"{p}_{ax}"].to_numpy(dtype=np.float32)
            spread = float(np.std(col)) or 1.0
            items[f"{p}_{ax}"] = col + rng.normal(0, 0.04 * spread, n).astype(np.float32)
    dst.mkdir(parents=True, exist_ok=True)
    items.to_parquet(dst / "items.parquet", index=False)
    for a in b.attributes:
        np.save(dst / f"probs_{a}.npy", np.asarray(b.probs(a))[take])
    idx, sims = b.neighbours
    np.save(dst / "neighbours.npy", np.asarray(idx)[take])
    np.save(dst / "neighbour_sims.npy", np.asarray(sims)[take])
    if (src / "embeddings.npy").exists():
        np.save(dst / "embeddings.npy", np.load(src / "embeddings.npy", mmap_mode="r")[take])
    shutil.copy(src / "metrics.json", dst / "metrics.json")
    if (src / "reference").is_dir():
        shutil.copytree(src / "reference", dst / "reference", dirs_exist_ok=True)
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["name"] = f"{manifest['name']}-x{n}"
    for role in ("collection", "reference"):
        if manifest.get(role):
            manifest[role]["path"] = str(resolve_rel(b.root, manifest[role]["path"]))
    for ck in manifest.get("checkpoints", {}).values():
        ck["weights"] = str(resolve_rel(b.root, ck["weights"]))
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return dst


def _jpeg(path: Path) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, format="JPEG")
    return buf.getvalue()


def measure(bundle: Path, data: Path, clicks: int, sessions: int) -> dict[str, float | str]:
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS, POINT_JS, app_server

    b = open_bundle(bundle)
    n = len(b.items)
    out: dict[str, float | str] = {"paintings": n}
    ready_js = (
        "(n) => { const gd = document.querySelector('.js-plotly-plot');"
        " if (!gd || !gd._fullData) return false;"
        " let k = 0; for (const t of gd._fullData) if (!String(t.name).startsWith('flagged')) k += t.x.length;"
        " return k === n && !!gd.querySelector('canvas'); }"
    )
    with app_server(bundle, data, data / "server.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for label in ("cold", "warm"):
            ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
            page = ctx.new_page()
            page.set_default_timeout(180_000)
            t0 = time.perf_counter()
            page.goto(f"{url}/explore")
            page.wait_for_function(ready_js, arg=n, polling=50)
            out[f"first_render_{label}_s"] = time.perf_counter() - t0
            if label == "warm":
                times = []
                rng = np.random.default_rng(1)
                n0 = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullData[0].x.length")
                # the nearest point under the cursor may be a coincident one from another trace, so
                # wait for the inspector to show a different painting than before the click
                heading_js = (
                    "(prev) => { const h = document.querySelector('.st-key-explore-inspector h3');"
                    " return !!h && h.innerText !== prev; }"
                )
                prev = ""
                for i in rng.choice(n0, size=min(clicks, n0), replace=False):
                    x, y, _row = page.evaluate(POINT_JS, [0, 0, int(i)])
                    page.mouse.move(x, y)
                    t0 = time.perf_counter()
                    page.mouse.click(x, y)
                    page.wait_for_function(heading_js, arg=prev, polling=20)
                    times.append(time.perf_counter() - t0)
                    prev = page.evaluate(
                        "() => document.querySelector('.st-key-explore-inspector h3').innerText"
                    )
                    page.wait_for_timeout(500)
                out["click_to_inspector_median_s"] = statistics.median(times)
                out["click_to_inspector_max_s"] = max(times)
            ctx.close()
        if sessions:
            out.update(_concurrent_uploads(browser, url, b, sessions))
        browser.close()
    return out


def _concurrent_uploads(browser, url: str, b, sessions: int) -> dict[str, float | str]:
    """``sessions`` browser sessions upload on Similar at the same time; all must get neighbours."""
    if b.reference is None or not b.manifest.get("checkpoints"):
        return {"sessions": "skipped (bundle has no models/reference)"}
    pages, ctxs = [], []
    for _ in range(sessions):
        ctx = browser.new_context(viewport={"width": 1200, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(180_000)
        page.goto(f"{url}/similar")
        page.locator("input[type=file]").wait_for(state="attached")
        ctxs.append(ctx)
        pages.append(page)
    t0 = time.perf_counter()
    for i, page in enumerate(pages):
        img = _jpeg(b.image_path(i % len(b.items)))
        page.locator("input[type=file]").set_input_files(
            files=[{"name": f"q{i}.jpg", "mimeType": "image/jpeg", "buffer": img}]
        )
    ok = 0
    for page in pages:
        page.get_by_text("nearest reference paintings").wait_for()
        ok += page.locator("[data-testid=stAlertContentError]").count() == 0
    elapsed = time.perf_counter() - t0
    for ctx in ctxs:
        ctx.close()
    return {"sessions_ok": f"{ok}/{sessions}", "sessions_all_results_s": elapsed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--bundle", type=Path, default=config.artifacts_dir("demo"), help="source bundle to scale"
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000], help="first = baseline")
    ap.add_argument("--clicks", type=int, default=5, help="points clicked per size (median reported)")
    ap.add_argument("--sessions", type=int, default=0, help="simultaneous Similar uploads (0 = skip)")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    args = ap.parse_args(argv)

    results = []
    with tempfile.TemporaryDirectory(prefix="artextract-bench-app-") as tmp:
        for i, n in enumerate(args.sizes):
            t0 = time.perf_counter()
            bundle = scale_bundle(args.bundle, Path(tmp) / f"b{n}", n)
            print(f"[{n:,} paintings] scaled bundle in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
            data = Path(tmp) / f"data{n}"
            data.mkdir()
            res = measure(bundle, data, args.clicks, args.sessions if i == len(args.sizes) - 1 else 0)
            results.append(res)
            print(f"[{n:,} paintings] {res}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    df = pd.DataFrame(results).set_index("paintings")
    print(df.to_string(float_format=lambda v: f"{v:.2f}"))
    base = results[0]
    for r in results[1:]:
        print(
            f"{r['paintings']:,} vs {base['paintings']:,} paintings: first render (warm) "
            f"{r['first_render_warm_s']:.2f}s vs {base['first_render_warm_s']:.2f}s "
            f"(x{r['first_render_warm_s'] / base['first_render_warm_s']:.1f}); click -> inspector "
            f"{r['click_to_inspector_median_s']:.2f}s vs {base['click_to_inspector_median_s']:.2f}s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
