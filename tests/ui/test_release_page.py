"""A release's run page in the Prefect UI, as a person sees it in Chromium."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from devstack.config import StackConfig
from flows.release import release_flow
from imagerelay.inventory import load_inventory
from imagerelay.naming import artifact_key, managed_image_name
from tests.conftest import PROJECT_ROOT, TEST_INVENTORY
from tests.flows.test_release import uploaded_vhd  # noqa: F401
from tests.ui.browser import find_or_install_chromium, start_chromium

# A release id of its own: the ledger partition of test_release stays its own.
RELEASE = "2026.11"
IMAGE = "golden-linux-ui"
SCREENSHOTS = PROJECT_ROOT / "test-output" / "ui"
WAIT_SECONDS = 90


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    started = time.monotonic()
    found = find_or_install_chromium()
    if isinstance(found, str):
        pytest.skip(f"Chromium cannot be installed: {found}")
    driver = start_chromium(*found)
    _report(request, f"Chromium ready in {time.monotonic() - started:.1f} s")
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def two_target_inventory(tmp_path: Path) -> Path:
    document = yaml.safe_load(TEST_INVENTORY.read_text())
    document["targets"] = [t for t in document["targets"] if t.get("enabled", True)]
    document["targets"] = document["targets"][:2]
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _wait(browser: WebDriver) -> WebDriverWait[WebDriver]:
    """Waits that retry while the single-page app re-renders what they look at."""
    return WebDriverWait(
        browser,
        WAIT_SECONDS,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    )


def _report(request: pytest.FixtureRequest, line: str) -> None:
    """Print past pytest's capture: screenshot paths and timings are the output."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n[ui] {line}", end="", flush=True)


def _screenshot(request: pytest.FixtureRequest, browser: WebDriver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    assert browser.save_screenshot(str(path)), f"no screenshot at {path}"
    _report(request, f"screenshot {path}")
    return path


# Limitation: the CSS classes below are those of Prefect 3.9's V1 UI, which serves
# the /runs/flow-run/<id> links imagerelay prints; an upgrade may rename them.
def _subflow_rows(browser: WebDriver) -> dict[str, str]:
    """Each subflow run listed on the Subflow Runs tab: name to state."""
    rows: dict[str, str] = {}
    for item in browser.find_elements(
        By.CSS_SELECTOR, "#subflow-runs-content .flow-run-list-item"
    ):
        link = item.find_element(By.CSS_SELECTOR, "a[href*='/runs/flow-run/']")
        badge = item.find_element(By.CSS_SELECTOR, ".state-badge")
        rows[link.text.strip()] = badge.text.strip()
    return rows


def _table_rows(table: WebElement) -> list[dict[str, str]]:
    """The rows of a table artifact as shown, keyed by column header."""
    headers = [th.text.strip() for th in table.find_elements(By.CSS_SELECTOR, "th")]
    rows = []
    for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr"):
        cells = [td.text.strip() for td in tr.find_elements(By.TAG_NAME, "td")]
        rows.append(dict(zip(headers, cells, strict=True)))
    return rows


async def test_the_run_page_shows_the_subflows_and_the_target_table(
    stack: StackConfig,
    browser: WebDriver,
    uploaded_vhd: str,  # noqa: F811
    two_target_inventory: Path,
    request: pytest.FixtureRequest,
) -> None:
    targets = load_inventory(two_target_inventory).enabled_targets
    state = await release_flow(
        os_type="Linux",
        image_name=IMAGE,
        release_id=RELEASE,
        vhd=uploaded_vhd,
        inventory=str(two_target_inventory),
        return_state=True,
    )
    assert state.is_completed(), state.message
    assert state.state_details.flow_run_id is not None
    async with get_client() as client:
        run = await client.read_flow_run(state.state_details.flow_run_id)
    started = time.monotonic()

    browser.get(f"{os.environ['PREFECT_UI_URL']}/runs/flow-run/{run.id}")
    wait = _wait(browser)
    wait.until(ec.title_contains(run.name))
    wait.until(ec.element_to_be_clickable((By.ID, "subflow-runs"))).click()
    expected = {f"{RELEASE}-{t.storage_account}": "Completed" for t in targets}
    wait.until(lambda b: _subflow_rows(b) == expected)
    _screenshot(request, browser, "release-run-subflows")
    shown = time.monotonic()

    wait.until(ec.element_to_be_clickable((By.ID, "artifacts"))).click()
    key = artifact_key(RELEASE, IMAGE, "targets")
    card = wait.until(
        ec.element_to_be_clickable(
            (
                By.XPATH,
                "//a[contains(@href, '/artifacts/artifact/')]"
                f"[.//*[contains(@class, 'artifact-card__title')][.='{key}']]",
            )
        )
    )
    card.click()
    table = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "table")))
    wait.until(lambda b: len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == 2)
    rows = _table_rows(table)
    _screenshot(request, browser, "release-run-targets-table")
    _report(
        request,
        f"UI: run page and subflows {shown - started:.1f} s, "
        f"target table {time.monotonic() - shown:.1f} s",
    )

    accounts = sorted(t.storage_account for t in targets)
    assert sorted(r["account"] for r in rows) == accounts
    for row in rows:
        assert row["state"] == "done"
        assert row["image id"].endswith(
            f"/images/{managed_image_name(RELEASE, IMAGE, row['region'])}"
        )
    assert run.name in browser.find_element(By.TAG_NAME, "body").text
