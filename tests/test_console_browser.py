"""The web console in a real headless browser (Debian's chromium + chromedriver, selenium)
against a real serve.py and real train.py jobs: sign in, upload (a bad file shows the server's
line-numbered error), a bad form value shows the server's message, the dry-run plan, a tiny
job reaching succeeded with points on its loss chart, side-by-side chat, cancelling a second
job, and another project's job URL is a 404. Screenshots of each page: tests/artifacts/console/."""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from framework.service.auth import create_key
from framework.service.db import Database
from tests.helpers import ROOT
from tests.service_kit import Server, chat_file, job_pids, kill_job_groups

pytestmark = pytest.mark.e2e  # serve.py, its train.py jobs and chromium are subprocesses

ARTIFACTS = ROOT / "tests" / "artifacts" / "console"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# What a tiny job sets beyond the form's own fields (one key=value per line).
EXTRA = "dataset.val_max_rows=4\ntask.generate_rows=0"


def _browser() -> Any:
    webdriver = pytest.importorskip("selenium.webdriver")
    if not Path(CHROMEDRIVER).exists():
        pytest.skip("chromium-driver is not installed (make install adds it)")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,1000")
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    return webdriver.Chrome(options=options, service=service)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("console")
    db = Database(f"sqlite:///{data_dir / 'hydratune.db'}")  # the file serve.py will use
    keys = {p: create_key(db, p)[1] for p in ("teamA", "teamB")}
    db.engine.dispose()
    server = Server(data_dir, ("slots=1",)).start()
    browser = _browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield {"server": server, "keys": keys, "browser": browser, "data_dir": data_dir}
    finally:
        browser.quit()
        pids = job_pids(data_dir)
        server.stop()
        kill_job_groups(pids)


