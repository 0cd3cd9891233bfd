"""``python -m artextract.train ensemble``: one released classifier from classifiers trained alike.

Usage::

    python -m artextract.train ensemble --members models/rla_mobilenetv2-wikiart \\
        runs/ablation-mobilenetv2-160-wall --collection data/wikiart --out models/ensemble-wikiart \\
        --sample data/sample/collection

The members must share their heads (names and classes, in order), their preprocessing (input size,
normalisation, load size, crop) and their training data (the card's catalog hash and train/selection
counts: the same selection set carved out of train). Each member alone and their ensemble
(:class:`artextract.nets.ensemble.Ensemble`, logits averaged) are compared on that selection set, the
figures that choose what is served; the ensemble is then reported on val once, plain and with test-time
flips, as the classifier's trainer does. The checkpoint holds every member's weights; its card names the
members' cards (command, wall time, weights hash, metrics).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ..errors import CheckpointError
from ..fileio import write_json_atomic

#: what every member's card must agree on, besides its heads and training data
SHARED = ("input_size", "mean", "std", "crop_pct")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m artextract.train ensemble", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--members", nargs="+", required=True, help="checkpoint folders, the primary first")
    ap.add_argument("--collection", required=True, help="the collection they were trained on")
    ap.add_argument("--out", required=True, help="folder of the ensemble checkpoint")
    ap.add_argument("--seed", type=int, default=0, help="as the members' trainer used it")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--precision", default="auto", help="auto | bf16 | fp32 (evaluation)")
    ap.add_argument(
        "--sample",
        default="",
        help="also store its figures on this labelled collection (the tests check them)",
    )
    return ap


def check_members(cards: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """The settings the members share (heads, preprocessing, training data), or one-line CheckpointError."""
    from ..infer import load_size_of

    for name, card in zip(names, cards, strict=True):
        if card.get("kind") != "classifier":
            raise CheckpointError(f"{name}: every ensemble member must be a classifier")

    def prep(card: dict[str, Any]) -> dict[str, Any]:  # what preprocessing each card asks for
        return {**{k: card.get(k) for k in SHARED}, "crop_pct": card.get("crop_pct", 1.0)}

    first = cards[0]
    for name, card in zip(names[1:], cards[1:], strict=True):
        if card["heads"] != first["heads"]:
            raise CheckpointError(f"{name}: its heads or classes differ from {names[0]}'s")
        for key, v in prep(card).items():
            if v != prep(first)[key]:
                raise CheckpointError(f"{name}: {key} {v!r} differs from {names[0]}'s {prep(first)[key]!r}")
        if load_size_of(card) != load_size_of(first):
            raise CheckpointError(f"{name}: its images are loaded at another size than {names[0]}'s")
        if card.get("train_data") != first.get("train_data"):
            raise CheckpointError(
                f"{name}: trained on other data than {names[0]} (train_data differs: catalog or selection set)"
            )
    if not (first.get("train_data") or {}).get("n_selection"):
        raise CheckpointError(f"{names[0]}: its card names no selection set, so nothing could choose fairly")
    return {
        "heads": first["heads"],
        **{k: first[k] for k in SHARED if k in first},
        "load_size": load_size_of(first),
        "train_data": first["train_data"],
    }


def _fmt(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{h} {m['top1']:.3f}" for h, m in metrics.items() if m.get("n"))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from ..errors import CatalogError
    from ..nets.checkpoint import load_checkpoint, save_checkpoint
    from ..nets.registry import create_model
    from . import common as C
    from .classifier import evaluate
    from .data import CatalogImages, classifier_transforms, split_as_trained

    if len(args.members) < 2:
        raise CheckpointError("an ensemble needs at least two --members")
    t0 = time.perf_counter()
    loaded = [load_checkpoint(m) for m in args.members]
    cards = [c for _, c in loaded]
    shared = check_members(cards, args.members)
    heads: dict[str, list[str]] = shared["heads"]
    want = shared["train_data"]

    root, split, sel_rows, y_sel = split_as_trained(
        args.collection, want, attributes=list(heads), seed=args.seed
    )
    if {h: list(c) for h, c in split.heads.items()} != heads:
        raise CatalogError(f"{args.collection}: its classes differ from the members' heads")

    env = C.DistEnv(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    precision = C.resolve_train_precision(args.precision, env.device)
    _, eval_tf = classifier_transforms(
        shared["input_size"], shared["mean"], shared["std"], crop_pct=float(shared.get("crop_pct", 1.0))
    )

    def loader(rows, y) -> DataLoader:
        ds = CatalogImages(root, rows, labels=y, load_size=shared["load_size"], transform=eval_tf)
        return DataLoader(ds, batch_size=args.batch_size, num_workers=0)

    specs = [{"arch": c["arch"], "arch_kwargs": dict(c.get("arch_kwargs") or {})} for c in cards]
    ens = create_model("ensemble", members=specs, heads={h: len(c) for h, c in heads.items()})
    for member, (model, _) in zip(ens.members, loaded, strict=True):
        member.load_state_dict(model.state_dict(), strict=True)
    ens.eval()

    # ---- the selection set: each member alone against the ensemble (what chooses what is served)
    sel = loader(sel_rows, y_sel)
    comparison: dict[str, Any] = {}
    for name, model in [
        *((m, mod) for m, (mod, _) in zip(args.members, loaded, strict=True)),
        ("ensemble", ens),
    ]:
        plain = evaluate(model, sel, heads, env=env, precision=precision)
        flip = evaluate(model, sel, heads, env=env, precision=precision, flip=True)
        comparison[name] = {"mean_top1": plain["mean_top1"], "val": plain["val"], "flip": flip["val"],
                            "mean_top1_flip": flip["mean_top1"]}  # fmt: skip
        print(f"selection ({len(sel_rows)} train paintings carved out) {name}: {_fmt(plain['val'])}; "
              f"with flips {_fmt(flip['val'])}", flush=True)  # fmt: skip
    best_single = max(comparison[m]["mean_top1"] for m in args.members)
    chosen = comparison["ensemble"]["mean_top1"] > best_single
    print(
        f"selection mean top-1: ensemble {comparison['ensemble']['mean_top1']:.3f} against the best member "
        f"{best_single:.3f}: " + ("the ensemble is better" if chosen else "the ensemble is NOT better"),
        flush=True,
    )

    # ---- val, once: the checkpoint as written and read back
    command = "python -m artextract.train ensemble " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:])
    )
    card = {
        "arch": "ensemble",
        "arch_kwargs": {"members": specs},
        "heads": heads,
        "kind": "classifier",
        **{k: shared[k] for k in SHARED if k in shared},
        "load_size": shared["load_size"],
        "train_data": want,
        "selected_on": f"{want['n_selection']} train paintings carved out (seeded, the members' own); val reported once",
        "selection_metrics": comparison["ensemble"]["val"],
        "selection_comparison": {
            m: {"mean_top1": v["mean_top1"], "mean_top1_flip": v["mean_top1_flip"]}
            for m, v in comparison.items()
        },  # fmt: skip
        "members": [
            {
                "path": str(m),
                "arch": c["arch"],
                "weights_sha256": c.get("weights_sha256"),
                "metrics": {h: v for h, v in (c.get("metrics") or {}).items() if isinstance(v, dict)},
                "training": c.get("training"),
            }
            for m, c in zip(args.members, cards, strict=True)
        ],
        "training": {"trainer": "artextract.train ensemble", "command": command, "precision": precision},
    }
    out = Path(args.out)
    save_checkpoint(out, ens, card)
    model, card = load_checkpoint(out)
    val = loader(split.val, split.y_val)
    plain = evaluate(model, val, heads, env=env, precision=precision)
    flip = evaluate(model, val, heads, env=env, precision=precision, flip=True)
    print(
        f"val ({len(split.val)} paintings), reported once: {_fmt(plain['val'])}; with flips {_fmt(flip['val'])}"
    )
    card = {**card, "metrics": {"mean_top1": plain["mean_top1"], **plain["val"]}, "metrics_flip": flip["val"]}
    if args.sample:  # through the app's inference path, as `artextract release --sample` does
        from ..report import sample_metrics

        card["sample_metrics"] = {
            "collection": Path(args.sample).as_posix(),
            **sample_metrics(out, args.sample),
        }
    card["training"]["wall_s"] = round(time.perf_counter() - t0, 1)
    write_json_atomic(out / "card.json", card)  # metrics only: the weights and their hash are unchanged
    print(f"wrote {out} in {card['training']['wall_s']:.0f}s")
    return 0
