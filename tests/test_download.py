"""The downloader against a local HTTP server on 127.0.0.1 that injects faults.

Faults: HTTP 500 (transient and permanent), 429 with Retry-After, a hung response (timeout), a
truncated body (transient and permanent), an HTML body served as image/jpeg, a slow drip, 404, an
oversized body. Checks: every good image arrives valid, every failure is reported with its reason,
an interrupted run resumes without refetching verified files (requests counted server-side), and no
partial file is ever left under a final name (including after SIGKILL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path

import pytest
from fault_server import FaultServer

from artextract.errors import OfflineError
from artextract.images import load_image
from artextract.sources.download import (
    DownloadTask,
    download_files,
    parse_retry_after,
)

FAST = dict(timeout=0.4, total_timeout=3.0, retries=2, backoff=0.01, max_backoff=0.05, progress=False)


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------------------------ tests
GOOD = {
    "ok1.jpg": ("ok",),
    "ok2.jpg": ("ok",),
    "ok3.jpg": ("ok",),
    "e500_twice.jpg": ("status_then_ok", 2, 500),
    "r429.jpg": ("429_then_ok", 1, "1"),
    "hang_once.jpg": ("hang_then_ok", 1, 1.0),
    "truncated_once.jpg": ("truncate_then_ok", 1),
    "slow.jpg": ("slow",),
}
BAD = {
    "e500.jpg": (("status", 500), "HTTP 500"),
    "missing.jpg": (("status", 404), "HTTP 404"),
    "truncated.jpg": (("truncate",), "truncated"),
    "html.jpg": (("html",), "not an image"),
    "huge.jpg": (("huge",), "too large"),
    "hang.jpg": (("hang", 1.0), "timed out"),
}


def test_faults_good_images_valid_and_failures_reported(tmp_path):
    routes = {**GOOD, **{k: v[0] for k, v in BAD.items()}}
    out = tmp_path / "images"
    with FaultServer(routes) as srv:
        tasks = [DownloadTask(srv.url(name), out / name, name) for name in sorted(routes)]
        summary = download_files(tasks, workers=4, max_bytes=1_000_000, **FAST)
        counts, times, bodies = dict(srv.counts), dict(srv.times), srv.bodies

    by_key = {r.key: r for r in summary.results}
    assert len(summary.results) == len(routes)
    for name in GOOD:
        r = by_key[name]
        assert r.status == "downloaded", (name, r.reason, r.detail)
        assert (out / name).read_bytes() == bodies[name]
        load_image(out / name)  # decodes
    for name, (_, reason) in BAD.items():
        r = by_key[name]
        assert r.status == "failed" and r.reason == reason, (name, r.status, r.reason, r.detail)
        assert not (out / name).exists(), f"no file may remain under a final name for {name}"
    assert summary.failed == len(BAD) and summary.downloaded == len(GOOD) and not summary.ok
    # retry policy, seen from the server
    assert counts["e500_twice.jpg"] == 3 and counts["e500.jpg"] == 3  # 1 + retries
    assert counts["missing.jpg"] == 1 and counts["html.jpg"] == 1  # permanent: not retried
    assert counts["truncated_once.jpg"] == 2 and counts["hang_once.jpg"] == 2
    t429 = times["r429.jpg"]
    assert len(t429) == 2 and t429[1] - t429[0] >= 0.9, "Retry-After: 1 must be honoured"
    assert no_temp_files(tmp_path)
    line = summary.summary_line()
    assert f"{len(GOOD)} downloaded" in line and f"{len(BAD)} failed" in line and "1 HTTP 404" in line
    report = summary.failure_report()
    assert all(reason in report for _, reason in BAD.values())
    csv_path = summary.write_failures_csv(tmp_path / "failures.csv")
    assert len(csv_path.read_text().strip().splitlines()) == len(BAD) + 1


class Interrupt(Exception):
    pass


def test_interrupted_download_resumes_without_refetching(tmp_path):
    names = [f"img{i:02d}.jpg" for i in range(12)]
    routes = {n: ("hang_then_ok", 1, 0.05) for n in names}  # every first fetch takes 50 ms
    out = tmp_path / "images"
    with FaultServer(routes) as srv:
        tasks = [DownloadTask(srv.url(n), out / n, n) for n in names]

        def stop_after_4(result, done, total):
            if done == 4:
                raise Interrupt

        with pytest.raises(Interrupt):
            download_files(tasks, workers=2, **{**FAST, "progress": stop_after_4})
        present = sorted(p.name for p in out.glob("*.jpg"))
        assert 4 <= len(present) < len(names)
        for p in present:
            load_image(out / p)  # every file under a final name is complete
        assert no_temp_files(out)
        first_counts = dict(srv.counts)

        # a damaged file under a final name (e.g. disk trouble) is detected and fetched again
        damaged = present[0]
        (out / damaged).write_bytes(b"\xff\xd8 not really a jpeg")
        summary = download_files(tasks, workers=2, **FAST)
        counts = dict(srv.counts)

    assert summary.ok and summary.downloaded + summary.skipped == len(names)
    assert summary.skipped == len(present) - 1
    for n in present:
        expected = first_counts[n] + (1 if n == damaged else 0)
        assert counts[n] == expected, f"{n} was refetched although verified"
    for n in names:
        assert (out / n).read_bytes() == srv.bodies[n]
    assert no_temp_files(out)


CHILD = """
import sys
from pathlib import Path
from artextract.sources.download import DownloadTask, download_files
download_files([DownloadTask(sys.argv[1], Path(sys.argv[2]), "x")], workers=1, timeout=30,
               retries=0, progress=False)
