"""Finding a person's images: by face (exact range search) and by identifiers (URLs, accounts)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from django.conf import settings

from matching.models import Face, Image
from matching.services.analysis import image_analyse
from matching.services.embedding import DetectedFace
from matching.services.index import index_range_search, index_sync_if_changed

logger = logging.getLogger(__name__)

MATCH = "match"
REVIEW = "review"


@dataclass(frozen=True)
class FaceHit:
    face_id: int
    image_id: int
    score: float
    band: str  # "match" (>= MATCH_THRESHOLD) or "review" (>= REVIEW_THRESHOLD): staff decide
    bbox: tuple[float, float, float, float]


@dataclass(frozen=True)
class ImageSearchResult:
    faces_in_query: int
    query_faces: list[DetectedFace]  # the faces searched with (the largest one, or all)
    hits: list[FaceHit]  # one per collection face, best score over the query faces, best first


def band_for(*, score: float) -> str | None:
    if score >= settings.MATCH_THRESHOLD:
        return MATCH
    if score >= settings.REVIEW_THRESHOLD:
        return REVIEW
    return None


def faces_search(*, vectors: np.ndarray, sync: bool = True) -> list[list[FaceHit]]:
    """For each query vector, EVERY collection face scoring at least REVIEW_THRESHOLD, best first.

    ``sync`` first reconciles the index with the database, so a face committed by an ingestion
    that crashed before its index write is still found: a rights answer must be complete. The full
    reconciliation runs only when the Face table and the index differ (``index_sync_if_changed``).
    """
    matrix = np.asarray(vectors, dtype=np.float32).reshape(-1, 512)
    if sync:
        index_sync_if_changed()
    raw = index_range_search(vectors=matrix, threshold=settings.REVIEW_THRESHOLD)
    all_ids = {int(i) for ids, _ in raw for i in ids}
    # The database is the record: an id whose Face row is gone (deleted, index not yet updated) is dropped.
    rows = {
        row[0]: row
        for row in Face.objects.filter(pk__in=all_ids).values_list("pk", "image_id", "x1", "y1", "x2", "y2")
    }
    results: list[list[FaceHit]] = []
    for ids, scores in raw:
        hits = []
        for face_id, score in zip(ids.tolist(), scores.tolist(), strict=True):
            row = rows.get(face_id)
            band = band_for(score=score)
            if row is None or band is None:
                continue
            hits.append(
                FaceHit(face_id=face_id, image_id=row[1], score=float(score), band=band, bbox=row[2:6])
            )
        results.append(hits)
    logger.info("faces_search: %s queries, %s hits", matrix.shape[0], sum(len(h) for h in results))
    return results


def image_search(*, data: bytes, all_faces: bool = False, sync: bool = True) -> ImageSearchResult:
    """Search the collection with a photo: its largest face (a selfie's), or every face in it.

    Raises ImageRejected for bytes that are not an acceptable image.
    """
    faces = image_analyse(data=data).faces
    query_faces = faces if all_faces else faces[:1]
    if not query_faces:
        return ImageSearchResult(faces_in_query=0, query_faces=[], hits=[])
    per_query = faces_search(vectors=np.stack([f.embedding for f in query_faces]), sync=sync)
    best: dict[int, FaceHit] = {}
    for hits in per_query:
        for hit in hits:
            if hit.face_id not in best or hit.score > best[hit.face_id].score:
                best[hit.face_id] = hit
    hits = sorted(best.values(), key=lambda h: (-h.score, h.face_id))
    return ImageSearchResult(faces_in_query=len(faces), query_faces=query_faces, hits=hits)


# --- Identifiers -------------------------------------------------------------------------------

# host (without www.) -> (platform, pattern of the account in the path)
_PROFILE_PATTERNS: dict[str, tuple[str, re.Pattern[str]]] = {
    "instagram.com": ("instagram", re.compile(r"^/([A-Za-z0-9._]+)/?$")),
    "twitter.com": ("twitter", re.compile(r"^/([A-Za-z0-9_]+)/?$")),
    "x.com": ("twitter", re.compile(r"^/([A-Za-z0-9_]+)/?$")),
    "facebook.com": ("facebook", re.compile(r"^/([A-Za-z0-9.]+)/?$")),
    "tiktok.com": ("tiktok", re.compile(r"^/@([A-Za-z0-9._]+)/?$")),
    "flickr.com": ("flickr", re.compile(r"^/(?:people|photos)/([^/]+)/?$")),
    "youtube.com": ("youtube", re.compile(r"^/@([A-Za-z0-9._-]+)/?$")),
    "linkedin.com": ("linkedin", re.compile(r"^/in/([^/]+)/?$")),
    "vk.com": ("vk", re.compile(r"^/([A-Za-z0-9_.]+)/?$")),
    "threads.net": ("threads", re.compile(r"^/@([A-Za-z0-9._]+)/?$")),
}
_PROFILE_PATH_STOPWORDS = {
    "p",
    "reel",
    "reels",
    "explore",
    "stories",
    "status",
    "watch",
    "photo",
    "photos",
    "home",
}


def account_normalise(*, account: str) -> str:
    """Account names are case-insensitive on every platform we collect from; '@' is decoration."""
    return account.strip().lstrip("@").strip().lower()


def platform_normalise(*, platform: str) -> str:
    return platform.strip().lower()


def source_url_normalise(*, url: str) -> str:
    """Scheme and host in lower case, no default port, no fragment; the path keeps its case."""
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.netloc.lower()
    if parts.scheme.lower() == "https" and host.endswith(":443"):
        host = host[:-4]
    if parts.scheme.lower() == "http" and host.endswith(":80"):
        host = host[:-3]
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", parts.query, ""))


def _url_variants(url: str) -> set[str]:
    """The spellings of one URL a collection may hold: http/https, www or not, trailing slash or not."""
    normal = source_url_normalise(url=url)
    parts = urlsplit(normal)
    host = parts.netloc
    bare = host[4:] if host.startswith("www.") else host
    paths = {parts.path, parts.path.rstrip("/") or "/", parts.path.rstrip("/") + "/"}
    variants = {url.strip()}
    for scheme in ("http", "https"):
        for h in (bare, "www." + bare):
            for path in paths:
                variants.add(urlunsplit((scheme, h, path, parts.query, "")))
                if path == "/" and not parts.query:
                    variants.add(f"{scheme}://{h}")
    return variants


def profile_from_url(*, url: str) -> tuple[str, str] | None:
    """(platform, account) when the URL is a profile page we know, e.g. https://instagram.com/<account>."""
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().split(":")[0]
    host = host[4:] if host.startswith("www.") else host
    host = host[2:] if host.startswith("m.") else host
    entry = _PROFILE_PATTERNS.get(host)
    if entry is None:
        return None
    platform, pattern = entry
    match = pattern.match(parts.path or "/")
    if not match or match.group(1).lower() in _PROFILE_PATH_STOPWORDS:
        return None
    return platform, account_normalise(account=match.group(1))


def images_by_identifiers(*, identifiers: list[str]) -> list[Image]:
    """Every image whose source URL is one of the identifiers, or whose account one of them names.

    An identifier may be an image URL (matched exactly, up to http/https, www., trailing slash and
    host case), a profile URL (instagram.com/<account> -> that platform's account), or an account
    name with or without '@' (any platform).
    """
    from django.db.models import Q

    query = Q(pk__in=[])
    for raw in identifiers:
        identifier = (raw or "").strip()
        if not identifier:
            continue
        if re.match(r"^https?://", identifier, re.IGNORECASE) or re.match(
            r"^(www\.)?[a-z0-9-]+\.[a-z]{2,}/", identifier
        ):
            if not re.match(r"^https?://", identifier, re.IGNORECASE):
                identifier = "https://" + identifier
            query |= Q(source_url__in=sorted(_url_variants(identifier)))
            profile = profile_from_url(url=identifier)
            if profile is not None:
                query |= Q(platform=profile[0], account=profile[1])
        else:
            account = account_normalise(account=identifier)
            if account:
                query |= Q(account=account)
    return list(Image.objects.filter(query).order_by("pk"))


def hits_describe(*, hits: list[FaceHit]) -> list[dict[str, object]]:
    """Hits as the facesearch JSON contract gives them: image_id, path, source_url, score, band, bbox."""
    from django.core.files.storage import default_storage

    images = Image.objects.in_bulk({hit.image_id for hit in hits})
    described: list[dict[str, object]] = []
    for hit in hits:
        image = images.get(hit.image_id)
        if image is None:  # deleted while we were searching
            continue
        described.append(
            {
                "image_id": hit.image_id,
                "path": default_storage.path(image.file.name) if image.file.name else "",
                "source_url": image.source_url,
                "score": round(hit.score, 4),
                "band": hit.band,
                "bbox": [round(float(v), 1) for v in hit.bbox],
            }
        )
    return described
