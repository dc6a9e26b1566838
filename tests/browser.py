"""Open an HTML file in headless chromium and report what went wrong in the browser.

Uses Debian's chromium and chromedriver from PATH (`make test` installs both), never Selenium Manager,
which would try to download a browser.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, UnexpectedAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

WIDTH, HEIGHT, MAX_HEIGHT = 1400, 2400, 12000
LOAD_TIMEOUT_S = 30
SETTLE_S = 0.5

# plotly.io marks a chart's div `plotly-graph-div`; Plotly.newPlot marks any div it draws into
# `js-plotly-plot` at once and adds the SVG once drawn.
UNRENDERED_CHARTS = """
return Array.from(document.querySelectorAll('.plotly-graph-div, .js-plotly-plot'))
  .filter(div => !(div.classList.contains('js-plotly-plot') && div.querySelector('.main-svg')))
  .map(div => div.id || '(no id)');
"""
# Open folded sections, so that charts drawn on opening are drawn (and checked) too; `open` fires `toggle`.
OPEN_DETAILS = "document.querySelectorAll('details:not([open])').forEach(d => { d.open = true; });"
PAGE_HEIGHT = "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight);"


class BrowserMissing(RuntimeError):
    pass


def tools() -> tuple[str, str]:
    """Paths of chromium and chromedriver, or BrowserMissing saying how to get them."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        missing = " and ".join(name for name, path in (("chromium", chromium), ("chromedriver", chromedriver))
                               if not path)
        raise BrowserMissing(f"{missing} not on PATH: run `make test`, which installs Debian's chromium and "
                             "chromium-driver (or: apt-get install chromium chromium-driver)")
    return chromium, chromedriver


def console_errors(html_path: Path, screenshot_path: Path) -> list[str]:
    """SEVERE browser-log entries (console.error, uncaught exceptions and rejections, failed loads) of the
    page once its scripts have run and its <details> are opened, plus any alert it opened and any plotly
    chart it left undrawn; saves a screenshot of the whole page (up to MAX_HEIGHT px tall)."""
    chromium, chromedriver = tools()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.unhandled_prompt_behavior = "dismiss and notify"

    errors: list[str] = []
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        driver.set_page_load_timeout(LOAD_TIMEOUT_S)
        for attempt in range(5):  # each alert the page opens is dismissed and noted, then we go on
            try:
                if attempt == 0:
                    driver.get(Path(html_path).resolve().as_uri())
                _wait_until_drawn(driver, errors)
                break
            except UnexpectedAlertPresentException as alert:
                errors.append(f"the page opened an alert: {alert.alert_text!r}")
        else:
            errors.append("the page kept opening alerts")
        errors[:0] = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        height = min(max(driver.execute_script(PAGE_HEIGHT) or HEIGHT, HEIGHT), MAX_HEIGHT)
        driver.set_window_size(WIDTH, height + 100)
        Path(screenshot_path).parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot_path))
    finally:
        driver.quit()
    return errors


def _wait_until_drawn(driver, errors: list[str]) -> None:
    wait = WebDriverWait(driver, LOAD_TIMEOUT_S, poll_frequency=0.1)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
    driver.execute_script(OPEN_DETAILS)
    try:
        wait.until(lambda d: not d.execute_script(UNRENDERED_CHARTS))
    except TimeoutException:
        errors.append(f"plotly charts not drawn after {LOAD_TIMEOUT_S} s: {driver.execute_script(UNRENDERED_CHARTS)}")
    # Let timers, promises and animation frames queued by the page's scripts run.
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 0)));")
    time.sleep(SETTLE_S)
