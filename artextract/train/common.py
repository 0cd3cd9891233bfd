"""Plumbing shared by the trainers: distributed set-up, precision, schedules, training state, logs, curves.

- Distributed set-up reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); without it
  training runs as a single process. gloo on CPU, nccl on CUDA. Only rank 0 writes files.
- The training state (``train_state.pt``: model, optimiser, scheduler, scaler, EMA target, epoch, step in
  the epoch, sampler seed, RNG states) is written atomically with ``torch.save`` and read back with
  ``torch.load(weights_only=True)``, so it is either the previous complete state or the new complete one.
- ``log.jsonl`` holds one JSON object per line (``step``, ``epoch``, ``resume`` records); ``curves.png``
  is redrawn from it after every epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from ..errors import ArtExtractError, CheckpointError
from ..fileio import atomic_path, write_text_atomic

STATE_NAME = "train_state.pt"
LOG_NAME = "log.jsonl"
CURVES_NAME = "curves.png"
ARGS_NAME = "args.yaml"


# ------------------------------------------------------------------------------------------- distributed
@dataclass(frozen=True)
class DistEnv:
    """Where this process sits: rank, world size, local rank and the device it trains on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistEnv:
    """Set up the process group from torchrun's variables (single process when they are absent).

    ``device``: ``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda``. CPU threads are split
    between the processes of one machine so N ranks on N cores do not oversubscribe.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ArtExtractError(f"unknown device {device!r}; valid: auto, cpu, cuda")
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise ArtExtractError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
        if world > 1:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(local_world, 1)))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistEnv(rank, world, local_rank, dev)


def cleanup_distributed(ok: bool = True) -> None:
    """Tear the process group down. DDP's reducer sits in reference cycles, so it is collected here,
    while its group is alive (collected at exit, after the group, it aborted a gloo rank at random);
    after a run that went well, every rank is past its last collective before any rank leaves."""
    if dist.is_available() and dist.is_initialized():
        import gc

        gc.collect()
        if ok:
            dist.barrier()
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def all_reduce_sum(t: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum a tensor over ranks (a copy; the input is unchanged)."""
    t = t.detach().clone().to(env.device)
    if env.distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


