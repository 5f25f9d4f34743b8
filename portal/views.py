"""The public pages: no account, no JavaScript, every secret in an unguessable link.

Views only read what was posted and call rights.requester (requests, status); a wrong, expired or forged
token is a plain 404 that says nothing about whether anything exists.
"""

from __future__ import annotations

import mimetypes
import posixpath
import zipfile
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from matching.services.imaging import ImageRejected, megabytes_text
from portal.forms import RequestForm, SelfieForm, uploads_read
from portal.limits import email_key, limit_check, limit_note, limited
from portal.uploads import upload_refusal_show
from rights.lifecycle.clock import days_left, request_due_in_force, request_overdue
from rights.models import Answer, DataRequest, RequestKind, RequestStatus
from rights.pipeline.access_image_items import image_items_read
from rights.pipeline.access_items import general_items_read
from rights.requester import requests as requests_service
from rights.requester import status as status_service
from rights.requester.progress import requester_messages, selfies_refused_among_used

SESSION_SENT_TO = "public_request_sent_to"


def _private(view):
    """Pages behind a secret link: never cached, never indexed."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return never_cache(wrapper)


def _request_or_404(token: str) -> DataRequest:
    found = status_service.request_by_token(token=token)
    if found is None:
        raise Http404()
    return found


def _answer_or_404(token: str) -> Answer:
    found = status_service.answer_by_token(token=token)
    if found is None:
        raise Http404()
    return found


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "public/home.html",
        {"selfie_retention_days": settings.SELFIE_RETENTION_DAYS, "kinds": RequestKind},
    )


@_private
@limited("request_posts", methods=("POST",))
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        initial = {"form_key": requests_service.form_key_new()}
        if request.GET.get("kind") in RequestKind.values:
            initial["kind"] = request.GET["kind"]
        return _request_form_render(request, RequestForm(initial=initial))

    form = RequestForm(request.POST, request.FILES)
    upload_refusal_show(request=request, form=form, field="selfies")
    # The same form posted again (double click, reload) lands where the first post landed; the
    # service decides whether it is the same submission (FormAlreadySent when it is not).
    nonce = requests_service.form_key_unsign(key=request.POST.get("form_key", ""))
    if form.is_valid():
        data = form.cleaned_data
        contents, too_large = uploads_read(files=data["selfies"])
        if too_large:
            form.add_error("selfies", too_large)
        else:
            # The confirmation emails one mailbox gets, whichever addresses the posts come from.
            limit_check(scope="confirmation_mails", key=email_key(email=data["email"]))
            try:
                created = requests_service.request_submit(
                    kind=data["kind"],
                    email=data["email"],
                    selfies=contents,
                    identifiers=data["identifiers"],
                    country=data["country"],
                    suppression_consent=data["suppression_consent"],
                    submission_key=nonce,
                )
            except requests_service.RequestInvalid as exc:
                for field, field_errors in exc.errors.items():
                    form.add_error(field if field in form.fields else None, field_errors)
                if isinstance(exc, requests_service.FormAlreadySent):
                    nonce = None  # a fresh key below: sending the form again makes a new request
            else:
                limit_note(scope="confirmation_mails", key=email_key(email=data["email"]))
                request.session[SESSION_SENT_TO] = created.email
                return redirect("public:request_sent")
    if not nonce:
        # A forged or missing key: give the re-displayed form a fresh one.
        form.data = form.data.copy()
        form.data["form_key"] = requests_service.form_key_new()
    return _request_form_render(request, form, status=400)


def _request_form_render(request: HttpRequest, form: RequestForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "public/request_form.html",
        {
            "form": form,
            "selfies_max": settings.SELFIES_MAX,
            "selfie_retention_days": settings.SELFIE_RETENTION_DAYS,
            "image_max_mb": megabytes_text(size=settings.IMAGE_MAX_BYTES),
            "confirm_days": settings.CONFIRMATION_MAX_AGE.days or 1,
        },
        status=status,
    )


@_private
@require_GET
def request_sent(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "public/request_sent.html",
        {
            "sent_to": request.session.get(SESSION_SENT_TO, ""),
            "confirm_days": settings.CONFIRMATION_MAX_AGE.days or 1,
        },
    )


@_private
@limited("link_views")
@require_GET
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        confirmed = requests_service.request_confirm(token=token)
    except requests_service.ConfirmationInvalid as exc:
        raise Http404() from exc
    return redirect("public:status", token=confirmed.public_token)


def _status_render(
    request: HttpRequest, data_request: DataRequest, selfie_form: SelfieForm | None = None, status: int = 200
) -> HttpResponse:
    answer = status_service.answer_latest(request=data_request) if data_request.is_closed else None
    rejected = data_request.selfies.filter(status="rejected").order_by("-id").first()
    due = request_due_in_force(request=data_request)
    context = {
        "data_request": data_request,
        "timeline": status_service.request_timeline(request=data_request),
        "awaited": status_service.request_awaited(request=data_request),
        "due_at": due,
        "days_left": days_left(due_at=due),
        "overdue": request_overdue(request=data_request),
        "needs_selfie": data_request.status == RequestStatus.NEEDS_SELFIE,
        "selfie_problem": data_request.selfie_problem or (rejected.problem if rejected else ""),
        "selfies_refused": selfies_refused_among_used(request=data_request),
        "staff_messages": requester_messages(request=data_request),
        "selfie_form": selfie_form or SelfieForm(),
        "can_follow_up": requests_service.request_followup_allowed(request=data_request),
        "answer": answer,
        "download_open": bool(answer and status_service.answer_download_open(answer=answer)),
        "selfie_retention_days": settings.SELFIE_RETENTION_DAYS,
        "image_max_mb": megabytes_text(size=settings.IMAGE_MAX_BYTES),
    }
    return render(request, "public/status.html", context, status=status)


@_private
@limited("link_views")
@require_GET
def status(request: HttpRequest, token: str) -> HttpResponse:
    return _status_render(request, _request_or_404(token))


@_private
@limited("status_posts", methods=("POST",))
@require_http_methods(["GET", "POST"])
def selfie_upload(request: HttpRequest, token: str) -> HttpResponse:
    data_request = _request_or_404(token)
    if request.method == "GET":
        # The link in the "needs a photo" email: the form is on the status page.
        return redirect(reverse("public:status", kwargs={"token": token}) + "#photo")
    form = SelfieForm(request.POST, request.FILES)
    upload_refusal_show(request=request, form=form, field="selfie")
    if form.is_valid():
        contents, too_large = uploads_read(files=[form.cleaned_data["selfie"]])
        if too_large:
            form.add_error("selfie", too_large)
        else:
            try:
                requests_service.selfie_add(request=data_request, data=contents[0])
            except ImageRejected as exc:
                form.add_error("selfie", exc.message)
            except requests_service.RequestStateError as exc:
                # The photo form is shown only to a request waiting for a photo: say why on the page.
                messages.error(request, str(exc))
                return redirect("public:status", token=token)
            else:
                messages.success(
                    request, _("Thank you: we received your photo and will search again with it.")
                )
                return redirect("public:status", token=token)
    data_request.refresh_from_db()
    return _status_render(request, data_request, selfie_form=form, status=400)


@_private
@limited("status_posts")
@require_POST
def followup(request: HttpRequest, token: str) -> HttpResponse:
    data_request = _request_or_404(token)
    try:
        requests_service.request_followup(request=data_request)
    except requests_service.FollowupAlreadyCounted:
        messages.info(
            request,
            _(
                "We already recorded your question today: it is counted once a day, and our staff see it "
                "on your request. You will receive your answer by the due date shown below."
            ),
        )
    except requests_service.RequestStateError:
        messages.info(request, _("Your request has already been answered: the answer is below."))
    else:
        messages.success(
            request,
            _(
                "We have recorded your question: it is counted, and our staff see it on your request. "
                "You will receive your answer by the due date shown below."
            ),
        )
    return redirect("public:status", token=token)


@_private
@limited("link_views")
@require_GET
def answer(request: HttpRequest, token: str) -> HttpResponse:
    found = _answer_or_404(token)
    open_ = status_service.answer_download_open(answer=found)
    # Each image's items written now, in the reader's language, beside its file in the archive (both
    # lists hold the payload's images in order).
    images = [
        {**member, **shown}
        for member, shown in zip(
            status_service.answer_images(answer=found), image_items_read(payload=found.payload), strict=True
        )
    ]
    return render(
        request,
        "public/answer.html",
        {
            "answer": found,
            "data_request": found.request,
            "payload": found.payload,
            # The Art. 15(1) items written now, in the reader's language.
            "general": general_items_read(payload=found.payload),
            "images": images,
            "download_open": open_,
            "has_archive": bool(found.archive),
        },
    )


def _expired(request: HttpRequest, found: Answer) -> HttpResponse:
    return render(
        request,
        "public/download_expired.html",
        {"answer": found, "data_request": found.request, "now": timezone.now()},
        status=410,
    )


@_private
@limited("link_views")
@require_GET
def download(request: HttpRequest, token: str) -> HttpResponse:
    found = _answer_or_404(token)
    if not found.archive:
        raise Http404()
    if not status_service.answer_download_open(answer=found):
        return _expired(request, found)
    try:
        handle = found.archive.open("rb")
    except FileNotFoundError as exc:
        raise Http404() from exc
    # A ZIP for an access report, an HTML page for a certificate; always a download, never shown
    # inside our own pages.
    suffix = posixpath.splitext(found.archive.name)[1] or ".zip"
    filename = f"{found.kind.replace('_', '-')}-{timezone.localtime(found.created_at):%Y-%m-%d}{suffix}"
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=content_type)


@_private
@require_GET
def answer_image(request: HttpRequest, token: str, name: str) -> HttpResponse:
    """One image of an access report, read from the answer's own archive (MEDIA is never served)."""
    found = _answer_or_404(token)
    if not status_service.answer_download_open(answer=found):
        raise Http404()
    member = status_service.answer_image_member(answer=found, name=name)
    if member is None:
        raise Http404()
    try:
        with found.archive.open("rb") as handle, zipfile.ZipFile(handle) as archive:
            content = archive.read(member)
    except (FileNotFoundError, KeyError, zipfile.BadZipFile) as exc:
        raise Http404() from exc
    content_type = mimetypes.guess_type(posixpath.basename(member))[0] or "application/octet-stream"
    return HttpResponse(content, content_type=content_type)
