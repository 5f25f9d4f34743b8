"""The public pages through Django's test client: the form end to end, and every bad input.

Each bad input gets its clear answer next to the field it is about, and nothing is lost or
half-written: no DataRequest, no Selfie, no file, no email, and what the person typed is kept.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import time_machine
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from rights.lifecycle.transitions import request_transition
from rights.models import Answer, AuditEvent, DataRequest, RequestStatus, Selfie
from rights.requester import requests as svc
from tests.conftest import GROUP_PHOTO
from tests.portal.helpers import confirm_path, face_bytes, status_path
from tests.portal.hostile import hostile_files, no_face_jpeg

pytestmark = pytest.mark.django_db


# --- Reading pages ------------------------------------------------------------------------------


class PageParser(HTMLParser):
    """What the accessibility checks need: lang, headings, labels, controls, ids, links."""

    def __init__(self) -> None:
        super().__init__()
        self.lang = ""
        self.headings: list[int] = []
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str]] = []
        self.ids: dict[str, str] = {}
        self.links: list[str] = []
        self._open_id: list[str | None] = []
        self._text: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = attrs.get("lang", "")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag == "label" and attrs.get("for"):
            self.label_for.add(attrs["for"])
        if tag in {"input", "select", "textarea"} and attrs.get("type") not in {"hidden", "submit"}:
            self.controls.append({"tag": tag, **attrs})
        if tag in {"a", "link"} and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "form" and attrs.get("action"):
            self.links.append(attrs["action"])
        if attrs.get("id"):
            self.ids[attrs["id"]] = tag
            self._text[attrs["id"]] = []
        if tag not in {"input", "meta", "link", "br", "img"}:
            self._open_id.append(attrs.get("id"))

    def handle_endtag(self, tag):
        if tag not in {"input", "meta", "link", "br", "img"} and self._open_id:
            self._open_id.pop()

    def handle_data(self, data):
        for open_id in self._open_id:
            if open_id:
                self._text[open_id].append(data)

    def text_of(self, element_id: str) -> str:
        return " ".join("".join(self._text.get(element_id, [])).split())


def parse(response) -> PageParser:
    parser = PageParser()
    parser.feed(response.content.decode())
    return parser


def assert_accessible(response) -> PageParser:
    """lang set; headings start at h1 and never skip a level; every control labelled; every
    aria-describedby points at something on the page."""
    page = parse(response)
    assert page.lang == "en-GB"
    assert page.headings and page.headings[0] == 1
    for before, after in zip(page.headings, page.headings[1:], strict=False):
        assert after <= before + 1, page.headings
    for control in page.controls:
        assert control.get("id") in page.label_for, control
        for described in control.get("aria-describedby", "").split():
            assert described in page.ids, (control, described)
    return page


def error_next_to(response, field_id: str) -> str:
    """The error text linked to a field (aria-describedby), which must be marked invalid."""
    page = parse(response)
    [control] = [c for c in page.controls if c.get("id") == field_id]
    assert control.get("aria-invalid") == "true"
    assert f"{field_id}-error" in control["aria-describedby"].split()
    return page.text_of(f"{field_id}-error")


def media_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def assert_nothing_written(mailoutbox) -> None:
    assert DataRequest.objects.count() == 0
    assert Selfie.objects.count() == 0
    assert AuditEvent.objects.count() == 0
    assert media_files() == []
    assert mailoutbox == []


# --- Posting the form ---------------------------------------------------------------------------


def form_key(client) -> str:
    response = client.get(reverse("public:request_new"))
    return re.search(r'name="form_key" value="([^"]+)"', response.content.decode()).group(1)


def upload(data: bytes, name: str = "selfie.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def post_request(client, *, key: str | None = None, selfies=None, **fields):
    data = {
        "kind": "access",
        "email": "ana@example.org",
        "identifiers": "https://social.example/ana",
        "country": "FR",
        "form_key": key if key is not None else form_key(client),
        "selfies": selfies if selfies is not None else [upload(face_bytes())],
    }
    data.update(fields)
    return client.post(reverse("public:request_new"), data)


def submitted(client, mailoutbox, **fields) -> DataRequest:
    response = post_request(client, **fields)
    assert response.status_code == 302, response.content.decode()[:2000]
    return DataRequest.objects.latest("id")


# --- Pages that say what we hold and what happens -----------------------------------------------


def test_landing_page_says_what_we_hold_and_what_a_person_can_ask(client):
    response = client.get(reverse("public:home"))
    assert response.status_code == 200
    assert_accessible(response)
    text = " ".join(response.content.decode().split())
    for said in [
        "collects images of faces from public web pages",
        "address (URL)",
        "platform",
        "account",
        "date we collected it",
        "Face templates",
        "Access",
        "Erasure",
        "Objection",
        "There is no limit",
        "whole collection, whatever the date",
    ]:
        assert said in text, said


def test_request_form_is_accessible_and_explains_the_selfie_before_the_upload(client):
    response = client.get(reverse("public:request_new"))
    assert response.status_code == 200
    page = assert_accessible(response)
    html = response.content.decode()
    assert {c["name"] for c in page.controls} == {
        "kind",
        "email",
        "country",
        "selfies",
        "identifiers",
        "suppression_consent",
    }
    explanation = html.index("What happens to your photos")
    assert explanation < html.index('type="file"')
    assert f"{settings.SELFIE_RETENTION_DAYS} days after your request is closed" in html
    assert "used <strong>only for this request</strong>" in html
    # The consent is its own box, not ticked, and says what happens without it.
    consent = re.search(r'<input type="checkbox" name="suppression_consent"[^>]*>', html).group(0)
    assert "checked" not in consent
    assert "they may be collected again" in html
    # EU/EEA, the UK and others, by ISO code.
    for code in ["FR", "DE", "NO", "IS", "GB", "US", "ZZ"]:
        assert f'value="{code}"' in html
    assert "novalidate" in html  # our messages, not the browser's, so they are the same everywhere


def test_a_preselected_kind_comes_from_the_landing_page_link(client):
    html = client.get(reverse("public:request_new") + "?kind=erasure").content.decode()
    assert re.search(r'value="erasure" checked', html)


# --- End to end up to confirmation --------------------------------------------------------------


def test_the_form_end_to_end_up_to_confirmation(client, mailoutbox, django_capture_on_commit_callbacks):
    response = post_request(client, kind="objection", suppression_consent="on")
    assert response.status_code == 302
    assert response["Location"] == reverse("public:request_sent")
    request = DataRequest.objects.get()
    assert (request.kind, request.status, request.email) == ("objection", "unconfirmed", "ana@example.org")
    assert request.suppression_consent is True
    assert request.identifiers == "https://social.example/ana"
    assert request.country == "FR"
    assert request.selfies.count() == 1

    sent = client.get(response["Location"])
    assert sent.status_code == 200
    assert_accessible(sent)
    assert "Check your email" in sent.content.decode()
    assert "ana@example.org" in sent.content.decode()
    assert request.public_token not in sent.content.decode()  # the status link only goes by email

    [message] = mailoutbox
    with django_capture_on_commit_callbacks() as callbacks:
        confirmed = client.get(confirm_path(message))
    assert confirmed.status_code == 302
    assert (
        confirmed["Location"] == status_path(message) == reverse("public:status", args=[request.public_token])
    )
    assert len(callbacks) == 1  # the search is enqueued once the confirmation commits
    request.refresh_from_db()
    assert request.status == RequestStatus.QUEUED

    status = client.get(confirmed["Location"])
    assert status.status_code == 200
    page = assert_accessible(status)
    html = " ".join(status.content.decode().split())
    assert f'We must answer by</dt><dd class="due">{timezone.localtime(request.due_at):%-d %B %Y}' in html
    assert "You sent your request." in html
    assert "You confirmed your email address." in html
    assert "Waiting for us:" in html
    assert "Where is my answer?" in html
    assert status["Cache-Control"].startswith("max-age=0") and "no-store" in status["Cache-Control"]
    assert status["Referrer-Policy"] == "same-origin"  # the token never leaves in a Referer
    # No sequential id anywhere in a public link.
    for link in page.links:
        assert not re.search(r"/\d+/", link), link

    # Followed again: just the status page, nothing changes.
    again = client.get(confirm_path(message))
    assert again.status_code == 302
    assert again["Location"] == confirmed["Location"]
    assert AuditEvent.objects.filter(request=request, action="confirmed").count() == 1


def test_status_page_before_confirmation_waits_for_the_person(client, mailoutbox):
    request = submitted(client, mailoutbox)
    html = client.get(reverse("public:status", args=[request.public_token])).content.decode()
    assert "Waiting for you:" in html
    assert "confirm your email address" in html
    assert "Where is my answer?" not in html  # nothing to follow up while we wait for them


# --- Bad input ----------------------------------------------------------------------------------


def test_each_hostile_file_as_a_selfie_is_refused_next_to_the_field(client, mailoutbox):
    for hostile in hostile_files(face_jpeg=face_bytes()):
        response = post_request(
            client,
            selfies=[upload(hostile.data, hostile.filename, hostile.content_type)],
            email="ana@example.org",
        )
        assert response.status_code == 400, hostile.label
        assert_accessible(response)
        assert hostile.says in error_next_to(response, "id_selfies"), hostile.label
        assert 'value="ana@example.org"' in response.content.decode()  # what was typed is kept
        assert_nothing_written(mailoutbox)


def test_a_bad_email_is_refused_next_to_the_field_and_the_rest_kept(client, mailoutbox):
    response = post_request(client, email="ana.example.org")
    assert response.status_code == 400
    assert "not a valid email address" in error_next_to(response, "id_email")
    html = response.content.decode()
    assert 'value="ana.example.org"' in html
    assert "https://social.example/ana" in html
    assert "Please correct the following" in html  # the summary at the top, linking to the field
    assert 'href="#id_email"' in html
    assert_nothing_written(mailoutbox)


def test_no_photo_and_four_photos_are_refused(client, mailoutbox):
    response = post_request(client, selfies=[])
    assert response.status_code == 400
    assert "add a photo of your face" in error_next_to(response, "id_selfies")
    response = post_request(client, selfies=[upload(face_bytes(), f"{i}.jpg") for i in range(4)])
    assert response.status_code == 400
    assert "You sent 4 photos; please send at most 3" in error_next_to(response, "id_selfies")
    assert_nothing_written(mailoutbox)


def test_a_missing_kind_is_refused(client, mailoutbox):
    response = post_request(client, kind="")
    assert response.status_code == 400
    assert "choose what you are asking for" in response.content.decode()
    assert_nothing_written(mailoutbox)


def test_a_file_over_the_size_limit_is_refused_without_being_read(client, mailoutbox, settings):
    settings.IMAGE_MAX_BYTES = 2_000_000
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), dtype=np.uint8))
    big = io.BytesIO()
    noise.save(big, format="PNG")
    assert big.tell() > 2_500_000
    response = post_request(client, selfies=[upload(big.getvalue(), "big.png", "image/png")])
    assert response.status_code == 400
    # Rounded up to a tenth (never reads as the limit itself), in the unit and number of the form.
    assert re.search(r"This file is 3\.\d MB; the limit is 2 MB\.", error_next_to(response, "id_selfies"))
    assert_nothing_written(mailoutbox)


def test_a_double_submit_creates_one_request(client, mailoutbox):
    key = form_key(client)
    first = post_request(client, key=key)
    second = post_request(client, key=key)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == reverse("public:request_sent")
    assert DataRequest.objects.count() == 1
    assert Selfie.objects.count() == 1
    assert len(media_files()) == 1
    assert len(mailoutbox) == 1


def test_the_same_form_sent_again_with_other_details_gets_a_clear_error_and_a_fresh_key(client, mailoutbox):
    """The person went back, changed the email and sent the form again (same key). Before the fix
    they were shown "sent" for the earlier request; now they are told, and can send it anew."""
    key = form_key(client)
    assert post_request(client, key=key).status_code == 302
    response = post_request(client, key=key, email="ana.corrected@example.org")
    assert response.status_code == 400
    html = response.content.decode()
    assert "This form was already sent; start a new request." in html
    fresh = re.search(r'name="form_key" value="([^"]+)"', html).group(1)
    assert fresh != key
    assert DataRequest.objects.count() == 1 and len(mailoutbox) == 1
    # Sending it again with the fresh key makes the new request.
    assert post_request(client, key=fresh, email="ana.corrected@example.org").status_code == 302
    assert DataRequest.objects.latest("id").email == "ana.corrected@example.org"


def test_a_double_submit_from_another_session_lands_on_the_same_page(client, mailoutbox):
    from django.test import Client

    key = form_key(client)
    post_request(client, key=key)
    other = Client()
    response = post_request(other, key=key)
    assert response.status_code == 302
    assert DataRequest.objects.count() == 1


def test_a_forged_form_key_still_submits_once(client, mailoutbox):
    response = post_request(client, key="forged")
    assert response.status_code == 302
    assert DataRequest.objects.get().submission_key is None


def test_an_expired_confirmation_link_is_a_plain_404(client, mailoutbox):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        request = submitted(client, mailoutbox)
    with time_machine.travel(start + settings.CONFIRMATION_MAX_AGE + timedelta(hours=1), tick=False):
        response = client.get(confirm_path(mailoutbox[0]))
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    request.refresh_from_db()
    assert request.status == RequestStatus.UNCONFIRMED


def test_a_forged_confirmation_link_is_a_plain_404(client, mailoutbox):
    request = submitted(client, mailoutbox)
    path = confirm_path(mailoutbox[0])
    token = path.rstrip("/").rsplit("/", 1)[-1]
    for forged in [token[:-4] + "AAAA", request.public_token, "1", svc.form_key_new()]:
        response = client.get(reverse("public:confirm", args=[forged]))
        assert response.status_code == 404, forged
        assert len(forged) < 8 or forged not in response.content.decode()  # nothing echoed back
    request.refresh_from_db()
    assert request.status == RequestStatus.UNCONFIRMED


def test_a_guessed_status_token_is_a_plain_404(client, mailoutbox):
    request = submitted(client, mailoutbox)
    for guess in [str(request.id), request.public_token[:-1] + "x", "a" * 43, request.public_token.upper()]:
        if guess == request.public_token:
            continue
        for name in ["public:status", "public:selfie_upload", "public:answer", "public:download"]:
            response = client.get(reverse(name, args=[guess]))
            assert response.status_code == 404, (name, guess)
    assert client.post(reverse("public:followup", args=[str(request.id)])).status_code == 404
    assert client.get(reverse("public:status", args=[request.public_token])).status_code == 200


def test_media_is_never_served_directly(client, mailoutbox):
    request = submitted(client, mailoutbox)
    name = request.selfies.get().file.name
    for prefix in [settings.MEDIA_URL, "/media/"]:
        assert client.get(f"{prefix}{name}").status_code == 404


# --- No face, a group photo: the worker's check, then another photo through the page --------------


@pytest.mark.models
@pytest.mark.parametrize(
    ("photo", "problem"),
    [
        (no_face_jpeg, "We found no face in this photo"),
        (lambda: GROUP_PHOTO.read_bytes(), "faces in this photo"),
    ],
    ids=["no-face", "group-photo"],
)
def test_an_unusable_photo_is_accepted_then_asked_again_and_another_photo_requeues(
    client, mailoutbox, django_capture_on_commit_callbacks, photo, problem
):
    from rights.tasks import request_search

    request = submitted(client, mailoutbox, selfies=[upload(photo())])  # it decodes: the form takes it
    with django_capture_on_commit_callbacks():
        client.get(confirm_path(mailoutbox[0]))
    # The worker's own task, run here in-process: it checks the face and asks for another photo.
    assert request_search.apply(args=[request.id]).get() == RequestStatus.NEEDS_SELFIE
    request.refresh_from_db()
    due_at = request.due_at
    assert request.status == RequestStatus.NEEDS_SELFIE
    assert problem in request.selfie_problem

    ask = mailoutbox[-1]
    assert "another photo" in ask.subject
    assert problem in ask.body
    assert status_path(ask) == reverse("public:status", args=[request.public_token])

    status_url = reverse("public:status", args=[request.public_token])
    status = client.get(status_url)
    assert_accessible(status)
    html = " ".join(status.content.decode().split())
    assert "We need another photo" in html
    assert problem in html
    assert "Waiting for you:" in html
    # The link in the email leads to the form on the status page.
    assert client.get(reverse("public:selfie_upload", args=[request.public_token]))["Location"].endswith(
        "#photo"
    )

    # A hostile file here too: refused next to the field, nothing written.
    bad = client.post(reverse("public:selfie_upload", args=[request.public_token]), {"selfie": upload(b"")})
    assert bad.status_code == 400
    assert "empty" in error_next_to(bad, "id_selfie")
    assert request.selfies.count() == 1

    with django_capture_on_commit_callbacks() as callbacks:
        sent = client.post(
            reverse("public:selfie_upload", args=[request.public_token]), {"selfie": upload(face_bytes())}
        )
    assert sent.status_code == 302
    assert len(callbacks) == 1  # searched again
    request.refresh_from_db()
    assert request.status == RequestStatus.QUEUED
    assert request.due_at == due_at
    assert request.selfies.filter(status=Selfie.Status.PENDING).count() == 1
    after = " ".join(client.get(status_url).content.decode().split())
    assert "we received your photo" in after
    assert "We need another photo" not in after
    assert "You sent another photo." in after


# --- Follow-up ----------------------------------------------------------------------------------


def confirmed_request(client, mailoutbox) -> DataRequest:
    request = submitted(client, mailoutbox)
    svc_token = confirm_path(mailoutbox[0]).rstrip("/").rsplit("/", 1)[-1]
    svc.request_confirm(token=svc_token)
    request.refresh_from_db()
    return request


def test_where_is_my_answer_is_counted_and_shown(client, mailoutbox):
    request = confirmed_request(client, mailoutbox)
    response = client.post(reverse("public:followup", args=[request.public_token]), follow=True)
    assert response.status_code == 200
    html = " ".join(response.content.decode().split())
    assert "We have recorded your question" in html
    assert "You asked where your answer is." in html
    request.refresh_from_db()
    assert request.followups == 1
    assert client.get(reverse("public:followup", args=[request.public_token])).status_code == 405


# --- The answer ---------------------------------------------------------------------------------


def answered(request: DataRequest) -> None:
    for to_status in ("searching", "review", "approved", "fulfilling", "answered"):
        assert request_transition(
            request_id=request.id,
            from_statuses=[request.status],
            to_status=to_status,
            actor="system",
            action="test_step",
        )
        request.status = to_status


def access_answer(request: DataRequest, *, expires_in: timedelta = timedelta(days=30)) -> Answer:
    """An access answer shaped like rights.pipeline.access builds it: payload + ZIP with images."""
    image = face_bytes()
    payload = {
        "kind": "access_report",
        "summary": "We hold 1 image(s) of you.",
        "image_count": 1,
        "images": [
            {
                "file": "images/001-abc.jpg",
                "image_sha256": "ab" * 32,
                "source_url": "https://social.example/p/1",
                "platform": "Social Example",
                "account": "ana_photos",
                "collected_at": "2020-01-02T03:04:05+00:00",
                "collected_on": "02 January 2020",
                "purposes": "Face search.",
                "recipients_text": "Not handed to anyone.",
                "retention": "Kept until it is erased.",
                "how_found": "Found by comparing faces (similarity 0.71).",
            }
        ],
        "general": {
            "search_coverage": "We searched the whole collection, whatever the date.",
            "rights": "...",
        },
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("report.json", "{}")
        archive.writestr("images/001-abc.jpg", image)
    answer = Answer(
        request=request,
        kind=Answer.Kind.ACCESS_REPORT,
        payload=payload,
        download_expires_at=timezone.now() + expires_in,
    )
    answer.archive.save("x.zip", ContentFile(buffer.getvalue()), save=False)
    answer.save()
    return answer


def test_an_answered_request_links_to_its_answer_images_and_download(client, mailoutbox):
    request = confirmed_request(client, mailoutbox)
    answered(request)
    answer = access_answer(request)
    status = client.get(reverse("public:status", args=[request.public_token]))
    html = status.content.decode()
    assert "Your answer is ready." in html
    assert reverse("public:answer", args=[answer.download_token]) in html
    assert reverse("public:download", args=[answer.download_token]) in html
    assert "Where is my answer?" not in html

    page = client.get(reverse("public:answer", args=[answer.download_token]))
    assert page.status_code == 200
    assert_accessible(page)
    text = " ".join(page.content.decode().split())
    for said in [
        "We hold 1 image(s) of you.",
        "https://social.example/p/1",
        "Social Example",
        "ana_photos",
        "02 January 2020",
        "whole collection",
    ]:
        assert said in text, said
    image_url = reverse("public:answer_image", args=[answer.download_token, "images/001-abc.jpg"])
    assert image_url in text
    image = client.get(image_url)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"
    assert image.content == face_bytes()
    # Only the images the report lists: not other archive members, not a wrong token.
    assert (
        client.get(reverse("public:answer_image", args=[answer.download_token, "report.json"])).status_code
        == 404
    )
    assert (
        client.get(reverse("public:answer_image", args=["x" * 43, "images/001-abc.jpg"])).status_code == 404
    )

    download = client.get(reverse("public:download", args=[answer.download_token]))
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    assert "attachment" in download["Content-Disposition"]
    body = b"".join(download.streaming_content)
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["report.json", "images/001-abc.jpg"]


def test_an_expired_download_says_so_and_how_to_ask_again(client, mailoutbox):
    request = confirmed_request(client, mailoutbox)
    answered(request)
    answer = access_answer(request, expires_in=timedelta(days=30))
    with time_machine.travel(timezone.now() + timedelta(days=31), tick=False):
        response = client.get(reverse("public:download", args=[answer.download_token]))
        assert response.status_code == 410
        assert_accessible(response)
        html = " ".join(response.content.decode().split())
        assert "This download has expired" in html
        assert "Make a new request" in html
        assert "no limit on how many requests" in html
        image_url = reverse("public:answer_image", args=[answer.download_token, "images/001-abc.jpg"])
        assert client.get(image_url).status_code == 404
        page = " ".join(
            client.get(reverse("public:answer", args=[answer.download_token])).content.decode().split()
        )
        assert "expired on" in page
        assert "https://social.example/p/1" in page  # what we told them stays
        assert image_url not in page


def test_a_refusal_shows_the_letter_and_the_right_to_complain(client, mailoutbox):
    request = confirmed_request(client, mailoutbox)
    answer = Answer.objects.create(
        request=request,
        kind=Answer.Kind.REFUSAL,
        payload={
            "reason": "The same request was sent 400 times in one hour by a script.",
            "legal_basis": "GDPR Art. 12(5): manifestly unfounded or excessive",
        },
    )
    request_transition(
        request_id=request.id,
        from_statuses=["queued"],
        to_status="refused",
        actor="staff:x",
        action="refused",
    )
    status = client.get(reverse("public:status", args=[request.public_token])).content.decode()
    assert "We refused your request." in status
    assert reverse("public:answer", args=[answer.download_token]) in status
    page = client.get(reverse("public:answer", args=[answer.download_token]))
    text = " ".join(page.content.decode().split())
    assert "400 times in one hour" in text
    assert "lodge a complaint with a supervisory authority" in text
    assert "CNIL" in text
    assert client.get(reverse("public:download", args=[answer.download_token])).status_code == 404  # no ZIP


def erasure_certificate(request: DataRequest) -> Answer:
    """A certificate shaped like rights.pipeline.erasure builds it: payload + an HTML file."""
    payload = {
        "kind": "erasure_certificate",
        "issued_at": "2026-03-01T10:00:00+00:00",
        "erased_count": 2,
        "erased": [
            {
                "image_sha256": "cd" * 32,
                "source_url": "https://social.example/p/2",
                "removed_from": ["file", "faces", "index"],
                "erased_at": "2026-03-01T09:59:00+00:00",
            },
            {
                "image_sha256": "ef" * 32,
                "source_url": "",
                "removed_from": ["file", "faces", "index"],
                "erased_at": "2026-03-01T09:59:30+00:00",
            },
        ],
        "verification": {
            "searched_at": "2026-03-01T10:00:00+00:00",
            "selfies_used": 1,
            "identifiers_used": 1,
            "collection_size_after": 1532,
            "images_found_after": 0,
            "result": "No image of you remains in the collection.",
        },
        "suppression": {
            "consent": False,
            "templates": 0,
            "text": "You did not consent to us keeping a template.",
        },
        "complaint": settings.SUPERVISORY_AUTHORITY,
    }
    answer = Answer(request=request, kind=Answer.Kind.ERASURE_CERTIFICATE, payload=payload)
    answer.download_expires_at = timezone.now() + timedelta(days=30)
    answer.archive.save("c.html", ContentFile(b"<!doctype html><title>Certificate</title>"), save=False)
    answer.save()
    return answer


def test_an_erasure_certificate_lists_what_was_deleted_and_how_it_was_checked(client, mailoutbox):
    request = confirmed_request(client, mailoutbox)
    answered(request)
    answer = erasure_certificate(request)
    page = client.get(reverse("public:answer", args=[answer.download_token]))
    assert page.status_code == 200
    assert_accessible(page)
    text = " ".join(page.content.decode().split())
    for said in [
        "We deleted 2 image(s) of you",
        "No image of you remains in the collection.",
        "cd" * 32,
        "ef" * 32,
        "https://social.example/p/2",
        "file, faces, index",
        "1 March 2026, 10:59",  # 09:59 UTC, shown in Paris time
        "You did not consent",
        "lodge a complaint",
    ]:
        assert said in text, said
    download = client.get(reverse("public:download", args=[answer.download_token]))
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/html")
    assert "attachment" in download["Content-Disposition"]  # never rendered inside our pages
    assert download["Content-Disposition"].endswith('.html"')


def test_a_form_without_its_security_code_says_what_to_do_and_saves_nothing(mailoutbox):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        reverse("public:request_new"),
        {"kind": "access", "email": "ana@example.org", "selfies": [upload(face_bytes())]},
    )
    assert response.status_code == 403
    assert_accessible(response)
    assert "Please send the form again" in response.content.decode()
    assert_nothing_written(mailoutbox)