def all_gather_rows(t: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Concatenate each rank's rows ``[n_r, ...]`` (ranks may hold different counts), in rank order."""
    if not env.distributed:
        return t.cpu()
    t = t.to(env.device)
    n = torch.tensor([t.shape[0]], device=env.device)
    sizes = [torch.zeros_like(n) for _ in range(env.world_size)]
    dist.all_gather(sizes, n)
    sizes_i = [int(s.item()) for s in sizes]
    pad = t.new_zeros((max(sizes_i), *t.shape[1:]))
    pad[: t.shape[0]] = t
    parts = [torch.zeros_like(pad) for _ in range(env.world_size)]
    dist.all_gather(parts, pad)
    return torch.cat([p[:s] for p, s in zip(parts, sizes_i, strict=True)]).cpu()


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return model.module if hasattr(model, "module") else model


# --------------------------------------------------------------------------------------------- precision
def resolve_train_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> bf16 on a CUDA GPU that supports it or a CPU with native bf16 matmul, else fp32.

    ``fp16`` (CUDA only) trains with a gradient scaler; ``bf16`` and ``fp32`` need none.
    """
    valid = ("auto", "bf16", "fp16", "fp32")
    if precision not in valid:
        raise ArtExtractError(f"unknown precision {precision!r}; valid: {', '.join(valid)}")
    if device.type == "cuda":
        if precision == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return precision
    if precision == "fp16":
        raise ArtExtractError("fp16 training needs a CUDA GPU; on a CPU use bf16 or fp32")
    from ..infer import resolve_precision

    return resolve_precision(precision)


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast context for ``bf16``/``fp16``; a no-op for ``fp32``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only for fp16 on CUDA (bf16 has fp32's range)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16" and device.type == "cuda")


# ---------------------------------------------------------------------------------------------- schedule
class WarmupCosine:
    """LR factor for ``LambdaLR``: linear warm-up from ~0 to 1, then cosine decay to ``min_factor``.

    A callable object rather than a closure, so ``LambdaLR.state_dict()`` saves ``total_steps``: a run whose
    schedule was re-planned (``--time-budget``) resumes on the re-planned schedule."""

    def __init__(self, total_steps: int, warmup_steps: int, min_factor: float = 0.0) -> None:
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.min_factor = float(min_factor)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / max(self.warmup_steps, 1)
        progress = (step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1)
        progress = min(max(progress, 0.0), 1.0)
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_cosine(total_steps: int, warmup_steps: int, min_factor: float = 0.0) -> WarmupCosine:
    """LR factor for ``LambdaLR``: linear warm-up from ~0 to 1, then cosine decay to ``min_factor``."""
    return WarmupCosine(total_steps, warmup_steps, min_factor)


def epochs_within_budget(
    budget_s: float, elapsed_s: float, epoch_s: float, epochs_done: int, epochs_planned: int, env: DistEnv
) -> int:
    """How many epochs in all fit a wall-clock budget, given the time so far and one epoch's duration
    (no fewer than done, no more than the plan). Every rank gets the smallest rank's answer."""
    fit = epochs_done + int(max(budget_s - elapsed_s, 0.0) // max(epoch_s, 1e-6))
    fit = min(max(fit, epochs_done), epochs_planned)
    if env.distributed:
        t = torch.tensor([fit], dtype=torch.int64, device=env.device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        fit = int(t.item())
    return fit


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay on biases and normalisation weights (1-D tensors)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


# ------------------------------------------------------------------------------------------------- seeds
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states in a form ``torch.load(weights_only=True)`` accepts."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": list(_to_lists(random.getstate())),
        "numpy": {
            "key": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, tuple | list) else x


def _to_tuples(x: Any) -> Any:
    return tuple(_to_tuples(v) for v in x) if isinstance(x, list) else x


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_to_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ------------------------------------------------------------------------------------------ train state
def save_train_state(out_dir: Path, state: dict[str, Any]) -> Path:
    """Write ``train_state.pt`` atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(out_dir) / STATE_NAME
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_train_state(out_dir: Path) -> dict[str, Any] | None:
    """The saved training state, or ``None`` when there is none. Never unpickles code."""
    path = Path(out_dir) / STATE_NAME
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"cannot read training state {path} ({type(exc).__name__}: {exc}); delete it or pass --overwrite "
            "to start again"
        ) from exc


def restart_from_checkpoint(
    state: dict[str, Any],
    *,
    strict_keys: tuple[str, ...] = (),
    args: dict[str, Any] | None = None,
    **objects: Any,
) -> None:
    """Load ``state[name]`` into each object with a ``load_state_dict`` (model, optimizer, scheduler, ...).

    ``strict_keys`` name settings that must match between the saved run and this one (e.g. ``arch``);
    a difference raises :class:`CheckpointError` saying which.
    """
    if args is not None:
        saved = state.get("args", {})
        diff = [
            f"{k}: saved {saved.get(k)!r}, now {args.get(k)!r}"
            for k in strict_keys
            if saved.get(k) != args.get(k)
        ]
        if diff:
            raise CheckpointError(
                "cannot resume: the saved run used different settings (" + "; ".join(diff) + "); "
                "use the same settings, a new --out, or --overwrite"
            )
    for name, obj in objects.items():
        if obj is None:
            continue
        if name not in state:
            raise CheckpointError(f"training state has no {name!r} entry; it was written by another trainer")
        obj.load_state_dict(state[name])


def plain_args(args: argparse.Namespace) -> dict[str, Any]:
    """``vars(args)`` with paths as strings (for YAML, JSON and the training state)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in sorted(vars(args).items())}


def write_args_yaml(out_dir: Path, args: argparse.Namespace, extra: dict[str, Any] | None = None) -> None:
    import yaml

    data = plain_args(args)
    if extra:
        data["resolved"] = extra
    write_text_atomic(Path(out_dir) / ARGS_NAME, yaml.safe_dump(data, sort_keys=True))


# ------------------------------------------------------------------------------------------------ logs
class JsonlLog:
    """Append-only JSON-lines log (rank 0 only; other ranks get a log that writes nothing)."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=_json_default) + "\n")
            fh.flush()

    def truncate_after(self, epoch: int, step: int) -> None:
        """On resume: drop records from after the restored position (a killed run may have written some)."""
        if not self.enabled or not self.path.exists():
            return
        keep = []
        for rec in read_log(self.path):
            e = rec.get("epoch", -1)
            if rec.get("type") == "epoch" and e >= epoch:
                continue
            if rec.get("type") == "step" and (e > epoch or (e == epoch and rec.get("step", 0) > step)):
                continue
            keep.append(json.dumps(rec, default=_json_default))
        write_text_atomic(self.path, "".join(line + "\n" for line in keep))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_log(path: Path) -> list[dict[str, Any]]:
    """Records of a ``log.jsonl``; a torn last line (a run killed mid-write) is ignored."""
    out = []
    if not Path(path).exists():
        return out
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def epoch_records(path: Path) -> list[dict[str, Any]]:
    """One ``epoch`` record per epoch (the last written wins), in epoch order."""
    by_epoch = {r["epoch"]: r for r in read_log(path) if r.get("type") == "epoch"}
    return [by_epoch[e] for e in sorted(by_epoch)]


def plot_curves(log_path: Path, out_path: Path, title: str = "") -> Path | None:
    """Draw loss and per-head validation metrics per epoch from ``log.jsonl`` into a PNG (atomically)."""
    recs = epoch_records(log_path)
    if not recs:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] + 1 for r in recs]
    val_keys = sorted({k for r in recs for k in r.get("val", {})})
    ncols = 1 + bool(val_keys)
    fig, axes = plt.subplots(1, ncols, figsize=(5.5 * ncols, 3.8), squeeze=False)
    ax = axes[0][0]
    ax.plot(epochs, [r.get("train_loss", float("nan")) for r in recs], marker="o", label="train loss")
    if any("val_loss" in r for r in recs):
        ax.plot(epochs, [r.get("val_loss", float("nan")) for r in recs], marker="o", label="val loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    if val_keys:
        ax = axes[0][1]
        for key in val_keys:
            for metric, style in (("top1", "-"), ("macro_f1", "--")):
                ys = [r.get("val", {}).get(key, {}).get(metric, float("nan")) for r in recs]
                if not all(math.isnan(y) for y in ys):
                    ax.plot(epochs, ys, style, marker="o", label=f"{key} {metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out_path


# --------------------------------------------------------------------------------------------- helpers
class Meter:
    """Running sums for a scalar (e.g. the training loss) over an epoch."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, value: float, n: int = 1) -> None:
        self.total += float(value) * n
        self.count += n

    def global_avg(self, env: DistEnv) -> float:
        t = all_reduce_sum(torch.tensor([self.total, float(self.count)], dtype=torch.float64), env)
        return float(t[0] / t[1]) if t[1] > 0 else float("nan")


def progress(iterable: Any, *, enabled: bool, total: int | None = None, desc: str = "") -> Iterator:
    """tqdm over ``iterable`` when ``enabled`` (rank 0 with --progress), else the iterable itself."""
    if not enabled:
        return iter(iterable)
    from tqdm import tqdm

    return iter(tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr))


def say(env: DistEnv, msg: str) -> None:
    """Print a line on rank 0 (flushed, so a log tailer sees it at once)."""
    if env.is_main:
        print(msg, flush=True)


def now() -> float:
    return time.perf_counter()


# ------------------------------------------------------------------------------------------- arguments
def trainer_parser(
    kind: str, description: str, presets: dict[str, dict[str, Any]], defaults: dict[str, Any],
    helps: dict[str, str], *, add_help: bool = True,
) -> tuple[argparse.ArgumentParser, dict[str, Any]]:  # fmt: skip
    """The parser with the options every trainer takes (``--preset``; data, model and optimisation), each
    trainer's ``defaults`` (by dest) and ``helps`` (by option). Returns it and its groups by title, for
    the trainer's own options; ``add_run_args`` comes last."""
    p = argparse.ArgumentParser(
        f"artextract.train {kind}",
        description=description,
        add_help=add_help,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    h = {
        "--collection": "collection folder with catalog.csv",
        "--cache-images": "keep shrunk images in RAM",
        "--workers": "DataLoader worker processes per rank (0 = in the main process)",
        "--width": "base width (default: the architecture's)",
        "--attention": "channel attention inside each block",
        "--accum-steps": "gradient accumulation steps",
        "--weight-decay": "AdamW decoupled weight decay (not on norms/biases)",
        "--warmup-epochs": "linear warm-up before the cosine decay",
        "--min-lr-factor": "final LR as a fraction of the peak",
        "--clip-grad": "clip the gradient norm (0 = off)",
        **helps,
    }
    p.add_argument("--preset", choices=sorted(presets), help=h["--preset"])
    groups = {title: p.add_argument_group(title) for title in ("data", "model", "optimisation")}
    g = groups["data"]
    g.add_argument("--collection", type=Path, help=h["--collection"])
    g.add_argument("--img-size", type=int, default=224, help=h["--img-size"])
    g.add_argument("--min-scale", type=float, help=h["--min-scale"])
    g.add_argument(
        "--cache-images", action=argparse.BooleanOptionalAction, default=False, help=h["--cache-images"]
    )
    g.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help=h["--workers"])
    g = groups["model"]
    g.add_argument("--arch", help=h["--arch"])
    g.add_argument("--width", type=int, help=h["--width"])
    g.add_argument("--rla-channels", type=int, help=h["--rla-channels"])
    g.add_argument("--rla-type", choices=["rla", "gru", "lstm"], help=h["--rla-type"])
    g.add_argument("--attention", choices=["se", "eca"], help=h["--attention"])
    g.add_argument("--init", choices=["random", "imagenet"], default="random", help=h["--init"])
    g.add_argument(
        "--imagenet-weights", "--imagenet-init", dest="imagenet_init", help=h["--imagenet-weights"]
    )
    g = groups["optimisation"]
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int, help=h["--batch-size"])
    g.add_argument("--accum-steps", type=int, default=1, help=h["--accum-steps"])
    g.add_argument("--lr", type=float, help=h["--lr"])
    g.add_argument("--weight-decay", type=float, help=h["--weight-decay"])
    g.add_argument("--warmup-epochs", type=float, help=h["--warmup-epochs"])
    g.add_argument("--min-lr-factor", type=float, help=h["--min-lr-factor"])
    g.add_argument("--clip-grad", type=float, default=0.0, help=h["--clip-grad"])
    p.set_defaults(**defaults)
    return p, groups


