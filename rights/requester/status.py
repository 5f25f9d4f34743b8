"""What the status page shows: the request and its answer by their unguessable links, what has
happened so far (from the audit trail, in plain words), what the request waits for, the answer's images.

Read-only: nothing here changes a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_noop

from rights.models import Answer, AuditAction, AuditEvent, DataRequest, RequestStatus
from rights.requester import progress


def request_by_token(*, token: str) -> DataRequest | None:
    if not token or len(token) > 64:
        return None
    return DataRequest.objects.filter(public_token=token).first()


def answer_by_token(*, token: str) -> Answer | None:
    if not token or len(token) > 64:
        return None
    return Answer.objects.select_related("request").filter(download_token=token).first()


def answer_latest(*, request: DataRequest) -> Answer | None:
    return request.answers.order_by("-created_at", "-id").first()


def answer_download_open(*, answer: Answer, now: datetime | None = None) -> bool:
    """Whether the answer's files may still be downloaded (the link expires; the page says so)."""
    if answer.download_expires_at is None:
        return True
    return (now or timezone.now()) < answer.download_expires_at


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    text: str
    who: str  # "you", "us"


# Plain words for the events a person may see. Internal events (staff decisions on single matches,
# retries, notices to recipients) are not listed: the timeline says what happened to the request.
_ACTION_WORDS = {
    AuditAction.SUBMITTED: ("you", gettext_noop("You sent your request.")),
    AuditAction.CONFIRMED: ("you", gettext_noop("You confirmed your email address.")),
    AuditAction.SELFIE_ADDED: ("you", gettext_noop("You sent another photo.")),
    AuditAction.FOLLOWUP: ("you", gettext_noop("You asked where your answer is.")),
    AuditAction.EXTENDED: ("us", gettext_noop("We extended the deadline.")),
    AuditAction.REFUSED: ("us", gettext_noop("We refused your request.")),
}
_STATUS_WORDS = {
    RequestStatus.QUEUED: gettext_noop("Your request is in the queue for a search of the whole collection."),
    RequestStatus.SEARCHING: gettext_noop("We started searching the whole collection."),
    RequestStatus.NEEDS_SELFIE: gettext_noop("We could not use your photo and asked you for another one."),
    RequestStatus.REVIEW: gettext_noop("Our staff started reviewing the possible matches."),
    RequestStatus.APPROVED: gettext_noop("Your request was approved and is being carried out."),
    RequestStatus.FULFILLING: gettext_noop("We started preparing your answer."),
    RequestStatus.HELD: gettext_noop("Our staff are checking your answer before it is sent."),
    RequestStatus.ANSWERED: gettext_noop("Your answer is ready."),
    RequestStatus.REFUSED: gettext_noop("We refused your request."),
    RequestStatus.EXPIRED: gettext_noop("Your request expired: the email address was never confirmed."),
}


def request_timeline(*, request: DataRequest) -> list[TimelineEntry]:
    """What has happened to the request, oldest first, in plain words (from the audit trail)."""
    entries: list[TimelineEntry] = []
    last_text = ""
    events = AuditEvent.objects.filter(request=request).order_by("id")
    for event in events.only("action", "to_status", "from_status", "reason", "created_at"):
        text, who = "", "us"
        if event.action in _ACTION_WORDS:
            who, text = _ACTION_WORDS[event.action]
            text = gettext(text)
            if event.action == AuditAction.EXTENDED and request.extended_until:
                until = date_format(timezone.localtime(request.extended_until), "DATE_FORMAT")
                text = gettext("We extended the deadline to %(date)s.") % {"date": until}
        elif event.to_status and event.to_status != event.from_status:
            text = gettext(_STATUS_WORDS.get(event.to_status, "")) if event.to_status in _STATUS_WORDS else ""
        if not text or text == last_text:
            continue  # e.g. a retried search: once is enough for the person
        entries.append(TimelineEntry(at=event.created_at, text=text, who=who))
        last_text = text
    return entries


@dataclass(frozen=True)
class Awaited:
    who: str  # "you" or "us"
    text: str


def request_awaited(*, request: DataRequest) -> Awaited:
    """What the request is waiting for, and from whom."""
    status = request.status
    if status == RequestStatus.UNCONFIRMED:
        return Awaited(
            "you",
            gettext("We are waiting for you to confirm your email address: follow the link we sent you."),
        )
    if status == RequestStatus.NEEDS_SELFIE:
        return Awaited("you", gettext("We are waiting for a photo of your face that we can use."))
    if status in (RequestStatus.QUEUED, RequestStatus.SEARCHING):
        return Awaited("us", gettext("We are searching the whole collection for your face and identifiers."))
    if status == RequestStatus.REVIEW:
        return Awaited(
            "us", gettext("Our staff are reviewing the possible matches before anything is sent or deleted.")
        )
    if status in (RequestStatus.APPROVED, RequestStatus.FULFILLING):
        return _under_way(request=request)
    if status == RequestStatus.HELD:
        return Awaited(
            "us", gettext("Our staff are checking your answer before it is sent, so that it is complete.")
        )
    if status == RequestStatus.ANSWERED:
        return Awaited("you", gettext("Your answer is ready."))
    if status == RequestStatus.EXPIRED:
        return Awaited(
            "you",
            gettext(
                "Nothing: this request expired because the email address was never confirmed, so we "
                "did not search for you and we deleted your photos. You can simply ask again with a "
                "new request."
            ),
        )
    return Awaited("you", gettext("We have answered your request with a letter explaining our refusal."))


def _under_way(*, request: DataRequest) -> Awaited:
    if progress.erasure_waiting_for_access(request=request):
        return Awaited(
            "us",
            gettext(
                "Your erasure waits until we have answered your access request, so that you first "
                "receive a copy of what we hold; then we erase it."
            ),
        )
    done = progress.erasure_progress(request=request)
    if done is not None:
        return Awaited(
            "us",
            gettext("We are erasing your images: %(erased)s erased so far, %(remaining)s still to go.")
            % {"erased": done.erased, "remaining": done.remaining},
        )
    return Awaited("us", gettext("We are preparing your answer."))


# --- The answer's images -------------------------------------------------------------------


def _image_member(item: dict) -> str:
    # The access report names each image's file inside the archive under "file" (rights.pipeline.access).
    value = item.get("file")
    return value if isinstance(value, str) else ""


def answer_images(*, answer: Answer) -> list[dict[str, object]]:
    """The access report's images, each with ``member``: its file inside the answer's archive."""
    images = answer.payload.get("images") if isinstance(answer.payload, dict) else None
    if not isinstance(images, list):
        return []
    return [{**item, "member": _image_member(item)} for item in images if isinstance(item, dict)]


def answer_image_member(*, answer: Answer, name: str) -> str | None:
    """``name`` if the report lists it as one of its images, else None (no other archive member is served)."""
    if not answer.archive:
        return None
    listed = {item["member"] for item in answer_images(answer=answer) if item["member"]}
    return name if name in listed else None
