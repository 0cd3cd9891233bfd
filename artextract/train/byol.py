"""BYOL self-supervised training of an encoder on any catalog (NGA, WikiArt, demo), all rows, no labels.

    python -m artextract.train byol --collection data/demo_reference --preset demo
    torchrun --nproc_per_node=8 -m artextract.train byol --collection data/nga --arch resnet50 --sync-bn

The encoder is exported alone (``model.safetensors`` + ``card.json``, kind ``encoder``). Each epoch,
when the catalog has style/artist/genre values, a k-nearest-neighbour probe measures how well the
embedding groups them (train rows as the bank and val rows as queries, or leave-one-out when there is
no val split). The last epoch is released (``--select last``, the default), or with ``--select probe``
the epoch with the best probe score, whose paintings must then stay out of any report.
The training state holds the online and the EMA target networks, so a resumed run continues exactly.
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

from ..catalog import ATTRIBUTES
from ..config import collection_dir
from ..errors import ArtExtractError
from ..fileio import sha256_file
from . import common as C
from .classifier import arch_kwargs, build_model, default_out
from .data import CatalogImages, ShardSampler, TwoViews, classifier_transforms, encode_labels, load_collection

PRESETS: dict[str, dict[str, Any]] = {
    # ~2 min on 2 CPU cores for the 400-painting demo reference collection at 96 px
    "demo": {
        "arch": "resnet_demo",
        "img_size": 96,
        "epochs": 20,
        "batch_size": 64,
        "lr": 2e-3,
        "weight_decay": 1e-4,
        "warmup_epochs": 2.0,
        "hidden_dim": 512,
        "projection_dim": 128,
        "min_scale": 0.2,
        "cache_images": True,
        "workers": 0,
    },
    # the released encoder: MobileNetV2 from ImageNet weights, BYOL on the real WikiArt train paintings
    # (labels unused; val paintings never seen), a short CPU run; the epoch is chosen by a leave-one-out
    # kNN probe over train paintings, so val stays for the report
    "wikiart": {
        "arch": "mobilenetv2",
        "init": "imagenet",
        "img_size": 128,
        "epochs": 3,
        "batch_size": 64,
        "lr": 3e-4,
        "weight_decay": 1e-6,
        "warmup_epochs": 0.3,
        "hidden_dim": 2048,
        "projection_dim": 256,
        "tau_base": 0.99,
        "min_scale": 0.2,
        "cache_images": True,
        "workers": 0,
        "split": "train",
        "knn_max": 3000,
        "select": "probe",
    },
    # paper-like (ResNet-50 encoder) for a GPU machine
    "full": {
        "arch": "resnet50",
        "img_size": 224,
        "epochs": 100,
        "batch_size": 128,
        "lr": 2e-3,
        "weight_decay": 1e-6,
        "warmup_epochs": 10.0,
        "hidden_dim": 4096,
        "projection_dim": 256,
        "min_scale": 0.08,
        "workers": 8,
    },
}


#: settings a resumed run must share with the saved one
STRICT_RESUME_KEYS = (
    "arch",
    "split",
    "img_size",
    "batch_size",
    "accum_steps",
    "epochs",
    "seed",
    "collection",
    "hidden_dim",
)


# --------------------------------------------------------------------------------------------- arguments
def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        "artextract.train byol",
        description="Train a BYOL encoder (self-supervised) on every painting of a catalog.",
        add_help=add_help,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="set defaults for a scenario (explicit flags still win): demo = tiny ResNet at 96 px, "
        "~2 min on 2 CPU cores; full = ResNet-50 at 224 px for a GPU",
    )

    g = p.add_argument_group("data")
    g.add_argument(
        "--collection",
        type=Path,
        default=collection_dir("demo_reference"),
        help="collection folder with catalog.csv",
    )
    g.add_argument("--img-size", type=int, default=224, help="view size; 96-128 is enough for the demo")
    g.add_argument(
        "--min-scale",
        type=float,
        default=0.08,
        help="smallest crop area of the views (paper 0.08); higher keeps more of each composition",
    )
    g.add_argument(
        "--cache-images",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="keep shrunk images in RAM",
    )
    g.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="DataLoader worker processes per rank",
    )
    g.add_argument(
        "--split",
        choices=["all", "train"],
        default="all",
        help="paintings to learn from: every row, or the train rows only (keeps val unseen for the report)",
    )
    g.add_argument(
        "--knn-k",
        type=int,
        default=10,
        help="neighbours of the per-epoch kNN probe (0 = no probe, keep the last epoch)",
    )
    g.add_argument(
        "--knn-max", type=int, default=5000, help="paintings used by the probe at most (a seeded subset)"
    )
    g.add_argument(
        "--select",
        choices=["last", "probe"],
        default="last",
        help="released epoch: the last one, or the best kNN-probe score (then report on paintings the probe "
        "did not use, e.g. --split train and the val split)",
    )

    g = p.add_argument_group("model")
    g.add_argument("--arch", default="resnet50", help="registered encoder architecture (paper: resnet50)")
    g.add_argument("--width", type=int, help="base width (default: the architecture's)")
    g.add_argument("--rla-channels", type=int, help="RLA state channels (RLA encoders only)")
    g.add_argument(
        "--rla-type", choices=["rla", "gru", "lstm"], help="RLA recurrent cell (RLA encoders only)"
    )
    g.add_argument("--attention", choices=["se", "eca"], help="channel attention inside each block")
    g.add_argument(
        "--projection-dim", type=int, default=256, help="projector/predictor output size (paper: 256)"
    )
    g.add_argument(
        "--hidden-dim", type=int, default=4096, help="projector/predictor hidden size (paper: 4096)"
    )
    g.add_argument(
        "--tau-base", type=float, default=0.996, help="initial EMA rate of the target (cosine to 1)"
    )
    g.add_argument("--sync-bn", action="store_true", help="synchronise BatchNorm across processes (GPU, DDP)")
    g.add_argument(
        "--init",
        choices=["random", "imagenet"],
        default="random",
        help="'imagenet': start the encoder from ImageNet ResNet weights (see --imagenet-weights)",
    )
    g.add_argument(
        "--imagenet-weights",
        "--imagenet-init",
        dest="imagenet_init",
        help="ImageNet weights for --init imagenet: 'torchvision' (default) or a local state-dict file",
    )

    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=100)
    g.add_argument(
        "--batch-size", type=int, default=128, help="images per step per process (each gives 2 views)"
    )
    g.add_argument("--accum-steps", type=int, default=1, help="gradient accumulation steps")
    g.add_argument(
        "--lr",
        type=float,
        default=2e-3,
        help="peak AdamW LR (the paper uses LARS at 0.2 x batch/256; AdamW is stabler at small batch)",
    )
    g.add_argument(
        "--weight-decay", type=float, default=1e-6, help="AdamW decoupled weight decay (not on norms/biases)"
    )
    g.add_argument("--warmup-epochs", type=float, default=10.0, help="linear warm-up before the cosine decay")
    g.add_argument("--min-lr-factor", type=float, default=0.0, help="final LR as a fraction of the peak")
    g.add_argument("--clip-grad", type=float, default=0.0, help="clip the gradient norm (0 = off)")

    C.add_run_args(p, "byol")
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    import sys

    args = C.parse_with_presets(get_args_parser(), PRESETS, argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


# -------------------------------------------------------------------------------------------- kNN probe
def knn_probe(
    feats: torch.Tensor, labels: np.ndarray, is_query: np.ndarray, *, k: int = 10, temperature: float = 0.07
) -> dict[str, float]:
    """Weighted kNN top-1 accuracy of one attribute (DINO's probe): ``labels`` -1 = unknown.

    Queries are rows with ``is_query`` (all rows, leave-one-out, when none are marked); the bank is the
    other labelled rows. Returns accuracy, n and the majority-class rate of the queries.
    """
    f = F.normalize(feats.float(), dim=1)
    lab = torch.as_tensor(labels)
    q_mask = torch.as_tensor(is_query) & (lab >= 0)
    loo = not bool(torch.as_tensor(is_query).any())
    if loo:
        q_mask = lab >= 0
    bank_mask = (lab >= 0) if loo else ((lab >= 0) & ~torch.as_tensor(is_query))
    qi, bi = q_mask.nonzero()[:, 0], bank_mask.nonzero()[:, 0]
    if len(qi) == 0 or len(bi) < 2:
        return {"top1": float("nan"), "n": 0, "majority": float("nan")}
    sims = f[qi] @ f[bi].T
    if loo:  # a painting is not its own neighbour
        sims[qi[:, None] == bi[None, :]] = -2.0
    kk = min(k, len(bi) - int(loo))
    top, idx = sims.topk(kk, dim=1)
    num_classes = int(lab.max()) + 1
    votes = torch.zeros(len(qi), num_classes)
    votes.scatter_add_(1, lab[bi][idx], (top / temperature).exp())
    pred = votes.argmax(1)
    truth = lab[qi]
    return {
        "top1": float((pred == truth).float().mean()),
        "n": len(qi),
        "majority": float(torch.bincount(truth).max() / len(truth)),
    }


@torch.no_grad()
def embed(
    encoder: nn.Module, loader: DataLoader, env: C.DistEnv, precision: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings of this rank's shard, gathered from all ranks, with their dataset indices."""
    encoder.eval()
    feats, idx = [], []
    for x, i in loader:
        with C.autocast(precision, env.device):
            f = encoder.forward_features(x.to(env.device).contiguous(memory_format=torch.channels_last))
        feats.append(f.float().cpu())
        idx.append(i)
    f = torch.cat(feats) if feats else torch.zeros(0, getattr(encoder, "num_features", 1))
    i = torch.cat(idx) if idx else torch.zeros(0, dtype=torch.int64)
    return C.all_gather_rows(f, env), C.all_gather_rows(i, env)


class _Indexed(torch.utils.data.Dataset):
    """Yields (eval image, dataset index) for the probe."""

    def __init__(self, ds: CatalogImages, transform: Any) -> None:
        self.ds, self.transform = ds, transform

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.ds.image(i)), i