def add_run_args(p: argparse.ArgumentParser, kind: str) -> None:
    """The options every trainer shares: output, resume, seed, device, precision, logging."""
    g = p.add_argument_group("run")
    g.add_argument("--out", type=Path, help=f"output folder (default models/{kind}-<collection name>)")
    g.add_argument(
        "--resume", action="store_true", help="continue from OUT/train_state.pt (fresh start if absent)"
    )
    g.add_argument("--overwrite", action="store_true", help="discard an existing training state in OUT")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    g.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp16", "fp32"],
        default="auto",
        help="auto = bf16 autocast on GPUs and on CPUs with native bf16 (AVX512-BF16/AMX), else fp32",
    )
    g.add_argument(
        "--save-every", type=int, default=0, help="also save the training state every N steps (0 = per epoch)"
    )
    g.add_argument("--log-every", type=int, default=20, help="write a step record to log.jsonl every N steps")
    g.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="tqdm bars (rank 0)"
    )
    g.add_argument(
        "--sleep-per-step",
        type=float,
        default=0.0,
        help="seconds to sleep after each step: only for testing crash and resume (keep 0)",
    )


def parse_with_presets(
    parser: argparse.ArgumentParser, presets: dict[str, dict[str, Any]], argv: list[str] | None
) -> argparse.Namespace:
    """Parse twice: once to find ``--preset``, then with the preset's values as defaults. ``argv`` (the
    command line when ``None``) is kept as ``args.argv`` for the released card."""
    first, _ = parser.parse_known_args(argv)
    if first.preset:
        parser.set_defaults(**presets[first.preset])
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


