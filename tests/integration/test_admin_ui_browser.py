"""The admin page in a real browser: find a failed Bulk operation, retry it.

Debian's headless Chromium and its ChromeDriver (scripts/chromium.sh installs
them) are driven as they are: Selenium downloads nothing.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.integration.conftest import OrgCredentials
from tests.integration.error_log_steps import (
    group_names,
    post_bulk_group,
    wait_for_error,
)
from tests.integration.stack import Stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_SECONDS = 20


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """A headless Chromium with a profile of its own, talking to nothing else."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Chromium is missing: run scripts/chromium.sh (make test does)")
    profile = tempfile.mkdtemp(prefix="rivane-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(
        service=Service(executable_path=str(CHROMEDRIVER)), options=options
    )
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def log_in(driver: WebDriver, stack: Stack) -> None:
    driver.get(f"{stack.base_url}/admin/ui/errors")
    # Without the cookie, the page sends the browser to the login form.
    assert driver.current_url.endswith("/admin/ui/login")
    driver.find_element(By.ID, "credential").send_keys(stack.admin_token)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, WAIT_SECONDS).until(
        expected_conditions.url_contains("/admin/ui/errors")
    )


async def test_admin_retries_a_failed_bulk_operation_from_the_page(
    stack: Stack, scim_org: OrgCredentials, browser: WebDriver
) -> None:
    # A Bulk group POST fails on our side while the group-mapping service is
    # down; nothing but a retry creates the group afterwards.
    name = f"Browser {secrets.token_hex(5)}"
    bulk_id = f"g{secrets.token_hex(4)}"
    stack.stop("group_mapping")
    try:
        operation = await post_bulk_group(scim_org, stack, name=name, bulk_id=bulk_id)
    finally:
        stack.start("group_mapping")
    assert operation["status"] == "503", operation
    error = await wait_for_error(
        stack, scim_org, kind="bulk_operation_failed", summary=f"bulkId={bulk_id}"
    )
    log_in(browser, stack)

    # Find the error in the log, filtered by org and kind.
    browser.find_element(By.NAME, "org").send_keys(scim_org.name)
    browser.find_element(By.NAME, "kind").send_keys("bulk_operation_failed")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, WAIT_SECONDS).until(
        expected_conditions.url_contains("kind=bulk_operation_failed")
    )
    # Links of the page before the reload may still go stale meanwhile.
    details = WebDriverWait(
        browser, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,)
    ).until(
        lambda driver: next(
            iter(
                driver.find_elements(
                    By.CSS_SELECTOR, f"#errors a[href$='/errors/{error['error_id']}']"
                )
            ),
            False,
        )
    )
    details.click()
    assert browser.find_element(By.ID, "state").text.lower() == "open"
    assert name in browser.find_element(By.ID, "operation").text

    browser.find_element(By.ID, "retry").click()

    WebDriverWait(browser, WAIT_SECONDS).until(
        expected_conditions.presence_of_element_located((By.ID, "retried"))
    )
    assert browser.find_element(By.ID, "state").text.lower() == "resolved"
    assert "now resolved" in browser.find_element(By.ID, "retried").text
    assert browser.find_elements(By.ID, "retry") == []
    # The retry created the group the identity provider asked for.
    assert await group_names(stack, scim_org, name) == [name]
