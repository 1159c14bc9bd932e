"""How long logging to an MLflow tracking server may take: seconds, never minutes.

MLflow's client retries a failing request 7 times with exponential backoff and a 120 s timeout
each, and waits as long as a ``Retry-After`` header asks: behind a proxy answering 503, one fold
spent 249 s in retries. Our calls run with ``HTTP_LIMITS`` instead (a few seconds a request,
one retry, no ``Retry-After`` wait), set for the duration of our calls only (``bounded_http``)
and restored after them; and an ``http(s)`` store is probed first
(``unreachable``): no answer, or a 5xx answer, and nothing is sent to it at all.

``WORST_CASE_S``: the longest a run's tracking can take when the server fails (the probe, then
one request tried twice: the first failure ends the run's tracking).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.error import HTTPError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

PROBE_TIMEOUT_S = 3.0
REQUEST_TIMEOUT_S = 5
REQUEST_RETRIES = 1
# MLflow's own variables (mlflow.environment_variables), read by its client at each request.
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT_S),
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(REQUEST_RETRIES),
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": "false",
}
WORST_CASE_S = PROBE_TIMEOUT_S + (1 + REQUEST_RETRIES) * REQUEST_TIMEOUT_S + REQUEST_RETRIES


@contextmanager
def bounded_http() -> Iterator[None]:
    """MLflow's HTTP requests inside the block follow ``HTTP_LIMITS``; the variables are as
    they were afterwards."""
    before = {name: os.environ.get(name) for name in HTTP_LIMITS}
    os.environ.update(HTTP_LIMITS)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def unreachable(uri: str) -> str | None:
    """Why the ``http(s)`` store at ``uri`` cannot take runs now (no answer within
    ``PROBE_TIMEOUT_S``, or a 5xx answer from its ``/health``), or None (other stores, and a
    server that answers: a 4xx is MLflow's to explain)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return None
    health = parts._replace(
        netloc=parts.netloc.rsplit("@", 1)[-1],  # credentials stay out of the probe
        path=parts.path.rstrip("/") + "/health",
        query="",
        fragment="",
    )
    try:
        with urlopen(urlunsplit(health), timeout=PROBE_TIMEOUT_S):
            return None
    except HTTPError as error:
        if error.code >= 500:
            return f"its /health answers {error.code} {error.reason}"
        return None
    except (OSError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
