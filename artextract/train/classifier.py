"""Multi-attribute classifier training: one backbone, one head per attribute (style, artist, genre).

    python -m artextract.train classifier --collection data/demo --preset demo
    torchrun --nproc_per_node=4 -m artextract.train classifier --collection data/wikiart --arch rla_resnet50

A painting without a label for an attribute is masked out of that head's loss and metrics. Per epoch
and per head the validation top-1, top-5 and macro-F1 go to ``log.jsonl`` and ``curves.png``; the
weights with the best mean validation top-1 are released as ``model.safetensors`` + ``card.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
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
    # 2-core CPU in about an hour (bf16 autocast where the CPU has it); checkpoints chosen on 500 train
    # paintings carved out as a selection set, so the val split is only ever reported on
    "wikiart": {
        "arch": "rla_mobilenetv2",
        "init": "imagenet",
        "img_size": 128,
        "epochs": 8,
        "batch_size": 64,
        "lr": 1e-3,
        "weight_decay": 0.05,
        "warmup_epochs": 0.5,
        "min_scale": 0.35,
        "drop_rate": 0.2,
        "cache_images": True,
        "workers": 0,
        "label_smoothing": 0.1,
        "selection_size": 500,
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
def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        "artextract.train classifier",
        description="Train a multi-attribute (style/artist/genre) classifier on a catalog.",
        add_help=add_help,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="set defaults for a scenario (explicit flags still win): demo = tiny RLA-ResNet at 112 px, "
        "~2-3 min on 2 CPU cores; full = RLA-ResNet-50 at 224 px for a GPU",
    )

    g = p.add_argument_group("data")
    g.add_argument(
        "--collection", type=Path, default=collection_dir("demo"), help="collection folder with catalog.csv"
    )
    g.add_argument(
        "--attributes",
        default="style,artist,genre",
        help="comma-separated attributes to predict; an attribute with < 2 train classes gets no head",
    )
    g.add_argument(
        "--img-size", type=int, default=224, help="training/eval crop size; 96-128 is enough for the demo"
    )
    g.add_argument(
        "--crop-pct",
        type=float,
        default=1.0,
        help="eval: shorter side -> img_size/crop_pct, then centre crop (1.0 keeps the whole composition)",
    )
    g.add_argument(
        "--min-scale",
        type=float,
        default=0.35,
        help="smallest crop area of RandomResizedCrop; lower = stronger augmentation but loses composition (genre)",
    )
    g.add_argument(
        "--color-jitter",
        type=float,
        default=0.0,
        help="colour jitter strength; 0 by default because palette is evidence of the artist",
    )
    g.add_argument(
        "--cache-images",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="keep decoded, shrunk images in RAM (img_size*1.15 px): fast for small collections, ~40 KB each",
    )
    g.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="DataLoader worker processes per rank (0 = in the main process)",
    )
    g.add_argument(
        "--max-train", type=int, default=0, help="train on a seeded random subset of N paintings (0 = all)"
    )
    g.add_argument(
        "--max-val", type=int, default=0, help="evaluate on a seeded random subset of N paintings (0 = all)"
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

    g = p.add_argument_group("model")
    g.add_argument(
        "--arch", default="rla_resnet50", help="registered architecture (artextract models lists them)"
    )
    g.add_argument(
        "--width", type=int, help="base width (default: the architecture's; 64 for the paper models)"
    )
    g.add_argument("--rla-channels", type=int, help="RLA state channels k (paper: 32); RLA models only")
    g.add_argument("--rla-type", choices=["rla", "gru", "lstm"], help="RLA recurrent cell; RLA models only")
    g.add_argument("--attention", choices=["se", "eca"], help="channel attention inside each block")
    g.add_argument("--drop-rate", type=float, default=0.0, help="dropout before the heads")
    g.add_argument(
        "--init",
        choices=["random", "imagenet"],
        default="random",
        help="'imagenet': start the backbone from ImageNet ResNet weights (torchvision's, downloaded or from "
        "the hub cache, or the file given by --imagenet-weights); RLA layers and heads start fresh",
    )
    g.add_argument(
        "--imagenet-weights",
        "--imagenet-init",
        dest="imagenet_init",
        help="ImageNet weights for --init imagenet: 'torchvision' (default) or a local state-dict file "
        "(.pth, loaded with weights_only, or .safetensors); giving a file implies --init imagenet",
    )

    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=30)
    g.add_argument("--batch-size", type=int, default=64, help="images per step per process")
    g.add_argument(
        "--accum-steps",
        type=int,
        default=1,
        help="gradient accumulation: effective batch = batch_size x accum_steps x processes",
    )
    g.add_argument(
        "--lr",
        type=float,
        default=1e-3,
        help="peak AdamW learning rate for the effective batch; scale roughly linearly when changing it",
    )
    g.add_argument(
        "--weight-decay", type=float, default=0.05, help="AdamW decoupled weight decay (not on norms/biases)"
    )
    g.add_argument("--warmup-epochs", type=float, default=2.0, help="linear warm-up before the cosine decay")
    g.add_argument("--min-lr-factor", type=float, default=0.01, help="final LR as a fraction of the peak")
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
    g.add_argument("--clip-grad", type=float, default=0.0, help="clip the gradient norm (0 = off)")
    g.add_argument(
        "--time-budget",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="wall-clock budget for this process: after each of its first two epochs, --epochs is cut to "
        "what fits and the cosine schedule re-planned to end there (0 = no budget)",
    )

    C.add_run_args(p, "classifier")
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    import sys

    args = C.parse_with_presets(get_args_parser(), PRESETS, argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def default_out(kind: str, collection: Path) -> Path:
    from ..config import models_dir

    name = Path(collection).resolve().name
    return models_dir() / f"{kind}-{name}"


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
    cm = confusion.double()
    n = float(cm.sum())
    tp = cm.diag()
    support, predicted = cm.sum(1), cm.sum(0)
    present = (support + predicted) > 0
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    f1 = torch.where(
        precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), 0 * tp
    )
    return {
        "n": int(n),
        "top1": float(tp.sum() / n) if n else float("nan"),
        f"top{k}": float(top5_correct / n) if n else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "chance": 1.0 / cm.shape[0],
        "majority": float(support.max() / n) if n else float("nan"),
    }


# ---------------------------------------------------------------------------------------------- epochs
def train_one_epoch(
    model: nn.Module,
    criterion: MaskedMultiHeadLoss,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    *,
    epoch: int,
    start_step: int,
    steps_per_epoch: int,
    env: C.DistEnv,
    args: argparse.Namespace,
    precision: str,
    on_step: Any,
) -> dict[str, float]:
    """One pass over this rank's shard; ``on_step(step)`` runs after each optimiser step (saving, logging)."""
    model.train()
    meter = C.Meter()
    images = 0
    t0 = C.now()
    step = start_step
    accum = args.accum_steps
    batches = C.progress(
        loader, enabled=args.progress and env.is_main, desc=f"epoch {epoch + 1}/{args.epochs}"
    )
    micro = 0
    optimizer.zero_grad(set_to_none=True)
    n_batches = len(loader)
    for i, (x, y) in enumerate(batches):
        x = x.to(env.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        y = y.to(env.device, non_blocking=True)
        last_micro = (micro + 1 == accum) or (i + 1 == n_batches)
        sync = model.no_sync() if (env.distributed and not last_micro) else contextlib.nullcontext()
        with sync:
            with C.autocast(precision, env.device):
                logits = model(x)
            loss, _ = criterion(logits, y)
            scaler.scale(loss / accum).backward()
        micro += 1
        meter.update(float(loss.detach()), len(x))
        images += len(x)
        if not last_micro:
            continue
        if args.clip_grad > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        micro = 0
        step += 1
        if not np.isfinite(float(loss.detach())):
            raise ArtExtractError(
                f"training diverged at epoch {epoch + 1} step {step} (loss {float(loss)}); lower --lr"
            )
        on_step(step, float(loss.detach()))
    elapsed = C.now() - t0
    total_images = float(C.all_reduce_sum(torch.tensor([float(images)]), env)[0])
    return {
        "train_loss": meter.global_avg(env),
        "train_time": elapsed,
        "images_per_s": total_images / max(elapsed, 1e-9),
    }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    heads: dict[str, list[str]],
    *,
    env: C.DistEnv,
    precision: str,
) -> dict[str, Any]:
    """Per-head top-1/top-5/macro-F1 and the masked validation loss, summed over ranks."""
    model.eval()
    names = list(heads)
    conf = {h: torch.zeros(len(c), len(c), dtype=torch.int64) for h, c in heads.items()}
    top5 = torch.zeros(len(names), dtype=torch.int64)
    loss_sum = torch.zeros(len(names), dtype=torch.float64)
    for x, y in loader:
        x = x.to(env.device).contiguous(memory_format=torch.channels_last)
        with C.autocast(precision, env.device):
            logits = model(x)
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
    env = C.init_distributed(args.device)
    torch.set_flush_denormal(True)  # denormals in late training make CPU kernels many times slower
    precision = C.resolve_train_precision(args.precision, env.device)
    out = Path(args.out) if args.out else default_out("classifier", args.collection)
    attributes = [a.strip() for a in args.attributes.split(",") if a.strip()]
    if args.batch_size < 1 or args.accum_steps < 1 or args.epochs < 1:
        raise ArtExtractError("--batch-size, --accum-steps and --epochs must be >= 1")
    state = C.prepare_out(out, args, env)
    C.seed_everything(args.seed + env.rank)
    t_start = C.now()

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
    load_size = round(args.img_size * 1.15)
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
    loader_kw = {
        "num_workers": args.workers,
        "pin_memory": env.device.type == "cuda",
        "persistent_workers": args.workers > 0,
    }
    # a 1-image last batch breaks BatchNorm on small final feature maps: drop it when it would occur
    drop_last = train_sampler.per_rank() % args.batch_size == 1
    train_loader = DataLoader(
        train_ds, batch_size=args.batch_size, sampler=train_sampler, drop_last=drop_last, **loader_kw
    )
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
    model = build_model(args.arch, heads={h: len(c) for h, c in heads.items()}, **kwargs)
    imagenet = args.imagenet_init or ("torchvision" if args.init == "imagenet" else None)
    if imagenet and state is None:
        from ..nets.checkpoint import init_from_imagenet

        report = init_from_imagenet(model, None if imagenet == "torchvision" else imagenet)
        C.say(env, report["summary"])
    model = model.to(env.device, memory_format=torch.channels_last)
    if env.distributed:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[env.local_rank] if env.device.type == "cuda" else None
        )
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
    steps_per_epoch = -(-len(train_loader) // args.accum_steps)
    total_steps = steps_per_epoch * args.epochs
    optimizer = torch.optim.AdamW(
        C.param_groups(C.unwrap(model), args.weight_decay), lr=args.lr, betas=(0.9, 0.999)
    )
    plan = C.warmup_cosine(total_steps, round(args.warmup_epochs * steps_per_epoch), args.min_lr_factor)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plan)
    scaler = C.make_scaler(precision, env.device)

    # ============ optionally resume training ... ============
    start_epoch, start_step, best = 0, 0, {"mean_top1": -1.0}
    log = C.JsonlLog(out / C.LOG_NAME, enabled=env.is_main)
    objects = {"model": C.unwrap(model), "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}
    if state is not None:
        start_epoch, start_step, best = C.resume(
            state,
            env=env,
            log=log,
            out=out,
            steps_per_epoch=steps_per_epoch,
            strict_keys=STRICT_RESUME_KEYS,
            args=args,
            **objects,
        )
    if env.is_main:
        C.write_args_yaml(out, args, {"precision": precision, "world_size": env.world_size, "out": str(out)})

    def snapshot(epoch: int, step: int) -> dict[str, Any]:
        return C.train_state("classifier", args, env, epoch=epoch, step=step, best=best, **objects)

    # ============ training ... ============
    history: list[dict[str, Any]] = []
    epochs = -(-plan.total_steps // steps_per_epoch)  # a resumed run keeps its re-planned schedule
    epoch = start_epoch
    while epoch < epochs:
        t_epoch = C.now()
        first = epoch == start_epoch
        train_sampler.set_epoch(
            epoch, start=(start_step * args.accum_steps * args.batch_size) if first else 0
        )
        step0 = start_step if first else 0

        on_step = C.step_hook(
            args, env, log, out, epoch=epoch, steps_per_epoch=steps_per_epoch, snapshot=snapshot,
            extra=lambda: {"lr": scheduler.get_last_lr()[0]},
        )  # fmt: skip

        stats = train_one_epoch(
            model, criterion, train_loader, optimizer, scheduler, scaler,
            epoch=epoch, start_step=step0, steps_per_epoch=steps_per_epoch, env=env, args=args,
            precision=precision, on_step=on_step,
        )  # fmt: skip
        metrics = evaluate(C.unwrap(model), choose_loader, heads, env=env, precision=precision)
        record = {"type": "epoch", "epoch": epoch, "lr": scheduler.get_last_lr()[0], **stats, **metrics}
        if selection is not None:
            record["evaluated_on"] = "selection"
        improved = metrics["mean_top1"] > best["mean_top1"]
        if improved:
            best = {"mean_top1": metrics["mean_top1"], "epoch": epoch, "val": metrics["val"]}
        # the first epoch pays for caching, warm-up and autotuning: plan on it, then again on the second
        if args.time_budget > 0 and epoch + 1 - start_epoch <= 2 and epoch + 1 < args.epochs:
            fit = C.epochs_within_budget(
                args.time_budget * 60, C.now() - t_start, C.now() - t_epoch, epoch + 1, args.epochs, env
            )
            if fit != epochs:
                epochs = fit
                plan.total_steps = steps_per_epoch * epochs
                C.say(env, f"time budget {args.time_budget:g} min: {epochs} epochs fit; schedule re-planned")
        st = snapshot(epoch + 1, 0)
        if env.is_main:
            if improved:
                _save_release(out, C.unwrap(model), args, heads, info, split, root, best, precision, env)
            log.write(record)
            C.save_train_state(out, st)
            C.plot_curves(out / C.LOG_NAME, out / C.CURVES_NAME, title=f"{args.arch} on {root.name}")
        C.barrier(env)
        history.append(record)
        C.say(env, _epoch_line(record, epochs))
        epoch += 1

    # ============ report: the chosen weights, once, on val ============
    if selection is not None:  # every rank evaluates its shard of val; rank 0 writes
        from ..nets.checkpoint import load_checkpoint

        chosen, _ = load_checkpoint(out)
        report = evaluate(chosen.to(env.device), val_loader, heads, env=env, precision=precision)
        best = {**best, "selection": best["val"], "val": report["val"], "mean_top1": report["mean_top1"]}
        best["wall_s"] = round(C.now() - t_start, 1)
        if env.is_main:
            _save_release(out, chosen, args, heads, info, split, root, best, precision, env)
        C.say(env, "reported on val: " + ", ".join(
            f"{h} top-1 {m['top1']:.3f} macro-F1 {m['macro_f1']:.3f}" for h, m in report["val"].items()
        ))  # fmt: skip
    elif env.is_main and (out / "card.json").is_file():  # the whole run's wall time on the card
        import json

        from ..fileio import write_json_atomic

        card = json.loads((out / "card.json").read_text(encoding="utf-8"))
        card["training"]["wall_s"] = round(C.now() - t_start, 1)
        write_json_atomic(out / "card.json", card)
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
        "crop_pct": args.crop_pct,
        "mean": info["mean"],
        "std": info["std"],
        "metrics": {"epoch": best["epoch"] + 1, "mean_top1": best["mean_top1"], **best["val"]},
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
