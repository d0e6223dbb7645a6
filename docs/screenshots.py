"""Take the README's screenshots of the web app again, from the demo warehouse.

    python docs/screenshots.py [--warehouse demo/warehouse] [--out docs/screenshots]

Run it after `make demo`, from the repository root. Every page is taken in each of the
console's languages, as web-<page>-zh.png and web-<page>-en.png. The audio is looked for in
--recordings, else in the warehouse's sibling folder recordings (make demo's layout), else
where the config says. It serves the warehouse on a free loopback port with three temporary
users (supervisor, analyst, marketing) kept in a temporary folder, so nothing is written to
the warehouse, and drives Debian's chromium through chromedriver with Selenium (nothing is
downloaded: `apt-get install chromium chromium-driver`). With Pillow installed, each PNG is
reduced to 256 colours.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WIDTH, HEIGHT, MAX_HEIGHT = 1280, 900, 1800
LAUNCH_DAY = "2026-11-20"
SEARCH_QUERY = "预约 OR 首发 OR pre-order"
MARKETING_QUERY = "号码 OR 电话 OR 手机号 OR number"  # turns where a phone number was redacted
ROLES = ("supervisor", "analyst", "marketing")
LANGUAGES = (("zh-CN", "zh"), ("en", "en"))  # the console's language code, the file suffix
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--hide-scrollbars",
    "--lang=en-US",
    f"--window-size={WIDTH},{HEIGHT}",
]

logger = logging.getLogger("screenshots")


class Failed(Exception):
    """A step that could not be done; the message says which and why."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, default=Path("demo/warehouse"))
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--config", type=Path, default=None, help="default: the default config")
    parser.add_argument(
        "--recordings",
        type=Path,
        default=None,
        help="recordings root (default: the warehouse's sibling folder recordings, if any)",
    )
    args = parser.parse_args(argv)
    if args.recordings is None and (args.warehouse.parent / "recordings").is_dir():
        args.recordings = args.warehouse.parent / "recordings"  # make demo's layout
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)

    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        return _error(
            f"{' and '.join(missing)} not found: install Debian's chromium and chromium-driver "
            "(apt-get install chromium chromium-driver)"
        )
    try:
        from selenium import webdriver  # noqa: F401
    except ImportError:
        return _error("selenium is not installed in this environment (pip install selenium)")
    if not (args.warehouse / "calls").is_dir() or not (args.warehouse / "search").is_dir():
        return _error(f"no demo warehouse at {args.warehouse}: run `make demo` first")

    sys.path.insert(0, str(ROOT))  # web/ and callscope/ when the project is not installed
    try:
        with tempfile.TemporaryDirectory(prefix="callscope-shots-") as tmp:
            password = secrets.token_urlsafe(18)
            app = _app(args, Path(tmp), password)
            with _serve(app) as base, _browser(Path(tmp) / "profile") as driver:
                shots = Shots(driver, base, password, args.out)
                shots.take_all()
    except Failed as exc:
        return _error(str(exc))
    logger.info("screenshots saved in %s", args.out)
    return 0


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _app(args: argparse.Namespace, tmp: Path, password: str):
    """The web app over the warehouse, with its users and saved queries in `tmp`."""
    from callscope.core.config import ConfigError, load_config
    from callscope.web.app import create_app
    from callscope.web.auth import UserStore
    from callscope.web.saved import SavedQueries

    try:
        settings = load_config(args.config, warehouse=args.warehouse, recordings=args.recordings)
    except ConfigError as exc:
        raise Failed(str(exc)) from exc
    app = create_app(settings, recordings=args.recordings, secret=secrets.token_bytes(32))
    ctx = app.state.ctx
    ctx.users = UserStore(tmp / "users.json")
    ctx.saved = SavedQueries(tmp / "saved_queries.json")
    for role in ROLES:
        ctx.users.add(role, role, password)
    return app


