"""The collection browser: a read-only view of the collection's images for staff who review matches
(an image with its faces boxed, its source, its faces and the recipients it was released to).

Opening an image's picture is audited like the review screen (rights.staff.screen). Nothing here
changes the collection: images are added by ingestion and removed by erasure or retention only.
"""

from __future__ import annotations

import io

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from matching.models import Face, Image
from matching.services.redaction import image_boxed
from rights.admin.common import ReadOnlyAdmin, permission_require
from rights.admin.review import file_read, private_response
from rights.models import Release
from rights.staff.screen import collection_image_view_record


@admin.register(Image)
class CollectionImageAdmin(ReadOnlyAdmin):
    list_display = [
        "image_link",
        "collected_at",
        "platform",
        "account",
        "source",
        "faces_count",
        "releases_count",
    ]
    list_display_links = None
    list_filter = ["platform"]
    search_fields = ["source_url", "account", "=sha256"]
    search_help_text = _("Part of a source URL or an account, or a whole sha256.")
    list_per_page = 50
    date_hierarchy = "collected_at"

    # Faces are biometric data: only those who review matches see the collection.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rights.review_match")

    def has_view_permission(self, request: HttpRequest, obj: Image | None = None) -> bool:
        return request.user.has_perm("rights.review_match")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Image]:
        return (
            super()
            .get_queryset(request)
            .annotate(faces_n=Count("faces", distinct=True))
            .order_by("-collected_at", "-id")
        )

    @admin.display(description=_("Image"), ordering="id")
    def image_link(self, obj: Image) -> str:
        label = gettext("Image %(number)s") % {"number": obj.pk}
        return format_html('<a href="{}">{}</a>', f"{obj.pk}/change/", label)

    @admin.display(description=_("Source URL"))
    def source(self, obj: Image) -> str:
        return (obj.source_url[:80] + "…") if len(obj.source_url) > 80 else obj.source_url or "—"

    @admin.display(description=_("Faces"), ordering="faces_n")
    def faces_count(self, obj: Image) -> int:
        return obj.faces_n

    @admin.display(description=_("Releases"))
    def releases_count(self, obj: Image) -> int:
        return Release.objects.filter(image_id=obj.pk).count()

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("<int:image_id>/picture/", wrap(self.picture_view), name="rights_collection_picture"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        permission_require(request, "review_match")
        image = Image.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if image is None:
            raise Http404(gettext("No such image in the collection: it may have been erased."))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Collection image %(number)s") % {"number": image.pk},
            "opts": self.model._meta,
            "image": image,
            "faces": list(
                Face.objects.filter(image=image)
                .order_by("id")
                .only("id", "x1", "y1", "x2", "y2", "det_score")
            ),
            "releases": list(
                Release.objects.filter(image=image).select_related("recipient").order_by("released_at")
            ),
        }
        return TemplateResponse(request, "admin/rights/collection_image.html", context)

    def picture_view(self, request: HttpRequest, image_id: int) -> HttpResponse:
        permission_require(request, "review_match")
        image = Image.objects.filter(pk=image_id).first()
        if image is None or not image.file:
            raise Http404(gettext("No such image in the collection: it may have been erased."))
        data = file_read(image.file)
        boxes = [list(b) for b in Face.objects.filter(image=image).values_list("x1", "y1", "x2", "y2")]
        collection_image_view_record(image_id=image.pk, user=request.user)
        return private_response(
            FileResponse(
                io.BytesIO(image_boxed(data=data, boxes=boxes, highlight=None)), content_type="image/jpeg"
            )
        )
