"""Threshold calibration on labelled faces: genuine and impostor score distributions, FMR and FNMR.

FMR (false match rate): the share of pairs of different people scoring at or above a threshold.
FNMR (false non-match rate): the share of pairs of the same person scoring below it.

A collection of N faces brings FMR x N strangers to every search, so the thresholds a large
collection needs lie far beyond what a few hundred thousand labelled pairs can measure. Above the
point u exceeded by 1% of impostor pairs, the tail is fitted with an exponential (the mean excess
over u; a generalised Pareto fit of the same excesses is recorded as a check of its shape), and a
bootstrap by image gives a 95% upper bound. ``calibration_file_write`` records FMR(threshold) for
``matching.services.thresholds``, which picks the bands for a collection's size from it.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from matching.services.analysis import image_analyse
from matching.services.embedding import face_central_pick
from matching.services.imaging import ImageRejected

MATCH_TARGET_FMR = 1e-4
REVIEW_TARGET_FMR = 1e-2
TABLE_THRESHOLDS = [round(0.05 * i, 2) for i in range(2, 15)]
# FMR(threshold) is recorded on this grid (0.100 .. 0.950): the thresholds service picks from it.
FILE_GRID = [round(0.005 * i, 3) for i in range(20, 191)]
TAIL_FROM = 1e-3  # u: the score exceeded by this share of impostor pairs
BOOTSTRAP_ROUNDS = 200
FUSED_SELFIES = (2, 3)  # a request carries up to three selfies, fused into one query
HALVES = ("all", "calibration", "evaluation")


@dataclass(frozen=True)
class RateRow:
    threshold: float
    fmr: float
    fnmr: float


@dataclass(frozen=True)
class TailFit:
    """The impostor tail above ``u``: FMR(t) = p_u * exp(-(t - u) / scale)."""

    u: float
    p_u: float
    exceedances: int  # impostor pairs above u
    scale: float  # mean excess over u (the exponential's maximum-likelihood scale)
    gpd_shape: float  # generalised Pareto shape of the same excesses: <= 0 means a lighter tail
    scale_by_tail: dict[str, float]  # the mean excess over the points exceeded by 1%, 0.3%, 0.1%
    measured_down_to_fmr: float  # 10 pairs: below this rate the data measure nothing


@dataclass(frozen=True)
class CalibrationReport:
    images: int
    identities: int
    failed: int  # images with no face found or not decodable (failure to enrol)
    genuine_pairs: int
    impostor_pairs: int
    genuine_mean: float
    impostor_mean: float
    impostor_max: float
    table: list[RateRow]
    operating_points: dict[str, RateRow]  # lowest threshold with FMR <= target, by target ("1e-05")
    match: RateRow  # recommended MATCH_THRESHOLD (FMR <= match_fmr, 1e-4 unless told)
    review: RateRow  # recommended REVIEW_THRESHOLD (FMR <= review_fmr, 1e-2 unless told)
    identical_pairs_left_out: int  # impostor-labelled pairs of byte-identical files (one photo, two names)
    tail: TailFit
    # FMR by threshold on FILE_GRID: fmr (measured at or below u, fitted above), fmr_upper (95%
    # bootstrap bound), measured (the raw share), fnmr, source ("measured", "fitted", "extrapolated")
    fmr_curve: list[dict[str, float | str]]
    # The same for a query fusing k selfies (k = "2", "3"): a fused template's impostor tail is
    # heavier than one photo's (less photo noise, the same likeness), so it has its own curve.
    fused: dict[str, FusedCalibration]


@dataclass(frozen=True)
class FusedCalibration:
    templates: int  # fused templates (k photos of one person each)
    impostor_pairs: int
    genuine_pairs: int
    tail: TailFit
    fmr_curve: list[dict[str, float | str]]


def calibration_manifest_read(*, folder: Path, manifest: Path | None = None) -> list[tuple[Path, str]]:
    """(image path, identity) pairs from a CSV path,identity (default: FOLDER/manifest.csv)."""
    manifest = manifest or folder / "manifest.csv"
    pairs = []
    with open(manifest, newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            path = Path(row["path"])
            pairs.append((path if path.is_absolute() else folder / path, row["identity"].strip()))
    return pairs


def calibration_half_of(*, identity: str) -> str:
    """'calibration' or 'evaluation': a fixed split by identity, so no person is in both halves."""
    return "calibration" if hashlib.sha256(identity.encode("utf-8")).digest()[0] % 2 == 0 else "evaluation"


def calibration_split(*, labelled: list[tuple[Path, str]], half: str) -> list[tuple[Path, str]]:
    if half not in HALVES:
        raise ValueError(f"half must be one of {', '.join(HALVES)}, not {half!r}")
    if half == "all":
        return list(labelled)
    return [(path, who) for path, who in labelled if calibration_half_of(identity=who) == half]


def _rates(genuine: np.ndarray, impostor_sorted: np.ndarray, threshold: float) -> RateRow:
    impostor_at_or_above = impostor_sorted.size - np.searchsorted(impostor_sorted, threshold, side="left")
    fmr = impostor_at_or_above / max(1, impostor_sorted.size)
    fnmr = float(np.count_nonzero(genuine < threshold)) / max(1, genuine.size)
    return RateRow(threshold=round(float(threshold), 4), fmr=float(fmr), fnmr=fnmr)


def _threshold_for(impostor_sorted: np.ndarray, target: float) -> float:
    """The lowest threshold on a 0.01 grid whose FMR is at most ``target``."""
    allowed = math.floor(target * impostor_sorted.size)  # impostor pairs allowed at or above
    # Every score above the (allowed+1)-th highest must be excluded.
    cut = float(impostor_sorted[-(allowed + 1)]) if allowed < impostor_sorted.size else -1.0
    threshold = math.floor(cut * 100 + 1) / 100  # strictly above `cut`, rounded up to 0.01
    return round(threshold, 2)


def _gpd_shape(excess: np.ndarray) -> float:
    """Maximum-likelihood generalised Pareto shape (Grimshaw's profile over theta = shape/scale)."""
    y = excess[excess > 0]
    if y.size < 10:
        return 0.0
    thetas = np.concatenate(
        [np.linspace(-1 / y.max() * 0.999, -1e-6, 400), np.linspace(1e-6, 50 / y.mean(), 400)]
    )
    best, best_shape = -np.inf, 0.0
    for theta in thetas:
        logs = np.log1p(theta * y)
        shape = float(logs.mean())
        scale = shape / theta
        if scale <= 0:
            continue
        loglik = -y.size * math.log(scale) - (1 / shape + 1) * float(logs.sum())
        if loglik > best:
            best, best_shape = loglik, shape
    exponential = -y.size * math.log(float(y.mean())) - y.size  # the shape-0 limit
    return best_shape if best > exponential else 0.0


def _tail_fit(impostor_sorted: np.ndarray) -> TailFit:
    n = impostor_sorted.size
    u = float(impostor_sorted[int((1 - TAIL_FROM) * n)])
    above = impostor_sorted[impostor_sorted > u]
    by_tail = {}
    for share in (1e-2, 3e-3, 1e-3):
        point = float(impostor_sorted[int((1 - share) * n)])
        by_tail[f"{share:.0e}"] = round(float((impostor_sorted[impostor_sorted > point] - point).mean()), 5)
    return TailFit(
        u=round(u, 5),
        p_u=above.size / n,
        exceedances=int(above.size),
        scale=round(float((above - u).mean()), 5),
        gpd_shape=round(_gpd_shape(above - u), 4),
        scale_by_tail=by_tail,
        measured_down_to_fmr=10 / n,
    )


def _bootstrap_upper(
    *, scores: np.ndarray, first: np.ndarray, second: np.ndarray, images: int, tail: TailFit, seed: int = 7
) -> tuple[np.ndarray, np.ndarray]:
    """95% upper bounds of the measured FMR and of the fitted tail on FILE_GRID.

    Pairs sharing an image are not independent, so images are resampled (each pair weighs the
    product of its two images' draws) and u stays where the whole sample put it.
    """
    rng = np.random.default_rng(seed)
    grid = np.asarray(FILE_GRID)
    order = np.argsort(scores)
    scores, first, second = scores[order], first[order], second[order]
    positions = np.searchsorted(scores, grid, side="left")
    u_position = int(np.searchsorted(scores, tail.u, side="right"))
    measured = np.empty((BOOTSTRAP_ROUNDS, grid.size))
    fitted = np.empty((BOOTSTRAP_ROUNDS, grid.size))
    for r in range(BOOTSTRAP_ROUNDS):
        draws = rng.multinomial(images, np.full(images, 1 / images)).astype(np.float64)
        weights = draws[first] * draws[second]
        total = weights.sum()
        tail_weights = np.cumsum(weights[::-1])[::-1]  # weight of pairs at or above each position
        at_or_above = np.append(tail_weights, 0.0)[positions]
        measured[r] = at_or_above / total
        w_above = weights[u_position:]
        p_u = w_above.sum() / total
        scale = float((w_above * (scores[u_position:] - tail.u)).sum() / max(w_above.sum(), 1e-12))
        # Only the grid above u uses the fit; a resample with no pair above u gives a zero tail.
        fitted[r] = p_u * np.exp(-np.clip(grid - tail.u, 0, None) / max(scale, 1e-6))
    return np.quantile(measured, 0.95, axis=0), np.quantile(fitted, 0.95, axis=0)


def _fmr_curve(
    *,
    genuine: np.ndarray,
    scores: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    images: int,
    tail: TailFit,
) -> list[dict[str, float | str]]:
    impostor_sorted = np.sort(scores)
    measured_upper, fitted_upper = _bootstrap_upper(
        scores=scores, first=first, second=second, images=images, tail=tail
    )
    rows: list[dict[str, float | str]] = []
    for i, threshold in enumerate(FILE_GRID):
        rate = _rates(genuine, impostor_sorted, threshold)
        if threshold <= tail.u:
            fmr, upper, source = rate.fmr, float(measured_upper[i]), "measured"
        else:
            fmr = tail.p_u * math.exp(-(threshold - tail.u) / tail.scale)
            upper = float(fitted_upper[i])
            source = "fitted" if fmr >= tail.measured_down_to_fmr else "extrapolated"
        rows.append(
            {
                "threshold": threshold,
                "fmr": float(f"{fmr:.4g}"),
                "fmr_upper": float(f"{max(upper, fmr):.4g}"),
                "measured": float(f"{rate.fmr:.4g}"),
                "fnmr": round(rate.fnmr, 5),
                "source": source,
            }
        )
    return rows


def query_fuse(*, vectors: np.ndarray) -> np.ndarray:
    """One query from several photos of one person: the normalised mean of their embeddings."""
    matrix = np.asarray(vectors, dtype=np.float64).reshape(-1, 512)
    mean = matrix.mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def _fused_calibration(
    *, matrix: np.ndarray, label_ids: np.ndarray, digest_ids: np.ndarray, selfies: int
) -> FusedCalibration | None:
    """Templates fusing ``selfies`` photos of a person (every combination, people with 4+ photos)
    against every other person's photo (impostors) and against that person's other photos."""
    templates, owners, clusters, genuine_scores = [], [], [], []
    for person in np.unique(label_ids):
        photos = np.nonzero(label_ids == person)[0]
        if photos.size < 4:
            continue
        for combo in itertools.combinations(photos.tolist(), selfies):
            template = query_fuse(vectors=matrix[list(combo)])
            templates.append(template)
            owners.append(person)
            clusters.append(int(photos[0]))  # a person's templates are one cluster in the bootstrap
            rest = np.setdiff1d(photos, combo)
            rest = rest[~np.isin(digest_ids[rest], digest_ids[list(combo)])]
            genuine_scores.append(matrix[rest] @ template)
    if len(templates) < 10:
        return None
    scores = np.stack(templates) @ matrix.T  # (templates, photos)
    rows, cols = np.nonzero(np.asarray(owners)[:, None] != label_ids[None, :])
    impostor_scores = scores[rows, cols].astype(np.float64)
    genuine = np.concatenate(genuine_scores).astype(np.float64)
    tail = _tail_fit(np.sort(impostor_scores))
    curve = _fmr_curve(
        genuine=genuine,
        scores=impostor_scores,
        first=np.asarray(clusters)[rows],
        second=cols,
        images=matrix.shape[0],
        tail=tail,
    )
    return FusedCalibration(
        templates=len(templates),
        impostor_pairs=int(impostor_scores.size),
        genuine_pairs=int(genuine.size),
        tail=tail,
        fmr_curve=curve,
    )


def calibration_run(
    *,
    labelled: list[tuple[Path, str]],
    match_fmr: float = MATCH_TARGET_FMR,
    review_fmr: float = REVIEW_TARGET_FMR,
    progress: Callable[[], None] | None = None,
) -> CalibrationReport:
    """Embed the labelled face of each image (the central one) and measure the score distributions."""
    vectors: list[np.ndarray] = []
    labels: list[str] = []
    digests: list[str] = []
    failed = 0
    for path, identity in labelled:
        try:
            data = Path(path).read_bytes()
            analysis = image_analyse(data=data)
        except (OSError, ImageRejected):
            failed += 1
            continue
        face = face_central_pick(faces=analysis.faces, width=analysis.width, height=analysis.height)
        if face is None:
            failed += 1
        else:
            vectors.append(face.embedding)
            labels.append(identity)
            digests.append(hashlib.sha256(data).hexdigest())
        if progress is not None:
            progress()
    return calibration_from_vectors(
        vectors=vectors,
        labels=labels,
        digests=digests,
        images=len(labelled),
        failed=failed,
        match_fmr=match_fmr,
        review_fmr=review_fmr,
    )


def calibration_from_vectors(
    *,
    vectors: list[np.ndarray],
    labels: list[str],
    digests: list[str],
    images: int,
    failed: int = 0,
    match_fmr: float = MATCH_TARGET_FMR,
    review_fmr: float = REVIEW_TARGET_FMR,
) -> CalibrationReport:
    """The score distributions of embedded labelled faces (one per image; digest: the file's sha256)."""
    if len(vectors) < 2:
        raise ValueError("calibration needs at least two embedded faces")
    matrix = np.stack(vectors).astype(np.float32)
    scores = matrix @ matrix.T
    label_ids = np.unique(np.asarray(labels), return_inverse=True)[1]
    digest_ids = np.unique(np.asarray(digests), return_inverse=True)[1]
    upper = np.triu_indices(len(labels), k=1)
    same = label_ids[upper[0]] == label_ids[upper[1]]
    # One photo filed under two names is not a stranger who looks alike: it would set the tail.
    identical = (digest_ids[upper[0]] == digest_ids[upper[1]]) & ~same
    impostor = ~same & ~identical
    pair_scores = scores[upper]
    genuine = pair_scores[same].astype(np.float64)
    impostor_scores = pair_scores[impostor].astype(np.float64)
    impostor_sorted = np.sort(impostor_scores)
    if genuine.size == 0 or impostor_sorted.size < 1000:
        raise ValueError(
            "calibration needs several images of some people and enough different people "
            "(at least 1,000 pairs of different people)"
        )
    match = _rates(genuine, impostor_sorted, _threshold_for(impostor_sorted, match_fmr))
    review = _rates(genuine, impostor_sorted, _threshold_for(impostor_sorted, review_fmr))
    operating_points = {
        f"{target:.0e}": _rates(genuine, impostor_sorted, _threshold_for(impostor_sorted, target))
        for target in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
        if target * impostor_sorted.size >= 1 or target == 1e-2
    }
    tail = _tail_fit(impostor_sorted)
    curve = _fmr_curve(
        genuine=genuine,
        scores=impostor_scores,
        first=upper[0][impostor],
        second=upper[1][impostor],
        images=len(labels),
        tail=tail,
    )
    fused = {
        str(k): _fused_calibration(matrix=matrix, label_ids=label_ids, digest_ids=digest_ids, selfies=k)
        for k in FUSED_SELFIES
    }
    return CalibrationReport(
        images=images,
        identities=len(set(labels)),
        failed=failed,
        genuine_pairs=int(genuine.size),
        impostor_pairs=int(impostor_sorted.size),
        genuine_mean=float(genuine.mean()),
        impostor_mean=float(impostor_sorted.mean()),
        impostor_max=float(impostor_sorted[-1]),
        table=[_rates(genuine, impostor_sorted, t) for t in TABLE_THRESHOLDS],
        operating_points=operating_points,
        match=match,
        review=review,
        identical_pairs_left_out=int(identical.sum()),
        tail=tail,
        fmr_curve=curve,
        fused={k: v for k, v in fused.items() if v is not None},
    )


def calibration_file_write(*, report: CalibrationReport, path: Path, source: str) -> None:
    """The calibration the thresholds service reads: what it was measured on, the fit, FMR(t)."""
    document = {
        "source": source,
        "images": report.images,
        "identities": report.identities,
        "genuine_pairs": report.genuine_pairs,
        "impostor_pairs": report.impostor_pairs,
        "identical_pairs_left_out": report.identical_pairs_left_out,
        "tail": {
            "method": "exponential above u (mean excess), 95% upper bound by bootstrap over images",
            **asdict(report.tail),
        },
        "fmr_curve": report.fmr_curve,
        "fused": {
            k: {
                "templates": v.templates,
                "impostor_pairs": v.impostor_pairs,
                "genuine_pairs": v.genuine_pairs,
                "tail": asdict(v.tail),
                "fmr_curve": v.fmr_curve,
            }
            for k, v in report.fused.items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
