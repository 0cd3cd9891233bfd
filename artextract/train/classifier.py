"""Multi-attribute classifier training: one backbone, one head per attribute (style, artist, genre).

    python -m artextract.train classifier --collection data/demo --preset demo
    torchrun --nproc_per_node=4 -m artextract.train classifier --collection data/wikiart --arch rla_resnet50

A painting without a label for an attribute is masked out of that head's loss and metrics. Per epoch
and per head the validation top-1, top-5 and macro-F1 go to ``log.jsonl`` and ``curves.png``; the
weights with the best mean validation top-1 are released as ``model.safetensors`` + ``card.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ..config import collection_dir
from ..errors import ArtExtractError
from ..fileio import sha256_file
from ..images import load_size_for
from . import common as C
from .data import (
    CatalogImages,
    ShardSampler,
    balanced_sample_weights,
    carve_selection,
    class_weights,
    classifier_transforms,
    load_collection,
    split_catalog,
    subsample,
)
from .loop import Loop, Task

PRESETS: dict[str, dict[str, Any]] = {
    # ~2-3 min on 2 CPU cores for the 1600-painting demo collection (1280 train / 320 val) at 112 px
    "demo": {
        "arch": "rla_resnet_demo",
        "img_size": 112,
        "epochs": 12,
        "batch_size": 32,
        "lr": 3e-3,
        "weight_decay": 0.05,
        "warmup_epochs": 1.0,
        "min_scale": 0.5,
        "cache_images": True,
        "workers": 0,
        "label_smoothing": 0.1,
    },
    # the released classifier: RLA-MobileNetV2 from ImageNet weights on the real WikiArt train split, on a
    # 2-core CPU inside 85 minutes (bf16 autocast where the CPU has it; the time budget cuts the epochs on
    # a slower machine); checkpoints chosen on 500 train paintings carved out as a selection set, so the
    # val split is only ever reported on. 160 px and crops of at least 75% of the painting: a recipe sweep
    # on a lent GPU (README, "What it gave on a lent H100") found 0.75 beats 0.35 (+0.013 style top-1,
    # +0.02 artist) and 1.0 (no scale change) at 12 epochs
    "wikiart": {
        "arch": "rla_mobilenetv2",
        "init": "imagenet",
        "img_size": 160,
        "epochs": 9,
        "time_budget": 85.0,
        "batch_size": 64,
        "lr": 1e-3,
        "weight_decay": 0.05,
        "warmup_epochs": 0.5,
        "min_scale": 0.75,
        "drop_rate": 0.2,
        "cache_images": True,
        "workers": 0,
        "label_smoothing": 0.1,
        "selection_size": 500,
        "report_flip": True,
    },
    # the paper-scale run (a GPU machine; see scripts/train_gpu.sh)
    "full": {
        "arch": "rla_resnet50",
        "img_size": 224,
        "epochs": 30,
        "batch_size": 64,
        "lr": 1e-3,
        "weight_decay": 0.05,
        "warmup_epochs": 2.0,
        "min_scale": 0.35,
        "workers": 8,
        "label_smoothing": 0.1,
    },
}


#: settings a resumed run must share with the saved one
STRICT_RESUME_KEYS = (
    "arch", "attributes", "img_size", "batch_size", "accum_steps", "epochs", "seed", "collection", "max_train",
    "selection_size",
)  # fmt: skip


# --------------------------------------------------------------------------------------------- arguments
DESCRIPTION = "Train a multi-attribute (style/artist/genre) classifier on a catalog."

#: the defaults without a preset
DEFAULTS: dict[str, Any] = {
    "collection": collection_dir("demo"), "arch": "rla_resnet50", "min_scale": 0.35,
    "epochs": 30, "batch_size": 64, "lr": 1e-3,
    "weight_decay": 0.05, "warmup_epochs": 2.0, "min_lr_factor": 0.01,
}  # fmt: skip


#: option help that differs from the other trainers'
HELP = {
    "--preset": "set defaults for a scenario (explicit flags still win): demo = tiny RLA-ResNet at "
    "112 px, ~2-3 min on 2 CPU cores; full = RLA-ResNet-50 at 224 px for a GPU",
    "--img-size": "training/eval crop size; 96-128 is enough for the demo",
    "--min-scale": "smallest crop area of RandomResizedCrop; lower = stronger augmentation but loses "
    "composition (genre)",
    "--cache-images": "keep decoded, shrunk images in RAM (img_size*1.15 px): fast for small "
    "collections, ~40 KB each",
    "--arch": "registered architecture (artextract models lists them)",
    "--width": "base width (default: the architecture's; 64 for the paper models)",
    "--rla-channels": "RLA state channels k (paper: 32); RLA models only",
    "--rla-type": "RLA recurrent cell; RLA models only",
    "--init": "'imagenet': start the backbone from ImageNet ResNet weights (torchvision's, downloaded "
    "or from the hub cache, or the file given by --imagenet-weights); RLA layers and heads start fresh",
    "--imagenet-weights": "ImageNet weights for --init imagenet: 'torchvision' (default) or a local "
    "state-dict file (.pth, loaded with weights_only, or .safetensors); giving a file implies --init "
    "imagenet",
    "--batch-size": "images per step per process",
    "--accum-steps": "gradient accumulation: effective batch = batch_size x accum_steps x processes",
    "--lr": "peak AdamW learning rate for the effective batch; scale roughly linearly when changing it",
}


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p, groups = C.trainer_parser("classifier", DESCRIPTION, PRESETS, DEFAULTS, HELP, add_help=add_help)

    g = groups["data"]
    g.add_argument(
        "--attributes",
        default="style,artist,genre",
        help="comma-separated attributes to predict; an attribute with < 2 train classes gets no head",
    )
    g.add_argument(
        "--crop-pct",
        type=float,
        default=1.0,
        help="eval: shorter side -> img_size/crop_pct, then centre crop (1.0 keeps the whole composition)",
    )
    g.add_argument(
        "--color-jitter", type=float, default=0.0,
        help="colour jitter strength; 0 by default because palette is evidence of the artist",
    )  # fmt: skip
    for flag, verb in (("--max-train", "train"), ("--max-val", "evaluate")):
        g.add_argument(
            flag, type=int, default=0, help=f"{verb} on a seeded random subset of N paintings (0 = all)"
        )
    g.add_argument(
        "--report-flip",
        action="store_true",
        help="also report val with test-time flips (mean logits of each image and its mirror), beside the "
        "plain figures; needs --selection-size",
    )
    g.add_argument(
        "--holdout", type=float, default=0.1, help="val fraction held out when the catalog has no val rows"
    )
    g.add_argument(
        "--selection-size",
        type=int,
        default=0,
        help="carve N train paintings out as a selection set: epochs are compared (and the released one "
        "chosen) on it, and val is evaluated once, at the end, for the report (0 = choose on val)",
    )

    groups["model"].add_argument("--drop-rate", type=float, default=0.0, help="dropout before the heads")

    g = groups["optimisation"]
    g.add_argument("--label-smoothing", type=float, default=0.1)
    g.add_argument(
        "--class-weighting",
        choices=["none", "inverse", "sqrt"],
        default="none",
        help="weight each head's loss by inverse (or inverse-sqrt) train class frequency",
    )
    g.add_argument(
        "--balanced-sampling",
        metavar="ATTRIBUTE",
        help="sample paintings so this attribute's classes are equally frequent (with replacement)",
    )
    g.add_argument(
        "--time-budget", type=float, default=0.0, metavar="MINUTES",
        help="wall-clock budget for this process: after each of its first two epochs, --epochs is cut to "
        "what fits and the cosine schedule re-planned to end there (0 = no budget)",
    )  # fmt: skip

    C.add_run_args(p, "classifier")
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return C.parse_with_presets(get_args_parser(), PRESETS, argv)


def arch_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Architecture keywords given on the command line (unset ones keep the registry default)."""
    kw: dict[str, Any] = {}
    for key in ("width", "rla_channels", "rla_type", "attention"):
        v = getattr(args, key, None)
        if v is not None:
            kw[key] = v
    if getattr(args, "drop_rate", 0.0):
        kw["drop_rate"] = args.drop_rate
    return kw


