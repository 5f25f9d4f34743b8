"""The public pages in a real headless browser (Debian's Chromium driven by Playwright).

Nothing is downloaded: Playwright drives the system's /usr/bin/chromium. The pages run against
pytest-django's live server; the confirmation link is read from the email file, as a person would
read it from their mailbox. Screenshots go to SCREENSHOT_DIR (default: a temporary folder).
"""

from __future__ import annotations

import email
import os
from email import policy
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from rights.models import DataRequest, RequestStatus
from tests.portal.helpers import FACE_PATH

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        raise pytest.UsageError(
            "The browser tests need Chromium at /usr/bin/chromium (apt-get install chromium)."
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls made here are still
    # synchronous, one at a time.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def portal(live_server, settings, tmp_path):
    """The live portal, with emails written to files and links pointing at it."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    yield live_server.url
    # The confirmation enqueued a search that no worker of this test will take: drop it from this
    # test environment's own broker so that it cannot reach a later run.
    from portal.celery import app

    app.control.purge()


def emails_in(folder: str) -> list[email.message.EmailMessage]:
    messages = []
    for path in sorted(Path(folder).glob("*.log")):
        # The file backend writes each message followed by a line of dashes.
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if chunk.strip():
                messages.append(email.message_from_bytes(chunk.lstrip(), policy=policy.default))
    return messages


def link_from(message: email.message.EmailMessage, *, contains: str) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    for word in body.split():
        if word.startswith("http") and contains in word:
            return word
    raise AssertionError(f"no {contains} link in:\n{body}")


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


# WCAG 2 contrast of every visible element that holds text, against the first opaque background
# behind it. Returns the elements below 4.5:1 (all our text is "normal" size for this purpose).
LOW_CONTRAST_JS = """
() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.99)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!own || box.width === 0 || box.height === 0 || getComputedStyle(el).visibility === "hidden") continue;
    if (el.classList.contains("skip-link") || el.classList.contains("visually-hidden")) continue;
    const a = lum(rgb(getComputedStyle(el).color).slice(0, 3)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const text = el.textContent.trim().slice(0, 40);
    if (ratio < 4.5) low.push(`${el.tagName}.${el.className}: ${ratio.toFixed(2)} "${text}"`);
  }
  return low;
}
"""


def low_contrast(page) -> list[str]:
    return page.evaluate(LOW_CONTRAST_JS)


def test_a_person_makes_a_request_and_confirms_it_in_a_real_browser(browser, portal, shots):
    page = browser.new_page(viewport=DESKTOP)
    page.goto(portal + "/")
    assert page.locator("html").get_attribute("lang") == "en-GB"
    page.screenshot(path=shots / "home-desktop.png", full_page=True)
    page.get_by_role("link", name="Make a request").last.click()

    page.get_by_label("Access: which images of me do you hold?").check()
    page.get_by_label("Your email address").fill("ana@example.org")
    page.get_by_label("Country where you live (optional)").select_option("FR")
    page.get_by_label("Photos of your face (one to three)").set_input_files(str(FACE_PATH))
    page.get_by_label("Where your photos may appear (optional)").fill(
        "https://social.example/ana\nana_photos"
    )
    page.screenshot(path=shots / "form-filled-desktop.png", full_page=True)
    # An impatient double click posts the form twice: one request, and the same page.
    page.get_by_role("button", name="Send my request").dblclick()

    page.wait_for_url(portal + "/request/sent/")
    assert page.get_by_role("heading", level=1).inner_text() == "Check your email"
    assert "ana@example.org" in page.content()
    page.screenshot(path=shots / "check-email-desktop.png", full_page=True)
    request = DataRequest.objects.get()
    assert request.status == RequestStatus.UNCONFIRMED
    assert request.identifiers == "https://social.example/ana\nana_photos"

    [message] = emails_in(django_settings.EMAIL_FILE_PATH)
    assert message["To"] == "ana@example.org"
    page.goto(link_from(message, contains="/confirm/"))

    page.wait_for_load_state()
    assert page.url == portal + f"/status/{request.public_token}/"
    assert page.get_by_role("heading", level=1).inner_text() == "Your access request"
    due = timezone.localtime(request.due_at).strftime("%-d %B %Y")
    assert page.locator("dd.due").inner_text().startswith(due)
    assert page.get_by_text("You confirmed your email address.").is_visible()
    assert page.get_by_role("button", name="Where is my answer?").is_visible()
    page.screenshot(path=shots / "status-desktop.png", full_page=True)
    request.refresh_from_db()
    assert request.status == RequestStatus.QUEUED

    # The same pages at a phone's width: nothing runs off the side.
    phone = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    for name, path in [
        ("home", "/"),
        ("form", "/request/"),
        ("status", f"/status/{request.public_token}/"),
    ]:
        phone.goto(portal + path)
        phone.screenshot(path=shots / f"{name}-phone.png", full_page=True)
        assert no_horizontal_scroll(phone), name
        assert low_contrast(phone) == [], name
    phone.close()
    page.close()


def test_a_bad_file_shows_its_error_next_to_the_field(browser, portal, shots, tmp_path):
    not_a_photo = tmp_path / "holiday.jpg"
    not_a_photo.write_text("This is a letter, not a photograph.\n" * 10)
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(portal + "/request/?kind=erasure")
    page.get_by_label("Your email address").fill("ana@example.org")
    page.get_by_label("Photos of your face (one to three)").set_input_files(str(not_a_photo))
    page.get_by_role("button", name="Send my request").click()
    page.wait_for_load_state()

    field = page.locator("#id_selfies")
    error = page.locator("#id_selfies-error")
    assert "is not a JPEG, PNG or WebP image" in error.inner_text()
    assert "id_selfies-error" in field.get_attribute("aria-describedby").split()
    assert field.get_attribute("aria-invalid") == "true"
    # Next to the field: just above it, in the same column.
    error_box, field_box = error.bounding_box(), field.bounding_box()
    assert 0 <= field_box["y"] - (error_box["y"] + error_box["height"]) < 80
    # The rest of what the person entered is still there, and the choice of erasure too.
    assert page.get_by_label("Your email address").input_value() == "ana@example.org"
    assert page.get_by_label("Erasure: delete my images").is_checked()
    assert page.get_by_role("alert").is_visible()  # the summary at the top
    assert no_horizontal_scroll(page)
    assert low_contrast(page) == []
    page.screenshot(path=shots / "form-error-phone.png", full_page=True)
    assert DataRequest.objects.count() == 0
    page.close()


def test_keyboard_focus_is_visible(browser, portal):
    page = browser.new_page(viewport=DESKTOP)
    page.goto(portal + "/request/")
    page.keyboard.press("Tab")  # the skip link comes first and shows itself
    skip = page.get_by_role("link", name="Skip to main content")
    assert skip.evaluate("el => el === document.activeElement")
    assert skip.bounding_box()["x"] >= 0
    page.get_by_label("Your email address").focus()
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth, s.boxShadow]; }"
    )
    assert outline[0] != "none" or outline[2] != "none", outline
    page.close()


def test_the_answer_pages_show_the_images_and_fit_a_phone(browser, portal, shots):
    from tests.portal.test_public_pages import access_answer, answered, erasure_certificate

    def new_request(email_address: str) -> DataRequest:
        made = DataRequest.objects.create(
            kind="access",
            email=email_address,
            received_at=timezone.now(),
            due_at=timezone.now(),
            status="queued",
        )
        answered(made)
        return made

    access = access_answer(new_request("ana@example.org"))
    certificate = erasure_certificate(new_request("bo@example.org"))
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page.goto(portal + f"/answer/{access.download_token}/")
    image = page.get_by_role("img", name="Image 1 of you")
    image.scroll_into_view_if_needed()  # the images load lazily: bring the first into view, then wait
    assert image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 250  # via the token view
    assert no_horizontal_scroll(page)  # 64-character hashes and long addresses wrap
    page.screenshot(path=shots / "answer-access-phone.png", full_page=True)
    page.goto(portal + f"/answer/{certificate.download_token}/")
    assert page.get_by_role("heading", name="What we deleted").is_visible()
    assert no_horizontal_scroll(page)
    page.screenshot(path=shots / "answer-certificate-phone.png", full_page=True)
    page.close()