"""


def test_sigkill_mid_body_leaves_no_file_under_final_name(tmp_path):
    dest = tmp_path / "images" / "stall.jpg"
    with FaultServer({"stall.jpg": ("stall",)}) as srv:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        child = subprocess.Popen([sys.executable, "-c", CHILD, srv.url("stall.jpg"), str(dest)], env=env)
        try:
            assert srv.half_sent.wait(30), "child never started downloading"
            time.sleep(0.2)  # let it write the half body to its temporary file
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
        assert not dest.exists(), "a killed download must not leave a file under its final name"
        leftovers = list(dest.parent.glob(".stall.jpg.*.tmp"))
        assert leftovers, "expected the killed run's temporary file"
        srv.release.set()
        srv.routes["stall.jpg"] = ("ok",)
        summary = download_files([DownloadTask(srv.url("stall.jpg"), dest)], **FAST)
        body = srv.bodies["stall.jpg"]
    assert summary.ok and dest.read_bytes() == body
    assert no_temp_files(dest.parent), "stale temporary files are cleaned on resume"


def test_offline_unresolvable_host_one_line(tmp_path):
    tasks = [DownloadTask("http://no-such-host.invalid/a.jpg", tmp_path / "a.jpg")]
    with pytest.raises(OfflineError) as exc:
        download_files(tasks, **FAST, offline_hint="pass --tables DIR")
    msg = str(exc.value)
    assert "no-such-host.invalid" in msg and "\n" not in msg and "--tables" in msg


def test_offline_unreachable_port(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    tasks = [DownloadTask(f"http://127.0.0.1:{port}/a.jpg", tmp_path / "a.jpg")]
    with pytest.raises(OfflineError, match="cannot reach 127.0.0.1"):
        download_files(tasks, **FAST)
    # without the up-front check, the same is concluded from the failed attempts
    with pytest.raises(OfflineError, match="could not connect"):
        download_files(tasks, **FAST, check_offline=False)
    assert not (tmp_path / "a.jpg").exists()


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = time.time()
    assert 25 <= parse_retry_after(formatdate(now + 30, usegmt=True), now=now) <= 31
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_duplicate_destinations_refused(tmp_path):
    from artextract.errors import ArtExtractError

    t = [
        DownloadTask("http://127.0.0.1:1/a", tmp_path / "a.jpg"),
        DownloadTask("http://x/b", tmp_path / "a.jpg"),
    ]
    with pytest.raises(ArtExtractError, match="more than one download"):
        download_files(t, **FAST)


# ------------------------------------------------------------------- the session's retry policy
def test_retry_after_on_503_honoured_and_held_for_the_host(tmp_path):
    """A 503's Retry-After (HTTP date here) is waited out, by every worker asking that host."""
    routes = {
        "busy.jpg": ("status_then_ok", 1, 503, formatdate(time.time() + 2, usegmt=True)),
        "other.jpg": ("hang_then_ok", 1, 0.6),  # its first answer times out, the retry waits for the hold
    }
    with FaultServer(routes) as srv:
        tasks = [DownloadTask(srv.url(n), tmp_path / n, n) for n in sorted(routes)]
        summary = download_files(tasks, workers=2, **{**FAST, "timeout": 0.3})
        times = dict(srv.times)
    assert summary.ok and summary.downloaded == 2
    busy, other = times["busy.jpg"], times["other.jpg"]
    assert len(busy) == 2 and busy[1] - busy[0] >= 0.9, "Retry-After as an HTTP date must be honoured"
    assert len(other) == 2 and other[1] - busy[0] >= 0.9, "the hold applies to every worker on the host"