# ------------------------------------------------------------------------------ shared by the trainers
def gather_rng(env: DistEnv) -> list[dict[str, Any]]:
    """RNG state of every rank (rank order), so each rank resumes its own augmentation stream."""
    mine = rng_state()
    if not env.distributed:
        return [mine]
    import torch.distributed as dist

    allr: list[Any] = [None] * env.world_size
    dist.all_gather_object(allr, mine)
    return allr


def prepare_out(out: Path, args: argparse.Namespace, env: DistEnv) -> dict[str, Any] | None:
    """Check OUT against --resume/--overwrite; return the training state to resume from (or None)."""
    has_state = (out / STATE_NAME).exists()
    if has_state and args.overwrite:
        barrier(env)
        if env.is_main:
            for name in (STATE_NAME, LOG_NAME, CURVES_NAME):
                (out / name).unlink(missing_ok=True)
        barrier(env)
        return None
    if has_state and not args.resume:
        raise ArtExtractError(
            f"{out} already holds a training state; pass --resume to continue it or --overwrite to start again"
        )
    if args.resume and has_state:
        return load_train_state(out)
    if args.resume:
        say(env, f"--resume: no training state in {out}; starting from scratch")
    if env.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / LOG_NAME).unlink(missing_ok=True)
    barrier(env)
    return None


