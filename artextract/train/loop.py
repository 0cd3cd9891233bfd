"""The one training loop of every trainer; what differs between them lives in a :class:`Task`.

As in timm's ``train_one_epoch``, the loop is generic: it moves each batch to the device (images
channels-last), runs the model under autocast, accumulates gradients over ``--accum-steps`` micro-batches
(DDP ``no_sync`` on all but the last), scales, clips and steps, advances the schedule, refuses a diverged
loss, then runs the *after-step hooks* in order. Per epoch it evaluates, keeps the best result, releases
the kept weights, writes the epoch record, the training state and the curves, and cuts the plan to a
wall-clock budget. A run with a saved training state resumes where it stopped, mid-epoch included.

A :class:`Task` (the classifier, BYOL) says how a batch becomes a loss, which parameters a clipped
gradient covers, how to evaluate, which epoch to keep and how to release it. BYOL's EMA target update
is an after-step hook, as in byol-pytorch.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ArtExtractError
from . import common as C

#: an after-step hook: ``hook(epoch, step, loss)``, ``step`` counted from 1 within the epoch
AfterStep = Callable[[int, int, float], None]


class Task:
    """What one trainer adds to the loop. Subclasses override what differs from these defaults."""

    #: the trainer's name in the training state
    name = "task"
    #: a fresh "best so far" (what ``keep`` compares against)
    initial_best: dict[str, Any] = {}

    # ---- a training step
    def inputs(self, batch: Any) -> tuple[tuple[torch.Tensor, ...], Any]:
        """(images for the model, target for :meth:`loss`) of a batch; default ``(x, y)``."""
        x, y = batch
        return (x,), y

    def loss(self, output: Any, target: Any) -> torch.Tensor:
        """The loss from the model's output (computed outside autocast); default: the output is the loss."""
        return output

    def clip_parameters(self, model: nn.Module) -> Iterable[nn.Parameter]:
        """Parameters whose gradient norm ``--clip-grad`` bounds."""
        return model.parameters()

    def diverged(self, epoch: int, step: int, loss: float) -> str:
        return f"training diverged at epoch {epoch + 1} step {step} (loss {loss}); lower --lr"

    def step_record(self) -> dict[str, Any]:
        """Extra fields of a ``step`` record in ``log.jsonl`` (e.g. the LR)."""
        return {}

    # ---- an epoch
    def evaluate(self) -> dict[str, Any]:
        """Metrics of the model after an epoch (every rank takes part)."""
        return {}

    def keep(self, metrics: dict[str, Any], best: dict[str, Any], epoch: int) -> dict[str, Any] | None:
        """The new best result when this epoch's weights are to be released, else ``None``."""
        return None

    def release(self, best: dict[str, Any]) -> None:
        """Save the kept weights (rank 0 only)."""

    def epoch_fields(self) -> dict[str, Any]:
        """Extra fields of an ``epoch`` record, after the LR."""
        return {}

    def epoch_line(self, record: dict[str, Any], epochs: int) -> str:
        return f"epoch {record['epoch'] + 1}/{epochs}: loss {record['train_loss']:.4f}"

    def curves_title(self) -> str:
        return self.name

    # ---- the training state
    def state_fields(self) -> dict[str, Any]:
        """Extra entries of the training state (e.g. BYOL's tau)."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Read back what :meth:`state_fields` saved."""


def train_one_epoch(
    task: Task,
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    *,
    epoch: int,
    start_step: int,
    env: C.DistEnv,
    args: argparse.Namespace,
    precision: str,
    after_step: Iterable[AfterStep] = (),
) -> dict[str, float]:
    """One pass over this rank's shard; each hook of ``after_step`` runs after every optimiser step."""
    model.train()
    meter = C.Meter()
    images, micro, step = 0, 0, start_step
    accum = args.accum_steps
    t0 = C.now()
    n_batches = len(loader)
    optimizer.zero_grad(set_to_none=True)
    batches = C.progress(
        loader, enabled=args.progress and env.is_main, desc=f"epoch {epoch + 1}/{args.epochs}"
    )
    for i, batch in enumerate(batches):
        xs, target = task.inputs(batch)
        xs = tuple(
            x.to(env.device, non_blocking=True).contiguous(memory_format=torch.channels_last) for x in xs
        )
        if isinstance(target, torch.Tensor):
            target = target.to(env.device, non_blocking=True)
        last_micro = (micro + 1 == accum) or (i + 1 == n_batches)
        sync = model.no_sync() if (env.distributed and not last_micro) else contextlib.nullcontext()
        with sync:
            with C.autocast(precision, env.device):
                output = model(*xs)
            loss = task.loss(output, target)
            scaler.scale(loss / accum).backward()
        micro += 1
        meter.update(float(loss.detach()), len(xs[0]))
        images += len(xs[0])
        if not last_micro:
            continue
        if args.clip_grad > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(task.clip_parameters(model), args.clip_grad)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        micro = 0
        step += 1
        value = float(loss.detach())
        if not np.isfinite(value):
            raise ArtExtractError(task.diverged(epoch, step, value))
        for hook in after_step:
            hook(epoch, step, value)
    elapsed = C.now() - t0
    total_images = float(C.all_reduce_sum(torch.tensor([float(images)]), env)[0])
    return {
        "train_loss": meter.global_avg(env),
        "train_time": elapsed,
        "images_per_s": total_images / max(elapsed, 1e-9),
    }


