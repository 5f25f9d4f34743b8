"""The rights request lifecycle.

Status changes only through ``rights.lifecycle.transitions``: a conditional UPDATE and its
audit row, in one transaction.
"""

from __future__ import annotations

import secrets

import numpy as np
from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

# Re-exported: `from rights.models import AuditAction` (and the recipients' models) keeps working;
# the migrations name the token makers by their rights.models path.
from rights.audit_actions import AuditAction as AuditAction
from rights.recipient_models import EventEndpoint as EventEndpoint
from rights.recipient_models import EventType as EventType
from rights.recipient_models import Recipient as Recipient
from rights.recipient_models import RecipientNotice as RecipientNotice
from rights.recipient_models import Release as Release
from rights.tokens import new_public_token as new_public_token
from rights.tokens import new_webhook_secret as new_webhook_secret


class RequestKind(models.TextChoices):
    ACCESS = "access", _("Access (which images of me do you hold?)")
    ERASURE = "erasure", _("Erasure (delete my images)")
    OBJECTION = "objection", _("Objection (delete my images and never collect me again)")


# The kind in one word, where the full label (with its explanation) is too long: titles, breadcrumbs.
REQUEST_KIND_SHORT = {
    RequestKind.ACCESS: pgettext_lazy("kind, in a request's title", "Access"),
    RequestKind.ERASURE: pgettext_lazy("kind, in a request's title", "Erasure"),
    RequestKind.OBJECTION: pgettext_lazy("kind, in a request's title", "Objection"),
}


class RequestStatus(models.TextChoices):
    UNCONFIRMED = "unconfirmed", _("Waiting for email confirmation")
    NEEDS_SELFIE = "needs_selfie", _("Waiting for a usable photo")
    QUEUED = "queued", _("Confirmed, search queued")
    SEARCHING = "searching", _("Searching the collection")
    REVIEW = "review", _("Waiting for staff review")
    APPROVED = "approved", _("Approved, being carried out")
    FULFILLING = "fulfilling", _("Preparing the answer")
    HELD = "held", _("Held by staff (answer failed a check)")
    ANSWERED = "answered", _("Answered")
    REFUSED = "refused", _("Refused")
    # Closed without an answer: the email address was never confirmed (rights.upkeep.purge).
    EXPIRED = "expired", _("Never confirmed (expired)")


CLOSED_STATUSES = [RequestStatus.ANSWERED, RequestStatus.REFUSED, RequestStatus.EXPIRED]
OPEN_STATUSES = [s for s in RequestStatus.values if s not in CLOSED_STATUSES]
# Statuses in which a worker owns the request; a request left in one of them too long is re-enqueued.
WORKING_STATUSES = [
    RequestStatus.QUEUED,
    RequestStatus.SEARCHING,
    RequestStatus.APPROVED,
    RequestStatus.FULFILLING,
]
# Statuses in which the organisation waits for the person (see CLOCK_PAUSES_WHILE_WAITING).
WAITING_FOR_PERSON_STATUSES = [RequestStatus.UNCONFIRMED, RequestStatus.NEEDS_SELFIE]
# Open and confirmed: a request staff can act on. Only these are overdue or due soon, may be followed
# up by the person, or count as an open access request to answer first (never confirmed: not yet one).
CONFIRMED_OPEN_STATUSES = [s for s in OPEN_STATUSES if s != RequestStatus.UNCONFIRMED]
# Never confirmed: the CNIL figures count them on their own, neither answered nor late.
NEVER_CONFIRMED_STATUSES = [RequestStatus.UNCONFIRMED, RequestStatus.EXPIRED]
# Waiting for staff: matches may be decided and the request approved (also after a failed check).
REVIEWABLE_STATUSES = [RequestStatus.REVIEW, RequestStatus.HELD]
# Not while a worker is searching or carrying out the request: a refusal would race its work.
REFUSABLE_STATUSES = [
    RequestStatus.NEEDS_SELFIE,
    RequestStatus.QUEUED,
    RequestStatus.REVIEW,
    RequestStatus.APPROVED,
    RequestStatus.HELD,
]
# Held by a worker under a claim (rights.lifecycle.claims): searching or fulfilling.
CLAIMED_STATUSES = [RequestStatus.SEARCHING, RequestStatus.FULFILLING]
# Waiting for a worker (a long queue is normal) rather than held by one.
WAITING_FOR_WORKER_STATUSES = [RequestStatus.QUEUED, RequestStatus.APPROVED]


class RequestChannel(models.TextChoices):
    """How a request reached the organisation: the clock starts when it was received, by any channel."""

    WEB = "web", _("Web form")
    EMAIL = "email", _("Email")
    POST = "post", _("Post")
    PHONE = "phone", _("Phone")
    AGENT = "agent", _("Authorised agent")
    API = "api", _("Another system (API)")


