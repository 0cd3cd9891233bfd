"""Background build jobs: ``artextract build`` in its own process, watched from the app.

A job is a folder ``<data>/jobs/<name>/``:

- ``job.json``: what to build (a :class:`artextract.build.BuildConfig` as JSON), its status
  (``running``, ``done``, ``failed``, ``cancelled``) and the error line of a failed build;
- ``events.jsonl``: the build's progress events (:class:`artextract.stages.Event`), one JSON per line;
- ``heartbeat``: touched every few seconds by the running process;
- ``cancel``: created by :func:`cancel`; the build stops at its next progress event.

The process is started in its own session, so it outlives the app's server: after a restart the page
reads the same folder and shows the job running (fresh heartbeat), finished, or **interrupted** (status
still ``running`` but no heartbeat: the process died) with a button that resumes it, since the build
keeps every stage it finished. A bundle is only ever shown once its manifest says ``complete``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import config
from .errors import ArtExtractError
from .fileio import write_json_atomic

HEARTBEAT_S = 2.0
STALE_S = 20.0  # no heartbeat for this long: the process is gone
PROGRESS_EVERY_S = 0.25  # progress events written at most this often per stage (start/done always)


def jobs_dir() -> Path:
    return config.data_dir() / "jobs"


@dataclass
class StageProgress:
    stage: str
    done: int = 0
    total: int = 1
    seconds: float = 0.0
    state: str = "waiting"  # waiting | running | done | skipped
    started_at: float = 0.0  # wall clock of the stage's start event

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since the stage started (for a stage that reports no progress of its own)."""
        return max(0.0, (now or time.time()) - self.started_at) if self.started_at else self.seconds

    @property
    def fraction(self) -> float:
        if self.state in ("done", "skipped"):
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0

    def eta_seconds(self) -> float | None:
        if self.state != "running" or self.done <= 0 or self.total <= 0:
            return None
        return self.seconds * (self.total - self.done) / self.done


@dataclass
class JobStatus:
    name: str
    folder: Path
    status: str  # running | done | failed | cancelled | interrupted
    started: str
    bundle: Path
    error: str = ""
    stages: list[StageProgress] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.status == "running"

    @property
    def resumable(self) -> bool:
        return self.status in ("failed", "cancelled", "interrupted")

    def eta_seconds(self) -> float | None:
        """Time left in the running stage (None when unknown); later stages are not estimated."""
        running = [s for s in self.stages if s.state == "running"]
        return running[-1].eta_seconds() if running else None


def _config_json(cfg: Any) -> dict[str, Any]:
    d = asdict(cfg)
    return {
        k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v) for k, v in d.items()
    }


def _config_from(d: dict[str, Any]):
    from .build import BuildConfig

    paths = {"collection", "classifier", "out", "reference", "encoder", "evidence"}
    kw = {k: (Path(v) if k in paths and v is not None else v) for k, v in d.items()}
    kw["projections"] = tuple(kw.get("projections", ()))
    kw["progress"] = False
    return BuildConfig(**kw)


def start(name: str, cfg: Any, *, root: Path | None = None) -> Path:
    """Start building ``cfg`` in a background process; returns the job folder. One job per name."""
    folder = (root or jobs_dir()) / name
    if folder.is_dir():
        st = status(folder)
        if st.active:
            raise ArtExtractError(f"a build of {name!r} is already running")
    folder.mkdir(parents=True, exist_ok=True)
    for f in ("cancel", "events.jsonl", "heartbeat"):
        (folder / f).unlink(missing_ok=True)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_json_atomic(
        folder / "job.json",
        {"name": name, "config": _config_json(cfg), "status": "running", "started": now, "error": ""},
    )
    (folder / "heartbeat").touch()
    log = open(folder / "log.txt", "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "artextract.jobs", str(folder)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the app's server
            cwd=str(config.PROJECT_ROOT),
        )
    finally:
        log.close()
    meta = json.loads((folder / "job.json").read_text())
    meta["pid"] = proc.pid
    write_json_atomic(folder / "job.json", meta)
    return folder


