"""A robust concurrent HTTP downloader for collection images and open-data tables.

What it guarantees:

- **Timeouts**: ``timeout`` bounds connecting and each socket read; ``total_timeout`` bounds a whole
  attempt, so a server that drips bytes cannot hang a worker.
- **Retries with exponential backoff** (``backoff * 2**(attempt-1)``, capped, with jitter) on
  connection errors, timeouts, truncated bodies, HTTP 408/429/5xx and images that fail to decode.
  ``Retry-After`` (seconds or an HTTP date) is honoured, and for 429/503 it pauses every worker
  talking to that host, not only the one that was told. Other HTTP errors (404, 403, ...) and bodies
  that are not images at all fail at once. urllib3's ``Retry`` on each worker's ``requests`` session
  retries everything up to the response headers; faults in the body, which it cannot retry while
  streaming, go round a small loop here that draws on the same budget of attempts.
- **Resume**: a file already at its destination that verifies (decodes) is skipped without a request.
- **Atomic writes**: bytes go to a temporary name beside the destination and are renamed only after
  the body is complete and verified; a partial file never appears under its final name. Stale
  temporary files from a killed run are removed on the next.
- **A size cap** (``max_bytes``), checked against ``Content-Length`` and while streaming.
- **A progress bar** (tqdm) and a :class:`DownloadSummary` saying what failed and why.
- **Offline**: when a host cannot be resolved or reached at all, :class:`OfflineError` with one line.
"""

from __future__ import annotations

import collections
import csv
import email.utils
import glob
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions as u3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..errors import ArtExtractError, BadImageError, OfflineError
from ..fileio import atomic_path

USER_AGENT = "artextract/0.1 (+https://github.com/; research use; polite concurrent downloader)"
DEFAULT_MAX_BYTES = 25 * 1024 * 1024  # 25 MB: far above a 2000 px IIIF JPEG
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_CHUNK = 64 * 1024

Verifier = Callable[[Path], None]
ProgressArg = bool | Callable[["DownloadResult", int, int], None]


# ------------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class DownloadTask:
    """One file to fetch: ``url`` -> ``dest``; ``key`` names it in reports (e.g. a catalog id)."""

    url: str
    dest: Path
    key: str = ""


@dataclass
class DownloadResult:
    """Outcome of one task. ``status``: ``downloaded``, ``skipped`` (already verified) or ``failed``."""

    task: DownloadTask
    status: str
    attempts: int = 0
    nbytes: int = 0
    reason: str = ""  # short category, e.g. "HTTP 500", "timed out", "not an image"
    detail: str = ""  # the specific message of the last attempt

    @property
    def key(self) -> str:
        return self.task.key or self.task.dest.name


@dataclass
class DownloadSummary:
    """All results of a run, with counts and failures grouped by reason."""

    results: list[DownloadResult] = field(default_factory=list)
    elapsed_s: float = 0.0
    label: str = "downloads"

    def _count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def downloaded(self) -> int:
        return self._count("downloaded")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def failures(self) -> list[DownloadResult]:
        return [r for r in self.results if r.status == "failed"]

    def failures_by_reason(self) -> dict[str, list[DownloadResult]]:
        groups: dict[str, list[DownloadResult]] = collections.defaultdict(list)
        for r in self.failures:
            groups[r.reason].append(r)
        return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))

    def summary_line(self) -> str:
        n = len(self.results)
        size = _human_bytes(sum(r.nbytes for r in self.results if r.status == "downloaded"))
        line = (
            f"{self.label}: {n} file(s): {self.downloaded} downloaded ({size}), "
            f"{self.skipped} already present, {self.failed} failed"
        )
        if self.failed:
            line += " (" + ", ".join(f"{len(v)} {k}" for k, v in self.failures_by_reason().items()) + ")"
        return line + f" in {self.elapsed_s:.1f} s"

    def failure_report(self, examples: int = 3) -> str:
        """Several lines: each failure reason with its count and a few examples (key: detail)."""
        lines = []
        for reason, items in self.failures_by_reason().items():
            lines.append(f"{reason}: {len(items)}")
            for r in items[:examples]:
                lines.append(f"  {r.key}: {r.detail or reason} ({r.attempts} attempt(s); {r.task.url})")
        return "\n".join(lines)

    def write_failures_csv(self, path: str | Path) -> Path:
        """Write ``key, url, reason, detail, attempts`` for every failure (atomically)."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["key", "url", "reason", "detail", "attempts"])
            for r in self.failures:
                w.writerow([r.key, r.task.url, r.reason, r.detail, r.attempts])
        return path


def _human_bytes(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


# ----------------------------------------------------------------------------------- verification
def verify_image(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Decode ``path`` fully; raises :class:`BadImageError` if it is not a readable image."""
    from ..images import load_image

    load_image(path, max_bytes=max_bytes).close()


