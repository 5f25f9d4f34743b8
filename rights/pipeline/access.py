"""The access answer (GDPR Art. 15): an HTML report and a ZIP (report.json, report.html, images).

For every image of the person we hold: a copy in which every OTHER person's face is blurred beyond
recognition and which carries no metadata (Art. 15(4): the copy must not adversely affect the
rights of others), with where it came from, when it was collected, why we hold it, who it was
shared with and how long it is kept. Then the Art. 15(1) items for the whole processing, the right
to complain, and a statement that the search covered the whole collection whatever the
collection date (CNIL SAN-2022-019). Every item, the images' and the general ones, is stored as
data and written in the reader's language when shown (rights.pipeline.access_image_items,
rights.pipeline.access_items).

Nothing goes out partial: a completeness check reads back what was built (every confirmed image
present in the ZIP and the HTML, every item's facts filled and its words in the HTML, no other
face detectable in any copy); if it fails the request is HELD and staff are alerted.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.translation import gettext

from matching.models import Face, Image
from matching.services.embedding import faces_detect
from matching.services.imaging import ImageRejected, image_decode
from matching.services.redaction import OWN_FACE_IOU, box_iou, face_regions_blur, jpeg_encode
from rights.lifecycle.audit import SYSTEM, audit_record
from rights.lifecycle.language import language_of
from rights.models import Answer, AuditAction, DataRequest, RequestStatus, Selfie
from rights.pipeline.access_image_items import (  # noqa: F401 (image_releases_listed: importable here too)
    image_items_data,
    image_items_problems,
    image_items_read,
    image_releases_listed,
)
from rights.pipeline.access_items import (  # noqa: F401 (bands_text, general_items: importable here too)
    GENERAL_KEYS,
    REPORT_VERSION,
    bands_text,
    general_item_gaps,
    general_item_text,
    general_items,
    general_items_data,
    general_items_read,
)
from rights.pipeline.answers import answer_store, request_answered
from rights.pipeline.erasure import erasures_waiting_resume
from rights.pipeline.failures import request_hold
from rights.queries import matches_confirmed, search_coverage

logger = logging.getLogger(__name__)

# --- The requester's copy of each image ----------------------------------------------------


def _own_face_for_identifier_hit(*, image: Image, selfie_vectors: np.ndarray) -> Face | None:
    """For an image found by identifier: the face most like the requester's selfies, if any is alike."""
    best, best_score = None, settings.REVIEW_THRESHOLD
    if selfie_vectors.shape[0] == 0:
        return None
    for face in image.faces.all():
        score = float(np.max(selfie_vectors @ face.vector))
        if score >= best_score:
            best, best_score = face, score
    return best


@dataclass(frozen=True)
class RequesterCopy:
    jpeg: bytes
    own_bbox: list[float] | None
    blurred: int


def image_copy_for_requester(*, image: Image, own_face: Face | None) -> RequesterCopy:
    """The image with every face but ``own_face`` blurred, re-encoded without metadata.

    The faces come from the collection's Face rows; the detector is then run on the result and any
    face it still finds that is not the requester's (one the collection missed) is blurred too.
    """
    with image.file.open("rb") as handle:
        decoded = image_decode(data=handle.read())
    rgb = decoded.rgb
    own_bbox = own_face.bbox if own_face is not None else None
    others = [face.bbox for face in image.faces.all() if own_face is None or face.pk != own_face.pk]
    copy = face_regions_blur(rgb=rgb, boxes=others, keep=own_bbox)
    blurred = len(others)
    jpeg = jpeg_encode(rgb=copy)
    for _ in range(3):
        # Looked for in the JPEG exactly as the person (and the completeness check) will get it.
        seen = faces_detect(rgb=image_decode(data=jpeg).rgb)
        leftover = [
            list(f.bbox) for f in seen if own_bbox is None or box_iou(a=f.bbox, b=own_bbox) < OWN_FACE_IOU
        ]
        if not leftover:
            break
        copy = face_regions_blur(rgb=copy, boxes=leftover, keep=own_bbox)
        blurred += len(leftover)
        jpeg = jpeg_encode(rgb=copy)
    return RequesterCopy(
        jpeg=jpeg, own_bbox=[round(float(v), 1) for v in own_bbox] if own_bbox else None, blurred=blurred
    )


# --- The report's content -------------------------------------------------------------------


@dataclass
class BuiltReport:
    payload: dict[str, Any]
    archive: bytes
    html: str
    expected_hashes: list[str]


