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
from collections.abc import Callable
from dataclasses import dataclass
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
from ..images import load_size_for
from ..labels import encode_labels
from . import common as C
from .classifier import arch_kwargs, new_model
from .data import CatalogImages, ShardSampler, TwoViews, classifier_transforms, load_collection
from .loop import AfterStep, Loop, Task

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


#: option help that differs from the other trainers'
HELP = {
    "--preset": "set defaults for a scenario (explicit flags still win): demo = tiny ResNet at 96 px, "
    "~2 min on 2 CPU cores; full = ResNet-50 at 224 px for a GPU",
    "--img-size": "view size; 96-128 is enough for the demo",
    "--min-scale": "smallest crop area of the views (paper 0.08); higher keeps more of each composition",
    "--arch": "registered encoder architecture (paper: resnet50)",
    "--imagenet-weights": "ImageNet weights for --init imagenet: 'torchvision' (default) or a local "
    "state-dict file",
    "--rla-channels": "RLA state channels (RLA encoders only)",
    "--rla-type": "RLA recurrent cell (RLA encoders only)",
    "--init": "'imagenet': start the encoder from ImageNet ResNet weights (see --imagenet-weights)",
    "--batch-size": "images per step per process (each gives 2 views)",
    "--lr": "peak AdamW LR (the paper uses LARS at 0.2 x batch/256; AdamW is stabler at small batch)",
}


DESCRIPTION = "Train a BYOL encoder (self-supervised) on every painting of a catalog."

#: the defaults without a preset
DEFAULTS: dict[str, Any] = {
    "collection": collection_dir("demo_reference"), "min_scale": 0.08, "arch": "resnet50", "epochs": 100,
    "batch_size": 128, "lr": 2e-3, "weight_decay": 1e-6, "warmup_epochs": 10.0, "min_lr_factor": 0.0,
}  # fmt: skip


