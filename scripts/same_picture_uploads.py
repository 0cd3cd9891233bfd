"""Uploads that are the same picture as a reference painting: does the Similar page say so, and only then?

    python scripts/same_picture_uploads.py                      # the sample bundle (make demo builds it)
    python scripts/same_picture_uploads.py --bundle data/artifacts/NAME --margin 0.125
    python scripts/same_picture_uploads.py --held-out data/wikiart    # val paintings the sample lacks
    python scripts/same_picture_uploads.py --held-out data/wikiart --split train

Uploads every painting of the bundle's collection to the Similar page's check
(:func:`artextract.app.pairs.upload_same_picture`) twice: as it is, and as a photograph of it hanging on a
wall would frame it (the picture pasted on a plain wall colour with ``--margin`` of its size added on
every side). Prints, for each upload the check names the same picture as a reference painting, the pair
with its layout match, fine-detail and colour agreements, and the counts. Whether a named pair is the same picture is for a person to judge
(the listed pairs are few); the script prints them so that one can.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from artextract.app.data import artist_of  # noqa: E402
from artextract.app.pairs import (  # noqa: E402
    UPLOAD_COLOUR_MIN,
    UPLOAD_DETAIL_MIN,
    UPLOAD_SAME_MIN,
    upload_same_picture,
)
from artextract.bundle import open_bundle  # noqa: E402
from artextract.catalog import image_path, read_catalog  # noqa: E402
from artextract.errors import BadImageError  # noqa: E402
from artextract.images import load_image  # noqa: E402


def on_wall(img, margin: float):
    """``img`` pasted on a plain wall, ``margin`` of its width and height added on every side."""
    from PIL import Image

    w, h = img.size
    wall = Image.new("RGB", (round(w * (1 + 2 * margin)), round(h * (1 + 2 * margin))), (196, 188, 170))
    wall.paste(img.convert("RGB"), (round(w * margin), round(h * margin)))
    return wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", default=str(ROOT / "data/artifacts/sample"))
    ap.add_argument(
        "--margin", type=float, default=0.125, help="wall added on each side, share of the picture"
    )
    ap.add_argument("--min-sim", type=float, default=UPLOAD_SAME_MIN)
    ap.add_argument("--min-detail", type=float, default=UPLOAD_DETAIL_MIN)
    ap.add_argument(
        "--min-colour", type=float, default=UPLOAD_COLOUR_MIN, help="-2 for no colour check (both in colour)"
    )
    ap.add_argument(
        "--held-out",
        metavar="COLLECTION",
        help="upload instead the paintings of this indexed collection's --split (e.g. data/wikiart) that "
        "neither the bundle's collection nor its reference holds",
    )
    ap.add_argument("--split", default="val", help="the --held-out collection's split to upload")
    args = ap.parse_args(argv)
    from tqdm import tqdm

    b = open_bundle(args.bundle)
    if b.reference is None or b.reference.layout is None:
        print(f"{args.bundle}: no reference layouts; rebuild it with `artextract build` (and a reference)")
        return 1
    if args.held_out:
        cat = read_catalog(args.held_out)
        cat = cat[
            (cat["split"].astype(str) == args.split)
            & ~cat["id"].astype(str).isin(b.items["id"].astype(str))
            & ~cat["id"]
            .astype(str)
            .isin(b.reference.items["id"].astype(str))  # its own files, found trivially
        ]
        items = cat.reset_index(drop=True)
        paths = [image_path(Path(args.held_out), str(x)) for x in items["image"]]
        what = (
            f"{len(items):,} {args.split} paintings of {args.held_out} that neither {b.name}'s collection nor "
            "its reference holds"
        )
    else:
        items, paths = b.items, [b.image_path(i) for i in range(len(b.items))]
        what = f"{len(items):,} paintings of {b.name}"
    named = {"as it is": [], "on a wall": []}
    for i, path in enumerate(tqdm(paths, desc="uploads", unit="painting")):
        try:
            img = load_image(path)
        except BadImageError:
            continue
        for how, up in (("as it is", img), ("on a wall", on_wall(img, args.margin))):
            hits = upload_same_picture(b, up, args.min_sim, args.min_detail, args.min_colour)
            if hits:
                named[how].append((i, hits[0]))
    print(f"\n{what} uploaded; reference: {len(b.reference.items):,} paintings")
    for how, rows in named.items():
        print(
            f"\n## {how}: {len(rows)} named the same picture as a reference painting (layout match >= "
            f"{args.min_sim}, detail >= {args.min_detail}, colour >= {args.min_colour} where both are in colour)"
        )
        for i, sp in rows:
            it = items.iloc[i]
            colour = "not asked" if sp.colour is None else f"{sp.colour:.2f}"
            print(
                f"- {sp.sim:.3f} {it.get('title', '')} — {artist_of(it)}, {it.get('date', '')}  ==  "
                f"{sp.label} [{sp.where}] (detail {sp.detail:.2f}, colour {colour})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
