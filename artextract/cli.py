"""``artextract``: the command line.

    artextract data demo|nga|wikiart ...   create a collection (catalog + images)
    artextract train classifier|byol ...   train (same as python -m artextract.train)
    artextract build ...                   compute the artifact bundle the app shows
    artextract classify IMAGE... [--json]  top-3 style/artist/genre per image
    artextract similar IMAGE [--k K]       nearest reference paintings
    artextract evaluate [--queries N]     retrieval precision@k and CLIP agreement
    artextract models [--json]             registered architectures
    artextract app                         start the web app

Errors on bad input print one line on stderr (``artextract: error: ...``) and exit non-zero.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from .config import PROJECT_ROOT, artifacts_dir, collection_dir, models_dir
from .errors import ArtExtractError


def _err(msg: str) -> None:
    print(f"artextract: error: {msg}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------- data
def cmd_data_demo(args: argparse.Namespace) -> int:
    from .sources.demo import make_demo, make_reference

    out = Path(args.out) if args.out else collection_dir("demo")
    ref = Path(args.reference_out) if args.reference_out else collection_dir("demo_reference")
    if not args.force and (out / "catalog.csv").is_file() and (ref / "catalog.csv").is_file():
        print(f"demo collection already at {out} and {ref} (use --force to regenerate)")
        return 0
    make_demo(out, n=args.n, size=args.size, seed=args.seed, workers=args.workers)
    make_reference(ref, n=args.n_reference, size=args.size, seed=args.seed + 1, workers=args.workers)
    print(f"demo collection: {out} ({args.n} paintings); reference collection: {ref} ({args.n_reference})")
    return 0


def cmd_data_nga(args: argparse.Namespace) -> int:
    from .sources import nga

    summary = nga.run_nga(
        out=Path(args.out),
        tables=Path(args.tables) if args.tables else None,
        limit=args.limit,
        size=args.size,
        workers=args.workers,
        skip_images=args.no_images,
    )
    print(summary.summary_line())
    return 0 if summary.ok else 1


def cmd_data_wikiart(args: argparse.Namespace) -> int:
    from .sources import wikiart

    summary = wikiart.run_wikiart(
        root=Path(args.root),
        splits=Path(args.splits),
        out=Path(args.out) if args.out else None,
        on_missing=args.on_missing,
    )
    print(summary.summary_line())
    return 0 if summary.ok else 1


def cmd_data_sample(args: argparse.Namespace) -> int:
    from .sources import sample

    shared = Path(args.shared)
    summary = sample.make_sample(
        wikiart_root=shared / "wikiart",
        splits_dir=shared / "artgan_splits",
        constituents_csv=shared / "nga_opendata" / "constituents.csv",
        museum_dir=shared / "museum_sample",
        out=Path(args.out),
        n_reference=args.n_reference,
    )
    print(summary.summary_line())
    return 0


def _named(items: list[str] | None) -> dict[str, str]:
    out = {}
    for it in items or []:
        name, sep, path = it.partition("=")
        if not sep or not name or not path:
            raise ArtExtractError(f"expected NAME=CHECKPOINT, got {it!r}")
        out[name] = path
    return out


def cmd_report(args: argparse.Namespace) -> int:
    from .report import run_report

    run_report(
        args.collection,
        classifiers=_named(args.classifier),
        encoders=_named(args.encoder),
        imagenet_weights=args.imagenet_weights,
        input_size=args.img_size,
        k=args.k,
        out=args.out,
    )
    print(f"report written to {Path(args.out).with_suffix('.md')} and .json")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from .report import release

    card = release(args.run, args.dest, sample=args.sample)
    line = f"released {card['arch']} to {args.dest}"
    if "sample_metrics" in card:
        m = card["sample_metrics"]
        line += "; on the sample: " + ", ".join(
            f"{h} top-1 {v['top1']:.3f}"
            for h, v in m.items()
            if isinstance(v, dict) and v.get("top1") is not None
        )
    print(line)
    return 0


# --------------------------------------------------------------------------------------------- build
def cmd_build(args: argparse.Namespace) -> int:
    from .build import BuildConfig, build_bundle

    name = args.name or Path(args.collection).name
    cfg = BuildConfig(
        collection=Path(args.collection),
        classifier=Path(args.classifier),
        out=Path(args.out) if args.out else artifacts_dir(name),
        reference=Path(args.reference) if args.reference else None,
        encoder=Path(args.encoder) if args.encoder else None,
        evidence=Path(args.evidence_encoder) if args.evidence_encoder else None,
        outlier_labels=args.outlier_labels,
        name=name,
        precision=args.precision,
        batch_size=args.batch_size,
        k=args.k,
        seed=args.seed,
        projections=tuple(args.projections.split(",")) if args.projections else (),
        force=args.force,
    )
    report = build_bundle(cfg)
    if int(os.environ.get("RANK", "0")) == 0:
        print(report.summary_line())
    return 0


def _default_bundle() -> Path:
    from .config import default_bundle

    return default_bundle()


# ------------------------------------------------------------------------------------------ classify
def cmd_classify(args: argparse.Namespace) -> int:
    from .analysis.open_set import stops
    from .images import load_image
    from .predict import load_embedder, top_k_labels

    ckpt = Path(args.checkpoint) if args.checkpoint else _bundle_checkpoint(args.bundle, "classifier")
    embedder = load_embedder(ckpt, precision=args.precision)
    good, images, bad = [], [], 0
    for p in args.images:
        try:
            images.append(load_image(p))
            good.append(p)
        except ArtExtractError as exc:
            _err(str(exc))
            bad += 1
    gate = _open_set_gate(ckpt, embedder.card)
    results, known = [], []
    if images:
        res = embedder.embed_images(images)
        results = top_k_labels(res.probs, embedder.card["heads"], 3)
        known = gate.p_known(res.embeddings).tolist() if gate is not None else [None] * len(images)
    if args.json:
        out = []
        for p, r, pk in zip(good, results, known, strict=True):
            row = {
                "image": p,
                **{a: [{"label": lab, "prob": round(pr, 4)} for lab, pr in top] for a, top in r.items()},
            }
            if pk is not None:
                row[f"{gate.attribute}_open_set"] = {
                    "by_one_it_knows": not bool(stops(pk, gate.threshold)),
                    "score": round(float(pk), 4) if math.isfinite(pk) else None,
                    "threshold": round(float(gate.threshold), 4),
                }
            out.append(row)
        print(json.dumps(out, indent=2))
    else:
        for p, r, pk in zip(good, results, known, strict=True):
            print(p)
            for a, top in r.items():
                lead = ""
                if pk is not None and a == gate.attribute and stops(pk, gate.threshold):
                    lead = f"none of the {len(gate.classes)} {a}s it knows; closest: "
                print(f"  {a:<7} {lead}" + "  ".join(f"{lab} {pr:.2f}" for lab, pr in top))
    return 1 if bad else 0


def _open_set_gate(ckpt: Path, card: dict):  # noqa: ANN202 - OpenSetGate | None
    """The open-set gate beside the checkpoint, if any; an unusable one is reported and left out."""
    from .analysis.open_set import load_gate

    try:
        return load_gate(ckpt if ckpt.is_dir() else ckpt.parent, card)
    except ArtExtractError as exc:
        _err(f"open-set check not used: {exc}")
        return None


def _bundle_checkpoint(bundle: str | None, role: str) -> Path:
    from .bundle import open_bundle

    return open_bundle(Path(bundle) if bundle else _default_bundle()).checkpoint_dir(role)


# ------------------------------------------------------------------------------------------- similar
def cmd_similar(args: argparse.Namespace) -> int:
    from .bundle import open_bundle
    from .errors import BundleError
    from .images import load_image
    from .predict import embed_query, load_embedder

    bundle = open_bundle(Path(args.bundle) if args.bundle else _default_bundle())
    if bundle.reference is None:
        raise BundleError(f"bundle {bundle.root} has no reference index; build it with --reference/--encoder")
    image = load_image(args.image)
    embedder = load_embedder(bundle.checkpoint_dir("encoder"), precision=args.precision)
    hits = bundle.reference.search(embed_query(embedder, image), k=args.k)
    cols = ["rank", "id", "title", "artist", "date", "score", "source_url"]
    if args.json:
        print(json.dumps(hits[cols].to_dict(orient="records"), indent=2))
    else:
        for r in hits.itertuples():
            print(f"{r.rank:>3}  {r.score:.3f}  {r.id}  {r.title} — {r.artist or 'unknown artist'}")
    return 0


# -------------------------------------------------------------------------------------------- models
def cmd_models(args: argparse.Namespace) -> int:
    from .nets.registry import list_models, model_info

    rows = [{"name": n, **model_info(n)} for n in list_models()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        # papers of the ResNet family (RLA-Net, ECA-Net) count "M" as 2**20: ResNet-50 is "24.37M" there
        print(f"{'name':<18} {'params (1000 cls)':>18} {'in 2^20 (papers)':>17} {'input':>6}  family")
        for r in rows:
            print(
                f"{r['name']:<18} {r['params'] / 1e6:>17.2f}M {r['params'] / 2**20:>16.2f}M"
                f" {r['input_size']:>6}  {r.get('family', '')}"
            )
    return 0


# ------------------------------------------------------------------------------------------ evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    from .bundle import open_bundle
    from .evaluate import evaluate_retrieval

    bundle = open_bundle(Path(args.bundle) if args.bundle else _default_bundle())
    res = evaluate_retrieval(
        bundle,
        queries=args.queries,
        k=args.k,
        seed=args.seed,
        clip_model=None if args.clip == "none" else args.clip,
        clip_weights=args.clip_weights,
        progress=not args.json,
    )
    print(json.dumps(res.__dict__, indent=2) if args.json else "\n".join(res.lines()))
    if res.clip_error:  # the label metrics above still stand
        _err(res.clip_error)
        return 2
    return 0


# ----------------------------------------------------------------------------------------------- app
def app_command(args: argparse.Namespace) -> list[str]:
    """The ``streamlit run`` command line ``artextract app`` starts (XSRF protection stays on)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "app.py"),
        "--server.address", str(args.host), "--server.port", str(args.port),
        "--server.headless", "true", "--server.enableXsrfProtection", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip


def cmd_app(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.bundle:
        env["ARTEXTRACT_BUNDLE"] = str(Path(args.bundle).resolve())
    cmd = app_command(args)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: serving on {args.host}: anyone who can reach this machine's port {args.port} can use "
            "the app and record verdicts; there is no login. Put it behind an authenticating reverse proxy "
            "(see the README).",
            file=sys.stderr,
        )
    shown = "localhost" if args.host in ("127.0.0.1", "::1") else args.host
    print(f"ArtExtract on http://{shown}:{args.port}")
    # run from the project root so its .streamlit/config.toml (theme, upload limit) applies
    return subprocess.call(cmd, env=env, cwd=PROJECT_ROOT)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="artextract", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="create a collection").add_subparsers(dest="source", required=True)
    demo = d.add_parser("demo", help="generate the built-in demo collection (no network)")
    demo.add_argument("--out", help="collection folder (default data/demo)")
    demo.add_argument("--reference-out", help="reference collection folder (default data/demo_reference)")
    demo.add_argument("--n", type=int, default=1600, help="paintings in the demo collection")
    demo.add_argument("--n-reference", type=int, default=400, help="paintings in the reference collection")
    demo.add_argument("--size", type=int, default=128, help="image side in pixels")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--workers", type=int, default=2)
    demo.add_argument("--force", action="store_true", help="regenerate even if present")
    demo.set_defaults(fn=cmd_data_demo)

    nga = d.add_parser("nga", help="National Gallery of Art open data: catalog + IIIF images")
    nga.add_argument("--out", required=True, help="collection folder, e.g. data/nga")
    nga.add_argument("--tables", help="folder with the open-data CSVs (default: fetch them)")
    nga.add_argument("--limit", type=int, help="keep at most N paintings")
    nga.add_argument("--size", type=int, default=512, help="longest image side requested from IIIF")
    nga.add_argument("--workers", type=int, default=8, help="concurrent downloads")
    nga.add_argument("--no-images", action="store_true", help="write the catalog only")
    nga.set_defaults(fn=cmd_data_nga)

    wa = d.add_parser("wikiart", help="index a local WikiArt folder with the ArtGAN split files")
    wa.add_argument("--root", required=True, help="WikiArt folder (Style/artist_title.jpg)")
    wa.add_argument("--splits", required=True, help="folder with the ArtGAN split files")
    wa.add_argument("--out", help="collection folder (default: the WikiArt folder itself)")
    wa.add_argument("--on-missing", choices=["skip", "fail"], default="skip")
    wa.set_defaults(fn=cmd_data_wikiart)

    sa = d.add_parser(
        "sample", help="rebuild the committed public-domain sample (data/sample) from the shared real data"
    )
    sa.add_argument(
        "--shared", required=True,
        help="folder with wikiart/, artgan_splits/, nga_opendata/constituents.csv and museum_sample/",
    )  # fmt: skip
    sa.add_argument("--out", default="data/sample", help="output folder (collection/ and reference/)")
    sa.add_argument(
        "--n-reference", type=int, default=2000, help="public-domain train paintings in the reference"
    )
    sa.set_defaults(fn=cmd_data_sample)

    tr = sub.add_parser("train", help="train a model (python -m artextract.train --help)", add_help=False)
    tr.add_argument("rest", nargs=argparse.REMAINDER)
    tr.set_defaults(fn=None)

    b = sub.add_parser("build", help="compute the artifact bundle for a collection")
    b.add_argument("--collection", default=str(collection_dir("demo")), help="collection folder")
    b.add_argument("--classifier", default=str(models_dir() / "classifier-demo"), help="checkpoint folder")
    b.add_argument("--reference", help="reference collection for Similar (e.g. data/nga)")
    b.add_argument("--encoder", help="BYOL encoder checkpoint folder for the reference index")
    b.add_argument(
        "--evidence-encoder",
        help="label-free encoder (e.g. the BYOL one) whose embeddings carry the outlier evidence "
        "(default: the classifier's embedding)",
    )
    b.add_argument(
        "--outlier-labels",
        choices=["crossfit", "classifier"],
        default="crossfit",
        help="label evidence for the outliers: heads cross-fitted so that none saw the painting's label "
        "(default), or the classifier's own predictions, only for a collection it never trained on",
    )
    b.add_argument("--out", help="bundle folder (default data/artifacts/<name>)")
    b.add_argument("--name", help="bundle name (default: collection folder name)")
    b.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp32"],
        default="auto",
        help="auto = exact fp32 through ONNX Runtime where it is installed, else bf16 where the CPU has "
        "native bf16; bf16 or fp32 = that precision on torch",
    )
    b.add_argument("--batch-size", type=int, default=64)
    b.add_argument("--k", type=int, default=10, help="neighbours kept per painting")
    b.add_argument("--seed", type=int, default=0, help="seed of the projections and outlier model")
    b.add_argument("--projections", default="umap,tsne", help="comma-separated: umap,tsne")
    b.add_argument("--force", action="store_true", help="recompute every stage")
    b.set_defaults(fn=cmd_build)

    c = sub.add_parser("classify", help="top-3 style/artist/genre for images")
    c.add_argument("images", nargs="+")
    c.add_argument("--checkpoint", help="classifier checkpoint folder (default: the bundle's)")
    c.add_argument("--bundle", help="bundle folder (default $ARTEXTRACT_BUNDLE or data/artifacts/demo)")
    c.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto", help="as for build")
    c.add_argument("--json", action="store_true")
    c.set_defaults(fn=cmd_classify)

    s = sub.add_parser("similar", help="nearest reference paintings of an image")
    s.add_argument("image")
    s.add_argument("--k", type=int, default=5)
    s.add_argument("--bundle", help="bundle folder (default $ARTEXTRACT_BUNDLE or data/artifacts/demo)")
    s.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto", help="as for build")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_similar)

    e = sub.add_parser("evaluate", help="retrieval quality of the reference index over many queries")
    e.add_argument("--bundle", help="bundle folder (default $ARTEXTRACT_BUNDLE or data/artifacts/demo)")
    e.add_argument("--queries", type=int, default=200, help="leave-one-out queries (random, seeded)")
    e.add_argument("--k", type=int, default=5, help="neighbours per query")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--clip", default="ViT-B-32", help="open_clip model for CLIP agreement, or 'none'")
    e.add_argument(
        "--clip-weights",
        help="local CLIP weights file, an open_clip tag, or 'random' (smoke runs); default "
        "$ARTEXTRACT_CLIP_WEIGHTS, else the model's default tag (needs internet)",
    )
    e.add_argument("--json", action="store_true")
    e.set_defaults(fn=cmd_evaluate)

    r = sub.add_parser("report", help="held-out classification and retrieval report (real data)")
    r.add_argument("--collection", required=True, help="collection with train and val rows (data/wikiart)")
    r.add_argument("--classifier", action="append", metavar="NAME=CHECKPOINT", help="a classifier to report")
    r.add_argument("--encoder", action="append", metavar="NAME=CHECKPOINT", help="an encoder to report")
    r.add_argument(
        "--imagenet-weights", help="ImageNet MobileNetV2 weights: frozen-feature probe and retrieval"
    )
    r.add_argument("--img-size", type=int, default=128, help="input size of the frozen ImageNet features")
    r.add_argument("--k", type=int, default=10, help="precision@k")
    r.add_argument("--out", default="results/wikiart", help="output path without suffix (.md and .json)")
    r.set_defaults(fn=cmd_report)

    rl = sub.add_parser("release", help="copy a training run's checkpoint to models/ with its sample figures")
    rl.add_argument("run", help="training output folder (model.safetensors + card.json)")
    rl.add_argument(
        "dest",
        help="release folder, e.g. models/rla_mobilenetv2-wikiart (the run folder itself: measure the "
        "card's sample figures again, copying nothing)",
    )
    rl.add_argument(
        "--sample", help="labelled collection whose figures go on the card (data/sample/collection)"
    )
    rl.set_defaults(fn=cmd_release)

    m = sub.add_parser("models", help="list registered architectures")
    m.add_argument("--json", action="store_true")
    m.set_defaults(fn=cmd_models)

    a = sub.add_parser("app", help="start the web app")
    a.add_argument("--port", type=int, default=8501)
    a.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on: 127.0.0.1 (default) serves this machine only; 0.0.0.0 shares the app "
        "with the network, without a login: put it behind the museum's authenticating proxy (README)",
    )
    a.add_argument("--bundle", help="bundle folder (default data/artifacts/sample)")
    a.set_defaults(fn=cmd_app)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        from .train.__main__ import main as train_main

        return train_main(argv[1:])
    args = get_parser().parse_args(argv)
    try:
        return args.fn(args)
    except ArtExtractError as exc:
        _err(str(exc))
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
