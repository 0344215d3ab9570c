"""The web console (/console on the ops listener) in a real headless Chromium from the
distribution, driven by selenium, against a real `wxhook serve`: send a push and retry it,
watch the live list, replay a failure; and the token when the ops listener is not on loopback.

Screenshots of the page are saved at the end of each test in $WXHOOK_TEST_ARTIFACTS, else
tests/artifacts/console/ (not committed), for the review."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from conftest import free_port, start_serve
from helpers import KEY
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = (
    Path(os.environ.get("WXHOOK_TEST_ARTIFACTS") or ROOT / "tests" / "artifacts") / "console"
)

PLUGIN = textwrap.dedent(
    """
    from pathlib import Path
    import wxhook

    router = wxhook.Router()
    HERE = Path(__file__).parent

    def ran(what):
        with (HERE / "runs.txt").open("a") as f:
            f.write(what + "\\n")

    @router.event("subscribe")
    async def welcome(event):
        ran("welcome")
        return "欢迎关注 welcome"

    @router.message("text")
    async def fragile(message):
        if (HERE / "broken").exists():
            raise RuntimeError("the database is down")
        ran("fragile " + message.content)
    """
)


def write_config(tmp: Path, port: int, store_url: str) -> None:
    redis.Redis.from_url(store_url).flushdb()  # no failure record of an earlier run
    (tmp / "consoleplugin.py").write_text(PLUGIN)
    (tmp / "config.toml").write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n'
        f'[store]\nurl = "{store_url}"\n'
        '[plugins]\nmodules = ["consoleplugin"]\n'
        "[console]\nenabled = true\nhistory = 50\n"
        '[[accounts]]\nname = "shop"\npath = "/wechat"\ntoken = "tok-console"\n'
        f'app_id = "wx0123456789abcdef"\nencoding_aes_key = "{KEY}"\nmode = "safe"\n'
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",  # the tests run as root
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1440,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def wait_for(driver: WebDriver, condition, timeout: float = 15):
    return WebDriverWait(driver, timeout).until(condition)


def text_of(driver: WebDriver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text


def runs(tmp: Path) -> list[str]:
    path = tmp / "runs.txt"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def choose_type(driver: WebDriver, name: str) -> None:
    search = driver.find_element(By.ID, "type-search")
    search.clear()
    search.send_keys(name)
    Select(driver.find_element(By.ID, "type")).select_by_value(name)
    info = f"Event {name} →" if name != "text" else "MsgType text →"
    wait_for(driver, ec.text_to_be_present_in_element((By.ID, "type-info"), info))


def test_send_retry_live_and_replay_a_failure(browser: WebDriver, tmp_path: Path, redis_url: str):
    port = free_port()
    write_config(tmp_path, port, redis_url)
    proc = start_serve(tmp_path, port)
    try:
        browser.get(f"http://127.0.0.1:{proc.ops_port}/console")
        wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#type option")) > 50)
        # Every type of the catalogue is there, searchable.
        choose_type(browser, "subscribe")
        wait_for(browser, ec.text_to_be_present_in_element((By.ID, "stream"), "live"))

        browser.find_element(By.ID, "send").click()
        wait_for(
            browser, ec.text_to_be_present_in_element((By.ID, "result-reply"), "欢迎关注 welcome")
        )
        assert "200 OK" in text_of(browser, "#result-status")
        assert text_of(browser, "#result-outcome") == "replied"
        # The request as sent: safe mode, so an encrypted body and a msg_signature.
        assert "msg_signature" in text_of(browser, "#result")
        assert "<Encrypt>" in text_of(browser, "#result")
        row = wait_for(
            browser,
            lambda d: d.find_element(By.CSS_SELECTOR, "#live tbody tr[data-outcome=replied]"),
        )
        assert "event/subscribe" in row.text
        assert "consoleplugin.welcome" in row.text
        assert "欢迎关注 welcome" in row.text
        assert runs(tmp_path) == ["welcome"]

        # The same query and body again: the duplicate gets the first reply; no handler runs.
        browser.find_element(By.ID, "retry").click()
        wait_for(browser, ec.text_to_be_present_in_element((By.ID, "result-outcome"), "duplicate"))
        assert "欢迎关注 welcome" in text_of(browser, "#result-reply")
        assert "none (answered from the first)" in text_of(browser, "#result-live")
        duplicate = wait_for(
            browser,
            lambda d: d.find_element(By.CSS_SELECTOR, "#live tbody tr[data-outcome=duplicate]"),
        )
        rows = browser.find_elements(By.CSS_SELECTOR, "#live tbody tr")
        assert rows[0] == duplicate  # newest first
        assert "consoleplugin.welcome" not in duplicate.text
        assert runs(tmp_path) == ["welcome"]
        duplicate.click()
        wait_for(browser, ec.text_to_be_present_in_element((By.ID, "detail-json"), '"duplicate"'))
        assert "oX3kT0a7Lq9vBw2ZrYc5NfHd8sEu" in text_of(browser, "#detail-json")  # loopback

        # A handler that raises leaves a failure record; the page replays it.
        (tmp_path / "broken").touch()
        choose_type(browser, "text")
        content = browser.find_element(By.CSS_SELECTOR, "#fields input[data-name=Content]")
        content.clear()
        content.send_keys("order 42")
        browser.find_element(By.ID, "send").click()
        failure = wait_for(
            browser,
            lambda d: d.find_element(By.CSS_SELECTOR, "#failures tbody tr.failure-row"),
        )
        assert "RuntimeError: the database is down" in failure.text
        assert "consoleplugin.fragile" in failure.text
        failed_row = browser.find_element(By.CSS_SELECTOR, "#live tbody tr")
        assert "consoleplugin.fragile" in failed_row.text and "✗" in failed_row.text
        assert runs(tmp_path) == ["welcome"]
        (tmp_path / "broken").unlink()
        failure_id = failure.get_attribute("data-id")
        failure.find_element(By.CSS_SELECTOR, "button.replay").click()
        wait_for(browser, ec.text_to_be_present_in_element((By.ID, "replay-line"), "handled"))
        assert text_of(browser, "#replay-line").startswith("ok ")
        assert runs(tmp_path) == ["welcome", "fragile order 42"]
        gone = f'tr.failure-row[data-id="{failure_id}"]'
        wait_for(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, gone))

        # WeChat's URL verification, played from the page.
        browser.find_element(By.ID, "verify").click()
        wait_for(browser, ec.text_to_be_present_in_element((By.ID, "result-reply"), "echostr"))
        screenshot(browser, "loopback")
    finally:
        stop(proc)


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_off_loopback_the_console_needs_its_token(
    browser: WebDriver, tmp_path: Path, redis_url: str
):
    port = free_port()
    write_config(tmp_path, port, redis_url)
    # The ops listener on every address: not loopback, although the test connects through it.
    refused = start_serve(tmp_path, port, {"WXHOOK_OPS_HOST": "0.0.0.0"})
    try:
        base = f"http://127.0.0.1:{refused.ops_port}"
        assert status_of(f"{base}/console") == 403
        assert status_of(f"{base}/console/api/info") == 403
        assert status_of(f"{base}/healthz") == 200  # the rest of the ops listener is there
        browser.get(f"{base}/console")
        assert "console refused" in browser.find_element(By.TAG_NAME, "body").text
    finally:
        stop(refused)
    assert "no console.token" in (tmp_path / "server.log").read_text()

    port = free_port()
    write_config(tmp_path, port, redis_url)
    env = {"WXHOOK_OPS_HOST": "0.0.0.0", "WXHOOK_CONSOLE_TOKEN": "s3cret-console"}
    proc = start_serve(tmp_path, port, env)
    try:
        base = f"http://127.0.0.1:{proc.ops_port}"
        assert status_of(f"{base}/console") == 401
        assert status_of(f"{base}/console?token=wrong") == 403
        assert (
            status_of(f"{base}/console/api/info", {"X-Wxhook-Console-Token": "s3cret-console"})
            == 200
        )
        # The token once in the address; then an HttpOnly cookie, and the address without it.
        browser.get(f"{base}/console?token=s3cret-console")
        wait_for(browser, lambda d: d.current_url == f"{base}/console")
        cookie = browser.get_cookie("wxhook_console")
        assert cookie is not None and cookie["httpOnly"]
        wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#type option")) > 50)
        wait_for(browser, ec.text_to_be_present_in_element((By.ID, "stream"), "live"))
        assert "masked" in text_of(browser, "#where")
        choose_type(browser, "subscribe")
        browser.find_element(By.ID, "send").click()
        # The sender sees its own reply; the live list, off loopback, masks the contents.
        wait_for(
            browser, ec.text_to_be_present_in_element((By.ID, "result-reply"), "欢迎关注 welcome")
        )
        row = wait_for(
            browser,
            lambda d: d.find_element(By.CSS_SELECTOR, "#live tbody tr[data-outcome=replied]"),
        )
        assert "consoleplugin.welcome" in row.text
        assert "welcome" not in row.text.replace("consoleplugin.welcome", "")
        page = browser.page_source
        for secret in ("tok-console", KEY, "s3cret-console"):
            assert secret not in page
        row.click()
        wait_for(browser, ec.text_to_be_present_in_element((By.ID, "detail-json"), "•••"))
        assert "oX3kT0a7Lq9vBw2ZrYc5NfHd8sEu" not in text_of(browser, "#detail-json")
        screenshot(browser, "token")
    finally:
        stop(proc)
