"""Steps in the Airflow 3 web UI (React/Chakra), written with Playwright's role-based locators.

The selectors are those of docs/airflow-runtime.md ("The UI in a browser"): the Test button sits in the
connection's list row, results arrive as toasts (``role=status``).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Locator, Page, Playwright, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOAST_SETTLE_MS = 700
UI_TIMEOUT_MS = 60_000


def chromium_path() -> str | None:
    """The system Chromium (Debian package ``chromium``), if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless system Chromium; Playwright's own browser downloads are never used."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)


def login(page: Page, base_url: str, username: str, password: str) -> None:
    """Sign in through the simple auth manager's login card; end on the home page."""
    page.goto(f"{base_url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()


def open_signed_in(page: Page, url: str, username: str, password: str) -> None:
    """Open ``url``, signing in on the way when the login card shows (Airflow returns to ``url`` after it)."""
    page.goto(url)
    username_field = page.get_by_label("Username")
    expect(username_field.or_(page.get_by_role("button", name="Admin"))).to_be_visible()
    if username_field.is_visible():
        username_field.fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Admin")).to_be_visible()


def open_connections(page: Page) -> None:
    """Admin menu -> Connections."""
    page.get_by_role("button", name="Admin").click()
    page.get_by_role("menuitem", name="Connections").click()
    expect(page).to_have_url(re.compile(r"/connections$"))


def open_add_connection(page: Page, conn_id: str, hook_name: str) -> Locator:
    """Open "Add Connection", set the id and the type; return the dialog."""
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox", name="Connection ID").fill(conn_id)
    dialog.get_by_role("combobox", name="Connection Type").fill(hook_name)
    page.get_by_role("option", name=hook_name, exact=True).click()
    return dialog


def open_extra_fields(dialog: Locator) -> None:
    """Expand the "Extra Fields" accordion section (not "Extra Fields JSON")."""
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()


def extra_input(dialog: Locator, key: str) -> Locator:
    """The input of one provider extra field, by its ``element_<key>`` name."""
    return dialog.locator(f'[name="element_{key}"]')


def save_connection(page: Page, dialog: Locator) -> None:
    """Press Save and wait for the dialog to close."""
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("dialog")).to_have_count(0)


def connection_row(page: Page, conn_id: str) -> Locator:
    """The list row of one connection."""
    return page.get_by_role("row").filter(has_text=conn_id)


def press_test_connection(page: Page, conn_id: str) -> str:
    """Press the row's "Test Connection" button; return the result toast's text once it has slid in."""
    connection_row(page, conn_id).get_by_role("button", name="Test Connection").click()
    toast = page.get_by_role("status").filter(has_text="Test Connection").first
    expect(toast).to_be_visible(timeout=120_000)
    text = str(toast.inner_text(timeout=5_000))  # read first: the toast times out after a few seconds
    # Hovering keeps it for the screenshot; on a loaded machine it may already be sliding out, which only
    # costs the screenshot its toast, not the test its evidence (``text``).
    with contextlib.suppress(PlaywrightTimeoutError):
        toast.hover(timeout=5_000)
        page.wait_for_timeout(TOAST_SETTLE_MS)
    return text


def screenshot(page: Page, folder: Path, name: str, **kwargs: Any) -> Path:
    """Save a PNG of the page as ``folder/name.png``; return its path."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), **kwargs)
    return path