# --------------------------------------------------------------------------------------------- arguments
def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p, groups = C.trainer_parser("byol", DESCRIPTION, PRESETS, DEFAULTS, HELP, add_help=add_help)

    g = groups["data"]
    g.add_argument(
        "--split", choices=["all", "train"], default="all",
        help="paintings to learn from: every row, or the train rows only (keeps val unseen for the report)",
    )  # fmt: skip
    g.add_argument(
        "--knn-k", type=int, default=10,
        help="neighbours of the per-epoch kNN probe (0 = no probe, keep the last epoch)",
    )  # fmt: skip
    g.add_argument(
        "--knn-max", type=int, default=5000, help="paintings used by the probe at most (a seeded subset)"
    )
    g.add_argument(
        "--select", choices=["last", "probe"], default="last",
        help="released epoch: the last one, or the best kNN-probe score (then report on paintings the probe "
        "did not use, e.g. --split train and the val split)",
    )  # fmt: skip

    g = groups["model"]
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

    C.add_run_args(p, "byol")
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return C.parse_with_presets(get_args_parser(), PRESETS, argv)


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
    from ..analysis.index import cosine_topk

    kk = min(k, len(bi) - int(loo))
    # leave-one-out: the queries are the bank, and a painting is not its own neighbour
    exclude = np.arange(len(qi)) if loo else None
    idx, top = (torch.from_numpy(a) for a in cosine_topk(f[qi].numpy(), f[bi].numpy(), kk, exclude=exclude))
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
@dataclass
class ByolTask(Task):
    """BYOL in the training loop: the model's forward is the symmetric loss of two views; gradients reach
    the online networks only, and the EMA target follows them in an after-step hook (:meth:`ema_hook`).
    Released: the last epoch's encoder, or with ``--select probe`` the best kNN-probe epoch's."""

    run: C.Run
    byol: nn.Module
    probe: Callable[[], dict[str, Any]]
    save: Callable[[dict[str, Any]], None]
    title: str

    name = "byol"
    initial_best = {"score": -1.0, "epoch": -1, "val": {}}  # noqa: RUF012 (copied by the loop, never changed)

    def inputs(self, batch: Any) -> tuple[tuple[torch.Tensor, ...], None]:
        (v1, v2), _ = batch
        return (v1, v2), None

    def clip_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        return self.byol.online_parameters()

    def diverged(self, epoch: int, step: int, loss: float) -> str:
        return f"BYOL diverged at epoch {epoch + 1} step {step}; lower --lr"

    def ema_hook(self, steps_per_epoch: int, total_steps: int) -> AfterStep:
        """After every optimiser step: move the target towards the online networks (cosine tau)."""
        return lambda epoch, step, loss: self.byol.update_target(epoch * steps_per_epoch + step, total_steps)

    def step_record(self) -> dict[str, Any]:
        return {"tau": self.byol.current_tau}

    epoch_fields = step_record

    def evaluate(self) -> dict[str, Any]:
        return self.probe()

    def keep(self, metrics: dict[str, Any], best: dict[str, Any], epoch: int) -> dict[str, Any] | None:
        # "probe": the epoch with the best probe score (the probe's rows then chose the model: report on
        # others); "last": the last epoch, the probe only watches
        score = metrics["score"]
        if np.isfinite(score) and self.run.args.select == "probe" and not score > best["score"]:
            return None
        return {"score": score if np.isfinite(score) else -1.0, "epoch": epoch, "val": metrics["val"]}

    def release(self, best: dict[str, Any]) -> None:
        self.save(best)

    def epoch_line(self, record: dict[str, Any], epochs: int) -> str:
        probe = ", ".join(
            f"{a} kNN {m['top1']:.3f} (majority {m['majority']:.3f})" for a, m in record["val"].items()
        )
        return (
            f"epoch {record['epoch'] + 1}/{self.run.args.epochs}: loss {record['train_loss']:.4f}, "
            f"tau {record['tau']:.4f}; {probe or 'no probe'}; {record['images_per_s']:.0f} img/s, "
            f"{record['train_time']:.1f}s"
        )

    def curves_title(self) -> str:
        return self.title

    def state_fields(self) -> dict[str, Any]:
        return {"tau": float(self.byol.current_tau)}

    def restore(self, state: dict[str, Any]) -> None:
        self.byol.current_tau = state.get("tau", self.byol.current_tau)


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
    invalid = args.batch_size < 2 or args.accum_steps < 1 or args.epochs < 1
    run = C.start_run(
        args, "byol",
        invalid="--batch-size must be >= 2 (BatchNorm in the projector), --epochs and --accum-steps >= 1"
        if invalid else "",
    )  # fmt: skip
    env, precision, out, t_start = run.env, run.precision, run.out, run.t_start

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
    load_size = load_size_for(args.img_size)
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
            probe_labels[attr] = encode_labels(catalog[attr].astype(str), vals)
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
    loader = C.train_loader(ds, sampler, args, env)
    probe_desc = ", ".join(probe_labels) or "none (no labels)"
    C.say(
        env,
        f"data: {len(ds)} paintings from {root}; kNN probe on {len(probe_rows) if probe_labels else 0} ({probe_desc})",
    )

    # ============ building the networks ... ============
    kwargs = arch_kwargs(args)
    encoder = new_model(args, {}, run)
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
    model = C.distribute(byol, env)
    n_params = sum(p.numel() for p in byol.encoder.parameters())
    C.say(
        env,
        f"encoder: {args.arch} {kwargs or ''} {n_params / 1e6:.2f}M params, {encoder.num_features}-d; precision {precision}",
    )

    # ============ preparing optimizer and schedule ... ============
    online = nn.ModuleList([byol.encoder, byol.projector, byol.predictor])
    opt = C.optimisation(online, loader, run)

    # ============ training (resumed when OUT holds a training state) ... ============
    def probe() -> dict[str, Any]:
        return evaluate(
            byol.encoder, probe_loader, probe_labels, is_query, k=args.knn_k, env=env, precision=precision
        )

    def save(best: dict[str, Any]) -> None:
        _save_release(out, byol.encoder, args, info, root, catalog, best, precision, env)

    task = ByolTask(run, byol, probe, save, title=f"BYOL {args.arch} on {root.name}")
    ema = task.ema_hook(opt.steps_per_epoch, opt.steps_per_epoch * args.epochs)
    loop = Loop(
        task, run, model=model, loader=loader, sampler=sampler, opt=opt, strict_keys=STRICT_RESUME_KEYS,
        after_step=[ema],
    )  # fmt: skip
    history = loop.fit()
    best = loop.best

    # ============ done ============
    # the whole run's wall time and command on the card
    C.stamp_card(run, command="python -m artextract.train byol " + " ".join(getattr(args, "argv", [])))
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
        "load_size": load_size_for(args.img_size),  # shrunk to before the eval resize (infer repeats it)
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
