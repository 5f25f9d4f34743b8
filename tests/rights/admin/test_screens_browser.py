"""Every staff screen of issue 13 in Chromium, in the admin's light and dark palettes: each page
loads without a CSP refusal, its own panels' text meets WCAG 4.5:1, and a screenshot of it is written
to SCREENSHOT_DIR (default tests/artifacts/screenshots/, git-ignored, kept by CI). Also the status
page a requester sees with a staff message and erasure progress."""

# ruff: noqa: F811 (fixtures imported from other test modules are used as arguments)
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from matching.models import Face
from rights.models import RequestKind, RequestStatus
from rights.staff.casework import request_message_send, request_note_add
from tests.portal.test_browser import DESKTOP, LOW_CONTRAST_JS, PHONE, browser, portal  # noqa: F401 (fixtures)
from tests.rights.admin.test_admin import under_review  # noqa: F401 (fixture)
from tests.rights.admin.test_review_screen_browser import shots  # noqa: F401 (fixture)
from tests.rights.staff_helpers import PRIVACY_OFFICER, make_request, staff_login, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# The contrast of SVG chart text (its fill) against the page's background, below 4.5:1.
SVG_TEXT_LOW_JS = """
() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number).slice(0, 3);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const back = lum(rgb(getComputedStyle(document.body).backgroundColor));
  return [...document.querySelectorAll("svg text")].map((el) => {
    const a = lum(rgb(getComputedStyle(el).fill));
    return [(Math.max(a, back) + 0.05) / (Math.min(a, back) + 0.05), el.textContent.trim()];
  }).filter(([ratio, text]) => text && ratio < 4.5).map(([ratio, text]) => `${ratio.toFixed(2)} "${text}"`);
}
"""


def contrast_in(selector: str) -> str:
    return LOW_CONTRAST_JS.replace('querySelectorAll("body *")', f'querySelectorAll("{selector}")')


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_each_staff_screen_loads_reads_and_is_photographed(
    browser, portal, under_review, shots, scheme
) -> None:
    officer = staff_user(PRIVACY_OFFICER, username="olga")
    request_note_add(request_id=under_review.id, text="Checked the ID by phone.", user=officer)
    match = under_review.matches.filter(band="review").first()
    Face.objects.create(image=match.image, x1=60, y1=60, x2=190, y2=190, det_score=0.9, embedding=b"")
    client = Client()
    staff_login(client, officer)
    context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": portal}])
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    screens = [
        ("home", reverse("admin:index"), "#rights-home-links *"),
        ("queue", reverse("admin:rights_datarequest_changelist"), "#result_list *"),
        ("request", reverse("admin:rights_datarequest_change", args=[under_review.id]), ".rights-panel *"),
        ("summary", reverse("admin:rights_summary"), ".summary-section *"),
        ("collection", reverse("admin:matching_image_changelist"), "#result_list *"),
        (
            "collection-image",
            reverse("admin:matching_image_change", args=[match.image_id]),
            ".collection-panel *",
        ),
    ]
    for name, url, panels in screens:
        response = page.goto(portal + url)
        assert response.status == 200, name
        assert page.evaluate(contrast_in(panels)) == [], name
        assert page.evaluate(SVG_TEXT_LOW_JS) == [], name  # the Summary's charts
        page.screenshot(path=shots / f"staff-{name}-{scheme}.png", full_page=True)
    assert refused == []
    context.close()


def test_the_status_page_shows_messages_and_erasure_progress(browser, portal, shots) -> None:
    officer = staff_user(PRIVACY_OFFICER, username="olga")
    erasure = make_request(kind=RequestKind.ERASURE, status=RequestStatus.REVIEW)
    request_message_send(
        request_id=erasure.id, text="We are checking two photos with you in them.", user=officer
    )
    page = browser.new_page(viewport=PHONE)
    page.goto(portal + reverse("public:status", args=[erasure.public_token]))
    assert "We are checking two photos with you in them." in page.locator("#messages").inner_text()
    page.screenshot(path=shots / "status-message-phone.png", full_page=True)
    page.close()