def resume(
    state: dict[str, Any],
    *,
    env: DistEnv,
    log: JsonlLog,
    out: Path,
    steps_per_epoch: int,
    strict_keys: tuple[str, ...],
    args: argparse.Namespace,
    **objects: Any,
) -> tuple[int, int, dict[str, Any]]:
    """Restore a run from its training state: objects, this rank's RNG, the log. Returns
    ``(start_epoch, start_step, best)``."""
    restart_from_checkpoint(state, strict_keys=strict_keys, args=plain_args(args), **objects)
    if state["world_size"] != env.world_size:
        raise ArtExtractError(
            f"cannot resume: the saved run used {state['world_size']} process(es), this one {env.world_size}"
        )
    set_rng_state(state["rng"][env.rank] if env.rank < len(state["rng"]) else state["rng"][0])
    start_epoch, start_step = state["epoch"], state["step"]
    log.truncate_after(start_epoch, start_step)
    log.write({"type": "resume", "epoch": start_epoch, "step": start_step})
    say(env, f"resumed from {out / STATE_NAME}: epoch {start_epoch + 1}, step {start_step}/{steps_per_epoch}")
    return start_epoch, start_step, state["best"]


def train_state(
    trainer: str, args: argparse.Namespace, env: DistEnv, *, epoch: int, step: int, best: dict[str, Any],
    **objects: Any,
) -> dict[str, Any]:  # fmt: skip
    """Everything needed to resume at (``epoch``, ``step``): ``objects`` as state dicts (model, optimizer,
    scheduler, scaler), the sampler position, the best result so far and every rank's RNG."""
    return {
        "format": "artextract.train_state/1",
        "trainer": trainer,
        "args": plain_args(args),
        **{name: (obj.state_dict() if hasattr(obj, "state_dict") else obj) for name, obj in objects.items()},
        "epoch": epoch,
        "step": step,
        "sampler": {"seed": args.seed, "epoch": epoch, "start": step * args.accum_steps * args.batch_size},
        "best": best,
        "world_size": env.world_size,
        "rng": gather_rng(env),
    }


