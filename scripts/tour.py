"""What a curator sees on a built bundle: the facts the README's "What a curator sees" section quotes.

    python scripts/tour.py                                   # the sample bundle (make demo builds it)
    python scripts/tour.py --bundle data/artifacts/NAME --upload painting.jpg [...]

Prints the Home figures (held-out accuracy against chance and majority), the first outliers with their
reasons, the largest off-diagonal cells of the style confusion matrix, the near-duplicate counts, and,
for each uploaded painting, what the Similar page answers (top labels per head, nearest reference
paintings). Without ``--upload`` it uploads a Monet from the collection and, when ``../shared/data`` is
beside the project, a Hokusai print and a Rembrandt from the WikiArt val split (the print is not in the
sample; the Rembrandt is one of its paintings, and Similar searches the reference collection, where it is not).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from artextract.analysis.open_set import stops  # noqa: E402
from artextract.app.data import stopped_label  # noqa: E402
from artextract.app.models import classify_and_search  # noqa: E402
from artextract.app.pairs import DETAIL_FILTERS, RECORD_FILTERS, duplicate_table, unrelated  # noqa: E402
from artextract.bundle import open_bundle  # noqa: E402
from artextract.images import load_image  # noqa: E402
from artextract.labels import pretty_label as pl  # noqa: E402

SHARED_UPLOADS = (  # val paintings of the shared WikiArt copy, outside the public-domain sample
    "wikiart/Ukiyo_e/katsushika-hokusai_the-fuji-from-the-mountains-of-totomi.jpg",
    "wikiart/Baroque/rembrandt_portrait-of-titus-1653.jpg",
)


def _name(row) -> str:  # noqa: ANN001 - a pandas row
    artist = row.get("artist_name") or str(row.get("artist", "")).replace("_", " ")
    date = f" ({row['date']})" if row.get("date") else ""
    return f"{artist}, *{row['title']}*{date}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", default=str(ROOT / "data" / "artifacts" / "sample"))
    p.add_argument("--upload", nargs="*", help="images to upload on Similar (default: see above)")
    p.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--outliers", type=int, default=5)
    p.add_argument("--k", type=int, default=5, help="neighbours per upload")
    args = p.parse_args(argv)

    b = open_bundle(args.bundle)
    items = b.items
    metrics = b.metrics
    print(
        f"## Home: {len(items)} paintings, {len(b.reference.items) if b.reference else 0} reference paintings"
    )
    for head, m in metrics.items():
        if isinstance(m, dict) and m.get("n"):
            print(
                f"- {head}: top-1 {m['accuracy']:.3f} on {m['n']} paintings (chance {m['chance']['uniform']:.3f}, "
                f"majority {m['chance']['majority']:.3f}), macro-F1 {m['macro_f1']:.3f}"
            )

    flagged = items[items["flagged"]].sort_values("outlier_score", ascending=False)
    print(f"\n## Explore: {len(flagged)} outliers ringed; the first {args.outliers}")
    for _, row in flagged.head(args.outliers).iterrows():
        print(
            f"- {_name(row)}: catalogued {pl(row['style'])}, predicted {pl(row['pred_style'])}; {row['outlier_reasons']}"
        )

    if "style" in metrics:
        m = metrics["style"]
        cm, classes = np.asarray(m["confusion"]), m["classes"]
        off = [(cm[i, j], classes[i], classes[j]) for i in range(len(cm)) for j in range(len(cm)) if i != j]
        print("\n## Confusion (style): largest cells off the diagonal")
        for n, true, pred in sorted(off, reverse=True)[:3]:
            print(f"- {pl(true)} predicted as {pl(pred)}: {n}")

    pairs = b.duplicate_pairs("collection")
    if pairs is not None:
        print(
            f"\n## Duplicates: {(pairs['sim'] >= 0.90).sum()} pairs at >= 0.90, {(pairs['sim'] >= 0.95).sum()} at >= 0.95"
        )
        # what the Duplicates page's "Catalogue records" filter lists at its default similarity
        for scope in ("collection", "reference") if b.reference is not None else ("collection",):
            t = duplicate_table(b, "tour", scope, 0.90, "All")
            counts = [
                f"{name.lower()} {len(duplicate_table(b, 'tour', scope, 0.90, 'All', (), name))}"
                for name in RECORD_FILTERS
                if name != "Any"
            ]
            sims = t["sim"][t["disagree"].map(unrelated)]
            span = f" (similarity {sims.min():.2f}-{sims.max():.2f})" if len(sims) else ""
            print(f"- {scope}, {len(t)} pairs at >= 0.90; catalogue records: " + ", ".join(counts) + span)
            fine = [
                f"{name.split(' (')[0].lower()} {len(duplicate_table(b, 'tour', scope, 0.90, 'All', (), 'Any', name))}"
                for name in DETAIL_FILTERS
                if name != "Any"
            ]
            print("  fine detail: " + ", ".join(fine))

    uploads = [Path(u) for u in args.upload] if args.upload else []
    if not args.upload:
        monet = items[(items["artist"] == "Claude_Monet") & (items["title"] == "Chrysanthemums")]
        uploads += [b.image_path(int(i)) for i in monet.index[:1]]
        uploads += [Path(args.shared) / u for u in SHARED_UPLOADS if (Path(args.shared) / u).is_file()]
    for path in uploads:
        labels, hits, gated = classify_and_search(b, load_image(path), args.k)
        print(f"\n## Similar: upload {path.name}")
        for head, top in labels.items():
            g = gated.get(head)
            stopped = g is not None and bool(stops(g["p_known"], g["threshold"]))
            lead = f"{stopped_label(head, int(g['n_classes']))}; closest of those " if stopped else ""
            print(f"- {head}: {lead}" + ", ".join(f"{pl(c)} {p:.2f}" for c, p in top[:2]))
        for _, h in hits.iterrows():
            print(f"  - {h['score']:.3f} {_name(h)} [{h.get('source', '')}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
