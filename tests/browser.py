"""A headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``).

No websocket library and no downloaded browser: Debian's ``chromium`` and the standard library. Used by
the report's browser test to load pages from ``file://``, collect console errors and failed loads, check
every image decodes, and take a screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "install it with 'apt-get install -y chromium' (Debian/Ubuntu)"


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """One headless browser; ``open(url)`` returns what the page logged, failed to load, and its screenshot."""

    def __init__(self, binary: str, timeout: float = 60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="hat-chromium-")
        cmd_r, self.cmd_w = os.pipe()  # we write commands, the browser reads fd 3
        self.out_r, out_w = os.pipe()  # the browser writes fd 4, we read

        def fds() -> None:  # fds 3 and 4, inheritable, reach the browser (close_fds=False); via copies, as
            a, b = os.dup(cmd_r), os.dup(out_w)  # the pipes may themselves be numbered 3 or 4
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--disable-dev-shm-usage", f"--user-data-dir={self.profile}", "--allow-file-access-from-files",
             "about:blank"],
            preexec_fn=fds, close_fds=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.environ.get("HAT_CHROMIUM_LOG", os.devnull), "w"))
        os.close(cmd_r)
        os.close(out_w)
        self.buf = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.out_r], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.out_r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            got = self._read(deadline)
            if got.get("id") == self.next_id:
                if "error" in got:
                    raise RuntimeError(f"{method}: {got['error']}")
                return got.get("result", {})
            self.events.append(got)

    def wait_for(self, method: str, session: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == method and e.get("sessionId") == session for e in self.events):
            self.events.append(self._read(deadline))

    def open(self, url: str, width: int = 1280, height: int = 900) -> dict[str, Any]:
        """Load ``url``; return {'errors': [...], 'failed': [...], 'broken_images': [...], 'images': n, 'png': bytes}."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=s)
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False}, session=s)
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=s)
        self.wait_for("Page.loadEventFired", s)
        check = """Promise.all(Array.from(document.images).map(function (im) {
            return new Promise(function (ok) {
              var probe = new Image();
              probe.onload = function () { ok(probe.naturalWidth > 0 ? null : im.getAttribute('src')); };
              probe.onerror = function () { ok(im.getAttribute('src')); };
              probe.src = im.src;
            });
          })).then(function (r) { return JSON.stringify({n: r.length, broken: r.filter(function (x) { return x; })}); })"""
        got = self.call("Runtime.evaluate", {"expression": check, "awaitPromise": True, "returnByValue": True}, session=s)
        imgs = json.loads(got["result"]["value"])
        png = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"}, session=s)["data"])
        mine = [e for e in self.events if e.get("sessionId") == s]
        errors = [e["params"]["entry"].get("text", "") + " " + e["params"]["entry"].get("url", "")
                  for e in mine if e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error"]
        errors += [" ".join(str(a.get("value", a.get("description", ""))) for a in e["params"].get("args", []))
                   for e in mine if e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert")]
        errors += [e["params"]["exceptionDetails"].get("text", "") + " " +
                   str(e["params"]["exceptionDetails"].get("exception", {}).get("description", ""))
                   for e in mine if e.get("method") == "Runtime.exceptionThrown"]
        failed = [e["params"].get("errorText", "") for e in mine if e.get("method") == "Network.loadingFailed"]
        self.call("Target.closeTarget", {"targetId": target})
        return {"errors": errors, "failed": failed, "broken_images": imgs["broken"], "images": imgs["n"], "png": png}

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.cmd_w, self.out_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def screenshot(url: str, out: Path) -> dict[str, Any]:
    """Open one page in a fresh browser and write its screenshot (a helper for docs and manual checks)."""
    binary = find_chromium()
    if not binary:
        raise RuntimeError(f"no chromium found; {INSTALL_HINT}")
    with Chromium(binary) as c:
        got = c.open(url)
    out.write_bytes(got["png"])
    return got
