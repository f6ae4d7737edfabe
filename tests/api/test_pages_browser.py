"""The pages in a real headless Chromium against the API under gunicorn: the form predicts, an
invalid value shows at its field, and no page logs a console error, fetches from another host,
gets a 4xx/5xx for anything it loads or scrolls sideways on a 390 px wide phone.

Playwright drives the Chromium installed on the machine (Debian's `chromium` package; .ci/run
installs it); these tests are skipped, saying why, where none is installed."""

from __future__ import annotations

import json
import os
import shutil
import urllib.parse

import pytest

from conftest import CLASSIFICATION_SCENARIOS, pick_feature
from servers import gunicorn

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}
PAGES = ["/", "/docs", "/monitoring"]
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def installed_chromium() -> str | None:
    """CHROMIUM, else the first Chromium or Chrome on PATH (Debian: chromium; GitHub's runners: google-chrome)."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    names = ("chromium", "google-chrome", "google-chrome-stable", "chromium-browser")
    return next((path for path in map(shutil.which, names) if path), None)


@pytest.fixture(scope="module")
def browser():
    executable = installed_chromium()
    if executable is None:
        pytest.skip("no Chromium installed (Debian: apt-get install -y chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright starts it headless with a fresh profile in a temporary directory.
        launched = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(served):
    with gunicorn(served[3]) as (url, _):
        yield url


class Watched:
    """A page at phone width that records what would be a defect on any page."""

    def __init__(self, browser, base: str):
        self.base = base
        self.context = browser.new_context(viewport=PHONE)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.foreign: list[str] = []
        self.failed: list[str] = []
        origin = urllib.parse.urlsplit(base).netloc
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        self.page.on(
            "request",
            lambda r: (
                urllib.parse.urlsplit(r.url).netloc not in ("", origin)
                and not r.url.startswith(("data:", "blob:"))
                and self.foreign.append(r.url)
            ),
        )
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))

    def open(self, path: str) -> None:
        self.page.goto(self.base + path, wait_until="load")

    def horizontal_overflow(self) -> int:
        """How many CSS pixels the page is wider than the viewport (0: no sideways scrolling)."""
        return self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.fixture
def watched(browser, server):
    page = Watched(browser, server)
    yield page
    page.context.close()


def field(watched: Watched, name: str):
    return watched.page.locator(f'[name="{name}"]')


def error_at(watched: Watched, name: str):
    field_id = field(watched, name).get_attribute("id")
    return watched.page.locator(f"#e-{field_id[2:]}")


def test_the_form_predicts_and_names_the_target_and_unit(watched, served):
    metadata = json.loads(served[0].paths.metadata.read_text())
    watched.open("/")
    watched.page.get_by_role("button", name="Predict").click()
    watched.page.locator("#result").wait_for(state="visible")
    assert watched.page.locator("#result-target").text_content() == metadata["target"]["name"]
    assert watched.page.locator("#result-unit").text_content() == (metadata["target"].get("unit") or "")
    shown = watched.page.locator("#result-value").text_content()
    answer = json.loads(watched.page.locator("#response").text_content())
    if "probabilities" in answer:  # this repository's model is a classifier: its label, as is
        assert shown == str(answer["prediction"])
    else:  # the value the API returned, as the page formatted it (digits and group separators)
        assert float(shown.replace(",", "").replace("\u202f", "")) == pytest.approx(answer["prediction"], abs=1)
    assert watched.console_errors == []
    assert watched.failed == []
    assert watched.foreign == []


def test_an_invalid_value_is_shown_at_its_field_and_cleared_once_fixed(watched, served):
    schema = served[1].schema
    spec = pick_feature(schema, kind="numeric", bounded=True)
    watched.open("/")
    if spec.max is not None:  # out of the accepted range the schema declares (and the input carries)
        assert field(watched, spec.name).get_attribute("max") is not None
        bad, expected = abs(spec.max) * 10 + 1, "less than or equal"
    else:
        assert field(watched, spec.name).get_attribute("min") is not None
        bad, expected = spec.min - abs(spec.min) * 10 - 1, "greater than or equal"
    field(watched, spec.name).fill(str(bad))
    watched.page.get_by_role("button", name="Predict").click()
    error = error_at(watched, spec.name)
    error.wait_for(state="visible")
    assert expected in error.text_content()
    assert field(watched, spec.name).get_attribute("aria-invalid") == "true"
    assert "highlighted field" in watched.page.locator("#form-error").text_content()
    assert watched.page.locator("#result").is_hidden()
    other = [item.name for item in schema.features if item.name != spec.name]
    assert all(error_at(watched, name).is_hidden() for name in other)  # only the bad field is marked

    field(watched, spec.name).fill(str(spec.typical))
    watched.page.get_by_role("button", name="Predict").click()
    watched.page.locator("#result").wait_for(state="visible")
    assert error.is_hidden()
    assert field(watched, spec.name).get_attribute("aria-invalid") is None
    # The refused request, and Chromium's console line about it; nothing else.
    assert watched.failed == ["400 " + watched.base + "/predict"]
    assert len(watched.console_errors) == 1
    assert "status of 400" in watched.console_errors[0]


@pytest.mark.parametrize("scenario", CLASSIFICATION_SCENARIOS)
def test_a_real_classifiers_label_and_probabilities_are_shown(browser, served_scenario, scenario):
    """tests/forks.py's classifiers (text labels; whole-number labels) trained and served under gunicorn."""
    served_classifier = served_scenario(scenario)
    metadata = json.loads(served_classifier[0].paths.metadata.read_text())
    with gunicorn(served_classifier[3]) as (url, _):
        watched = Watched(browser, url)
        try:
            watched.open("/")
            watched.page.get_by_role("button", name="Predict").click()
            watched.page.locator("#result").wait_for(state="visible")
            answer = json.loads(watched.page.locator("#response").text_content())
            assert watched.page.locator("#result-target").text_content() == metadata["target"]["name"]
            assert watched.page.locator("#result-value").text_content() == str(answer["prediction"])
            rows = watched.page.locator("#result-probabilities tbody tr")
            shown = [rows.nth(i).locator("td").first.text_content() for i in range(rows.count())]
            assert shown == sorted(answer["probabilities"], key=answer["probabilities"].get, reverse=True)
            assert shown[0] == str(answer["prediction"])
            assert watched.page.locator("#result-unit").is_hidden()  # a label has no unit
            assert watched.horizontal_overflow() == 0
            assert watched.console_errors == []
            assert watched.failed == []
        finally:
            watched.context.close()