def test_status_retry_policy(tmp_path):
    """413 with Retry-After and 404 fail at once; a Retry-After that does not parse falls back to backoff;
    body faults and HTTP errors draw on one budget of attempts."""
    routes = {
        "e413.jpg": (("status", 413, "1"), "HTTP 413"),
        "missing.jpg": (("status", 404), "HTTP 404"),
        "garbled.jpg": (("429_then_ok", 1, "soon"), None),
        "mixed.jpg": (("seq", ("truncate",), ("status", 500)), "HTTP 500"),
    }
    with FaultServer({k: v[0] for k, v in routes.items()}) as srv:
        tasks = [DownloadTask(srv.url(n), tmp_path / n, n) for n in sorted(routes)]
        summary = download_files(tasks, workers=2, **FAST)
        counts = dict(srv.counts)
    by_key = {r.key: r for r in summary.results}
    for name, (_, reason) in routes.items():
        r = by_key[name]
        assert (r.status, r.reason) == (("failed", reason) if reason else ("downloaded", "")), (name, r)
    assert counts["e413.jpg"] == 1 and counts["missing.jpg"] == 1
    assert counts["garbled.jpg"] == 2
    assert counts["mixed.jpg"] == 3 and by_key["mixed.jpg"].attempts == 3  # 1 + retries, not more


def test_interrupt_cuts_a_long_retry_after_short(tmp_path, monkeypatch):
    from artextract.sources import download

    run = download._Downloader.run

    def late_for_ok(self, task):  # the worst order: the 429 comes before ok.jpg is asked for
        if task.key == "ok.jpg":
            time.sleep(0.3)
        return run(self, task)

    monkeypatch.setattr(download._Downloader, "run", late_for_ok)
    routes = {"ok.jpg": ("ok",), "slow_down.jpg": ("429_then_ok", 1, "60")}
    with FaultServer(routes) as srv:
        # ok.jpg by another name of the same server: a Retry-After holds its whole host, so ok.jpg (whose
        # arrival interrupts the run) would otherwise wait the 60 s too
        def url(n: str) -> str:
            return srv.url(n).replace("127.0.0.1", "localhost") if n == "ok.jpg" else srv.url(n)

        tasks = [DownloadTask(url(n), tmp_path / n, n) for n in routes]

        def stop_when_ok_arrives(result, done, total):
            if result.key == "ok.jpg":
                time.sleep(0.3)  # let the other worker get its 429 and start waiting
                raise Interrupt

        start = time.monotonic()
        with pytest.raises(Interrupt):
            download_files(tasks, workers=2, **{**FAST, "progress": stop_when_ok_arrives})
        assert time.monotonic() - start < 10, "workers must stop waiting when the run is interrupted"
    assert not (tmp_path / "slow_down.jpg").exists() and no_temp_files(tmp_path)
