"""Broken MLflow tracking servers on 127.0.0.1: a real HTTP server that answers 503 (with a
``Retry-After`` of minutes, as an overloaded proxy does) and counts what it was asked."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RETRY_AFTER_S = 120


@dataclass
class Requests:
    """Each request's method and path, in arrival order, and what ``on_request`` returned."""

    seen: list[str] = field(default_factory=list)
    observed: list[object] = field(default_factory=list)


@contextmanager
def unavailable_server(
    healthy: bool = False, on_request: Callable[[], object] | None = None
) -> Iterator[tuple[str, Requests]]:
    """A server at the yielded URI answering 503 to every request (``healthy``: ``/health``
    answers 200 OK, as a server whose API alone fails); ``on_request`` runs at each request."""
    requests = Requests()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            with lock:
                requests.seen.append(f"{self.command} {self.path}")
                if on_request is not None:
                    requests.observed.append(on_request())
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if healthy and self.path.rstrip("/").endswith("/health"):
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")
                return
            body = b"Service Unavailable"
            self.send_response(503)
            self.send_header("Retry-After", str(RETRY_AFTER_S))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
