"""Headless Chromium driven over the DevTools protocol (the `websockets` client that
dagster-webserver's uvicorn brings): open a page at a person's window size, wait until it has
drawn what a test waits for, and read what it shows. Debian: `apt-get install chromium`."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from websockets.sync.client import ClientConnection, connect

from resnet_pipeline_tests._processes import stop_group

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1280, 900  # the first screen of a laptop


class Page:
    """One tab: evaluate JavaScript in it and wait for a condition."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    def call(self, method: str, **params) -> dict:
        ident = next(self._ids)
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout: float = 60) -> None:
        """Until ``condition`` (a JavaScript expression) is true; a timeout names it and says
        what the page shows."""
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"Boolean({condition})"):
            if time.monotonic() > deadline:
                shown = self.evaluate("document.body ? document.body.innerText : ''") or ""
                raise TimeoutError(f"{condition} never held; the page shows: {shown[:2000]}")
            time.sleep(0.25)


class Chromium:
    def __init__(self, port: int) -> None:
        self._port = port

    @contextmanager
    def open(self, url: str) -> Iterator[Page]:
        """``url`` in a new tab of ``WIDTH`` x ``HEIGHT``; the tab is closed afterwards."""
        endpoint = f"http://127.0.0.1:{self._port}/json"
        request = urllib.request.Request(f"{endpoint}/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=30) as response:
            target = json.loads(response.read())
        try:
            with connect(target["webSocketDebuggerUrl"], max_size=None) as socket:
                page = Page(socket)
                page.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=WIDTH,
                    height=HEIGHT,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                page.call("Page.navigate", url=url)
                yield page
        finally:
            with urllib.request.urlopen(f"{endpoint}/close/{quote(target['id'])}", timeout=30):
                pass


@contextmanager
def chromium(profile: Path, timeout: float = 60) -> Iterator[Chromium]:
    """A headless Chromium with its own profile folder; stopped with its children."""
    assert BROWSER, "Chromium is not installed (apt-get install chromium)"
    profile.mkdir(parents=True, exist_ok=True)
    active = profile / "DevToolsActivePort"
    active.unlink(missing_ok=True)  # a port of an earlier browser on this profile
    proc = subprocess.Popen(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not (active.exists() and active.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{BROWSER} did not open its DevTools port")
            time.sleep(0.2)
        yield Chromium(int(active.read_text().split()[0]))
    finally:
        stop_group(proc)
