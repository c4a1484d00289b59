"""The console in a real browser: headless Chromium (Debian's chromium and chromedriver)
driven by Selenium, against a console and a seeded sandbox served over loopback.

Never skipped: without the browser this fails, naming ``make browser``. Screenshots of each
step go to ``reports/screenshots/`` (the README's come from there).
"""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from batch_refunds.console.app import ConsoleSettings, make_app
from batch_refunds.console.jobs import Guardrails
from batch_refunds.sandbox import SandboxConfig, run_sandbox
from batch_refunds.smartpay import ClientConfig
from tests.console.conftest import KEY, ROOT, SCRIPT, SEED, sample_with_an_invalid_row

SHOTS = ROOT / "reports" / "screenshots"
WAIT_S = 60


class LiveConsole(threading.Thread):
    """A sandbox and a console on their own event loop in a thread, on a free port."""

    def __init__(self, journal: Path) -> None:
        super().__init__(daemon=True)
        self.journal = journal
        self.ready = threading.Event()
        self.url = ""
        self.sandbox: Any = None
        self.failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.failure = exc
            self.ready.set()

    async def _serve(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        seed = json.loads(SEED.read_text(encoding="utf-8"))
        async with run_sandbox(SandboxConfig(seed_data=seed, latency_ms=250)) as sandbox:
            self.sandbox = sandbox
            settings = ConsoleSettings(
                client_config=ClientConfig(secret_key=KEY, base_url=sandbox.base_url,
                                           rate_per_second=50.0, max_in_flight=2),
                journal_path=self.journal, guardrails=Guardrails(concurrency=2), sandbox=True,
            )  # fmt: skip
            runner = web.AppRunner(make_app(settings))
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            self.ready.set()
            await self._stopping.wait()
            await runner.cleanup()

    def close(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self.join(timeout=30)


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail(
            "the browser test needs Debian's chromium and chromium-driver: run `make browser` "
            "(apt-get install -y chromium chromium-driver); this test never skips"
        )
    return chromium, driver


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = _browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--lang=en-US", "--disable-gpu"):  # fmt: skip
        options.add_argument(argument)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False,
        "intl.accept_languages": "en-US,en",
    })  # fmt: skip
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveConsole]:
    server = LiveConsole(tmp_path / "journal" / "journal.sqlite3")
    server.start()
    assert server.ready.wait(30), "the console did not start"
    if server.failure is not None:
        raise server.failure
    yield server
    server.close()


def _shot(driver: Any, name: str) -> None:
    """A screenshot of the whole page (the window grown to its height)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(900, int(height) + 40), 4000))
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    driver.set_window_size(1280, 900)


@pytest.mark.slow
def test_a_finance_person_refunds_a_batch_in_the_browser(
    browser: Any, live: LiveConsole, tmp_path: Path
) -> None:
    """Upload a sample → the invalid row is listed (its <script> shown as text) → plan →
    approve → the run finishes → the downloaded reconciliation.csv is what the sandbox holds."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_S)
    sample = sample_with_an_invalid_row(tmp_path / "returns.csv")
    before = {r.id for r in live.sandbox.state.all_refunds()}

    browser.get(live.url + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Upload a refund spreadsheet"
    _shot(browser, "1-upload")
    browser.find_element(By.ID, "file").send_keys(str(sample))
    browser.find_element(By.ID, "upload-submit").click()

    invalid = wait.until(ec.presence_of_element_located((By.ID, "invalid-rows")))
    assert "1500.5" in invalid.text
    assert SCRIPT in invalid.text  # shown as text: the browser did not run it as markup
    assert browser.find_elements(By.CSS_SELECTOR, "#invalid-rows script") == []
    assert "15" in invalid.find_elements(By.TAG_NAME, "td")[0].text
    _shot(browser, "2-check")
    browser.find_element(By.ID, "plan").click()

    approve = wait.until(ec.presence_of_element_located((By.ID, "approve-what")))
    assert approve.text == "Send 12 refund(s), ¥116,180 in total?"
    assert "Plan" in browser.find_element(By.ID, "run-title").text
    _shot(browser, "3-plan")
    browser.find_element(By.ID, "approve").click()

    def refunding(_: object) -> bool:
        """The page polled the progress and shows rows done, or the run already ended."""
        if browser.find_elements(By.ID, "report"):
            return True
        bars = browser.find_elements(By.ID, "p-bar")
        phase = browser.find_elements(By.ID, "p-phase")
        return (bool(bars) and int(bars[0].get_attribute("value") or 0) > 0
                and phase[0].text == "refunding")  # fmt: skip

    wait.until(refunding)
    if browser.find_elements(By.ID, "p-bar"):
        assert browser.find_element(By.ID, "stop").is_displayed()
        _shot(browser, "4-run")
    wait.until(ec.presence_of_element_located((By.ID, "report")))
    summary = browser.find_element(By.ID, "summary").text
    assert "¥116,180" in summary
    _shot(browser, "5-report")

    browser.find_element(By.LINK_TEXT, "reconciliation.csv").click()
    wait.until(lambda _: [p for p in browser.downloads.glob("*reconciliation.csv")])
    downloaded = next(browser.downloads.glob("*reconciliation.csv"))
    with downloaded.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    made = {r.id: r for r in live.sandbox.state.all_refunds() if r.id not in before}
    assert {i for r in rows for i in r["refund_ids"].split(";") if i} == set(made)
    for row in rows:
        ids = [i for i in row["refund_ids"].split(";") if i]
        assert sum(made[i].amount for i in ids) == int(row["refunded_amount"] or 0), row["row"]
    assert sum(int(r["refunded_amount"] or 0) for r in rows) == 116_180
    assert [r["status"] for r in rows].count("invalid") == 1

    browser.get(live.url + "/runs?lang=ja")
    assert "実行履歴" in browser.find_element(By.TAG_NAME, "h1").text
    _shot(browser, "6-runs-ja")