# ---------------------------------------------------------------------------------------------- epochs
def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    *,
    epoch: int,
    start_step: int,
    total_steps: int,
    steps_per_epoch: int,
    env: C.DistEnv,
    args: argparse.Namespace,
    precision: str,
    on_step: Any,
) -> dict[str, float]:
    """One BYOL pass: symmetric loss, optimiser step, then the EMA update of the target."""
    model.train()
    byol = C.unwrap(model)
    meter = C.Meter()
    images, micro, step = 0, 0, start_step
    t0 = C.now()
    n_batches = len(loader)
    optimizer.zero_grad(set_to_none=True)
    batches = C.progress(
        loader, enabled=args.progress and env.is_main, desc=f"epoch {epoch + 1}/{args.epochs}"
    )
    for i, ((v1, v2), _) in enumerate(batches):
        v1 = v1.to(env.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        v2 = v2.to(env.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        last_micro = (micro + 1 == args.accum_steps) or (i + 1 == n_batches)
        sync = model.no_sync() if (env.distributed and not last_micro) else contextlib.nullcontext()
        with sync:
            with C.autocast(precision, env.device):
                loss = model(v1, v2)
            scaler.scale(loss / args.accum_steps).backward()
        micro += 1
        meter.update(float(loss.detach()), len(v1))
        images += len(v1)
        if not last_micro:
            continue
        if args.clip_grad > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(byol.online_parameters(), args.clip_grad)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        micro = 0
        step += 1
        byol.update_target(epoch * steps_per_epoch + step, total_steps)
        if not np.isfinite(float(loss.detach())):
            raise ArtExtractError(f"BYOL diverged at epoch {epoch + 1} step {step}; lower --lr")
        on_step(step, float(loss.detach()))
    elapsed = C.now() - t0
    total_images = float(C.all_reduce_sum(torch.tensor([float(images)]), env)[0])
    return {
        "train_loss": meter.global_avg(env),
        "train_time": elapsed,
        "images_per_s": total_images / max(elapsed, 1e-9),
    }


def evaluate(
    encoder: nn.Module, loader: DataLoader | None, probe_labels: dict[str, np.ndarray], is_query: np.ndarray,
    *, k: int, env: C.DistEnv, precision: str,
) -> dict[str, Any]:  # fmt: skip
    """kNN probe per attribute; ``score`` = mean top-1 over attributes (NaN without labels)."""
    if loader is None or not probe_labels:
        return {"val": {}, "score": float("nan")}
    feats, idx = embed(encoder, loader, env, precision)
    order = torch.argsort(idx)
    feats, idx = feats[order], idx[order].numpy()
    out = {a: knn_probe(feats, y[idx], is_query[idx], k=k) for a, y in probe_labels.items()}
    scores = [m["top1"] for m in out.values() if m["n"]]
    return {"val": out, "score": float(np.mean(scores)) if scores else float("nan")}


# ------------------------------------------------------------------------------------------------ train
def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train BYOL as ``args`` say; returns a summary (probe scores, epochs, time, images/s, out)."""
    # ============ setting up ... ============
    env = C.init_distributed(args.device)
    torch.set_flush_denormal(True)  # denormals make CPU kernels many times slower
    precision = C.resolve_train_precision(args.precision, env.device)
    out = Path(args.out) if args.out else default_out("byol", args.collection)
    if args.batch_size < 2 or args.accum_steps < 1 or args.epochs < 1:
        raise ArtExtractError(
            "--batch-size must be >= 2 (BatchNorm in the projector), --epochs and --accum-steps >= 1"
        )
    state = C.prepare_out(out, args, env)
    C.seed_everything(args.seed + env.rank)
    t_start = C.now()

    # ============ preparing data ... ============
    from ..nets.byol import BYOL, byol_augmentations
    from ..nets.registry import model_info

    root, catalog = load_collection(args.collection)
    if args.split == "train":
        catalog = catalog[catalog["split"] == "train"].reset_index(drop=True)
        if catalog.empty:
            raise ArtExtractError(f"--split train: {root} has no train rows")
    info = model_info(args.arch)
    aug1, aug2 = byol_augmentations(
        args.img_size, mean=tuple(info["mean"]), std=tuple(info["std"]), min_scale=args.min_scale
    )
    load_size = round(args.img_size * 1.15)
    ds = CatalogImages(
        root,
        catalog,
        labels=None,
        load_size=load_size,
        transform=TwoViews(aug1, aug2),
        cache=args.cache_images,
    )
    if len(ds) < 2 * env.world_size:
        raise ArtExtractError(f"BYOL needs at least {2 * env.world_size} paintings; {root} has {len(ds)}")
    sampler = ShardSampler(len(ds), num_replicas=env.world_size, rank=env.rank, shuffle=True, seed=args.seed)
    # the kNN probe: a seeded subset of up to knn_max paintings, each attribute with >= 2 values
    rng = np.random.default_rng(args.seed)
    probe_rows = np.sort(rng.permutation(len(ds))[: args.knn_max]) if args.knn_k > 0 else np.zeros(0, int)
    probe_labels: dict[str, np.ndarray] = {}
    for attr in ATTRIBUTES:
        vals = sorted(v for v in catalog[attr].unique() if v)
        if len(vals) >= 2 and args.knn_k > 0:
            probe_labels[attr] = encode_labels(catalog, {attr: vals})[:, 0]
    is_query = (catalog["split"] == "val").to_numpy()
    if not ((catalog["split"] == "train").any() and is_query.any()):
        is_query = np.zeros(len(catalog), bool)  # leave-one-out over the probe rows
    _, eval_tf = classifier_transforms(args.img_size, info["mean"], info["std"])
    probe_loader = None
    if probe_labels:
        sub = torch.utils.data.Subset(_Indexed(ds, eval_tf), probe_rows.tolist())
        probe_sampler = ShardSampler(
            len(sub), num_replicas=env.world_size, rank=env.rank, shuffle=False, pad=False
        )
        probe_loader = DataLoader(sub, batch_size=args.batch_size * 2, sampler=probe_sampler, num_workers=0)
    if args.cache_images:
        t0 = C.now()
        ds.preload(workers=max(2, args.workers))
        C.say(env, f"cached {len(ds)} images in {C.now() - t0:.1f}s")
    loader = DataLoader(
        ds,
        batch_size=args.batch_size,
        sampler=sampler,
        drop_last=sampler.per_rank() % args.batch_size
        == 1,  # a 1-image batch breaks the projector's BatchNorm
        num_workers=args.workers,
        pin_memory=env.device.type == "cuda",
        persistent_workers=args.workers > 0,
    )
    probe_desc = ", ".join(probe_labels) or "none (no labels)"
    C.say(
        env,
        f"data: {len(ds)} paintings from {root}; kNN probe on {len(probe_rows) if probe_labels else 0} ({probe_desc})",
    )

    # ============ building the networks ... ============
    kwargs = arch_kwargs(args)
    encoder = build_model(args.arch, heads={}, **kwargs)
    imagenet = args.imagenet_init or ("torchvision" if args.init == "imagenet" else None)
    if imagenet and state is None:
        from ..nets.checkpoint import init_from_imagenet

        C.say(
            env,
            init_from_imagenet(encoder, None if imagenet == "torchvision" else imagenet)["summary"],
        )
    byol = BYOL(
        encoder,
        feature_dim=encoder.num_features,
        projection_dim=args.projection_dim,
        hidden_dim=args.hidden_dim,
        tau_base=args.tau_base,
    )
    if args.sync_bn and env.distributed:
        byol = nn.SyncBatchNorm.convert_sync_batchnorm(byol)
    byol = byol.to(env.device, memory_format=torch.channels_last)
    model: nn.Module = byol
    if env.distributed:
        model = nn.parallel.DistributedDataParallel(
            byol, device_ids=[env.local_rank] if env.device.type == "cuda" else None
        )
    n_params = sum(p.numel() for p in byol.encoder.parameters())
    C.say(
        env,
        f"encoder: {args.arch} {kwargs or ''} {n_params / 1e6:.2f}M params, {encoder.num_features}-d; precision {precision}",
    )

    # ============ preparing optimizer and schedule ... ============
    steps_per_epoch = -(-len(loader) // args.accum_steps)
    total_steps = steps_per_epoch * args.epochs
    online = nn.ModuleList([byol.encoder, byol.projector, byol.predictor])
    optimizer = torch.optim.AdamW(C.param_groups(online, args.weight_decay), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        C.warmup_cosine(total_steps, round(args.warmup_epochs * steps_per_epoch), args.min_lr_factor),
    )
    scaler = C.make_scaler(precision, env.device)

    # ============ optionally resume training ... ============
    start_epoch, start_step, best = 0, 0, {"score": -1.0, "epoch": -1, "val": {}}
    log = C.JsonlLog(out / C.LOG_NAME, enabled=env.is_main)
    objects = {
        "model": byol,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "scaler": scaler,
    }  # online + EMA
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
        byol.current_tau = state.get("tau", byol.current_tau)
    if env.is_main:
        C.write_args_yaml(out, args, {"precision": precision, "world_size": env.world_size, "out": str(out)})

    def snapshot(epoch: int, step: int) -> dict[str, Any]:
        return C.train_state(
            "byol", args, env, epoch=epoch, step=step, best=best, tau=float(byol.current_tau), **objects
        )

    # ============ training ... ============
    history: list[dict[str, Any]] = []
    for epoch in range(start_epoch, args.epochs):
        first = epoch == start_epoch
        step0 = start_step if first else 0
        sampler.set_epoch(epoch, start=step0 * args.accum_steps * args.batch_size)

        on_step = C.step_hook(
            args, env, log, out, epoch=epoch, steps_per_epoch=steps_per_epoch, snapshot=snapshot,
            extra=lambda: {"tau": byol.current_tau},
        )  # fmt: skip

        stats = train_one_epoch(
            model, loader, optimizer, scheduler, scaler, epoch=epoch, start_step=step0, total_steps=total_steps,
            steps_per_epoch=steps_per_epoch, env=env, args=args, precision=precision, on_step=on_step,
        )  # fmt: skip
        metrics = evaluate(
            byol.encoder, probe_loader, probe_labels, is_query, k=args.knn_k, env=env, precision=precision
        )
        record = {
            "type": "epoch",
            "epoch": epoch,
            "lr": scheduler.get_last_lr()[0],
            "tau": byol.current_tau,
            **stats,
            **metrics,
        }
        score = metrics["score"]
        # "probe": the epoch with the best probe score (the probe's rows then chose the model: report on
        # others); "last": the last epoch, the probe only watches
        improved = (score > best["score"]) if (np.isfinite(score) and args.select == "probe") else True
        if improved:
            best = {"score": score if np.isfinite(score) else -1.0, "epoch": epoch, "val": metrics["val"]}
        st = snapshot(epoch + 1, 0)
        if env.is_main:
            if improved:
                _save_release(out, byol.encoder, args, info, root, catalog, best, precision, env)
            log.write(record)
            C.save_train_state(out, st)
            C.plot_curves(out / C.LOG_NAME, out / C.CURVES_NAME, title=f"BYOL {args.arch} on {root.name}")
        C.barrier(env)
        history.append(record)
        probe = ", ".join(
            f"{a} kNN {m['top1']:.3f} (majority {m['majority']:.3f})" for a, m in metrics["val"].items()
        )
        C.say(env, f"epoch {epoch + 1}/{args.epochs}: loss {stats['train_loss']:.4f}, tau {byol.current_tau:.4f}; "
                   f"{probe or 'no probe'}; {stats['images_per_s']:.0f} img/s, {stats['train_time']:.1f}s")  # fmt: skip

    # ============ done ============
    if env.is_main and (out / "card.json").is_file():  # the whole run's wall time and command on the card
        import json

        from ..fileio import write_json_atomic

        card = json.loads((out / "card.json").read_text(encoding="utf-8"))
        card["training"]["wall_s"] = round(C.now() - t_start, 1)
        card["training"]["command"] = "python -m artextract.train byol " + " ".join(getattr(args, "argv", []))
        write_json_atomic(out / "card.json", card)
    summary = C.run_summary(
        args, env, out, history, t_start, precision, params=n_params, best=best, n_images=len(ds)
    )
    C.say(env, f"released epoch {best['epoch'] + 1} encoder (probe score {best['score']:.3f}) to {out}")
    return summary


def _save_release(
    out: Path, encoder: nn.Module, args: argparse.Namespace, info: dict[str, Any], root: Path, catalog: Any,
    best: dict[str, Any], precision: str, env: C.DistEnv,
) -> None:  # fmt: skip
    from ..catalog import catalog_path
    from ..nets.checkpoint import save_checkpoint

    card = {
        "arch": args.arch,
        "arch_kwargs": arch_kwargs(args),
        "heads": {},
        "kind": "encoder",
        "input_size": args.img_size,
        "crop_pct": 1.0,
        "mean": info["mean"],
        "std": info["std"],
        "metrics": {"epoch": best["epoch"] + 1, "knn_score": best["score"], "knn": best["val"]},
        "selected_on": (
            f"best leave-one-out kNN probe over {args.split} paintings (report on others)"
            if args.select == "probe"
            else "last epoch (the probe chose nothing)"
        ),
        "train_data": {
            "collection": str(root),
            "catalog_sha256": sha256_file(catalog_path(root)),
            "n_images": len(catalog),
            "split": args.split,
        },
        "training": {
            "trainer": "artextract.train byol",
            "epochs_planned": args.epochs,
            "precision": precision,
            "world_size": env.world_size,
            "preset": args.preset,
            "projection_dim": args.projection_dim,
            "hidden_dim": args.hidden_dim,
        },
    }
    save_checkpoint(out, encoder, card)


def main(argv: list[str] | None = None) -> int:
    train(parse_args(argv))
    return 0