def access_report_build(*, request: DataRequest) -> BuiltReport:
    """Everything the answer holds, built from the database and the collection's files."""
    selfie_vectors = np.stack(
        [s.vector for s in request.selfies.filter(status=Selfie.Status.USABLE) if s.vector is not None]
        or [np.zeros(settings.EMBEDDING_DIM, dtype=np.float32)]
    )
    matches = matches_confirmed(request=request)
    images: list[dict[str, Any]] = []
    files: dict[str, bytes] = {}
    expected: list[str] = []
    no_longer_held: list[dict[str, str]] = []
    for number, match in enumerate(matches, start=1):
        image = Image.objects.filter(sha256=match.image_sha256).first()
        if image is None:
            # Erased (by another request or by retention) since the search: no longer held.
            no_longer_held.append({"image_sha256": match.image_sha256})
            continue
        expected.append(image.sha256)
        own_face = Face.objects.filter(pk=match.face_id, image=image).first() if match.face_id else None
        if own_face is None:
            own_face = _own_face_for_identifier_hit(image=image, selfie_vectors=selfie_vectors)
        try:
            copy = image_copy_for_requester(image=image, own_face=own_face)
        except (OSError, ImageRejected, ValueError) as exc:
            # Left out here; the completeness check below names it and holds the answer.
            logger.error(
                "request %s: image %s could not be copied (%s)", request.id, image.pk, type(exc).__name__
            )
            continue
        name = f"images/{number:03d}-{image.sha256[:16]}.jpg"
        files[name] = copy.jpeg
        images.append(
            image_items_data(
                image=image,
                match=match,
                file=name,
                your_face=copy.own_bbox,
                other_faces_blurred=copy.blurred,
            )
        )
    now = timezone.now()
    payload: dict[str, Any] = {
        "version": REPORT_VERSION,
        "kind": "access_report",
        "organisation": settings.ORGANISATION_NAME,
        "request": {
            "received_at": request.received_at.isoformat(),
            "kind": request.kind,
            "reference": request.public_token[:8],
        },
        "generated_at": now.isoformat(),
        "searched_at": request.searched_at.isoformat() if request.searched_at else "",
        "searched_collection": search_coverage(request=request),
        "summary": (
            gettext("We hold %(count)s image(s) of you.") % {"count": len(expected)}
            if expected
            else gettext("We hold no images of you: the search of the whole collection found none.")
        ),
        "language": request.language,
        "image_count": len(expected),
        "images": images,
        "no_longer_held": no_longer_held,
        "general": general_items_data(request=request),
    }
    html = report_html_render(payload=payload, generated_at=now)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("report.json", json.dumps(payload, indent=2, ensure_ascii=False))
        archive.writestr("report.html", html)
        for name, data in files.items():
            # JPEG is already compressed: stored as is.
            archive.writestr(zipfile.ZipInfo(name, date_time=now.timetuple()[:6]), data, zipfile.ZIP_STORED)
    return BuiltReport(payload=payload, archive=buffer.getvalue(), html=html, expected_hashes=expected)


def report_html_render(*, payload: dict[str, Any], generated_at: datetime) -> str:
    """The report.html of the ZIP: written once, in the requester's language (``payload["language"]``),
    from the payload's data; the answer page writes the same data in the reader's at each visit."""
    with language_of(language=payload.get("language")):
        return render_to_string(
            "rights/report/access_report.html",
            {
                "report": payload,
                "general": general_items_read(payload=payload),
                "images": image_items_read(payload=payload),
                "image_base": "",
                "generated_on": date_format(timezone.localtime(generated_at), "DATE_FORMAT"),
            },
        )


# --- The completeness check -----------------------------------------------------------------


