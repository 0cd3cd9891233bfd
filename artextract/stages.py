"""A small runner for build stages declared as data.

A :class:`Stage` names itself, the inputs its result depends on (a function returning the parts of its
key, upstream stage keys included), the files it writes, the function that writes them and the manifest
fields it sets. :func:`run_stages` does what every stage would otherwise repeat:

- the stale check: a stage whose key and files match the previous manifest is skipped, and the manifest
  fields it set last time are carried over;
- the manifest: rewritten after each stage, so an interrupted build keeps the stages it finished and a
  second run resumes after them;
- progress events ``(stage, done, total)`` to one callback (the CLI draws tqdm bars from them, the
  Collections page a progress bar per stage);
- cancellation: ``cancel()`` is polled at every progress event and between stages and stops the build
  with :class:`BuildCancelled` (the manifest then says ``complete: false``; nothing half-written is kept,
  every file is written atomically).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ArtExtractError
from .fileio import write_json_atomic


class BuildCancelled(ArtExtractError):
    """The build was cancelled; the stages finished before are kept and a new build resumes after them."""


@dataclass(frozen=True)
class Event:
    """One progress event. ``kind``: start | progress | skip | done."""

    stage: str
    kind: str
    done: int = 0
    total: int = 1
    seconds: float = 0.0  # since the stage started
    message: str = ""

    def eta_seconds(self) -> float | None:
        """Time left in this stage at its current rate (None before the first unit of work is done)."""
        if self.kind != "progress" or self.done <= 0 or self.total <= 0:
            return None
        return self.seconds * (self.total - self.done) / self.done

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "kind": self.kind,
            "done": self.done,
            "total": self.total,
            "seconds": round(self.seconds, 2),
            "message": self.message,
        }


Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Stage:
    """One build step.

    ``inputs(ctx)`` returns everything the result depends on (parameters, content hashes, upstream stage
    keys from ``ctx.keys``); ``outputs(ctx)`` the files it writes, relative to the bundle; ``run(ctx,
    progress)`` writes them. ``carries`` are manifest fields the stage sets (dotted for nested ones),
    copied from the previous manifest when the stage is up to date.
    """

    name: str
    inputs: Callable[[Any], tuple]
    outputs: Callable[[Any], list[str]]
    run: Callable[[Any, Progress], None]
    enabled: Callable[[Any], bool] = lambda ctx: True
    carries: tuple[str, ...] = ()
    distributed: bool = False  # runs on every torchrun rank (the others stop after the last such stage)
    start_message: Callable[[Any], str] | None = None


def stage_key(name: str, parts: tuple) -> str:
    return hashlib.sha256(json.dumps([name, *parts], sort_keys=True, default=str).encode()).hexdigest()[:20]


def _get(d: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _set(d: dict[str, Any], dotted: str, value: Any) -> None:
    *head, last = dotted.split(".")
    for part in head:
        d = d.setdefault(part, {})
    d[last] = value


@dataclass
class RunResult:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stopped: bool = False  # a rank other than 0 stopped after the distributed stages


def run_stages(
    stages: list[Stage],
    ctx: Any,
    *,
    out: Path,
    manifest: dict[str, Any],
    old: dict[str, Any],
    manifest_name: str,
    log: Callable[[str], None] = print,
    on_event: Callable[[Event], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    rank: int = 0,
    world: int = 1,
) -> RunResult:
    """Run ``stages`` in order over ``ctx`` (which gets ``keys``: stage name -> key).

    ``old`` is the previous manifest (``{}`` to rebuild everything); ``manifest["stages"]`` is updated and
    the manifest rewritten after every stage that ran (rank 0 only).
    """
    res = RunResult()
    old_stages: dict[str, Any] = old.get("stages", {})
    recorded = manifest.setdefault("stages", {})
    ctx.keys = {}
    emit = on_event or (lambda ev: None)

    def check_cancel() -> None:
        if cancel is not None and cancel():
            raise BuildCancelled("build cancelled; the stages already finished are kept")

    active = [s for s in stages if s.enabled(ctx)]
    last_distributed = max((i for i, s in enumerate(active) if s.distributed), default=-1)
    for i, stage in enumerate(active):
        if rank != 0 and i > last_distributed:
            res.stopped = True
            return res
        check_cancel()
        files = stage.outputs(ctx)
        key, prev, fresh = "", None, False
        if rank == 0:
            key = stage_key(stage.name, stage.inputs(ctx))
            prev = old_stages.get(stage.name)
            fresh = prev is not None and prev.get("key") == key and all((out / f).exists() for f in files)
        if stage.distributed and world > 1:  # every rank must agree whether to run it
            import torch
            import torch.distributed as dist

            flag = torch.tensor([int(fresh)])
            dist.broadcast(flag, 0)
            fresh = bool(flag.item())
        ctx.keys[stage.name] = key
        if fresh:
            if rank != 0:
                continue
            recorded[stage.name] = prev
            for f in stage.carries:
                _set(manifest, f, _get(old, f))
            res.skipped.append(stage.name)
            log(f"[build] {stage.name}: up to date")
            emit(Event(stage.name, "skip", 1, 1))
            continue

        started = time.perf_counter()
        if stage.start_message is not None:
            log(f"[build] {stage.name}: {stage.start_message(ctx)}")
        emit(Event(stage.name, "start", 0, 1))

        def progress(done: int, total: int, _name: str = stage.name, _t0: float = started) -> None:
            emit(Event(_name, "progress", done, total, time.perf_counter() - _t0))
            check_cancel()

        stage.run(ctx, progress)
        if rank != 0:
            continue
        seconds = round(time.perf_counter() - started, 2)
        recorded[stage.name] = {"key": key, "files": files, "seconds": seconds}
        res.ran.append(stage.name)
        emit(Event(stage.name, "done", 1, 1, seconds))
        log(f"[build] {stage.name}: done in {seconds:.1f}s")
        write_json_atomic(out / manifest_name, manifest)
    return res


class TqdmEvents:
    """An ``on_event`` handler for the terminal: one tqdm bar per stage that reports progress."""

    def __init__(self) -> None:
        self.bar = None
        self.stage = ""

    def __call__(self, ev: Event) -> None:
        if ev.kind != "progress":
            self.close()
            return
        if self.bar is None or self.stage != ev.stage:
            from tqdm.auto import tqdm

            self.close()
            self.bar, self.stage = tqdm(total=ev.total, desc=ev.stage, unit="img"), ev.stage
        self.bar.update(ev.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


__all__ = ["BuildCancelled", "Event", "RunResult", "Stage", "TqdmEvents", "run_stages", "stage_key"]