def resume(folder: Path) -> Path:
    """Start a failed, cancelled or interrupted job again: finished stages are kept."""
    meta = json.loads((folder / "job.json").read_text())
    return start(meta["name"], _config_from(meta["config"]), root=folder.parent)


def cancel(folder: Path) -> None:
    """Ask the running build to stop at its next progress event."""
    (folder / "cancel").touch()


def status(folder: Path) -> JobStatus:
    """The job as the page shows it (never raises for a damaged folder: it reads as failed)."""
    try:
        meta = json.loads((folder / "job.json").read_text())
    except (OSError, ValueError) as exc:
        return JobStatus(folder.name, folder, "failed", "", folder, error=f"job folder unreadable ({exc})")
    state = meta.get("status", "failed")
    if state == "running":
        try:
            age = time.time() - (folder / "heartbeat").stat().st_mtime
        except OSError:
            age = float("inf")
        if age > STALE_S:
            state = "interrupted"
    out = Path(meta.get("config", {}).get("out", folder))
    js = JobStatus(
        meta.get("name", folder.name), folder, state, meta.get("started", ""), out, meta.get("error", "")
    )
    js.stages = _stages(folder / "events.jsonl")
    return js


def _stages(path: Path) -> list[StageProgress]:
    seen: dict[str, StageProgress] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue  # a line being written
        sp = seen.setdefault(ev["stage"], StageProgress(ev["stage"]))
        kind = ev.get("kind")
        if kind == "skip":
            sp.state, sp.done, sp.total = "skipped", 1, 1
        elif kind == "done":
            sp.state, sp.done, sp.total, sp.seconds = "done", 1, 1, ev.get("seconds", 0.0)
        else:
            sp.state = "running"
            sp.done, sp.total, sp.seconds = (
                ev.get("done", 0),
                max(1, ev.get("total", 1)),
                ev.get("seconds", 0.0),
            )
    return list(seen.values())


def list_jobs(root: Path | None = None) -> list[JobStatus]:
    """Every job, most recently started first."""
    root = root or jobs_dir()
    if not root.is_dir():
        return []
    jobs = [status(d) for d in root.iterdir() if d.is_dir() and (d / "job.json").exists()]
    return sorted(jobs, key=lambda j: j.started, reverse=True)


# ------------------------------------------------------------------------------------- the process
def run(folder: Path) -> int:
    """Run the job of ``folder`` in this process (what :func:`start` launches)."""
    from .build import build_bundle
    from .stages import BuildCancelled, Event

    meta = json.loads((folder / "job.json").read_text())
    cfg = _config_from(meta["config"])
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            (folder / "heartbeat").touch()

    threading.Thread(target=beat, daemon=True).start()
    events = open(folder / "events.jsonl", "a", buffering=1)  # noqa: SIM115 - line-buffered, closed below
    last: dict[str, float] = {}

    def on_event(ev: Event) -> None:
        now = time.monotonic()
        if ev.kind == "progress" and ev.done < ev.total and now - last.get(ev.stage, 0.0) < PROGRESS_EVERY_S:
            return
        last[ev.stage] = now
        events.write(json.dumps({**ev.as_dict(), "at": time.time()}) + "\n")

    def finish(state: str, error: str = "") -> None:
        meta.update(
            status=state, error=error, finished=datetime.now(timezone.utc).isoformat(timespec="seconds")
        )
        write_json_atomic(folder / "job.json", meta)

    code = 0
    try:
        report = build_bundle(
            cfg,
            log=lambda m: print(m, flush=True),
            on_event=on_event,
            cancel=lambda: (folder / "cancel").exists(),
        )
        print(report.summary_line(), flush=True)
        finish("done")
    except BuildCancelled as exc:
        finish("cancelled", str(exc))
    except ArtExtractError as exc:
        finish("failed", str(exc))
        code = 1
    except Exception as exc:  # the page must learn about it, whatever it is
        finish("failed", f"{type(exc).__name__}: {exc}")
        code = 1
        raise
    finally:
        stop.set()
        events.close()
    return code


if __name__ == "__main__":
    raise SystemExit(run(Path(sys.argv[1])))
