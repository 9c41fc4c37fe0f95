"""Browser fixtures: Debian's Chromium driven by Playwright (Python).

Playwright's own browser download does not work on these machines, so the tests
launch the system Chromium (`apt-get install chromium`, /usr/bin/chromium) and are
skipped with the reason when it or the playwright package is missing.
Screenshots for the README are written to docs/ only when SOUFFLEUR_SCREENSHOTS=1
(so an ordinary test run leaves the work tree clean); otherwise to the test's tmp dir.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "streaming" / "service" / "static"
CHROMIUM = os.environ.get("SOUFFLEUR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _skip_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; scripts/test.sh does it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="package")  # Playwright's sync API runs an event loop while open:
def browser() -> Iterator:          # closing it with this package lets later tests use asyncio.run
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 460, "height": 1000})
    yield ctx
    ctx.close()


def watch_errors(page) -> list[str]:
    """JavaScript errors of a page (a test asserts there are none)."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: D401 - keep test output clean
        pass


@pytest.fixture(scope="session")
def static_url() -> Iterator[str]:
    """streaming/service/static over plain HTTP at /static/: the overlay's modules without a server."""
    handler = functools.partial(_Quiet, directory=str(STATIC.parent))  # /static/… as on the server
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def save_screenshot(page, name: str, tmp: Path, **kw) -> Path:
    """Screenshot to tmp; also to docs/NAME when SOUFFLEUR_SCREENSHOTS=1."""
    path = tmp / name
    page.screenshot(path=str(path), **kw)
    if os.environ.get("SOUFFLEUR_SCREENSHOTS") == "1":
        shutil.copyfile(path, ROOT / "docs" / name)
    return path


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "browser: drives Chromium (skipped without /usr/bin/chromium)")
