"""Headless Chromium, offline, driven by its command line: shared by the browser tests.

tests/test_browser.py opens each executed notebook exported to HTML, tests/test_site.py
each page of the website. Chromium runs with name resolution turned off (no host name
resolves, so nothing can load from the network) and is driven by its own command line
(--dump-dom, --screenshot): no driver to install. An error that happens in a page is
written into the DOM by `RECORDER`, a script that must come first in the page's <head>,
since Chromium's log does not say which console messages are errors.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
SKIP_REASON = "no Chromium installed (Debian: apt-get install chromium)"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",  # software WebGL for circuitsvis's canvases, allowed explicitly
    "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no host name resolves
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=30000",  # run timers and scripts for up to 30 s of page time
]
RECORDER = """<script>
(function () {
  var errors = [];
  function record(text) {
    errors.push(String(text));
    document.documentElement.setAttribute("data-page-errors", JSON.stringify(errors));
  }
  var consoleError = console.error;
  console.error = function () {
    record("console.error: " + Array.prototype.join.call(arguments, " "));
    return consoleError.apply(console, arguments);
  };
  window.addEventListener("error", function (event) {
    var target = event.target;
    if (target && target !== window && (target.src || target.href)) {
      record("failed to load " + (target.src || target.href));
    } else {
      record("uncaught: " + event.message);
    }
  }, true);
  window.addEventListener("unhandledrejection", function (event) { record("unhandled rejection: " + event.reason); });
  document.documentElement.setAttribute("data-page-errors", "[]");
})();
</script>"""


def run(url: str, profile: Path, *extra: str, timeout: int = 180) -> subprocess.CompletedProcess:
    """Chromium on `url` (a file:// address) with a fresh profile folder `profile`."""
    assert CHROMIUM is not None, SKIP_REASON
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def dump_dom(url: str, profile: Path):
    """The page's DOM after its scripts ran (BeautifulSoup), and Chromium's log."""
    from bs4 import BeautifulSoup

    result = run(url, profile, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    return BeautifulSoup(result.stdout, "html.parser"), result.stderr


def page_errors(dom, log: str) -> list[str]:
    """What `RECORDER` saw go wrong in the page, and the uncaught errors Chromium logged."""
    html = dom.find("html")
    errors = json.loads(html.get("data-page-errors", '["the recorder did not run"]'))
    return errors + [line for line in log.splitlines() if "CONSOLE" in line and "Uncaught" in line]


def undrawn_figures(dom) -> list[str]:
    """The plotly figures with no SVG drawn and the circuitsvis views with neither a canvas
    of non-zero width nor an SVG."""
    bad = []
    for div in dom.select("div.plotly-graph-div"):
        svg = div.select_one("svg.main-svg")
        if svg is None or svg.find(True) is None:
            bad.append(f"plotly figure {div.get('id')} did not draw")
    for view in dom.select('div[id^="circuits-vis-"]'):
        canvases = [c for c in view.select("canvas") if int(c.get("width", 0)) > 0]
        if not (canvases or view.select("svg")):
            bad.append(f"circuitsvis view {view.get('id')} drew nothing")
    return bad
