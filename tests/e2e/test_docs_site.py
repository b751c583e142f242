"""The documentation site as a reader meets it: the built HTML (``make docs``) in headless Chromium,
from the index through the API reference to the ``MixHook`` page, its Sphinx roles rendered as links."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_ui import screenshot
from playwright.sync_api import Page, expect

SITE = Path(__file__).resolve().parents[2] / "docs" / "_build" / "html" / "index.html"


@pytest.fixture
def reader(browser: Any) -> Iterator[Page]:
    """A tab of its own (the Airflow UI tests keep theirs signed in)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


def test_the_index_leads_to_the_mixhook_api_page(reader: Page, artifacts: Path) -> None:
    if not SITE.is_file():
        pytest.fail(f"the documentation site is not built ({SITE}): run `make docs` (`make e2e` does)")
    reader.goto(SITE.as_uri())
    expect(reader).to_have_title(re.compile("airflow-provider-mix"))
    content = reader.locator("article")
    expect(content.get_by_role("heading", name="A first DAG")).to_be_visible()

    content.get_by_role("link", name="API reference", exact=True).click()
    for module in ("mix_provider.hooks", "mix_provider.hooks.mix"):
        reader.locator("article").get_by_role("link", name=module, exact=True).first.click()
    hook = reader.locator("dt[id='mix_provider.hooks.mix.MixHook']")
    expect(hook).to_be_visible()
    expect(hook).to_contain_text("MixHook")
    expect(reader.locator("dt[id='mix_provider.hooks.mix.MixHook.test_connection']")).to_be_visible()
    # the docstrings' roles (:mod:, :class:, :param:) render as links and fields, never as raw text
    body = reader.locator("article")
    expect(body.get_by_role("link", name="mix_provider.client.shared")).not_to_have_count(0)
    expect(body.get_by_text(re.compile(r":(class|meth|mod|param):"))).to_have_count(0)
    hook.scroll_into_view_if_needed()
    screenshot(reader, artifacts, "20-docs-mixhook-api")
