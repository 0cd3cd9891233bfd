"""A local HTTP server on 127.0.0.1 that injects faults, standing in for IIIF and GitHub in tests.

``FaultServer({"path": (fault, *params)})`` serves each path per its fault and counts requests.
Faults: ok, body (payload, content type), status (code[, Retry-After]), status_then_ok (k, code[,
Retry-After]), 429_then_ok (k, Retry-After), hang (seconds), hang_then_ok (k, seconds), truncate,
truncate_then_ok (k), html, slow, huge, stall (half a body, then wait for ``release``), seq (one
route per request, the last repeating).
"""

from __future__ import annotations

import collections
import contextlib
import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image


def jpeg_bytes(seed: int, size: int = 24) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


# ---------------------------------------------------------------------------------- fault server
class FaultServer:
    """Serves ``/<name>`` according to ``routes[name]`` = (fault, params); counts every request."""

    def __init__(self, routes: dict[str, tuple]):
        self.routes = dict(routes)
        self.counts: collections.Counter[str] = collections.Counter()
        self.times: dict[str, list[float]] = collections.defaultdict(list)
        self.bodies = {name: jpeg_bytes(i) for i, name in enumerate(sorted(routes))}
        self.half_sent = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                with server.lock:
                    server.counts[name] += 1
                    n = server.counts[name]
                    server.times[name].append(time.monotonic())
                fault, *params = server.routes.get(name, ("404",))
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server.respond(self, name, fault, params, n)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):  # clients hang up on purpose here
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def respond(self, h: BaseHTTPRequestHandler, name: str, fault: str, params: list, n: int) -> None:
        body = self.bodies.get(name, b"")

        def send(status: int, payload: bytes, ctype: str = "image/jpeg", extra=(), length=None):
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(payload) if length is None else length))
            for k, v in extra:
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(payload)
            h.wfile.flush()

        def truncated():
            h.close_connection = True
            send(200, body[: len(body) // 2], length=len(body))

        if fault == "ok":
            send(200, body)
        elif fault == "status_then_ok":  # params: (k, status[, retry_after_header])
            k, status, *ra = params
            extra = [("Retry-After", ra[0])] if ra else []
            send(status, b"oops", "text/plain", extra) if n <= k else send(200, body)
        elif fault == "status":  # params: (status[, retry_after_header])
            extra = [("Retry-After", params[1])] if len(params) > 1 else []
            send(params[0], b"nope", "text/plain", extra)
        elif fault == "seq":  # params: one route per request; the last one repeats
            route = params[min(n, len(params)) - 1]
            self.respond(h, name, route[0], list(route[1:]), n)
        elif fault == "429_then_ok":  # params: (k, retry_after_header)
            k, ra = params
            send(429, b"slow down", "text/plain", [("Retry-After", ra)]) if n <= k else send(200, body)
        elif fault == "hang_then_ok":  # params: (k, seconds)
            k, secs = params
            if n <= k:
                time.sleep(secs)
            send(200, body)
        elif fault == "hang":
            time.sleep(params[0])
            send(200, body)
        elif fault == "truncate_then_ok":
            truncated() if n <= params[0] else send(200, body)
        elif fault == "truncate":
            truncated()
        elif fault == "body":  # params: (payload, content type)
            send(200, params[0], params[1])
        elif fault == "html":
            send(200, b"<html><body>Service temporarily unavailable</body></html>", "image/jpeg")
        elif fault == "slow":  # drip the body in 6 pieces, 50 ms apart: slow but within limits
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            step = len(body) // 6 + 1
            for i in range(0, len(body), step):
                h.wfile.write(body[i : i + step])
                h.wfile.flush()
                time.sleep(0.05)
        elif fault == "huge":
            h.close_connection = True
            send(200, b"\xff\xd8" + b"\0" * 1000, length=10**9)
        elif fault == "stall":  # half the body, then wait until released (for the SIGKILL test)
            h.close_connection = True
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            self.half_sent.set()
            self.release.wait(10)
        else:
            send(404, b"not found", "text/plain")
