"""The review screen in a real browser (Chromium): a decision without a page reload (rights/review.js),
the same decision without JavaScript (the form posts and the page comes back at the review screen),
and review rows readable in the admin's dark and light palettes (WCAG contrast of every text).

Screenshots go to SCREENSHOT_DIR (default tests/artifacts/screenshots/, git-ignored, kept by CI).
"""

# ruff: noqa: F811 (fixtures imported from other test modules are used as arguments)
from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from rights.models import Match
from tests.portal.test_browser import DESKTOP, LOW_CONTRAST_JS, browser, portal  # noqa: F401 (fixtures)
from tests.rights.admin.test_admin import under_review  # noqa: F401 (fixture)
from tests.rights.staff_helpers import REVIEWER, staff_login, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
# The contrast check of tests/portal/test_browser.py, over the review panel only.
REVIEW_CONTRAST_JS = LOW_CONTRAST_JS.replace('querySelectorAll("body *")', 'querySelectorAll("#review *")')


@pytest.fixture
def shots() -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or ARTIFACTS)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def reviewer_context(browser, portal: str, **options):
    """A browser context signed in as a reviewer (both factors, as staff_login does)."""
    client = Client()
    staff_login(client, staff_user(REVIEWER, username="rita"))
    context = browser.new_context(viewport=DESKTOP, **options)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": portal}])
    return context


def test_a_decision_needs_no_page_reload(browser, portal, under_review, shots) -> None:
    context = reviewer_context(browser, portal)
    page = context.new_page()
    page.goto(portal + reverse("admin:rights_datarequest_change", args=[under_review.id]))
    page.evaluate("window.stillTheSamePage = true")
    first = under_review.matches.filter(band="review").order_by("-score").first()
    row = page.locator(f'tr.review-row[data-match="{first.id}"]')
    row.locator('button[value$=":rejected"]').click()
    page.locator("#review-status:not(:empty)").wait_for()
    assert page.locator("#review-status").inner_text() == f"Candidate image {first.image_id} rejected."
    assert page.evaluate("window.stillTheSamePage") is True  # no reload, the reviewer stays where they were
    assert "Rejected by rita" in row.locator("td.decision").inner_text()
    assert page.locator(".review-pending-count").first.inner_text() == "1"
    assert Match.objects.get(id=first.id).decision == "rejected"
    page.screenshot(path=shots / "review-decided-light.png", full_page=True)
    context.close()


def test_without_javascript_the_form_posts_and_comes_back_to_the_review_screen(
    browser, portal, under_review
) -> None:
    context = reviewer_context(browser, portal, java_script_enabled=False)
    page = context.new_page()
    page.goto(portal + reverse("admin:rights_datarequest_change", args=[under_review.id]))
    first = under_review.matches.filter(band="review").order_by("-score").first()
    page.locator(f'tr.review-row[data-match="{first.id}"] button[value$=":confirmed"]').click()
    page.wait_for_load_state()
    assert page.url.endswith("#review")
    assert f"Candidate image {first.image_id} confirmed." in page.locator(".messagelist").inner_text()
    assert Match.objects.get(id=first.id).decision == "confirmed"
    context.close()


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_review_rows_are_readable_in_dark_and_light_mode(
    browser, portal, under_review, shots, scheme
) -> None:
    context = reviewer_context(browser, portal, color_scheme=scheme)
    page = context.new_page()
    page.goto(portal + reverse("admin:rights_datarequest_change", args=[under_review.id]))
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    # The admin's palette really switched (dark: a near-black body), so the check below means something.
    assert (background == "rgb(255, 255, 255)") == (scheme == "light"), background
    assert page.locator("tr.review-row.needs-decision").count() == 2
    assert page.evaluate(REVIEW_CONTRAST_JS) == []
    page.locator("#review").screenshot(path=shots / f"review-{scheme}.png")
    context.close()
