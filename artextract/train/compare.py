"""RLA-ResNet against a plain ResNet of the same depth, trained with the same budget, in one run.

    python -m artextract.train compare                      # WikiArt if ../shared/data/wikiart exists, else demo
    python -m artextract.train compare --depth 18 --epochs 5 --img-size 128 --max-train 8000

Both models get identical data, split, augmentation, image size, epochs, batch, optimiser, schedule
and seed; only the architecture differs. The table (per attribute top-1 and macro-F1 with chance
beside them, images/s, epochs, time) is written to ``results/<name>.md`` (and ``.json``), saying which
data it used and why. Any classifier option (``python -m artextract.train classifier --help``) may be
added and applies to both runs.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
from pathlib import Path
from typing import Any

from ..config import PROJECT_ROOT, collection_dir, models_dir
from ..errors import ArtExtractError
from ..fileio import write_json_atomic, write_text_atomic
from . import classifier
from . import common as C

ARCH_PAIRS = {
    "demo": ("rla_resnet_demo", "resnet_demo"),
    "18": ("rla_resnet18", "resnet18"),
    "34": ("rla_resnet34", "resnet34"),
    "50": ("rla_resnet50", "resnet50"),
    "101": ("rla_resnet101", "resnet101"),
    "mobilenetv2": ("rla_mobilenetv2", "mobilenetv2"),
}


def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository (``ARTEXTRACT_SHARED_DATA`` overrides)."""
    return Path(os.environ.get("ARTEXTRACT_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        "artextract.train compare",
        description="Train RLA-ResNet and the plain ResNet of the same depth with one budget; write a results table. "
        "Other options are classifier options applied to both runs.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,  # unknown options belong to the classifier: never guess a prefix
    )
    p.add_argument(
        "--collection",
        type=Path,
        help="collection folder; default: WikiArt (../shared/data/wikiart indexed with the ArtGAN splits) when "
        "present, else the demo collection (generated into data/demo if missing)",
    )
    p.add_argument(
        "--depth", choices=sorted(ARCH_PAIRS), default="demo",
        help="ResNet depth of both models, or mobilenetv2 (RLA-MobileNetV2 vs MobileNetV2)",
    )  # fmt: skip
    p.add_argument("--name", help="results file stem (default compare-<collection>-<depth>)")
    p.add_argument(
        "--results", type=Path, default=PROJECT_ROOT / "results", help="folder of the results table"
    )
    p.add_argument("--models", type=Path, help="where both checkpoints go (default models/compare-<name>/)")
    return p


def _shown(p: Path) -> str:
    """A path as written into the committed results: relative to the project, never this machine's."""
    return os.path.relpath(Path(p).absolute(), PROJECT_ROOT)


def resolve_collection(given: Path | None, *, log=print) -> tuple[Path, str]:
    """(collection folder, one plain sentence saying what the data is and why it was chosen)."""
    if given is not None:
        from ..catalog import read_catalog

        sources = sorted(set(read_catalog(given)["source"]) - {""}) or ["unknown"]
        synthetic = all("demo" in s.lower() for s in sources)
        kind = (
            "the SYNTHETIC demo collection, not real paintings"
            if synthetic
            else "source " + ", ".join(sources[:3])
        )
        return Path(given), f"the collection at {_shown(given)} (given on the command line; {kind})"
    shared = shared_data_dir()
    wikiart = shared / "wikiart"
    if wikiart.is_dir():
        if (wikiart / "catalog.csv").is_file():
            return (
                wikiart,
                f"real WikiArt paintings from {_shown(wikiart)} with their catalog (official ArtGAN splits)",
            )
        from ..sources.wikiart import index_wikiart

        out = collection_dir("wikiart")
        if not (out / "catalog.csv").is_file():
            log(f"indexing {wikiart} with the ArtGAN split files into {out} ...")
            _, summary = index_wikiart(wikiart, shared / "artgan_splits", out, on_missing="skip")
            log(summary.summary_line())
        return out, (
            f"real WikiArt paintings from {_shown(wikiart)}, official ArtGAN train/val splits "
            f"(catalog {_shown(out)})"
        )
    demo = collection_dir("demo")
    if not (demo / "catalog.csv").is_file():
        from ..sources.demo import make_demo

        log(f"generating the demo collection into {demo} ...")
        make_demo(demo, progress=False)
    return demo, (
        f"the synthetic demo collection at {_shown(demo)}, NOT real paintings: {_shown(wikiart)} is not present on this machine "
        "(put WikiArt there and re-run to get real results)"
    )


def _fmt_time(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"


def results_markdown(
    runs: list[dict[str, Any]], *, data_sentence: str, budget: dict[str, Any], command: str
) -> str:
    """The results table: one row per model and attribute, chance beside every score."""
    lines = [
        "# RLA-ResNet vs ResNet: same depth, same budget",
        "",
        f"- **Data**: {data_sentence}.",
        f"- **Split**: trained on the train split ({runs[0]['n_train']} paintings), evaluated on the val split "
        f"({runs[0]['n_val']} paintings; {runs[0]['val_source']}).",
        "- **Budget (identical for both)**: " + ", ".join(f"{k} {v}" for k, v in budget.items()) + ".",
        f"- **Machine**: {budget_machine(runs[0])}.",
        f"- **Produced by**: `{command}` on {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.",
        "- Scores are of the epoch with the best mean val top-1 (the released weights); chance = 1/classes, "
        "majority = share of the most common val class.",
        "",
        "| model | params | attribute | classes | top-1 | macro-F1 | chance | majority | images/s | epochs | train time |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        for attr, m in r["best"]["val"].items():
            lines.append(
                f"| {r['arch']} | {r['params'] / 1e6:.2f}M | {attr} | {r['heads'][attr]} | {m['top1']:.3f} | "
                f"{m['macro_f1']:.3f} | {m['chance']:.3f} | {m['majority']:.3f} | {r['images_per_s']:.0f} | "
                f"{r['epochs']} (best {r['best']['epoch'] + 1}) | {_fmt_time(r['train_time_s'])} |"
            )
    if len(runs) == 2:
        a, b = runs
        lines += [
            "",
            "| attribute | top-1 difference (RLA - plain) | macro-F1 difference |",
            "|---|---:|---:|",
        ]
        for attr in a["best"]["val"]:
            ma, mb = a["best"]["val"][attr], b["best"]["val"][attr]
            lines.append(
                f"| {attr} | {ma['top1'] - mb['top1']:+.3f} | {ma['macro_f1'] - mb['macro_f1']:+.3f} |"
            )
        lines += [
            "",
            "One seed per model: differences of a few points on a val split of this size are within run-to-run "
            "noise; read them as indicative, not as a ranking.",
        ]
    return "\n".join(lines) + "\n"


def budget_machine(run: dict[str, Any]) -> str:
    return (
        f"{run['world_size']} process(es), {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"precision {run['precision']}"
    )


def main(argv: list[str] | None = None) -> int:
    args, rest = get_args_parser().parse_known_args(argv)
    if any(a == "--arch" or a.startswith("--arch=") or a == "--out" or a.startswith("--out=") for a in rest):
        raise ArtExtractError("compare chooses --arch and --out itself; use --depth and --models")
    device = argparse.ArgumentParser(add_help=False)
    device.add_argument("--device", default="auto")
    env = C.init_distributed(device.parse_known_args(rest)[0].device)  # under torchrun: rank 0 prepares data
    if env.is_main:
        collection, sentence = resolve_collection(args.collection)
    C.barrier(env)
    if not env.is_main:
        collection, sentence = resolve_collection(args.collection, log=lambda _m: None)
    name = args.name or f"compare-{collection.resolve().name}-{args.depth}"
    models = args.models or (models_dir() / name)
    demo_like = args.depth == "demo"
    runs = []
    for arch in ARCH_PAIRS[args.depth]:
        cargv = ["--collection", str(collection), "--arch", arch, "--out", str(models / arch), "--overwrite"]
        if demo_like and "--preset" not in rest:
            cargv += ["--preset", "demo"]
        cargs = classifier.parse_args(cargv + list(rest))
        print(f"== {arch} ==", flush=True)
        runs.append(classifier.train(cargs))
    budget = {
        "epochs": cargs.epochs,
        "image size": cargs.img_size,
        "batch": f"{cargs.batch_size} x {cargs.accum_steps} accumulation x {runs[0]['world_size']} process(es)",
        "AdamW lr": cargs.lr,
        "warm-up epochs": cargs.warmup_epochs,
        "label smoothing": cargs.label_smoothing,
        "seed": cargs.seed,
    }
    if cargs.max_train:
        budget["train subset"] = f"{cargs.max_train} paintings (seeded)"
    command = "python -m artextract.train compare " + " ".join(argv if argv is not None else [])
    md = results_markdown(runs, data_sentence=sentence, budget=budget, command=command.strip())
    out_md = Path(args.results) / f"{name}.md"
    if env.is_main:
        write_text_atomic(out_md, md)
        shown = [{k: (_shown(v) if k in ("out", "collection") else v) for k, v in r.items()} for r in runs]
        write_json_atomic(out_md.with_suffix(".json"), {"data": sentence, "budget": budget, "runs": shown})
        print(md)
        print(f"wrote {out_md}")
    return 0
