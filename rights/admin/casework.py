"""The request page's casework panel: assignment, internal notes, messages to the requester.

POST only; each view calls rights.staff.casework, which checks the permission and audits.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from rights.admin.common import request_url
from rights.models import DataRequest
from rights.staff.actions import ActionRefused
from rights.staff.casework import assignable_staff, request_assign, request_message_send, request_note_add


def casework_context(request: HttpRequest, data_request: DataRequest) -> dict[str, Any]:
    assignment = getattr(data_request, "assignment", None)
    return {
        "assignment": assignment,
        "notes": list(data_request.notes.select_related("author").order_by("created_at", "id")),
        "assignable": assignable_staff(),
        "can_casework": request.user.has_perm("rights.change_datarequest"),
    }


class CaseworkMixin:
    """The casework views of DataRequestAdmin (its get_urls names them)."""

    def assign_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._assign)(request, object_id)

    def note_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._note)(request, object_id)

    def message_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return require_POST(self._message)(request, object_id)

    @staticmethod
    def _back(object_id: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(request_url(object_id) + "#casework")

    def _assign(self, request: HttpRequest, object_id: int) -> HttpResponse:
        value = request.POST.get("assignee", "")
        try:
            assignee_id = int(value) if value else None
            assignment = request_assign(request_id=object_id, assignee_id=assignee_id, user=request.user)
        except ValueError:
            messages.error(request, gettext("Not done: choose someone from the list."))
        except ActionRefused as error:
            messages.error(request, gettext("Not done: %(reason)s") % {"reason": error.message})
        else:
            who = assignment.assignee.get_username() if assignment else gettext("no one")
            messages.success(
                request,
                gettext("Request #%(number)s is assigned to %(who)s.") % {"number": object_id, "who": who},
            )
        return self._back(object_id)

    def _note(self, request: HttpRequest, object_id: int) -> HttpResponse:
        try:
            request_note_add(request_id=object_id, text=request.POST.get("text", ""), user=request.user)
        except ActionRefused as error:
            messages.error(request, gettext("Not done: %(reason)s") % {"reason": error.message})
        else:
            messages.success(request, gettext("Internal note added (staff only)."))
        return self._back(object_id)

    def _message(self, request: HttpRequest, object_id: int) -> HttpResponse:
        try:
            note = request_message_send(
                request_id=object_id, text=request.POST.get("text", ""), user=request.user
            )
        except ActionRefused as error:
            messages.error(request, gettext("Not done: %(reason)s") % {"reason": error.message})
        else:
            if note.emailed_at:
                messages.success(
                    request, gettext("Message sent: emailed and shown on the person's status page.")
                )
            else:
                messages.warning(
                    request,
                    gettext("Message shown on the person's status page, but the email could not be sent."),
                )
        return self._back(object_id)