def new_reference() -> str:
    # Not a secret (staff and other systems name a request by it), but never sequential: it reveals
    # neither how many requests there are nor the status link.
    return "R-" + secrets.token_hex(6).upper()


def due_stored_expression() -> Coalesce:
    """The stored due date (the extension's if any) as a database expression, to order and pre-filter.

    The due date in force, which also counts a pause still running, is one function:
    ``rights.lifecycle.clock.request_due_in_force``.
    """
    return Coalesce("extended_until", "due_at")


class DataRequest(models.Model):
    public_token = models.CharField(
        _("status token"), max_length=64, unique=True, default=new_public_token, editable=False
    )
    # What the confirmation link signs: opaque, opens nothing else (a logged confirm link must not
    # reveal the status token).
    confirm_nonce = models.CharField(
        _("confirmation nonce"), max_length=64, unique=True, default=new_public_token, editable=False
    )
    reference = models.CharField(
        _("reference"), max_length=20, unique=True, default=new_reference, editable=False
    )
    kind = models.CharField(_("kind"), max_length=20, choices=RequestKind.choices)
    # Who brought the request in and how (rights.requester.requests.request_submit).
    channel = models.CharField(
        _("channel"), max_length=10, choices=RequestChannel.choices, default=RequestChannel.WEB, db_index=True
    )
    agent_name = models.CharField(_("agent's name"), max_length=200, blank=True)
    # The agent's authority (a signed mandate, a power of attorney): a file, kept with the request.
    agent_evidence = models.FileField(
        _("evidence of the agent's authority"), upload_to="evidence/", blank=True
    )
    recorded_by = models.CharField(
        _("recorded by"), max_length=150, blank=True
    )  # "staff:<username>" for staff intake
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=RequestStatus.choices,
        default=RequestStatus.UNCONFIRMED,
        db_index=True,
    )
    email = models.EmailField(_("email address"))
    email_verified_at = models.DateTimeField(_("email verified at"), null=True, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    # Free text, one per line: profile URLs, account names, image URLs.
    identifiers = models.TextField(_("profile URLs and account names"), blank=True)
    # Objection only: explicit consent to keep a face template solely to stop re-collection.
    suppression_consent = models.BooleanField(_("suppression consent"), default=False)
    # The requester's language (a code of settings.LANGUAGES), set at submission: every later email,
    # letter and answer file is written in it, whoever or whatever sends it.
    language = models.CharField(_("requester's language"), max_length=10, default="en")

    # The statutory clock (rights.lifecycle.clock).
    received_at = models.DateTimeField(_("received at"), db_index=True)
    due_at = models.DateTimeField(_("due at"), db_index=True)
    extended_until = models.DateTimeField(_("extended until"), null=True, blank=True)
    extension_reason = models.TextField(_("extension reason"), blank=True)
    extension_notified_at = models.DateTimeField(_("extension notified at"), null=True, blank=True)
    paused_seconds = models.PositiveIntegerField(_("paused seconds"), default=0)
    waiting_since = models.DateTimeField(_("waiting since"), null=True, blank=True)
    reminders_sent = models.JSONField(
        _("reminders sent"), default=list, blank=True
    )  # days-before-due already reminded
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)

    status_changed_at = models.DateTimeField(_("status changed at"), auto_now_add=True)
    # While a worker holds the request (SEARCHING, FULFILLING): until when its claim stands unless
    # renewed by its heartbeat (rights.lifecycle.claims). Past it, the worker is presumed dead.
    claim_expires_at = models.DateTimeField(_("claim expires at"), null=True, blank=True, db_index=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True, db_index=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # The person asked again ("where is my answer?") before being answered: a CNIL finding to count.
    followups = models.PositiveIntegerField(_("times the person asked again"), default=0)
    refusal_reason = models.TextField(_("refusal reason"), blank=True)
    hold_reason = models.TextField(_("hold reason"), blank=True)
    # Why the last photo could not be used (shown on the status page while NEEDS_SELFIE).
    selfie_problem = models.TextField(_("selfie problem"), blank=True)
    # Earlier requests of the same person (same email or same face): linked, never refused for it.
    earlier_requests = models.ManyToManyField(
        "self",
        verbose_name=_("earlier requests"),
        symmetrical=False,
        related_name="later_requests",
        blank=True,
    )
    # The span of collection dates a search covered: it must always be the whole collection.
    searched_at = models.DateTimeField(_("searched at"), null=True, blank=True)
    searched_collection_from = models.DateTimeField(_("searched collection from"), null=True, blank=True)
    searched_collection_to = models.DateTimeField(_("searched collection to"), null=True, blank=True)
    searched_collection_size = models.PositiveIntegerField(
        _("searched collection size"), null=True, blank=True
    )
    # What the search really covered: vectors in the index it searched (after its sync) and faces in
    # the collection at that moment. Unequal: the search did not cover the whole collection.
    searched_index_faces = models.PositiveIntegerField(
        _("faces in the searched index"), null=True, blank=True
    )
    searched_collection_faces = models.PositiveIntegerField(
        _("faces in the collection when searched"), null=True, blank=True
    )
    purged_at = models.DateTimeField(_("purged at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(
        _("fulfilment attempts"), default=0
    )  # fulfilment attempts (erasure verification retries)
    # The one-time key of the form this request was posted with: the same form posted again (a double
    # click, a reload) finds this request instead of creating a second one.
    submission_key = models.CharField(
        _("submission key"), max_length=64, null=True, blank=True, unique=True, editable=False
    )

    class Meta:
        verbose_name = _("data request")
        verbose_name_plural = _("data requests")
        ordering = ["due_at"]
        permissions = [
            ("review_match", "Can confirm or reject candidate matches"),
            ("approve_request", "Can approve a request for fulfilment"),
            ("extend_request", "Can extend a request's deadline"),
            ("refuse_request", "Can refuse a request"),
            ("export_compliance_report", "Can export the compliance report"),
        ]

    def __str__(self) -> str:
        return gettext("%(kind)s request #%(number)s") % {
            "kind": REQUEST_KIND_SHORT[self.kind],
            "number": self.pk,
        }

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES


def selfie_upload_to(instance: Selfie, filename: str) -> str:
    # Never the uploaded name: it may hold the person's name.
    return f"selfies/{instance.request.public_token[:2]}/{secrets.token_hex(16)}.{instance.extension}"


class Selfie(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Not checked yet")
        USABLE = "usable", _("Usable")
        REJECTED = "rejected", _("Rejected")

    request = models.ForeignKey(
        DataRequest, verbose_name=_("request"), on_delete=models.CASCADE, related_name="selfies"
    )
    file = models.FileField(_("file"), upload_to=selfie_upload_to, blank=True)
    extension = models.CharField(_("file extension"), max_length=5, default="jpg")
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    problem = models.TextField(_("problem"), blank=True)
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    face_bbox = models.JSONField(_("face box"), null=True, blank=True)
    embedding = models.BinaryField(_("face template"), null=True, blank=True)
    purged_at = models.DateTimeField(_("purged at"), null=True, blank=True)

    class Meta:
        verbose_name = _("selfie")
        verbose_name_plural = _("selfies")

    def __str__(self) -> str:
        return gettext("Selfie %(number)s of request #%(request)s") % {
            "number": self.pk,
            "request": self.request_id,
        }

    @property
    def vector(self) -> np.ndarray | None:
        if self.embedding is None:
            return None
        return np.frombuffer(bytes(self.embedding), dtype="<f4")


class Match(models.Model):
    class Band(models.TextChoices):
        MATCH = "match", _("Match")
        REVIEW = "review", _("Needs review")
        IDENTIFIER = "identifier", _("Found by identifier")

    class Decision(models.TextChoices):
        PENDING = "pending", _("Pending review")
        CONFIRMED = "confirmed", _("Confirmed")
        REJECTED = "rejected", _("Rejected")

    request = models.ForeignKey(
        DataRequest, verbose_name=_("request"), on_delete=models.CASCADE, related_name="matches"
    )
    # SET_NULL: after an erasure the match (and its hash) stays as the record of what was found.
    image = models.ForeignKey(
        "matching.Image",
        verbose_name=_("image"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    image_sha256 = models.CharField(_("image SHA-256"), max_length=64)
    face_id = models.BigIntegerField(_("face id"), null=True, blank=True)
    # The requester's selfie whose face matched (face matches only; shown beside the candidate).
    selfie = models.ForeignKey(
        Selfie, verbose_name=_("selfie"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    face_bbox = models.JSONField(_("face box"), null=True, blank=True)
    # The face group (matching.services.search.faces_group over the request's candidate faces):
    # staff decide a group at once. Null for identifier-only finds and rows searched before groups.
    group = models.PositiveIntegerField(_("face group"), null=True, blank=True)
    score = models.FloatField(_("score"), null=True, blank=True)
    band = models.CharField(_("band"), max_length=12, choices=Band.choices)
    decision = models.CharField(
        _("decision"), max_length=10, choices=Decision.choices, default=Decision.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    found_at = models.DateTimeField(_("found at"), auto_now_add=True)

    class Meta:
        verbose_name = _("match")
        verbose_name_plural = _("matches")
        constraints = [
            models.UniqueConstraint(fields=["request", "image_sha256"], name="one_match_per_image")
        ]
        ordering = ["-score"]

    def __str__(self) -> str:
        return gettext("Match %(number)s (%(band)s, %(decision)s)") % {
            "number": self.pk,
            "band": self.get_band_display(),
            "decision": self.get_decision_display(),
        }


class Answer(models.Model):
    """What the person receives: an access report, an erasure certificate or a refusal letter."""

    class Kind(models.TextChoices):
        ACCESS_REPORT = "access_report", _("Access report")
        ERASURE_CERTIFICATE = "erasure_certificate", _("Erasure certificate")
        REFUSAL = "refusal", _("Refusal letter")

    request = models.ForeignKey(
        DataRequest, verbose_name=_("request"), on_delete=models.CASCADE, related_name="answers"
    )
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    payload = models.JSONField(_("content"), default=dict)
    archive = models.FileField(_("answer file"), upload_to="answers/", blank=True)
    download_token = models.CharField(
        _("download token"), max_length=64, unique=True, default=new_public_token, editable=False
    )
    download_expires_at = models.DateTimeField(_("download expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")

    def __str__(self) -> str:
        return gettext("%(kind)s for request #%(request)s") % {
            "kind": self.get_kind_display(),
            "request": self.request_id,
        }


class ErasureRecord(models.Model):
    """The erasure ledger: one row per deleted image, kept after the image is gone."""

    request = models.ForeignKey(
        DataRequest, verbose_name=_("request"), on_delete=models.PROTECT, related_name="erasures"
    )
    image_id = models.BigIntegerField(_("image id"))
    image_sha256 = models.CharField(_("image SHA-256"), max_length=64)
    source_url = models.URLField(_("source URL"), max_length=2000, blank=True)
    removed_from = models.JSONField(_("removed from"), default=list)
    erased_at = models.DateTimeField(_("erased at"))

    class Meta:
        verbose_name = _("erasure record")
        verbose_name_plural = _("erasure records")
        constraints = [
            models.UniqueConstraint(fields=["request", "image_sha256"], name="one_erasure_per_image")
        ]

    def __str__(self) -> str:
        return gettext("Erasure of %(image)s for request #%(request)s") % {
            "image": self.image_sha256[:12],
            "request": self.request_id,
        }


class PurgeRecord(models.Model):
    """What was purged of a request's own verification data, and when (never the data itself)."""

    request = models.ForeignKey(
        DataRequest, verbose_name=_("request"), on_delete=models.PROTECT, related_name="purges"
    )
    what = models.JSONField(
        _("what was purged"), default=dict
    )  # e.g. {"selfie_files": 2, "selfie_embeddings": 2, ...}
    purged_at = models.DateTimeField(_("purged at"))

    class Meta:
        verbose_name = _("purge record")
        verbose_name_plural = _("purge records")

    def __str__(self) -> str:
        return gettext("Purge for request #%(request)s on %(date)s") % {
            "request": self.request_id,
            "date": f"{self.purged_at:%Y-%m-%d}",
        }


class AuditEvent(models.Model):
    """Append-only trail; each row carries the hash of the previous one (rights.lifecycle.audit)."""

    request = models.ForeignKey(
        DataRequest,
        verbose_name=_("request"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
    )
    actor = models.CharField(_("actor"), max_length=150)  # "system", "requester" or "staff:<username>"
    action = models.CharField(_("action"), max_length=60)
    from_status = models.CharField(_("status before"), max_length=20, blank=True)
    to_status = models.CharField(_("status after"), max_length=20, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"))
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64, unique=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action}"


class JobCursor(models.Model):
    """How far a periodic job got through an ever-growing table (e.g. the highest Face id checked)."""

    name = models.CharField(max_length=60, unique=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("job cursor")
        verbose_name_plural = _("job cursors")

    def __str__(self) -> str:
        return f"{self.name} at {self.position}"


class TaskOutbox(models.Model):
    """A task to send, written in the transaction of the state change that calls for it.

    Sent once that transaction commits; a broker that is down leaves the row unsent, and the
    outbox job (every OUTBOX_INTERVAL) sends it once the broker is back (rights.lifecycle.enqueue).
    """

    name = models.CharField(max_length=100)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=100, blank=True)  # the error's type only

    class Meta:
        verbose_name = _("task outbox row")
        verbose_name_plural = _("task outbox")

    def __str__(self) -> str:
        return f"{self.name}{tuple(self.args)} ({'sent' if self.sent_at else 'waiting'})"
