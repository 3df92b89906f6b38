"""Browser tests of the web dashboard: a real `cpnet serve` (east-data-west-compute scenario, local
executor, so submitted jobs really run) and Debian's Chromium driven by Playwright (sync API).

Playwright's own browser download is not used: the tests launch /usr/bin/chromium, which
`make test` installs (scripts/system-deps.sh). Without it the tests are skipped, saying why.
Every test writes full-page screenshots into artifacts/dashboard/ at the repository root.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))  # the API tests' live_server module
from live_server import CPNET, Server, free_port

CHROMIUM = Path(os.environ.get("CPNET_CHROMIUM", "/usr/bin/chromium"))
SCENARIO = "east-data-west-compute"
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "dashboard"
TENANT_A, TENANT_B = "web-a", "web-b"
WAIT_MS = 10_000  # the longest any single page expectation or action waits
expect.set_options(timeout=WAIT_MS)

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed (scripts/system-deps.sh installs Debian's chromium; make test runs it)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(needs_chromium)


@dataclass
class Tokens:
    admin: str
    a: str
    b: str


@dataclass
class Live:
    """The dashboard's server, its tokens and a CLI runner bound to it."""

    srv: Server
    tokens: Tokens

    @property
    def url(self) -> str:
        return self.srv.url

    def cli(self, token: str, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CPNET_URL": self.srv.url, "CPNET_TOKEN": token, "CPNET_CONFIG": str(self.srv.data_dir / "none.yaml")}
        return subprocess.run([*CPNET, *args], capture_output=True, text=True, env=env, timeout=timeout_s)

    def submit(self, token: str, *command: str) -> str:
        """`cpnet job submit -- COMMAND` through the real CLI; returns the job id."""
        out = self.cli(token, "job", "submit", "--", *command)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def wait_state(self, token: str, job_id: str, states: set[str], timeout_s: float = 30) -> dict:
        with self.srv.client(token) as c:
            deadline = time.monotonic() + timeout_s
            while True:
                j = c.get(f"/v1/jobs/{job_id}").json()
                if j["state"] in states:
                    return j
                assert time.monotonic() < deadline, f"job {job_id} never reached {states}: {j}"
                time.sleep(0.1)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory, reachable_tmp: Path) -> Iterator[Live]:
    data = tmp_path_factory.mktemp("web-srv")
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", f"sqlite:///{data / 'cpnet.db'}", data, port, job_root=Path(tempfile.mkdtemp(dir=reachable_tmp)))
    srv.start("--scenario", SCENARIO, "--executor", "local")
    try:
        yield Live(srv, Tokens(srv.admin_token(), srv.tenant(TENANT_A), srv.tenant(TENANT_B)))
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def pw() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(pw: Playwright) -> Iterator[Browser]:
    # Debian's binary; --no-sandbox because the suite runs as root (the job sandbox needs it).
    b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
    yield b
    b.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[[], BrowserContext]]:
    """new_context(): a fresh browser context (its own cookies and storage, like a new browsing
    session), closed after the test."""
    made: list[BrowserContext] = []

    def make() -> BrowserContext:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        ctx.set_default_timeout(WAIT_MS)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


@pytest.fixture
def page(new_context: Callable[[], BrowserContext]) -> Page:
    return new_context().new_page()


@pytest.fixture(scope="session")
def shot() -> Callable[[Page, str], Path]:
    """shot(page, name): a full-page PNG at artifacts/dashboard/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def login(live: Live) -> Callable[..., None]:
    """login(page, token, route="#/network"): open the dashboard, log in with `token` on the login
    form, then go to `route` by changing the hash (no reload)."""

    def do(page: Page, token: str, route: str = "#/network") -> None:
        page.goto(f"{live.url}/")
        page.locator("input[data-testid=token]").fill(token)
        page.locator("button[data-testid=login]").click()
        expect(page.locator("[data-testid=whoami]")).to_be_visible()
        if route:
            page.evaluate("r => { location.hash = r }", route)

    return do