class Page:
    """The browser on the console: open, fill, click, wait, screenshot."""

    def __init__(self, site: dict[str, Any]) -> None:
        from selenium.webdriver.common.by import By

        self.by, self.browser = By, site["browser"]
        self.base = f"http://127.0.0.1:{site['server'].port}"
        self.started = time.monotonic()

    def open(self, path: str) -> None:
        self.browser.get(self.base + path)

    def find(self, css: str) -> Any:
        return self.browser.find_element(self.by.CSS_SELECTOR, css)

    def fill(self, css: str, text: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(text)

    def select(self, css: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.find(css)).select_by_value(value)

    def wait(self, check: Any, timeout: float = 60) -> Any:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        stale = (StaleElementReferenceException,)  # a self-refreshing part replaced mid-read
        waiter = WebDriverWait(self.browser, timeout, poll_frequency=0.3, ignored_exceptions=stale)
        return waiter.until(lambda _d: check())

    def _read(self, css: str, read: Any) -> str:
        """read(element) of the first match ("" if none), found again if the page's own
        refresh (the jobs table, the job page: every few seconds) replaced it meanwhile."""
        from selenium.common.exceptions import StaleElementReferenceException

        for _ in range(20):
            found = self.browser.find_elements(self.by.CSS_SELECTOR, css)
            try:
                return str(read(found[0])) if found else ""
            except StaleElementReferenceException:
                time.sleep(0.1)
        raise AssertionError(f"{css} kept being replaced while read")

    def text(self, css: str) -> str:
        return self._read(css, lambda element: element.text)

    def click(self, css: str) -> None:
        if not self._read(css, lambda element: element.click() or "clicked"):
            raise AssertionError(f"nothing to click at {css}")

    def attribute(self, css: str, name: str) -> str:
        return self._read(css, lambda element: element.get_attribute(name) or "")

    def shot(self, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        height = self.browser.execute_script("return document.body.scrollHeight")
        width = self.browser.get_window_size()["width"]
        self.browser.set_window_size(width, max(600, min(int(height) + 140, 4000)))
        self.browser.save_screenshot(str(path))
        print(f"{time.monotonic() - self.started:6.1f} s  {path.name}")
        return path

    def sign_in(self, key: str) -> None:
        self.open("/login")
        self.fill("#api_key", key)
        self.click("form[action='/login'] button")
        self.wait(lambda: self.text("#project-name"))


def _job_form(page: Page, steps: int, rank: str = "4") -> None:
    page.select("#method", "lora")
    page.select("#model", "tiny")
    page.select("#hardware", "cpu")
    page.fill("#f-lora-method-r", rank)
    page.fill("#f-trainer-max_steps", str(steps))
    page.fill("#f-dataset-limit", "32")
    page.fill("#f-optim-lr", "0.01")
    page.fill("#f-run-checkpoint_every_n_steps", "2")
    page.fill("#hp-batch_size", "4")
    page.fill("#overrides", EXTRA)


def test_console_in_a_browser(site: dict[str, Any], tmp_path: Path) -> None:
    started = time.monotonic()
    page = Page(site)
    page.open("/")
    page.wait(lambda: page.text("h1") == "Sign in")  # redirected: not signed in
    page.shot("01-sign-in")
    page.sign_in(site["keys"]["teamA"])
    assert page.text("#project-name") == "teamA"

    # upload, the dry-run plan, then the tiny job (it trains while the next steps run)
    page.open("/new")
    good = chat_file(tmp_path / "sums.jsonl")
    page.find("#upload-file").send_keys(str(good))
    page.click("#upload-button")
    page.wait(lambda: page.text("#upload-ok"))
    assert "sums.jsonl (24 rows" in page.text("#training_file")
    _job_form(page, 4)
    page.click("#plan-button")
    page.wait(lambda: page.text("#plan-text"))
    plan = page.text("#plan-text")
    assert "# hydratune dry run: nothing was loaded" in plan and "problems: none" in plan
    assert "max_steps=4" in plan and "memory" in plan
    page.shot("02-plan")
    page.click("#create-button")
    page.wait(lambda: "/jobs/" in page.browser.current_url)
    job_url = page.browser.current_url

    # a bad file shows the server's file:line error; a bad value the server's message
    page.open("/new")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + '{"messages": [{"role": "user", "content": "hi"}]}\n')
    page.find("#upload-file").send_keys(str(bad))
    page.click("#upload-button")
    page.wait(lambda: page.text("#upload-error"))
    assert "bad.jsonl:25: the conversation has no assistant message" in page.text("#upload-error")
    page.shot("03-upload-error")
    _job_form(page, 4, rank="0")
    page.click("#create-button")
    page.wait(lambda: page.text("#form-error"))
    assert "method.r=0" in page.text("#form-error")
    page.shot("04-bad-value")

    # or a dataset preset: only the chosen source's input is shown and sent
    assert page.find("#training_file").is_enabled() and not page.find("#dataset").is_displayed()
    page.find("#data-source-preset").click()
    page.wait(lambda: page.find("#dataset").is_displayed())
    assert not page.find("#training_file").is_enabled()
    page.select("#dataset", "chatterbot")
    _job_form(page, 4)  # the form came back with the refused rank
    page.find("#plan-button").click()
    page.wait(lambda: "problems" in page.text("#plan-text"))
    plan = page.text("#plan-text")
    assert "train.py model=tiny dataset=chatterbot " in plan and "problems: none" in plan
    page.shot("04b-preset-plan")
    page.find("#data-source-file").click()  # the second job trains on the uploaded file again

    # a second job, queued behind the first (one slot), is cancelled from its page
    _job_form(page, 400)
    page.click("#create-button")
    page.wait(lambda: "/jobs/" in page.browser.current_url)
    assert page.browser.current_url != job_url
    page.click("#cancel-button")
    page.wait(lambda: page.text("#job-status") == "cancelled")
    page.shot("05-cancelled-job")

    page.open("/")
    page.wait(lambda: "running" in page.text("#job-rows") or "succeeded" in page.text("#job-rows"))
    page.shot("06-jobs")
    page.browser.get(job_url)
    page.wait(lambda: page.text("#open-chat"), timeout=240)  # shown once it has succeeded
    assert page.text("#job-status") == "succeeded"
    page.wait(lambda: int(page.attribute("#loss-chart", "data-points") or 0) >= 4)
    assert page.browser.find_elements(page.by.CSS_SELECTOR, "#loss-chart canvas")
    points = int(page.attribute("#loss-chart", "data-points"))
    assert points >= 4 and "Train loss at step 4" in page.text("#loss-summary")
    assert "step-000004.ckpt" in page.text("#checkpoints")
    assert float(page.text("#tokens-per-second")) > 0
    page.shot("07-job-succeeded")
    # the adapter download, with the browser's session cookie: a PEFT adapter folder as a zip
    cookies = {c["name"]: c["value"] for c in page.browser.get_cookies()}
    href = page.attribute("#download-adapter", "href")
    archive = httpx.get(href, cookies=cookies, timeout=60)
    assert archive.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert "adapter/adapter_config.json" in names, names

    # chat: the fine-tuned model and its base answer the same prompt
    page.click("#open-chat")
    page.fill("#prompt", "What is 3 plus one?")
    page.fill("#max_tokens", "8")
    page.click("#send")
    page.wait(lambda: page.text("#answer-tuned") and page.text("#answer-base"), timeout=120)
    assert page.text("#tuned-heading") == "Fine-tuned" and "Base" in page.text("#base-heading")
    assert page.text("#answer-tuned") != "(empty reply)"  # the base may say nothing
    page.shot("08-chat")

    # phone width: the jobs table stacks its cells
    page.browser.set_window_size(390, 844)
    page.open("/")
    page.shot("09-jobs-phone")
    page.browser.set_window_size(1280, 1000)

    # another project: the same job URL is a 404 page
    page.click(".signout button")
    page.sign_in(site["keys"]["teamB"])
    page.browser.get(job_url)
    page.wait(lambda: page.text("h1"))
    assert page.text("h1") == "404 Not found" and "No such fine-tuning job" in page.text(
        "#page-error"
    )
    page.shot("10-other-project-404")
    print(f"console browser test: {time.monotonic() - started:.1f} s")