class _serve:
    """uvicorn on a free loopback port, in a thread; the base URL while inside."""

    def __init__(self, app):
        import uvicorn

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started and time.time() < deadline and self.thread.is_alive():
            time.sleep(0.05)
        if not self.server.started:
            raise Failed(f"the web app did not start on 127.0.0.1:{self.port}")
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class _browser:
    """Headless chromium through chromedriver, with a fresh profile."""

    def __init__(self, profile: Path):
        self.profile = profile
        self.driver = None

    def __enter__(self):
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        options = Options()
        options.binary_location = str(CHROMIUM)
        for flag in FLAGS + [f"--user-data-dir={self.profile}"]:
            options.add_argument(flag)
        try:
            self.driver = webdriver.Chrome(
                service=Service(executable_path=str(CHROMEDRIVER)), options=options
            )
        except WebDriverException as exc:
            raise Failed(f"chromium did not start: {exc.msg or exc}") from exc
        self.driver.set_page_load_timeout(30)
        return self.driver

    def __exit__(self, *exc) -> None:
        if self.driver is not None:
            self.driver.quit()


class Shots:
    def __init__(self, driver, base: str, password: str, out: Path):
        self.driver = driver
        self.base = base
        self.password = password
        self.out = out
        self.language, self.suffix = LANGUAGES[0]

    def take_all(self) -> None:
        from selenium.common.exceptions import WebDriverException

        self.out.mkdir(parents=True, exist_ok=True)
        for self.language, self.suffix in LANGUAGES:
            self.driver.delete_all_cookies()
            self.get(f"/language/{self.language}", next="/login")
            for step in (self.supervisor, self.analyst, self.marketing):
                try:
                    step()
                except WebDriverException as exc:
                    raise Failed(
                        f"{step.__name__} ({self.language}): {type(exc).__name__} on "
                        f"{self.driver.current_url}: "
                        f"{(exc.msg or '').splitlines()[0] if exc.msg else exc}"
                    ) from exc

    # the pages ---------------------------------------------------------------------------
    def supervisor(self) -> None:
        from selenium.webdriver.common.by import By

        self.sign_in("supervisor", screenshot="web-sign-in")
        self.check(self.driver.current_url.startswith(f"{self.base}/overview"), "not landed")
        self.wait_all("#overview-charts figure [data-chart] canvas", "the overview's charts")
        self.shoot("web-overview")

        self.get("/agents/" + quote(self.busiest_agent(), safe=""))
        self.wait_all("#agent-charts figure [data-chart] canvas", "the agent's charts")
        self.shoot("web-agent")

        self.get("/search", q=SEARCH_QUERY, **{"from": LAUNCH_DAY, "to": LAUNCH_DAY})
        hits = self.wait_all("#hits .hit-link", "search hits")
        self.check(self.driver.find_elements(By.CSS_SELECTOR, "#hits mark"), "no highlighted hit")
        self.shoot("web-search")

        hits[0].click()
        self.wait_one("#audio", "the call's audio player (is the recording missing?)")
        self.wait_js("document.getElementById('audio').readyState >= 1", "audio metadata")
        start = float(self.driver.find_element(By.ID, "audio").get_attribute("data-start"))
        self.wait_js(
            f"Math.abs(document.getElementById('audio').currentTime - {start}) <= 0.5",
            f"the audio at the hit ({start:.1f} s)",
        )
        self.driver.execute_script("document.getElementById('audio').pause()")
        self.check(
            self.driver.find_elements(By.CSS_SELECTOR, "#transcript .seg.hit"), "no hit turn"
        )
        self.check(
            self.driver.find_elements(By.CSS_SELECTOR, "#transcript mark"), "no highlighted term"
        )
        self.shoot("web-call")
        self.sign_out()

    def busiest_agent(self) -> str:
        """The agent with most calls on the launch day (the overview's agent table)."""
        from selenium.webdriver.common.by import By

        self.get("/overview", **{"from": LAUNCH_DAY, "to": LAUNCH_DAY})
        rows = self.wait_all("#overview-agents tbody tr", f"agents on {LAUNCH_DAY}")
        counts = []
        for row in rows:
            cells = row.find_elements(By.TAG_NAME, "td")
            digits = "".join(ch for ch in cells[1].text if ch.isdigit())
            counts.append((int(digits or 0), cells[0].text.strip()))
        calls, agent = max(counts, key=lambda c: c[0])  # the first of equals
        self.check(agent and calls, f"no agent with calls on {LAUNCH_DAY}")
        return agent

    def analyst(self) -> None:
        self.sign_in("analyst")
        self.get("/trends", by="queue")
        self.wait_all("#trend-chart [data-chart] canvas", "the trends chart")
        self.shoot("web-trends")

        self.get("/incidents", date=LAUNCH_DAY)
        self.wait_one("#incident-table", "the incident table")
        self.wait_all("#incident-table tr.spike", f"a spike on {LAUNCH_DAY}")
        self.wait_all("#incident-chart [data-chart] canvas", "the incidents chart")
        self.shoot("web-incidents")
        self.sign_out()

    def marketing(self) -> None:
        from selenium.webdriver.common.by import By

        self.sign_in("marketing")
        self.get("/search", q=MARKETING_QUERY)
        hits = self.wait_all("#hits .hit-link", "marketing search hits")
        self.check(
            not self.driver.find_elements(By.NAME, "agent"), "marketing sees the agent filter"
        )
        redacted = [h for h in hits if "[phone]" in h.text]
        self.shoot("web-marketing-search")

        (redacted or hits)[0].click()
        self.wait_one("#transcript", "the call's transcript")
        self.check(not self.driver.find_elements(By.TAG_NAME, "audio"), "marketing got audio")
        self.wait_one("#no-audio", "the no-audio note")
        self.shoot("web-marketing-call")
        self.sign_out()

    # steps -------------------------------------------------------------------------------
    def sign_in(self, name: str, screenshot: str | None = None) -> None:
        from selenium.webdriver.common.by import By

        self.driver.get(f"{self.base}/login")
        self.driver.find_element(By.ID, "name").send_keys(name)
        self.driver.find_element(By.ID, "password").send_keys(self.password)
        if screenshot:
            self.shoot(screenshot, full=False)
        self.driver.find_element(By.ID, "sign-in").click()
        self.wait_one("#logout", f"signed in as {name}")

    def sign_out(self) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.ID, "logout").click()
        self.wait_one("#login-form", "the sign-in form after signing out")

    def get(self, path: str, **query) -> None:
        self.driver.get(f"{self.base}{path}" + (f"?{urlencode(query)}" if query else ""))
        self.check_no_error_page()

    def check_no_error_page(self) -> None:
        from selenium.webdriver.common.by import By

        if self.driver.find_elements(By.CSS_SELECTOR, "body.page-error, .error-page"):
            raise Failed(f"error page at {self.driver.current_url}")

    def check_language(self) -> None:
        shown = self.driver.execute_script("return document.documentElement.lang")
        if shown != self.language:
            raise Failed(
                f"the page is in {shown!r}, not {self.language}: {self.driver.current_url}"
            )

    def check(self, ok, what: str) -> None:
        if not ok:
            raise Failed(f"{what} on {self.driver.current_url}")

    def wait_one(self, css: str, what: str):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as EC

        return self._until(EC.presence_of_element_located((By.CSS_SELECTOR, css)), what)

    def wait_all(self, css: str, what: str) -> list:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as EC

        return self._until(EC.presence_of_all_elements_located((By.CSS_SELECTOR, css)), what)

    def wait_js(self, script: str, what: str):
        return self._until(lambda d: d.execute_script(f"return {script}"), what)

    def _until(self, condition, what: str):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, 15, poll_frequency=0.1).until(condition)
        except TimeoutException as exc:
            raise Failed(f"waited in vain for {what} on {self.driver.current_url}") from exc

    def shoot(self, name: str, full: bool = True) -> Path:
        """A screenshot: the whole page up to MAX_HEIGHT pixels when `full`, else the window."""
        if full:
            # the window's height less the viewport's is the browser's own frame
            frame, page = self.driver.execute_script(
                "return [window.outerHeight - window.innerHeight,"
                " document.documentElement.scrollHeight]"
            )
            viewport = max(HEIGHT - int(frame), min(int(page), MAX_HEIGHT))
            self.driver.set_window_size(WIDTH, viewport + int(frame))
            self.driver.execute_script("window.scrollTo(0, 0)")
            self._settle()
        self.check_language()
        path = self.out / f"{name}-{self.suffix}.png"
        if not self.driver.save_screenshot(str(path)):
            raise Failed(f"could not save {path}")
        self.driver.set_window_size(WIDTH, HEIGHT)
        _compact(path)
        logger.info("%s  %s", path, self.driver.current_url.removeprefix(self.base))
        return path

    def _settle(self) -> None:
        """Wait for the layout after a resize (two animation frames)."""
        self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));"
        )


def _compact(path: Path) -> None:
    """The PNG in 256 colours (a third of the size; text and charts keep their look), when
    Pillow is installed; as chromium saved it otherwise."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(
            256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    small.save(path, optimize=True)


if __name__ == "__main__":
    sys.exit(main())
