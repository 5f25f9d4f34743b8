# ruff: noqa: F811 (the fixture imported from test_admin is used as an argument)
"""Issue 12: every admin page a staff member reaches is in the language they chose.

A superuser who chose Japanese follows every link of the admin from its home page (changelists,
change and add pages, the request page, the summary, the compliance report, the collection), and
each page's visible text and its titles, placeholders and buttons are read. A text with no Japanese
in it is reported if English words are left once the data in it is taken out: the values stored in
the database (a name, an email address, a URL) and Django's own permission names, which Django stores
in English. Japanese stands for every language: what is marked is marked for all of them, and
tests/portal/test_catalogues.py checks that every marked message is translated in each.
The same crawl in English must report plenty: the check can fail.
"""

from __future__ import annotations

import json
import re
from collections import deque
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from django.apps import apps
from django.conf.locale import LANG_INFO
from django.contrib.auth.hashers import get_hashers
from django.contrib.auth.models import Permission, User
from django.db import models
from django.test import Client
from django.utils import timezone

from portal.staff_language import staff_language_set
from rights.casework import RequestNote
from rights.models import (
    AuditEvent,
    DataRequest,
    ErasureRecord,
    PurgeRecord,
    Recipient,
    RecipientNotice,
    Release,
    RequestKind,
    RequestStatus,
)
from tests.rights.admin.test_admin import under_review  # noqa: F401 (fixture)
from tests.rights.staff_helpers import make_request, staff_login

pytestmark = pytest.mark.django_db

# A word of Latin letters: a sentence, a label, a heading, a button.
WORD = re.compile(r"[A-Za-z]{3,}")
# Names and codes that read the same in every language.
SAME_IN_EVERY_LANGUAGE = {
    *("sha", "url", "urls", "json", "csv", "html", "api", "http", "https", "totp", "webhook", "webhooks"),
    *("utc", "get", "post", "png", "jpeg", "pdf", "zip", "whsec", "facerights", "cnil", "gdpr", "rgpd"),
    "faiss",
}
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
# Pages that change something on a GET, or are files rather than pages.
NOT_FOLLOWED = ("logout", "/delete/", "password", "download", "export", "/image/", "/selfie/", "/jsi18n/")
MOST_PAGES = 400
# Django's admin writes these in English in every language: its boolean icons and its search box.
DJANGO_ENGLISH_ALTS = {"True", "False", "None", "Search"}


class _PageText(HTMLParser):
    """The visible text of a page, with its titles, placeholders, labels and button values."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.texts: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag in ("script", "style", "template"):
            self.hidden += 1
        if tag == "a" and found.get("href", "").startswith("/admin/"):
            self.links.append(found["href"].split("#")[0])
        for name in ("title", "placeholder", "aria-label", "alt"):
            if found.get(name) and not (name == "alt" and found[name] in DJANGO_ENGLISH_ALTS):
                self.texts.append(found[name])
        if tag == "input" and found.get("type") in ("submit", "button") and found.get("value"):
            self.texts.append(found["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template"):
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden and data.strip():
            self.texts.append(" ".join(data.split()))


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, dict):
        return [json.dumps(value), *(s for item in value.items() for part in item for s in _strings_in(part))]
    if isinstance(value, list):
        return [json.dumps(value), *(s for item in value for s in _strings_in(item))]
    return []


def stored_texts() -> list[str]:
    """Every string value stored in the database (JSON too): data, which stays as it was written."""
    values: list[str] = []
    for model in apps.get_models():
        names = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField))
        ]
        if names:
            for row in model.objects.values_list(*names):
                values += [text for value in row for text in _strings_in(value)]
    # Each language's name in itself (the language menus), and the password hashers' names.
    values += [
        info["name_local"][:1].upper() + info["name_local"][1:]
        for info in LANG_INFO.values()
        if "name_local" in info
    ]
    values += [hasher.algorithm for hasher in get_hashers()]
    return values


def english_words(text: str, stored: list[str], permissions: set[str]) -> list[str]:
    """The English words of a text, once the data in it (stored values) is taken out."""
    if JAPANESE.search(text) or text.rsplit(" | ", 1)[-1] in permissions:
        # Django stores permission names in English ("app | model | Can add model").
        return []
    for value in stored:
        text = text.replace(value, " ")
    text = re.sub(r"\S*\*{4,}\S*", " ", text)  # a secret shown masked (a password's hash)
    return [word for word in WORD.findall(text) if word.lower() not in SAME_IN_EVERY_LANGUAGE]


def english_left(client: Client) -> dict[str, str]:
    """Each English text found on the admin's pages, with the first page it was found on."""
    stored = sorted(set(stored_texts()), key=len, reverse=True)  # the longest first: "a b" before "a"
    permissions = set(Permission.objects.values_list("name", flat=True))
    seen: set[str] = set()
    queue = deque(["/admin/"])
    found: dict[str, str] = {}
    while queue and len(seen) < MOST_PAGES:
        url = queue.popleft()
        if url in seen or any(part in url for part in NOT_FOLLOWED):
            continue
        seen.add(url)
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        page = _PageText()
        page.feed(response.content.decode())
        for text in page.texts:
            if english_words(text, stored, permissions):
                found.setdefault(text, url)
        here = url.split("?")[0]
        queue.extend(link for link in page.links if link.split("?")[0] != here)
    assert len(seen) > 40, f"the crawl reached only {len(seen)} pages"
    return found


@pytest.fixture
def everything_on_screen(under_review) -> DataRequest:
    """A request under review (matches, a selfie), one answered erasure with its ledger, purge, notice
    and note, a recipient with a release, and audit rows: something on every admin screen."""
    now = timezone.now()
    erasure = make_request(
        kind=RequestKind.ERASURE, status=RequestStatus.ANSWERED, received_at=now - timedelta(days=20)
    )
    DataRequest.objects.filter(id=erasure.id).update(answered_at=now, closed_at=now)
    recipient = Recipient.objects.create(name="Acme Research", contact_email="dpo@acme.example")
    Release.objects.create(recipient=recipient, image_sha256="a" * 64, released_at=now - timedelta(days=400))
    ErasureRecord.objects.create(
        request=erasure, image_id=99, image_sha256="a" * 64, removed_from=["index"], erased_at=now
    )
    PurgeRecord.objects.create(request=erasure, what={"selfie_files": 1}, purged_at=now)
    RecipientNotice.objects.create(request=erasure, recipient=recipient, image_hashes=["a" * 64], sent_at=now)
    author = User.objects.create_user("author", "author@example.org", "x", is_staff=True)
    RequestNote.objects.create(
        request=under_review, kind=RequestNote.Kind.INTERNAL, author=author, text="Called the person back"
    )
    AuditEvent.objects.create(
        request=erasure, actor="system", action="answered", created_at=now, prev_hash="0" * 64, hash="1" * 64
    )
    return under_review


def superuser_in(language: str) -> Client:
    user = User.objects.create_superuser(f"crawler-{language}", f"crawler-{language}@example.org", "x")
    staff_language_set(user=user, language=language)
    client = Client()
    staff_login(client, user)
    return client


def test_every_admin_page_in_japanese_holds_no_english_interface_text(everything_on_screen) -> None:
    left = english_left(superuser_in("ja"))
    assert left == {}, "\n".join(
        f"{url}: {text[:100]}" for text, url in sorted(left.items(), key=lambda t: t[1])
    )


def test_the_same_crawl_in_english_reports_the_interface(everything_on_screen) -> None:
    left = english_left(superuser_in("en"))
    assert len(left) > 100
    assert {"Data requests", "Recipients", "Add recipient", "Status"} <= set(left)