def build_model(arch: str, **kwargs: Any) -> nn.Module:
    """``create_model`` with a bad keyword (e.g. ``--rla-channels`` for a plain ResNet) as one clear error."""
    from ..nets.registry import create_model

    try:
        return create_model(arch, **kwargs)
    except TypeError as exc:
        raise ArtExtractError(f"{exc} (RLA options apply to rla_* architectures only)") from exc


def new_model(args: argparse.Namespace, heads: dict[str, int], run: C.Run) -> nn.Module:
    """The ``--arch`` network with these heads; a fresh run with ``--init imagenet`` (or
    ``--imagenet-weights``) starts its backbone from ImageNet weights (a resumed run reloads its own)."""
    model = build_model(args.arch, heads=heads, **arch_kwargs(args))
    imagenet = args.imagenet_init or ("torchvision" if args.init == "imagenet" else None)
    if imagenet and run.state is None:
        from ..nets.checkpoint import init_from_imagenet

        C.say(run.env, init_from_imagenet(model, None if imagenet == "torchvision" else imagenet)["summary"])
    return model


# ------------------------------------------------------------------------------------------------- loss
class MaskedMultiHeadLoss(nn.Module):
    """Mean over heads of each head's cross-entropy over its *labelled* paintings (label ``-1`` ignored).

    A head with no labelled painting in the batch contributes 0 (and still takes part in the graph, so
    DDP sees every parameter used).
    """

    def __init__(
        self,
        heads: list[str],
        *,
        label_smoothing: float = 0.0,
        weights: dict[str, torch.Tensor | None] | None = None,
    ) -> None:
        super().__init__()
        self.heads = list(heads)
        self.label_smoothing = label_smoothing
        for h in self.heads:
            w = (weights or {}).get(h)
            self.register_buffer(f"w_{h}", w if w is not None else None, persistent=False)

    def forward(
        self, logits: dict[str, torch.Tensor], y: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        total = logits[self.heads[0]].new_zeros((), dtype=torch.float32)
        parts: dict[str, float] = {}
        for j, h in enumerate(self.heads):
            yj = y[:, j]
            labelled = yj >= 0
            w = getattr(self, f"w_{h}")
            loss_sum = F.cross_entropy(
                logits[h].float(),
                yj,
                weight=w,
                ignore_index=-1,
                reduction="sum",
                label_smoothing=self.label_smoothing,
            )
            denom = (w[yj[labelled]].sum() if w is not None else labelled.sum()).clamp(min=1)
            loss = loss_sum / denom
            total = total + loss
            parts[h] = float(loss.detach())
        return total / len(self.heads), parts


# ---------------------------------------------------------------------------------------------- metrics
def head_metrics(confusion: torch.Tensor, top5_correct: int, k: int) -> dict[str, Any]:
    """top-1, top-k and macro-F1 (over classes present in truth or prediction) from a confusion matrix."""
    from ..analysis.metrics import confusion_scores

    s = confusion_scores(confusion.numpy())
    n = float(s["support"].sum())
    return {
        "n": int(n),
        "top1": float(s["tp"].sum() / n) if n else float("nan"),
        f"top{k}": float(top5_correct / n) if n else float("nan"),
        "macro_f1": s["macro_f1"],
        "chance": 1.0 / confusion.shape[0],
        "majority": float(s["support"].max() / n) if n else float("nan"),
    }


# ---------------------------------------------------------------------------------------------- epochs
@dataclass
class ClassifierTask(Task):
    """The classifier in the training loop: masked multi-head cross-entropy; the epoch with the best mean
    top-1 on the comparison set (val, or the carved-out selection set) is released."""

    run: C.Run
    model: nn.Module
    criterion: MaskedMultiHeadLoss
    heads: dict[str, list[str]]
    choose_loader: DataLoader
    scheduler: torch.optim.lr_scheduler.LRScheduler
    save: Callable[[nn.Module, dict[str, Any]], None]
    title: str
    on_selection: bool = False

    name = "classifier"
    initial_best = {"mean_top1": -1.0}  # noqa: RUF012 (copied by the loop, never changed)

    def loss(self, output: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        return self.criterion(output, target)[0]

    def step_record(self) -> dict[str, Any]:
        return {"lr": self.scheduler.get_last_lr()[0]}

    def evaluate(self) -> dict[str, Any]:
        model = C.unwrap(self.model)
        metrics = evaluate(
            model, self.choose_loader, self.heads, env=self.run.env, precision=self.run.precision
        )
        return {**metrics, "evaluated_on": "selection"} if self.on_selection else metrics

    def keep(self, metrics: dict[str, Any], best: dict[str, Any], epoch: int) -> dict[str, Any] | None:
        if metrics["mean_top1"] > best["mean_top1"]:
            return {"mean_top1": metrics["mean_top1"], "epoch": epoch, "val": metrics["val"]}
        return None

    def release(self, best: dict[str, Any]) -> None:
        self.save(C.unwrap(self.model), best)

    def epoch_line(self, record: dict[str, Any], epochs: int) -> str:
        return _epoch_line(record, epochs)

    def curves_title(self) -> str:
        return self.title


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    heads: dict[str, list[str]],
    *,
    env: C.DistEnv,
    precision: str,
    flip: bool = False,
) -> dict[str, Any]:
    """Per-head top-1/top-5/macro-F1 and the masked validation loss, summed over ranks.

    ``flip``: test-time augmentation, the mean of the logits of each image and its mirror image.
    """
    model.eval()
    names = list(heads)
    conf = {h: torch.zeros(len(c), len(c), dtype=torch.int64) for h, c in heads.items()}
    top5 = torch.zeros(len(names), dtype=torch.int64)
    loss_sum = torch.zeros(len(names), dtype=torch.float64)
    for x, y in loader:
        x = x.to(env.device).contiguous(memory_format=torch.channels_last)
        with C.autocast(precision, env.device):
            logits = model(x)
            if flip:
                mirrored = model(torch.flip(x, dims=[3]))
                logits = {h: (logits[h].float() + mirrored[h].float()) / 2 for h in logits}
        for j, h in enumerate(names):
            yj = y[:, j]
            m = yj >= 0
            if not m.any():
                continue
            lg = logits[h].float().cpu()[m]
            t = yj[m]
            pred = lg.argmax(1)
            conf[h] += torch.bincount(t * len(heads[h]) + pred, minlength=len(heads[h]) ** 2).view(
                len(heads[h]), len(heads[h])
            )
            k = min(5, lg.shape[1])
            top5[j] += (lg.topk(k, dim=1).indices == t[:, None]).any(1).sum()
            loss_sum[j] += F.cross_entropy(lg, t, reduction="sum").double()
    out: dict[str, Any] = {}
    top5 = C.all_reduce_sum(top5, env)
    loss_sum = C.all_reduce_sum(loss_sum, env)
    losses = []
    for j, h in enumerate(names):
        cm = C.all_reduce_sum(conf[h], env)
        out[h] = head_metrics(cm, int(top5[j]), 5)
        if out[h]["n"]:
            losses.append(float(loss_sum[j]) / out[h]["n"])
    top1s = [out[h]["top1"] for h in names if out[h]["n"]]
    return {
        "val": out,
        "val_loss": float(np.mean(losses)) if losses else float("nan"),
        "mean_top1": float(np.mean(top1s)) if top1s else float("nan"),
    }


# ------------------------------------------------------------------------------------------------ train
def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train a classifier as ``args`` say; returns a summary (best metrics, epochs, time, images/s, out)."""
    # ============ setting up ... ============
    attributes = [a.strip() for a in args.attributes.split(",") if a.strip()]
    invalid = args.batch_size < 1 or args.accum_steps < 1 or args.epochs < 1
    run = C.start_run(
        args, "classifier", invalid="--batch-size, --accum-steps and --epochs must be >= 1" if invalid else ""
    )
    env, precision, out, t_start = run.env, run.precision, run.out, run.t_start

    # ============ preparing data ... ============
    root, catalog = load_collection(args.collection)
    split = subsample(
        split_catalog(catalog, attributes, holdout=args.holdout, seed=args.seed),
        args.max_train,
        args.max_val,
        args.seed,
    )
    selection = None
    if args.selection_size:
        split, sel_rows, y_sel = carve_selection(split, args.selection_size, args.seed)
        selection = (sel_rows, y_sel)
    heads = split.heads
    from ..nets.registry import model_info

    info = model_info(args.arch)
    train_tf, eval_tf = classifier_transforms(
        args.img_size,
        info["mean"],
        info["std"],
        min_scale=args.min_scale,
        color_jitter=args.color_jitter,
        crop_pct=args.crop_pct,
    )
    load_size = load_size_for(args.img_size)
    train_ds = CatalogImages(
        root,
        split.train,
        labels=split.y_train,
        load_size=load_size,
        transform=train_tf,
        cache=args.cache_images,
    )
    val_ds = CatalogImages(
        root, split.val, labels=split.y_val, load_size=load_size, transform=eval_tf, cache=args.cache_images
    )
    weights = None
    if args.balanced_sampling:
        if args.balanced_sampling not in heads:
            raise ArtExtractError(
                f"--balanced-sampling {args.balanced_sampling!r}: not a head; heads: {', '.join(heads)}"
            )
        weights = balanced_sample_weights(split.y_train[:, list(heads).index(args.balanced_sampling)])
    train_sampler = ShardSampler(
        len(train_ds),
        num_replicas=env.world_size,
        rank=env.rank,
        shuffle=True,
        seed=args.seed,
        weights=weights,
    )
    val_sampler = ShardSampler(
        len(val_ds), num_replicas=env.world_size, rank=env.rank, shuffle=False, pad=False
    )
    if args.cache_images:
        t0 = C.now()
        train_ds.preload(workers=max(2, args.workers))
        val_ds.preload(workers=max(2, args.workers), indices=list(val_sampler))
        C.say(env, f"cached {len(train_ds)} train + {len(val_sampler)} val images in {C.now() - t0:.1f}s")
    loader_kw = C.loader_kwargs(args, env)
    train_loader = C.train_loader(train_ds, train_sampler, args, env)
    val_loader = DataLoader(val_ds, batch_size=args.batch_size * 2, sampler=val_sampler, **loader_kw)
    choose_loader = val_loader  # what epochs are compared on
    if selection is not None:
        sel_ds = CatalogImages(
            root, selection[0], labels=selection[1], load_size=load_size, transform=eval_tf,
            cache=args.cache_images,
        )  # fmt: skip
        sel_sampler = ShardSampler(
            len(sel_ds), num_replicas=env.world_size, rank=env.rank, shuffle=False, pad=False
        )
        if args.cache_images:
            sel_ds.preload(workers=max(2, args.workers), indices=list(sel_sampler))
        choose_loader = DataLoader(sel_ds, batch_size=args.batch_size * 2, sampler=sel_sampler, **loader_kw)
    C.say(
        env,
        f"data: {len(train_ds)} train / {len(val_ds)} val paintings from {root} (val = {split.val_source}"
        + (f"; {len(selection[0])} train paintings carved out for selection" if selection is not None else "")
        + "); "
        + ", ".join(f"{h} {len(c)} classes" for h, c in heads.items()),
    )

    # ============ building the network ... ============
    kwargs = arch_kwargs(args)
    model = new_model(args, {h: len(c) for h, c in heads.items()}, run)
    model = C.distribute(model.to(env.device, memory_format=torch.channels_last), env)
    n_params = sum(p.numel() for p in C.unwrap(model).parameters())
    C.say(
        env,
        f"model: {args.arch} {kwargs or ''} {n_params / 1e6:.2f}M params; precision {precision}; {env.world_size} process(es) on {env.device.type}",
    )

    # ============ preparing loss ... ============
    cw = {
        h: class_weights(split.y_train[:, j], len(c), args.class_weighting)
        for j, (h, c) in enumerate(heads.items())
    }
    criterion = MaskedMultiHeadLoss(list(heads), label_smoothing=args.label_smoothing, weights=cw).to(
        env.device
    )

    # ============ preparing optimizer and schedule ... ============
    opt = C.optimisation(C.unwrap(model), train_loader, run)

    # ============ training (resumed when OUT holds a training state) ... ============
    def save(weights: nn.Module, best: dict[str, Any]) -> None:
        _save_release(out, weights, args, heads, info, split, root, best, precision, env)

    task = ClassifierTask(
        run, model, criterion, heads, choose_loader, opt.scheduler, save, title=f"{args.arch} on {root.name}",
        on_selection=selection is not None,
    )  # fmt: skip
    loop = Loop(
        task,
        run,
        model=model,
        loader=train_loader,
        sampler=train_sampler,
        opt=opt,
        strict_keys=STRICT_RESUME_KEYS,
    )
    history = loop.fit()
    best = loop.best

    # ============ report: the chosen weights, once, on val ============
    if selection is not None:  # every rank evaluates its shard of val; rank 0 writes
        from ..nets.checkpoint import load_checkpoint

        chosen, _ = load_checkpoint(out)
        report = evaluate(chosen.to(env.device), val_loader, heads, env=env, precision=precision)
        best = {**best, "selection": best["val"], "val": report["val"], "mean_top1": report["mean_top1"]}
        if args.report_flip:  # the same weights with test-time flips, reported beside (not instead)
            flipped = evaluate(chosen, val_loader, heads, env=env, precision=precision, flip=True)
            best["val_flip"] = flipped["val"]
            C.say(env, "reported on val with test-time flips: " + ", ".join(
                f"{h} top-1 {m['top1']:.3f} macro-F1 {m['macro_f1']:.3f}" for h, m in flipped["val"].items()
            ))  # fmt: skip
        best["wall_s"] = round(C.now() - t_start, 1)
        if env.is_main:
            _save_release(out, chosen, args, heads, info, split, root, best, precision, env)
        C.say(env, "reported on val: " + ", ".join(
            f"{h} top-1 {m['top1']:.3f} macro-F1 {m['macro_f1']:.3f}" for h, m in report["val"].items()
        ))  # fmt: skip
    else:  # the whole run's wall time on the card
        C.stamp_card(run)
    C.barrier(env)

    # ============ done ============
    summary = C.run_summary(
        args, env, out, history, t_start, precision, params=n_params, best=best,
        heads={h: len(c) for h, c in heads.items()}, n_train=len(train_ds), n_val=len(val_ds),
        val_source=split.val_source,
    )  # fmt: skip
    C.say(
        env,
        f"best mean val top-1 {best['mean_top1']:.3f} (epoch {best.get('epoch', -1) + 1}); saved to {out}",
    )
    return summary


def _save_release(
    out: Path,
    model: nn.Module,
    args: argparse.Namespace,
    heads: dict[str, list[str]],
    info: dict[str, Any],
    split: Any,
    root: Path,
    best: dict[str, Any],
    precision: str,
    env: C.DistEnv,
) -> None:
    from ..catalog import catalog_path
    from ..nets.checkpoint import save_checkpoint

    card = {
        "arch": args.arch,
        "arch_kwargs": arch_kwargs(args),
        "heads": heads,
        "kind": "classifier",
        "input_size": args.img_size,
        "load_size": load_size_for(args.img_size),  # shrunk to before the eval resize (infer repeats it)
        "crop_pct": args.crop_pct,
        "mean": info["mean"],
        "std": info["std"],
        "metrics": {"epoch": best["epoch"] + 1, "mean_top1": best["mean_top1"], **best["val"]},
        **({"metrics_flip": best["val_flip"]} if "val_flip" in best else {}),
        "selected_on": (
            f"{args.selection_size} train paintings carved out (seeded); val reported once, at the end"
            if args.selection_size
            else "val (no selection set: these val figures chose the epoch)"
        ),
        "train_data": {
            "collection": str(root),
            "catalog_sha256": sha256_file(catalog_path(root)),
            "n_train": len(split.train),
            "n_selection": int(args.selection_size or 0),
            "n_val": len(split.val),
            "val": split.val_source,
        },
        "training": {
            "trainer": "artextract.train classifier",
            "epochs_planned": args.epochs,
            "time_budget_min": args.time_budget or None,
            "precision": precision,
            "world_size": env.world_size,
            "preset": args.preset,
            "command": "python -m artextract.train classifier " + " ".join(getattr(args, "argv", []) or []),
            "wall_s": best.get("wall_s"),
        },
    }
    if best.get("selection") is not None:
        card["selection_metrics"] = best["selection"]
    save_checkpoint(out, model, card)


def _epoch_line(r: dict[str, Any], epochs: int) -> str:
    heads = ", ".join(f"{h} {m['top1']:.3f}/{m['macro_f1']:.3f}" for h, m in r["val"].items())
    return (
        f"epoch {r['epoch'] + 1}/{epochs}: loss {r['train_loss']:.3f}, val top1/macroF1 {heads}; "
        f"{r['images_per_s']:.0f} img/s, {r['train_time']:.1f}s"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    train(args)
    return 0
