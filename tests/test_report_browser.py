"""The HTML report in a real browser (headless chromium): no console errors, and a screenshot to look at.

`make test` installs Debian's chromium and chromium-driver; without them these tests fail, not skip.
"""

from pathlib import Path

import pytest

from browser import BrowserMissing, console_errors, tools
from harness.report import write_report
from harness.results import read_results
from records import sample_records
from test_report_lth import replicated_summary, write_search

SCREENSHOT = Path(__file__).resolve().parent.parent / "reports" / "browser-check.png"


def errors_in(page: Path, screenshot: Path) -> list[str]:
    """console_errors, or a failed test (not a skipped one) saying how to install the browser."""
    try:
        tools()
    except BrowserMissing as missing:
        message = str(missing)
    else:
        return console_errors(page, screenshot)
    pytest.fail(message, pytrace=False)


@pytest.mark.parametrize("script, expected", [
    ('throw new Error("boom")', "Uncaught Error: boom"),
    ('console.error("x")', '"x"'),
    ('setTimeout(() => Promise.reject(new Error("later")), 50)', "Uncaught Error: later"),
])
def test_broken_page_is_reported(tmp_path, script, expected):
    page = tmp_path / "broken.html"
    page.write_text(f"<!DOCTYPE html><html><body><p>broken</p><script>{script}</script></body></html>")
    errors = errors_in(page, tmp_path / "broken.png")
    assert len(errors) == 1 and expected in errors[0], errors
    assert (tmp_path / "broken.png").stat().st_size > 0


def test_alert_is_reported(tmp_path):
    page = tmp_path / "alert.html"
    page.write_text('<!DOCTYPE html><html><body><script>alert("escaped")</script></body></html>')
    assert errors_in(page, tmp_path / "alert.png") == ["the page opened an alert: 'escaped'"]


@pytest.mark.slow  # about 10 s: plotly.js inlined, two dozen charts drawn, a 1400 px wide full-page screenshot
def test_report_has_no_console_errors(tmp_path):
    """Run records and a search with every lottery-ticket chart: tickets and early stopping against the
    weights remaining (log axes), retraining modes, stability."""
    write_search(tmp_path / "searches" / "lth-full", replicated_summary(("weight", "lr")))
    searches = read_results(tmp_path / "searches").searches
    page = write_report(sample_records(), tmp_path / "report.html", searches=searches)
    assert 'id="lth-early-stop-1"' in page.read_text()
    assert "escaped-failure" in page.read_text()  # the hostile strings are on the page, escaped
    errors = errors_in(page, SCREENSHOT)
    assert errors == [], "\n".join(errors)
    assert SCREENSHOT.stat().st_size > 10_000, f"{SCREENSHOT} looks empty"
