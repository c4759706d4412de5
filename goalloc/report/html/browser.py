"""A headless Chromium driven over the DevTools protocol, to check HTML reports the way a
reader's browser shows them (tests/test_html_browser.py, benchmarks/bench_html.py): console
messages and exceptions, every network request, load time, DOM queries and screenshots.

Needs `websocket-client` (in the test extra) and a Chromium (goalloc.report.html.png finds it).

    with Browser() as b:
        visit = b.open("file:///tmp/report.html")   # console, requests, load time
        n = b.eval("document.querySelectorAll('svg.chart').length")
        png = b.screenshot()
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from goalloc.report.html.png import browser_command, find_browser


@dataclass
class Visit:
    url: str
    load_s: float  # navigation start to the load event, wall clock
    shown_s: float  # ... to the second animation frame after it (the page laid out and painted)
    requests: list[str] = field(default_factory=list)  # every URL the page requested
    console: list[dict] = field(default_factory=list)  # {level, text}: console and log entries
    exceptions: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return self.exceptions + [m["text"] for m in self.console
                                  if m["level"] in ("error", "warning", "assert")]


class Browser:
    def __init__(self, width: int = 1000, height: int = 1400, timeout: float = 30.0):
        self.width, self.height, self.timeout = width, height, timeout
        self.proc = None
        self.ws = None
        self.session = None
        self.tmp = None
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Browser:
        import websocket  # websocket-client

        exe = find_browser()
        if exe is None:
            raise RuntimeError("no Chromium found (apt-get install chromium)")
        self.tmp = tempfile.mkdtemp(prefix="goalloc-cdp-")
        cmd = browser_command(exe, f"--user-data-dir={self.tmp}", "--remote-debugging-port=0",
                              f"--window-size={self.width},{self.height}", "about:blank")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.tmp, "DevToolsActivePort")
        deadline = time.monotonic() + self.timeout
        while not (os.path.exists(port_file) and len(open(port_file).read().split()) >= 2):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.__exit__(None, None, None)
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.05)
        port, path = open(port_file).read().split()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}",
                                              timeout=self.timeout, suppress_origin=True)
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=self.width,
                  height=self.height, deviceScaleFactor=1, mobile=False)
        return self

    def __exit__(self, *exc) -> None:
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:  # noqa: BLE001 - closing a dead socket
                pass
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- protocol --------------------------------------------------------------------------
    def call(self, method: str, session: bool = False, **params) -> dict:
        """Send one command and wait for its reply; events meanwhile are kept in self.events."""
        msg_id = next(self.ids)
        msg = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev["method"] == method:
                    return self.events.pop(i)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {self.timeout} s")
            self.events.append(json.loads(self.ws.recv()))

    # -- pages -----------------------------------------------------------------------------
    def open(self, url: str) -> Visit:
        """Navigate and wait for the load event; what the page logged and requested."""
        self.events.clear()
        t0 = time.perf_counter()
        self.call("Page.navigate", session=True, url=url)
        self.wait_event("Page.loadEventFired")
        load = time.perf_counter() - t0
        self.eval("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        shown = time.perf_counter() - t0
        self.eval("new Promise(r => setTimeout(r, 50))")  # late console messages
        v = Visit(url, load, shown)
        for ev in self.events:
            p = ev.get("params", {})
            if ev["method"] == "Network.requestWillBeSent":
                v.requests.append(p["request"]["url"])
            elif ev["method"] == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", "")))
                                for a in p.get("args", []))
                v.console.append({"level": p.get("type"), "text": text})
            elif ev["method"] == "Log.entryAdded":
                v.console.append({"level": p["entry"]["level"], "text": p["entry"]["text"]})
            elif ev["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                v.exceptions.append(d.get("exception", {}).get("description") or d["text"])
        return v

    def eval(self, expression: str):
        """Evaluate in the page (promises awaited); the JSON-able result."""
        r = self.call("Runtime.evaluate", session=True, expression=expression,
                      awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression[:60]}...: {r['exceptionDetails']}")
        return r["result"].get("value")

    def screenshot(self, full_page: bool = True) -> bytes:
        """PNG of the page (the whole page when `full_page`)."""
        params = {"format": "png"}
        if full_page:
            h = int(self.eval("document.documentElement.scrollHeight"))
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": self.width, "height": h, "scale": 1})
        return base64.b64decode(self.call("Page.captureScreenshot", session=True,
                                          **params)["data"])
