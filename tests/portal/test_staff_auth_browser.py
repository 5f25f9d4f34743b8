"""The staff side in a real browser (Chromium): a reviewer's first login goes through enrolment of
the second factor, and no page, public or admin, breaks the Content-Security-Policy (Chromium logs
every refused script or style as a console error)."""

from __future__ import annotations

import pytest

from tests.portal.test_browser import browser, portal  # noqa: F401 (fixtures)
from tests.portal.test_staff_auth import totp
from tests.rights.staff_helpers import REVIEWER, make_request, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reviewers_first_login_enrols_and_no_page_breaks_the_csp(browser, portal):  # noqa: F811
    staff_user(REVIEWER, username="rita")
    data_request = make_request()
    page = browser.new_page()
    refused: list[str] = []
    page.on(
        "console",
        lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None,
    )

    for path in ("/", "/request/"):
        page.goto(portal + path)
    page.goto(f"{portal}/admin/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", "a long test password 1")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/otp/enrol/**")
    assert page.locator("figure.otp-qr svg").is_visible()
    secret = page.locator(".otp-secret").inner_text().strip()
    page.fill("#id_token", totp(secret))
    page.click("input[type=submit]")
    page.wait_for_url(f"{portal}/admin/")
    for path in ("/admin/rights/datarequest/", f"/admin/rights/datarequest/{data_request.id}/change/"):
        response = page.goto(portal + path)
        assert response.status == 200, path
    # The admin's own stylesheet applied (a style refused by the CSP would leave it unstyled).
    assert page.evaluate("getComputedStyle(document.querySelector('#header')).display") == "flex"
    page.close()
    assert refused == []