# ----------------------------------------------------------------------------------------- offline
def check_reachable(urls: Iterable[str], *, timeout: float = 10.0, hint: str = "") -> None:
    """Raise :class:`OfflineError` (one line) if a URL's host cannot be resolved or connected to.

    Hosts reached through a configured proxy are not checked (the proxy resolves them).
    """
    seen: set[tuple[str, int]] = set()
    for url in urls:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not host or (host, port) in seen:
            continue
        seen.add((host, port))
        if requests.utils.get_environ_proxies(url):
            continue
        tail = f"; {hint}" if hint else ""
        try:
            addr = _resolve(host, port, timeout)
        except OSError as exc:
            raise OfflineError(
                f"cannot resolve {host} ({_strerror(exc)}): no network connection?{tail}"
            ) from None
        try:
            socket.create_connection(addr, timeout=timeout).close()
        except OSError as exc:
            raise OfflineError(f"cannot reach {host}:{port} ({_strerror(exc)}){tail}") from None


def _resolve(host: str, port: int, timeout: float) -> tuple[str, int]:
    """getaddrinfo with a timeout (it has none of its own); returns (address, port)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["info"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    if "info" not in box:
        raise TimeoutError(f"name lookup took longer than {timeout:g} s")
    info = box["info"][0]  # type: ignore[index]
    return info[4][0], port


def _strerror(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__


# ------------------------------------------------------------------------------------------ retries
class _Cancelled(Exception):
    """The run is being interrupted (Ctrl-C, or an exception from the progress callable)."""


class _Failure(Exception):
    """A failed attempt; ``retry``: asking again may help (a body cut short, an image damaged in transit)."""

    def __init__(self, reason: str, detail: str = "", *, retry: bool = False):
        super().__init__(detail or reason)
        self.reason, self.detail, self.retry = reason, detail or reason, retry


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _backoff(k: int, factor: float, cap: float) -> float:
    """The wait before retry ``k`` (1, 2, ...): ``factor * 2**(k-1)``, at most ``cap``, +-25 % jitter."""
    return min(cap, factor * 2 ** (k - 1)) * random.uniform(0.75, 1.25) if k > 0 else 0.0


class _Retry(Retry):
    """urllib3's retry policy (what is retried, the budget, Retry-After), waiting the way documented above.

    Differences from urllib3's own waits: the first retry waits ``backoff`` too (urllib3 retries at
    once); ``Retry-After`` counts on 429/503 only (urllib3 also retries a 413 that carries one), an
    unparseable value is ignored rather than raised, and the wait is the longer of it and the backoff;
    a ``Retry-After`` also holds the host for every worker; an interrupted run stops waiting at once.
    """

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})
    downloader: _Downloader | None = None  # carried by new() (urllib3 makes a new Retry per attempt)
    host = ""

    def new(self, **kw) -> _Retry:
        r = super().new(**kw)
        r.downloader, r.host = self.downloader, self.host
        return r

    def parse_retry_after(self, retry_after: str) -> float:
        return min(parse_retry_after(retry_after) or 0.0, self.retry_after_max)

    def get_backoff_time(self) -> float:
        return _backoff(len(self.history), self.backoff_factor, self.backoff_max)

    def sleep(self, response=None) -> None:
        delay = self.get_backoff_time()
        if response is not None and response.status in self.RETRY_AFTER_STATUS_CODES:
            after = self.get_retry_after(response)
            if after:
                self.downloader.hold(self.host, after)
                delay = max(delay, after)
        self.downloader.pause(self.host, delay)


def _classify(exc: BaseException) -> tuple[str, str]:
    """Map a requests/urllib3/socket exception to (reason, detail)."""
    chain: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(chain) < 20:
        e = todo.pop()
        if e in chain:
            continue
        chain.append(e)
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    kinds = tuple(type(e) for e in chain)
    # once its retries are spent urllib3 wraps the last error in MaxRetryError: report that error
    cause = next((e.reason for e in chain if isinstance(e, u3.MaxRetryError) and e.reason), exc)
    detail = f"{cause.__class__.__name__}: {cause}"[:300]

    def has(*types: type) -> bool:
        return any(issubclass(k, types) for k in kinds)

    if has(u3.NameResolutionError, socket.gaierror):
        return "cannot resolve host", detail
    if has(u3.NewConnectionError, ConnectionRefusedError) and not has(socket.timeout, TimeoutError):
        return "connection failed", detail  # (NewConnectionError subclasses ConnectTimeoutError)
    if has(requests.exceptions.Timeout, u3.TimeoutError, socket.timeout, TimeoutError):
        return "timed out", detail
    if has(requests.exceptions.ChunkedEncodingError, u3.ProtocolError, u3.IncompleteRead):
        return "truncated", detail
    if has(requests.exceptions.ConnectionError, ConnectionError):
        return "connection failed", detail
    return "request failed", detail


@dataclass
class _Config:
    timeout: float
    total_timeout: float | None
    retries: int
    backoff: float
    max_backoff: float
    max_retry_after: float
    max_bytes: int
    verify: Verifier | None
    headers: dict[str, str]


_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"II*\x00", b"MM\x00*", b"BM")


def _looks_like_image(head: bytes) -> bool:
    """True if the first bytes carry a known image signature (JPEG, PNG, GIF, TIFF, BMP, WebP)."""
    return head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


class _Downloader:
    """One run: a session per worker thread, the per-host Retry-After holds, and the stop flag."""

    def __init__(self, cfg: _Config):
        self.cfg = cfg
        self.stop = threading.Event()
        self.retry = _Retry(
            total=cfg.retries,
            status_forcelist=RETRY_STATUS,
            allowed_methods=frozenset({"GET", "HEAD"}),
            backoff_factor=cfg.backoff,
            backoff_max=cfg.max_backoff,
            respect_retry_after_header=True,
            retry_after_max=cfg.max_retry_after,
            raise_on_status=False,  # once retries are spent, hand back the last response to report
        )
        self.retry.downloader = self
        self._held: dict[str, float] = {}  # host -> monotonic time before which no worker asks it
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def hold(self, host: str, seconds: float) -> None:
        with self._lock:
            self._held[host] = max(self._held.get(host, 0.0), time.monotonic() + seconds)

    def pause(self, host: str, seconds: float) -> None:
        """Wait ``seconds``, or longer while ``host`` is held; raises :class:`_Cancelled` if stopped."""
        with self._lock:
            seconds = max(seconds, self._held.get(host, 0.0) - time.monotonic())
        if self.stop.wait(max(0.0, seconds)):
            raise _Cancelled

    def session(self) -> tuple[requests.Session, HTTPAdapter]:
        """This thread's session and its adapter: one per thread, as each request sets its adapter's
        retry budget to what its task has left, which a session shared between threads could not."""
        local = self._local
        if getattr(local, "session", None) is None:
            local.session, local.adapter = requests.Session(), HTTPAdapter(max_retries=self.retry)
            local.session.headers.update(self.cfg.headers)
            for prefix in ("http://", "https://"):
                local.session.mount(prefix, local.adapter)
            with self._lock:
                self._sessions.append(local.session)
        return local.session, local.adapter

    def close(self) -> None:
        for s in self._sessions:
            s.close()

    # -- one task -------------------------------------------------------------------------------
    def run(self, task: DownloadTask) -> DownloadResult:
        cfg, dest = self.cfg, task.dest
        # temporary files a killed run left for this destination (atomic_path: .<name>.<8 chars>.tmp)
        for stale in dest.parent.glob(f".{glob.escape(dest.name)}.{'?' * 8}.tmp"):
            stale.unlink(missing_ok=True)
        if dest.is_file():
            try:
                if cfg.verify is not None:
                    cfg.verify(dest)
                return DownloadResult(task, "skipped")
            except (BadImageError, ArtExtractError, OSError):
                dest.unlink(missing_ok=True)  # present but bad: never leave it under its final name
        host = urlsplit(task.url).hostname or ""
        session, adapter = self.session()
        # urllib3 retries statuses, connection errors and timeouts before the body. A fault inside
        # the body (cut short, a read timeout, over total_timeout, an image that does not decode)
        # is past what it can retry: this loop asks again, from the same budget of attempts.
        attempts = 0
        try:
            while True:
                self.pause(host, _backoff(attempts, cfg.backoff, cfg.max_backoff))
                adapter.max_retries = self.retry.new(total=cfg.retries - attempts)
                adapter.max_retries.host = host
                try:
                    r = session.get(task.url, stream=True, timeout=cfg.timeout)
                except (requests.exceptions.RequestException, OSError) as exc:
                    # urllib3 raises only once the retries left are spent
                    return DownloadResult(task, "failed", cfg.retries + 1, 0, *_classify(exc))
                with r:
                    attempts += len(r.raw.retries.history) + 1 if r.raw.retries else 1
                    try:
                        return DownloadResult(task, "downloaded", attempts, self._save(task, r))
                    except _Failure as exc:
                        if not exc.retry or attempts > cfg.retries:
                            return DownloadResult(task, "failed", attempts, 0, exc.reason, exc.detail)
        except _Cancelled:
            return DownloadResult(task, "failed", attempts, 0, "cancelled", "download interrupted")

    def _save(self, task: DownloadTask, r: requests.Response) -> int:
        """Stream the body to a temporary file, check it, rename it into place; returns its size."""
        cfg = self.cfg
        start = time.monotonic()
        code = r.status_code
        if code != 200:  # a 408/429/5xx here is the last answer once urllib3's retries are spent
            raise _Failure(f"HTTP {code}", f"HTTP {code} {r.reason or ''}".strip())
        ctype = r.headers.get("Content-Type", "")
        clen_h = r.headers.get("Content-Length")
        clen = int(clen_h) if clen_h and clen_h.isdigit() else None
        if clen is not None and clen > cfg.max_bytes:
            raise _Failure("too large", f"{clen / 1e6:.1f} MB is over the {cfg.max_bytes / 1e6:.1f} MB cap")
        with atomic_path(task.dest) as tmp:
            n = 0
            with open(tmp, "wb") as fh:
                try:
                    for chunk in r.iter_content(_CHUNK):
                        if self.stop.is_set():
                            raise _Cancelled
                        n += len(chunk)
                        if n > cfg.max_bytes:
                            raise _Failure("too large", f"body exceeds the {cfg.max_bytes / 1e6:.1f} MB cap")
                        if cfg.total_timeout is not None and time.monotonic() - start > cfg.total_timeout:
                            raise _Failure(
                                "timed out", f"transfer took longer than {cfg.total_timeout:g} s", retry=True
                            )
                        fh.write(chunk)
                except (requests.exceptions.RequestException, OSError) as exc:
                    raise _Failure(*_classify(exc), retry=True) from None
            if clen is not None and n != clen:
                raise _Failure("truncated", f"got {n} of {clen} bytes", retry=True)
            if n == 0:
                raise _Failure("truncated", "empty body", retry=True)
            if cfg.verify is not None:
                try:
                    cfg.verify(tmp)
                except (BadImageError, ArtExtractError) as exc:
                    msg = str(exc).replace(str(tmp), task.dest.name)
                    head = tmp.read_bytes()[:64]
                    if not _looks_like_image(head):
                        # a wrong body (an error page, JSON, ...): asking again will not help
                        raise _Failure(
                            "not an image", f"Content-Type {ctype or '?'} but body starts {head[:24]!r}"
                        ) from None
                    # image bytes that do not decode: damaged in transit; retried, then reported
                    raise _Failure("corrupt image", msg, retry=True) from None
        return n


# -------------------------------------------------------------------------------------------- public
def download_files(
    tasks: Sequence[DownloadTask],
    *,
    workers: int = 8,
    timeout: float = 30.0,
    total_timeout: float | None = 120.0,
    retries: int = 4,
    backoff: float = 1.0,
    max_backoff: float = 60.0,
    max_retry_after: float = 300.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    verify: Verifier | None | str = "image",
    progress: ProgressArg = True,
    desc: str = "downloading",
    label: str = "downloads",
    check_offline: bool = True,
    offline_hint: str = "",
    headers: dict[str, str] | None = None,
) -> DownloadSummary:
    """Fetch every task concurrently; never raises for a single bad file, reports it instead.

    ``timeout``: seconds to connect and per socket read. ``total_timeout``: seconds for one whole
    attempt. ``retries``: extra attempts after the first for transient failures; the wait before
    attempt k+1 is ``min(max_backoff, backoff * 2**(k-1))`` +-25 %, or the server's ``Retry-After``
    (capped at ``max_retry_after``) if longer. ``max_bytes``: size cap per file. ``verify``:
    ``"image"`` (decode with :func:`artextract.images.load_image`), a callable raising
    :class:`ArtExtractError` on a bad file, or None. ``progress``: tqdm bar if True, or a callable
    ``(result, done, total)`` called after each file. Raises :class:`OfflineError` when no host can be
    reached (checked first if ``check_offline``; also when every attempt failed to connect).
    Interrupting (Ctrl-C, or an exception from the progress callable) stops the workers; files
    already verified stay, in-flight ones are discarded, and a rerun resumes.
    """
    tasks = list(tasks)
    dests = collections.Counter(t.dest.resolve() for t in tasks)
    dup = [str(p) for p, c in dests.items() if c > 1]
    if dup:
        raise ArtExtractError(f"{len(dup)} destination(s) named by more than one download, e.g. {dup[0]}")
    if workers < 1:
        raise ArtExtractError(f"workers must be >= 1, got {workers}")
    if verify == "image":
        verifier: Verifier | None = lambda p: verify_image(p, max_bytes=max_bytes)  # noqa: E731
    elif verify is None or callable(verify):
        verifier = verify  # type: ignore[assignment]
    else:
        raise ArtExtractError(f"verify must be 'image', a callable or None, got {verify!r}")
    cfg = _Config(
        timeout=timeout,
        total_timeout=total_timeout,
        retries=max(0, retries),
        backoff=backoff,
        max_backoff=max_backoff,
        max_retry_after=max_retry_after,
        max_bytes=max_bytes,
        verify=verifier,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
    )
    summary = DownloadSummary(label=label)
    start = time.monotonic()
    if not tasks:
        return summary
    todo = [t for t in tasks if not t.dest.is_file()]
    if check_offline and todo:
        check_reachable((t.url for t in todo), timeout=min(timeout, 10.0), hint=offline_hint)

    dl = _Downloader(cfg)
    bar = None
    callback = progress if callable(progress) else None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc=desc, unit="file", dynamic_ncols=True)
    pool = ThreadPoolExecutor(max_workers=min(workers, len(tasks)), thread_name_prefix="download")
    try:
        futures = [pool.submit(dl.run, t) for t in tasks]
        for done, fut in enumerate(as_completed(futures), 1):
            res = fut.result()
            summary.results.append(res)
            if bar is not None:
                bar.update(1)
                if res.status == "failed":
                    bar.set_postfix(failed=summary.failed, refresh=False)
            if callback is not None:
                callback(res, done, len(tasks))
    except BaseException:
        dl.stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        dl.close()
        if bar is not None:
            bar.close()
        summary.elapsed_s = time.monotonic() - start
    order = {id(t): i for i, t in enumerate(tasks)}
    summary.results.sort(key=lambda r: order.get(id(r.task), 0))
    fetched = [r for r in summary.results if r.status != "skipped"]
    if (
        fetched
        and all(
            r.status == "failed" and r.reason in ("cannot resolve host", "connection failed") for r in fetched
        )
        and not any(r.status == "downloaded" for r in summary.results)
    ):
        host = urlsplit(fetched[0].task.url).hostname
        tail = f"; {offline_hint}" if offline_hint else ""
        raise OfflineError(f"could not connect to {host} for any of {len(fetched)} file(s): offline?{tail}")
    return summary


#: what :func:`fetch_file` changes from :func:`download_files`' defaults for one data file
FILE_DEFAULTS: dict[str, Any] = {
    "total_timeout": 900.0,
    "max_bytes": 2 * 1024**3,
    "verify": None,
    "progress": False,
}


def fetch_file(url: str, dest: str | Path, **options: Any) -> DownloadResult:
    """Fetch one file atomically (e.g. a data table) with the same retries; returns its result.

    ``options``: any of :func:`download_files`' (``timeout``, ``retries``, ``backoff``, ``verify``,
    ``offline_hint``, ...); the defaults are :data:`FILE_DEFAULTS`, then :func:`download_files`'.
    """
    dest = Path(dest)
    task = DownloadTask(url, dest, dest.name)
    summary = download_files([task], workers=1, label=dest.name, **{**FILE_DEFAULTS, **options})
    return summary.results[0]
