"""Finding a person's images: by face (exact range search) and by identifiers (URLs, accounts)."""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from matching.models import Face, Image
from matching.services.analysis import image_analyse
from matching.services.calibration import query_fuse
from matching.services.embedding import DetectedFace
from matching.services.index import index_range_search, index_sync_if_changed
from matching.services.thresholds import MAX_FUSED, Thresholds, thresholds_current, thresholds_for

logger = logging.getLogger(__name__)

MATCH = "match"
REVIEW = "review"


@dataclass(frozen=True)
class FaceHit:
    face_id: int
    image_id: int
    score: float
    band: str  # "match" (>= the match threshold in force) or "review" (staff decide)
    bbox: tuple[float, float, float, float]


@dataclass(frozen=True)
class ImageSearchResult:
    faces_in_query: int
    query_faces: list[DetectedFace]  # the faces searched with (the largest one, or all)
    hits: list[FaceHit]  # one per collection face, best score over the query faces, best first
    thresholds: Thresholds | None = None  # the bands used (None when the query had no face)
    groups: dict[int, int] = field(default_factory=dict)  # face id -> group (see faces_group)


@dataclass(frozen=True)
class PersonSearch:
    """One person's photos fused into one query: the hits, the bands used, the groups."""

    hits: list[FaceHit]
    thresholds: Thresholds
    groups: dict[int, int]


def band_for(*, score: float, thresholds: Thresholds) -> str | None:
    if score >= thresholds.match:
        return MATCH
    if score >= thresholds.review:
        return REVIEW
    return None


def _query_matrix(vectors: np.ndarray) -> np.ndarray:
    return np.asarray(vectors, dtype=np.float32).reshape(-1, 512)


def _faces_searched(*, sync: bool) -> int | None:
    """The index's face count after its sync (None without a sync: the thresholds count the table)."""
    return index_sync_if_changed().total if sync else None


def faces_search(
    *, vectors: np.ndarray, sync: bool = True, thresholds: Thresholds | None = None
) -> list[list[FaceHit]]:
    """For each query vector, EVERY collection face in the review band or above, best first.

    The bands are ``thresholds`` or those in force for the collection's size (one photo per query).
    ``sync`` first reconciles the index with the database, so a face committed by an ingestion
    that crashed before its index write is still found: a rights answer must be complete. The full
    reconciliation runs only when the Face table and the index differ (``index_sync_if_changed``).
    """
    matrix = _query_matrix(vectors)
    searched = _faces_searched(sync=sync)
    if thresholds is None:
        thresholds = thresholds_current(indexed_faces=searched)
    raw = index_range_search(vectors=matrix, threshold=thresholds.review)
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
            band = band_for(score=score, thresholds=thresholds)
            if row is None or band is None:
                continue
            hits.append(
                FaceHit(face_id=face_id, image_id=row[1], score=float(score), band=band, bbox=row[2:6])
            )
        results.append(hits)
    logger.info("faces_search: %s queries, %s hits", matrix.shape[0], sum(len(h) for h in results))
    return results


def person_search(*, vectors: np.ndarray, sync: bool = True) -> PersonSearch:
    """Search with up to three photos of one person (a request's selfies) fused into one query.

    Fusing costs the strangers of one search, where searching each photo costs those of each; the
    bands come from the calibration of fused queries of that many photos (a heavier tail).
    """
    matrix = _query_matrix(vectors)
    if not 1 <= matrix.shape[0] <= MAX_FUSED:
        raise ValueError(f"person_search takes 1 to {MAX_FUSED} photos of one person, not {matrix.shape[0]}")
    thresholds = thresholds_current(indexed_faces=_faces_searched(sync=sync), selfies=matrix.shape[0])
    (hits,) = faces_search(vectors=query_fuse(vectors=matrix)[None, :], sync=False, thresholds=thresholds)
    return PersonSearch(
        hits=hits, thresholds=thresholds, groups=faces_group(face_ids=[h.face_id for h in hits])
    )