def run_summary(
    args: argparse.Namespace, env: DistEnv, out: Path, history: list[dict[str, Any]], t_start: float,
    precision: str, **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    """What a finished run reports: timings and throughput over every epoch (resumed ones included)."""
    records = epoch_records(out / LOG_NAME) if env.is_main else history
    return {
        "out": str(out),
        "arch": args.arch,
        "epochs": args.epochs,
        **extra,
        "train_time_s": sum(r.get("train_time", 0.0) for r in records),
        "images_per_s": float(np.mean([r["images_per_s"] for r in records])) if records else float("nan"),
        "wall_time_s": now() - t_start,
        "precision": precision,
        "world_size": env.world_size,
    }


# ---------------------------------------------------------------------------------------------- set-up
@dataclass
class Run:
    """A trainer's run: its arguments, process, precision, output folder, saved state (to resume), log."""

    args: argparse.Namespace
    env: DistEnv
    precision: str
    out: Path
    state: dict[str, Any] | None
    t_start: float
    log: JsonlLog


def default_out(kind: str, collection: Path) -> Path:
    from ..config import models_dir

    name = Path(collection).resolve().name
    return models_dir() / f"{kind}-{name}"


def start_run(args: argparse.Namespace, kind: str, *, invalid: str = "") -> Run:
    """Process group, precision, output folder (checked against --resume/--overwrite) and seeds.
    ``invalid``: why the arguments cannot be used (raised before anything is written), or empty."""
    env = init_distributed(args.device)
    torch.set_flush_denormal(True)  # denormals in late training make CPU kernels many times slower
    precision = resolve_train_precision(args.precision, env.device)
    out = Path(args.out) if args.out else default_out(kind, args.collection)
    if getattr(args, "arch", "") == "ensemble":  # its members are trained apart, then joined
        invalid = (
            "--arch ensemble: train each member on its own (e.g. --arch rla_mobilenetv2, --arch mobilenetv2) "
            "with the same data and selection set, then join them with 'python -m artextract.train ensemble'"
        )
    if invalid:
        raise ArtExtractError(invalid)
    state = prepare_out(out, args, env)
    seed_everything(args.seed + env.rank)
    return Run(args, env, precision, out, state, now(), JsonlLog(out / LOG_NAME, enabled=env.is_main))


def distribute(model: torch.nn.Module, env: DistEnv) -> torch.nn.Module:
    """The model wrapped in DistributedDataParallel under torchrun (the model itself otherwise)."""
    if not env.distributed:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[env.local_rank] if env.device.type == "cuda" else None
    )


def loader_kwargs(args: argparse.Namespace, env: DistEnv) -> dict[str, Any]:
    return {
        "num_workers": args.workers,
        "pin_memory": env.device.type == "cuda",
        "persistent_workers": args.workers > 0,
    }


def train_loader(dataset: Any, sampler: Any, args: argparse.Namespace, env: DistEnv) -> Any:
    """The training DataLoader. A 1-image last batch breaks BatchNorm on small final feature maps (and
    in BYOL's projector): it is dropped when it would occur."""
    from torch.utils.data import DataLoader

    drop_last = sampler.per_rank() % args.batch_size == 1
    return DataLoader(
        dataset, batch_size=args.batch_size, sampler=sampler, drop_last=drop_last, **loader_kwargs(args, env)
    )


@dataclass
class Optimisation:
    """AdamW, the warm-up + cosine schedule (``plan`` is its factor), the gradient scaler."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    plan: WarmupCosine
    scaler: torch.amp.GradScaler
    steps_per_epoch: int


def optimisation(module: torch.nn.Module, loader: Any, run: Run) -> Optimisation:
    """AdamW over ``module`` (no decay on norms and biases) with ``--lr`` warmed up over ``--warmup-epochs``
    then cosine-decayed to ``--min-lr-factor`` at the end of ``--epochs``."""
    args = run.args
    steps_per_epoch = -(-len(loader) // args.accum_steps)
    optimizer = torch.optim.AdamW(param_groups(module, args.weight_decay), lr=args.lr, betas=(0.9, 0.999))
    plan = warmup_cosine(
        steps_per_epoch * args.epochs, round(args.warmup_epochs * steps_per_epoch), args.min_lr_factor
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plan)
    return Optimisation(
        optimizer, scheduler, plan, make_scaler(run.precision, run.env.device), steps_per_epoch
    )


def stamp_card(run: Run, **training: Any) -> None:
    """Rank 0: add the whole run's wall time (and ``training`` entries) to a released ``card.json``."""
    if not (run.env.is_main and (run.out / "card.json").is_file()):
        return
    from ..fileio import write_json_atomic

    card = json.loads((run.out / "card.json").read_text(encoding="utf-8"))
    card["training"]["wall_s"] = round(now() - run.t_start, 1)
    card["training"].update(training)
    write_json_atomic(run.out / "card.json", card)
