"""Pack an indexed WikiArt collection for a GPU machine that takes at most 64 MiB per transfer.

    python scripts/pack_wikiart.py data/wikiart .gpu [--weights FILE]

Every image is re-encoded as WebP (quality 75, same 160 px size) and the rows are dealt alternately into
two halves, ``OUT/a/part.tar.gz`` and ``OUT/b/part.tar.gz``; the catalog, with image paths ending in
``.webp``, goes to ``OUT/c/catalog.csv.gz`` (and the ImageNet weights file, when given, to ``OUT/c``), to
travel with each call: a carried folder that a later call does not name is removed on the machine.
``scripts/gpu_lease.sh`` unpacks them there.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import shutil
import sys
import tarfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from artextract.catalog import image_path  # noqa: E402


def encode(path: str) -> bytes | None:
    try:
        with Image.open(path) as im:
            b = io.BytesIO()
            im.convert("RGB").save(b, "WEBP", quality=75, method=4)
            return b.getvalue()
    except OSError:
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("collection", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--weights", type=Path)
    args = ap.parse_args()
    with open(args.collection / "catalog.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    paths = [str(image_path(args.collection, r["image"])) for r in rows]
    for half in "ab":
        (args.out / half).mkdir(parents=True, exist_ok=True)
    kept = []
    with (
        tarfile.open(args.out / "a" / "part.tar.gz", "w:gz", compresslevel=1) as ta,
        tarfile.open(args.out / "b" / "part.tar.gz", "w:gz", compresslevel=1) as tb,
        ProcessPoolExecutor(os.cpu_count() or 1) as ex,
    ):
        tars = [ta, tb]
        it = ex.map(encode, paths, chunksize=64)
        for i, data in enumerate(tqdm(it, total=len(rows), desc="webp")):
            if data is None:
                continue
            name = rows[i]["image"].rsplit(".", 1)[0] + ".webp"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tars[len(kept) % 2].addfile(info, io.BytesIO(data))
            kept.append({**rows[i], "image": name})
    (args.out / "c").mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out / "c" / "catalog.csv.gz", "wt", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(kept)
    if args.weights:
        shutil.copy2(args.weights, args.out / "c" / args.weights.name)
    for h in "ab":
        size = sum(p.stat().st_size for p in (args.out / h).iterdir())
        print(f"{args.out / h}: {size / 2**20:.1f} MiB")
    print(f"{len(kept)} of {len(rows)} paintings packed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
