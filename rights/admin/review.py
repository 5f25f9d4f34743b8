"""The review screen of a request's page: its candidates in pages and groups, the decisions (one, a
ticked few, or a whole group; as a page reload without JavaScript, as JSON for rights/review.js),
and the images it shows, served through permission-checked, audited views.

Messages name candidates as the rows show them (by image), never by an internal match id.
"""

from __future__ import annotations

import io
from typing import Any

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_POST

from matching.models import Face
from matching.services.redaction import image_boxed, image_for_display
from rights.admin.common import permission_require, request_url
from rights.lifecycle.audit import review_screen_view_record
from rights.models import DataRequest, Match, Selfie
from rights.staff.actions import ActionRefused
from rights.staff.review import ReviewError, matches_decide
from rights.staff.screen import (
    group_needing_decision,
    matches_describe,
    matches_needing_decision,
    review_page_build,
)

DECISIONS = {Match.Decision.CONFIRMED: "confirmed", Match.Decision.REJECTED: "rejected"}


def review_context(request: HttpRequest, data_request: DataRequest) -> dict[str, Any]:
    """The review panel's part of the request page."""
    page = review_page_build(
        request=data_request, page=request.GET.get("review_page"), shown=request.GET.get("review")
    )
    return {"review": page, "matches": [row.match for row in page.rows], "pending_count": page.pending}


def pending_refusal_message(*, request_id: int) -> str | None:
    """Why approval waits, naming the candidates as the review screen shows them."""
    pending = list(matches_needing_decision(request_id=request_id).select_related("image")[:20])
    if not pending:
        return None
    total = matches_needing_decision(request_id=request_id).count()
    names = ", ".join(str(m.image_id) if m.image_id else gettext("an erased one") for m in pending)
    if total > len(pending):
        names = gettext("%(names)s and %(more)s more") % {"names": names, "more": total - len(pending)}
    return ngettext(
        "%(total)s candidate still needs a decision (image %(names)s, marked 'Pending review' on the "
        "review screen): confirm or reject each before approving.",
        "%(total)s candidates still need a decision (images %(names)s, marked 'Pending review' on the "
        "review screen): confirm or reject each before approving.",
        total,
    ) % {"total": total, "names": names}


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _decided_rows(matches: list[Match]) -> list[dict[str, Any]]:
    return [
        {
            "id": m.id,
            "decision": m.decision,
            "label": m.get_decision_display(),
            "by": m.decided_by.get_username(),
        }
        for m in matches
    ]


class ReviewScreenMixin:
    """The review views of DataRequestAdmin (its get_urls names them)."""

    def matches_decide_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._matches_decide)(request, object_id)

    def _matches_decide(self, request: HttpRequest, object_id: int) -> HttpResponse:
        permission_require(request, "review_match")
        decided: list[Match] = []
        try:
            targets, decision = self._targets(request, object_id)
            decided = matches_decide(match_ids=[m.id for m in targets], decision=decision, user=request.user)
            ok, text = True, matches_describe(matches=targets, decision=decision)
        except (ReviewError, ActionRefused) as error:
            reason = error.message if isinstance(error, ActionRefused) else error
            ok, text = False, gettext("Not done: %(reason)s") % {"reason": reason}
        except ValueError:
            ok, text = False, gettext("Not done: the form was not understood.")
        if _wants_json(request):
            pending = matches_needing_decision(request_id=object_id).count()
            return JsonResponse(
                {"ok": ok, "message": text, "matches": _decided_rows(decided), "pending": pending},
                status=200 if ok else 400,
            )
        (messages.success if ok else messages.error)(request, text)
        return HttpResponseRedirect(self._back_to_review(request, object_id))

    @staticmethod
    def _back_to_review(request: HttpRequest, object_id: int) -> str:
        # Back to the same page of the review screen, scrolled to it, not to the top of the request.
        query = [
            f"{name}={request.POST[name]}"
            for name in ("review_page", "review")
            if request.POST.get(name, "").isalnum()
        ]
        return request_url(object_id) + ("?" + "&".join(query) if query else "") + "#review"

    @staticmethod
    def _targets(request: HttpRequest, object_id: int) -> tuple[list[Match], str]:
        """The candidates a POST names, all of this request's, and the decision; or ActionRefused."""
        mine = Match.objects.filter(request_id=object_id).select_related("image")
        single = request.POST.get("single")
        if single:  # one row's own button: "<row>:<decision>"
            row, _, decision = single.partition(":")
            targets = list(mine.filter(id=int(row)))
            if not targets:
                raise ActionRefused("bad_match", gettext("That candidate is not one of this request's."))
        elif request.POST.get("group"):
            decision = request.POST.get("decision", "")
            targets = group_needing_decision(request_id=object_id, key=int(request.POST["group"]))
            if not targets:
                raise ActionRefused("no_match", gettext("Nothing in that group needs a decision any more."))
        else:
            ids = {int(value) for value in request.POST.getlist("match_ids")}
            decision = request.POST.get("decision", "")
            if not ids:
                raise ActionRefused("no_match", gettext("Tick the candidates to decide first."))
            targets = list(mine.filter(id__in=ids).order_by("-score", "id"))
            if len(targets) != len(ids):
                raise ActionRefused(
                    "bad_match", gettext("Some of the ticked candidates are not this request's.")
                )
        if decision not in DECISIONS:
            raise ActionRefused("bad_decision", gettext("Choose confirm or reject."))
        return targets, decision

    # --- Images, served through permission-checked views ---

    def selfie_image_view(self, request: HttpRequest, selfie_id: int) -> HttpResponse:
        permission_require(request, "review_match")
        selfie = Selfie.objects.filter(id=selfie_id).first()
        if selfie is None or not selfie.file or selfie.purged_at:
            raise Http404("No such selfie, or it has been purged.")
        return _image_response(selfie.file, bbox=selfie.face_bbox, crop=request.GET.get("crop") == "face")

    def match_image_view(self, request: HttpRequest, match_id: int) -> HttpResponse:
        permission_require(request, "review_match")
        match = Match.objects.select_related("image").filter(id=match_id).first()
        if match is None or match.image is None or not match.image.file:
            raise Http404("No such image: it may have been erased.")
        if request.GET.get("boxed") != "1":
            return _image_response(
                match.image.file, bbox=match.face_bbox, crop=request.GET.get("crop") == "face"
            )
        # The full image opened on its own, outside the review screen's page view: its own audit row.
        review_screen_view_record(
            request_id=match.request_id, user=request.user, selfie_ids=[], image_ids=[match.image_id]
        )
        boxes = [
            list(b) for b in Face.objects.filter(image_id=match.image_id).values_list("x1", "y1", "x2", "y2")
        ]
        data = file_read(match.image.file)
        response = FileResponse(
            io.BytesIO(image_boxed(data=data, boxes=boxes, highlight=match.face_bbox)),
            content_type="image/jpeg",
        )
        return private_response(response)


def file_read(file: Any) -> bytes:
    try:
        file.open("rb")
        return file.read()
    except (FileNotFoundError, OSError):
        raise Http404("The image file is missing.") from None
    finally:
        file.close()


def private_response(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = "inline"
    return response


def _image_response(file: Any, *, bbox: list[float] | None, crop: bool) -> HttpResponse:
    """The stored image, or a crop around the face; never cached, never a public URL."""
    data, content_type = image_for_display(data=file_read(file), bbox=bbox, crop=crop)
    return private_response(FileResponse(io.BytesIO(data), content_type=content_type))