def access_report_check(*, request: DataRequest, built: BuiltReport) -> list[str]:
    """Read back what was built. Empty when complete; otherwise every problem found.

    The confirmed matches are read again here, not taken from the builder: every one must be in
    the report, or in its "no longer held" list (and then really no longer held).
    """
    problems: list[str] = []
    confirmed = {match.image_sha256 for match in matches_confirmed(request=request)}
    try:
        archive = zipfile.ZipFile(io.BytesIO(built.archive))
        names = set(archive.namelist())
        report = json.loads(archive.read("report.json"))
        archived_html = archive.read("report.html").decode()
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        return [f"the ZIP cannot be read back ({type(exc).__name__})"]
    if report != json.loads(json.dumps(built.payload, ensure_ascii=False)):
        problems.append("report.json differs from the stored answer")
    if archived_html != built.html:
        problems.append("report.html differs from the HTML answer")
    items = {item.get("image_sha256"): item for item in report.get("images", [])}
    gone = {entry.get("image_sha256") for entry in report.get("no_longer_held", [])}
    for sha in sorted(confirmed - set(items) - gone):
        problems.append(f"confirmed image {sha[:12]} is missing from the report")
    still_held = set(Image.objects.filter(sha256__in=gone).values_list("sha256", flat=True))
    for sha in sorted(still_held):
        problems.append(f"confirmed image {sha[:12]} is listed as no longer held but is still held")
    for sha in sorted(gone - confirmed):
        problems.append(f"image {sha[:12]} is listed as no longer held but was not a confirmed match")
    for sha in sorted(set(items) & confirmed):
        item = items[sha]
        problems.extend(image_items_problems(item=item, html=built.html, language=report.get("language")))
        name = item.get("file", "")
        if name not in names:
            problems.append(f"image {sha[:12]}: its copy is missing from the ZIP")
            continue
        try:
            copy = image_decode(data=archive.read(name))
        except ImageRejected:
            problems.append(f"image {sha[:12]}: its copy cannot be opened")
            continue
        own = item.get("your_face")
        strangers = [
            f for f in faces_detect(rgb=copy.rgb) if not own or box_iou(a=f.bbox, b=own) < OWN_FACE_IOU
        ]
        if strangers:
            problems.append(f"image {sha[:12]}: {len(strangers)} other person's face(s) still recognisable")
    extra = set(items) - confirmed
    if extra:
        problems.append(f"{len(extra)} image(s) in the report were not confirmed matches")
    if report.get("image_count") != len(set(items) & confirmed):
        problems.append("the image count does not match the confirmed images")
    problems.extend(general_items_problems(report=report, html=built.html))
    if not report.get("searched_collection", {}).get("whole_collection"):
        problems.append("the report does not state that the whole collection was searched")
    return problems


def general_items_problems(*, report: dict[str, Any], html: str) -> list[str]:
    """Every Art. 15(1) item present with its facts, and its words (in the report's language) in the HTML."""
    problems: list[str] = []
    general = report.get("general")
    general = general if isinstance(general, dict) else {}
    with language_of(language=report.get("language")):
        for key in GENERAL_KEYS:
            if key not in general:
                problems.append(f"Art. 15(1) item '{key}' is missing")
                continue
            gaps = general_item_gaps(key=key, data=general[key])
            if gaps:
                problems.append(f"Art. 15(1) item '{key}' is empty (no {', '.join(gaps)})")
                continue
            text = general_item_text(key=key, data=general[key]).strip()
            if not text:
                problems.append(f"Art. 15(1) item '{key}' has data no sentence says")
            elif escape(text) not in html:
                problems.append(f"Art. 15(1) item '{key}' is not in the HTML report")
    return problems


# --- Running it ------------------------------------------------------------------------------


def access_answer_run(*, request_id: int) -> Answer | None:
    """Build, check, store and send the access answer of a FULFILLING request; HELD if incomplete."""
    request = DataRequest.objects.get(id=request_id)
    with language_of(language=request.language):  # the answer is written in the requester's language
        built = access_report_build(request=request)
    problems = access_report_check(request=request, built=built)
    if problems:
        reason = "The access answer failed its completeness check: " + "; ".join(problems)
        request_hold(
            request_id=request_id,
            from_statuses=[RequestStatus.FULFILLING],
            reason=reason[:4000],
            action=AuditAction.ANSWER_HELD_INCOMPLETE,
        )
        return None
    now = timezone.now()
    with transaction.atomic():
        answer = answer_store(
            request=request,
            kind=Answer.Kind.ACCESS_REPORT,
            payload=built.payload,
            content=built.archive,
            extension="zip",
            now=now,
        )
        audit_record(
            actor=SYSTEM,
            action=AuditAction.ACCESS_REPORT_BUILT,
            request_id=request_id,
            detail={"answer_id": answer.id, "images": built.payload["image_count"]},
        )
    request_answered(
        request_id=request_id,
        answer_token=answer.download_token,
        detail={"answer_id": answer.id, "images": built.payload["image_count"]},
    )
    erasures_waiting_resume(request=request)
    logger.info(
        "request %s: access answer %s sent (%s images)", request_id, answer.id, built.payload["image_count"]
    )
    return answer
