"""Recipients acknowledge erasure notices here (``notices:ack``).

GET only shows the notice and a button; POST acknowledges, so that a mail scanner following the
link does not acknowledge on the recipient's behalf.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_http_methods

from rights.recipients.notices import NoticeNotFound, notice_acknowledge, notice_for_token

app_name = "notices"


@require_http_methods(["GET", "POST"])
def notice_ack_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        if request.method == "POST":
            notice = notice_acknowledge(token=token)
        else:
            notice = notice_for_token(token=token)
    except NoticeNotFound as exc:
        raise Http404("No such notice") from exc
    response = render(request, "rights/notice_ack.html", {"notice": notice})
    # The page's URL is the key to the notice: never cached, never indexed.
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


urlpatterns = [
    path("ack/<str:token>/", notice_ack_view, name="ack"),
]