def person_expand(
    *, vectors: np.ndarray, confirmed: np.ndarray, known_face_ids: set[int], sync: bool = True
) -> PersonSearch:
    """After staff confirm faces: search again with the selfies and the confirmed faces fused.

    Only faces not already known (``known_face_ids``) come back, all in the review band: staff
    decide on every one. The search runs at the match threshold of a three-photo query, so it adds
    at most MATCH_EXPECTED_STRANGERS strangers to a request, not another review band's worth.
    """
    selfies, found = _query_matrix(vectors), _query_matrix(confirmed)
    if selfies.shape[0] == 0 or found.shape[0] == 0:
        raise ValueError("person_expand needs the selfies and at least one confirmed face")
    bands = thresholds_current(indexed_faces=_faces_searched(sync=sync), selfies=MAX_FUSED)
    strict = dataclasses.replace(bands, review=bands.match)
    template = query_fuse(vectors=np.vstack([selfies, found]))
    (hits,) = faces_search(vectors=template[None, :], sync=False, thresholds=strict)
    new = [dataclasses.replace(h, band=REVIEW) for h in hits if h.face_id not in known_face_ids]
    return PersonSearch(hits=new, thresholds=strict, groups=faces_group(face_ids=[h.face_id for h in new]))


def faces_group(*, face_ids: list[int]) -> dict[int, int]:
    """Candidate faces that match each other strongly, as groups staff can decide on at once.

    Groups are numbered 1, 2, ... in the order of ``face_ids`` (best hit first); see ``vectors_group``.
    """
    ids = list(dict.fromkeys(int(i) for i in face_ids))
    stored = dict(Face.objects.filter(pk__in=ids).values_list("pk", "embedding"))
    ids = [i for i in ids if i in stored]
    matrix = np.frombuffer(b"".join(bytes(stored[i]) for i in ids), dtype="<f4").reshape(len(ids), 512)
    return dict(zip(ids, vectors_group(vectors=matrix), strict=True))


def vectors_group(*, vectors: np.ndarray) -> list[int]:
    """The group number (1, 2, ... in order of first appearance) of each vector.

    Two faces are linked when they score at least the match threshold for the number of pairs
    compared (so a wrong link is as rare as a stranger in the match band); a group is a connected set.
    """
    n = int(vectors.shape[0])
    if n == 0:
        return []
    linked = (vectors @ vectors.T) >= thresholds_for(faces=max(1, n * (n - 1) // 2)).match
    group = [0] * n
    number = 0
    for start in range(n):
        if group[start]:
            continue
        number += 1
        group[start] = number
        stack = [start]
        while stack:  # every face reachable from ``start`` through strong links
            at = stack.pop()
            for j in np.nonzero(linked[at])[0].tolist():
                if not group[j]:
                    group[j] = number
                    stack.append(j)
    return group


def image_search(*, data: bytes, all_faces: bool = False, sync: bool = True) -> ImageSearchResult:
    """Search the collection with a photo: its largest face (a selfie's), or every face in it.

    Each face is a query of its own (they are different people). Raises ImageRejected for bytes
    that are not an acceptable image.
    """
    faces = image_analyse(data=data).faces
    query_faces = faces if all_faces else faces[:1]
    thresholds = thresholds_current(indexed_faces=_faces_searched(sync=sync))
    if not query_faces:
        return ImageSearchResult(faces_in_query=0, query_faces=[], hits=[], thresholds=thresholds)
    per_query = faces_search(
        vectors=np.stack([f.embedding for f in query_faces]), sync=False, thresholds=thresholds
    )
    best: dict[int, FaceHit] = {}
    for hits in per_query:
        for hit in hits:
            if hit.face_id not in best or hit.score > best[hit.face_id].score:
                best[hit.face_id] = hit
    hits = sorted(best.values(), key=lambda h: (-h.score, h.face_id))
    return ImageSearchResult(
        faces_in_query=len(faces),
        query_faces=query_faces,
        hits=hits,
        thresholds=thresholds,
        groups=faces_group(face_ids=[h.face_id for h in hits]),
    )


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


def hits_describe(*, hits: list[FaceHit], groups: dict[int, int] | None = None) -> list[dict[str, object]]:
    """Hits as the facesearch JSON contract gives them: image_id, path, source_url, score, band, bbox,
    group (the number ``faces_group`` gave the face; each ungrouped face is a group of its own)."""
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
                "group": (groups or {}).get(hit.face_id, 0),
            }
        )
    return described