class Loop:
    """Epochs of :func:`train_one_epoch` with evaluation, selection, checkpointing, budget and resume.

    The training state holds the model (unwrapped from DDP), optimizer, scheduler and scaler, the
    position, the best result, every rank's RNG and the task's :meth:`Task.state_fields`. ``after_step``
    hooks run before the loop's own (step log, mid-epoch training state).
    """

    def __init__(
        self,
        task: Task,
        run: C.Run,
        *,
        model: nn.Module,
        loader: Any,
        sampler: Any,
        opt: C.Optimisation,
        strict_keys: tuple[str, ...],
        after_step: Iterable[AfterStep] = (),
    ) -> None:
        self.task, self.run, self.model, self.loader, self.sampler = task, run, model, loader, sampler
        self.opt = opt
        self.objects = {
            "model": C.unwrap(model), "optimizer": opt.optimizer, "scheduler": opt.scheduler, "scaler": opt.scaler,
        }  # fmt: skip
        self.hooks = [*after_step, self.log_and_save]
        self.epoch, self.step, self.best = 0, 0, dict(task.initial_best)
        self.history: list[dict[str, Any]] = []
        if run.state is not None:
            self.epoch, self.step, self.best = C.resume(
                run.state, env=run.env, log=run.log, out=run.out, steps_per_epoch=opt.steps_per_epoch,
                strict_keys=strict_keys, args=run.args, **self.objects,
            )  # fmt: skip
            task.restore(run.state)
        if run.env.is_main:
            C.write_args_yaml(
                run.out, run.args,
                {"precision": run.precision, "world_size": run.env.world_size, "out": str(run.out)},
            )  # fmt: skip

    # ------------------------------------------------------------------------------------------- hooks
    def snapshot(self, epoch: int, step: int) -> dict[str, Any]:
        """The training state that resumes at (``epoch``, ``step``)."""
        run = self.run
        return C.train_state(
            self.task.name, run.args, run.env, epoch=epoch, step=step, best=self.best,
            **self.task.state_fields(), **self.objects,
        )  # fmt: skip

    def log_and_save(self, epoch: int, step: int, loss: float) -> None:
        """After-step hook: a step record every ``--log-every`` steps, the training state every
        ``--save-every`` steps."""
        args, run = self.run.args, self.run
        if args.log_every and step % args.log_every == 0:
            run.log.write(
                {"type": "step", "epoch": epoch, "step": step, "loss": loss, **self.task.step_record()}
            )
        if args.save_every and step % args.save_every == 0 and step < self.opt.steps_per_epoch:
            st = self.snapshot(epoch, step)
            if run.env.is_main:
                C.save_train_state(run.out, st)
        if args.sleep_per_step:  # only for the crash-and-resume tests
            time.sleep(args.sleep_per_step)

    # ------------------------------------------------------------------------------------------ epochs
    def fit(self) -> list[dict[str, Any]]:
        """Train the remaining epochs; returns their records."""
        task, run, opt = self.task, self.run, self.opt
        args, env = run.args, run.env
        spe = opt.steps_per_epoch
        start_epoch, start_step = self.epoch, self.step
        epochs = -(-opt.plan.total_steps // spe)  # a resumed run keeps its re-planned schedule
        epoch = start_epoch
        while epoch < epochs:
            t_epoch = C.now()
            step0 = start_step if epoch == start_epoch else 0
            self.sampler.set_epoch(epoch, start=step0 * args.accum_steps * args.batch_size)
            stats = train_one_epoch(
                task, self.model, self.loader, opt.optimizer, opt.scheduler, opt.scaler, epoch=epoch,
                start_step=step0, env=env, args=args, precision=run.precision, after_step=self.hooks,
            )  # fmt: skip
            metrics = task.evaluate()
            lr = opt.scheduler.get_last_lr()[0]
            record = {"type": "epoch", "epoch": epoch, "lr": lr, **task.epoch_fields(), **stats, **metrics}
            kept = task.keep(metrics, self.best, epoch)
            if kept is not None:
                self.best = kept
            epochs = self._within_budget(epoch, start_epoch, epochs, t_epoch)
            st = self.snapshot(epoch + 1, 0)
            if env.is_main:
                if kept is not None:
                    task.release(self.best)
                run.log.write(record)
                C.save_train_state(run.out, st)
                C.plot_curves(run.out / C.LOG_NAME, run.out / C.CURVES_NAME, title=task.curves_title())
            C.barrier(env)
            self.history.append(record)
            C.say(env, task.epoch_line(record, epochs))
            epoch += 1
        self.epoch, self.step = epoch, 0
        return self.history

    def _within_budget(self, epoch: int, start_epoch: int, epochs: int, t_epoch: float) -> int:
        """``--time-budget``: the first epoch pays for caching, warm-up and autotuning, so plan on it, then
        again on the second; the cosine schedule is re-planned to end where training will."""
        args, run, opt = self.run.args, self.run, self.opt
        budget = getattr(args, "time_budget", 0.0) or 0.0
        if not (budget > 0 and epoch + 1 - start_epoch <= 2 and epoch + 1 < args.epochs):
            return epochs
        fit = C.epochs_within_budget(
            budget * 60, C.now() - run.t_start, C.now() - t_epoch, epoch + 1, args.epochs, run.env
        )
        if fit != epochs:
            epochs = fit
            opt.plan.total_steps = opt.steps_per_epoch * epochs
            C.say(run.env, f"time budget {budget:g} min: {epochs} epochs fit; schedule re-planned")
        return epochs