def test_a_classifiers_label_and_probabilities_are_shown_as_text(watched):
    """Labels are text, never markup, and the probabilities are sorted, highest first."""
    answer = {"prediction": "cat <b>", "probabilities": {"dog": 0.15, "cat <b>": 0.8, "bird": 0.05}}
    watched.page.route(
        "**/predict", lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(answer))
    )
    watched.open("/")
    watched.page.get_by_role("button", name="Predict").click()
    watched.page.locator("#result").wait_for(state="visible")
    assert watched.page.locator("#result-value").text_content() == "cat <b>"  # text, never markup
    rows = watched.page.locator("#result-probabilities tbody tr")
    assert [rows.nth(i).locator("td").first.text_content() for i in range(rows.count())] == ["cat <b>", "dog", "bird"]
    assert rows.first.locator("td").nth(1).text_content() == "80%"
    assert watched.console_errors == []


@pytest.mark.parametrize("path", PAGES)
def test_each_page_fits_a_phone_loads_nothing_foreign_and_logs_no_error(watched, path):
    watched.open(path)
    for details in watched.page.locator("details").all():  # what a reader can expand must fit too
        details.evaluate("element => { element.open = true; element.hidden = false; }")
    assert watched.horizontal_overflow() == 0
    assert watched.page.locator("nav a[href='/']").count() == 1  # a way back from every page
    assert watched.page.locator("nav a[href='/monitoring']").count() == 1
    watched.page.wait_for_load_state("networkidle")  # the favicon request included
    assert watched.console_errors == []
    assert watched.foreign == []
    assert watched.failed == []


def test_the_drift_page_with_a_verdict_and_its_table_fits_a_phone(watched, served):
    """Enough traffic for a verdict: the per-feature table must fit at 390 px too."""
    import urllib.request

    cfg, result = served[0], served[1]
    rows = [result.schema.example_record()] * cfg.monitor.min_window
    request = urllib.request.Request(
        f"{watched.base}/predict",
        data=json.dumps({"records": rows}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
    table = watched.page.locator("table tbody tr")
    for _ in range(100):  # the service reuses a report for monitor.report_cache_seconds
        watched.open("/monitoring")
        if table.count():
            break
        watched.page.wait_for_timeout(100)
    assert table.count() == len(result.schema.features) + 1  # every feature, and the predictions
    assert watched.page.get_by_text("drift", exact=False).count() > 0
    assert watched.horizontal_overflow() == 0
    assert watched.console_errors == []
