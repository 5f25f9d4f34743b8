"""Threshold calibration on labelled faces: genuine and impostor score distributions, FMR and FNMR.

FMR (false match rate): the share of pairs of different people scoring at or above a threshold.
FNMR (false non-match rate): the share of pairs of the same person scoring below it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matching.services.analysis import image_analyse
from matching.services.embedding import face_central_pick
from matching.services.imaging import ImageRejected

MATCH_TARGET_FMR = 1e-4
REVIEW_TARGET_FMR = 1e-2
TABLE_THRESHOLDS = [round(0.05 * i, 2) for i in range(2, 15)]


@dataclass(frozen=True)
class RateRow:
    threshold: float
    fmr: float
    fnmr: float


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


def calibration_manifest_read(*, folder: Path, manifest: Path | None = None) -> list[tuple[Path, str]]:
    """(image path, identity) pairs from a CSV path,identity (default: FOLDER/manifest.csv)."""
    manifest = manifest or folder / "manifest.csv"
    pairs = []
    with open(manifest, newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            path = Path(row["path"])
            pairs.append((path if path.is_absolute() else folder / path, row["identity"].strip()))
    return pairs


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
    failed = 0
    for path, identity in labelled:
        try:
            analysis = image_analyse(data=Path(path).read_bytes())
        except (OSError, ImageRejected):
            failed += 1
            continue
        face = face_central_pick(faces=analysis.faces, width=analysis.width, height=analysis.height)
        if face is None:
            failed += 1
        else:
            vectors.append(face.embedding)
            labels.append(identity)
        if progress is not None:
            progress()
    if len(vectors) < 2:
        raise ValueError("calibration needs at least two embedded faces")
    matrix = np.stack(vectors).astype(np.float32)
    scores = matrix @ matrix.T
    label_ids = np.unique(np.asarray(labels), return_inverse=True)[1]
    upper = np.triu_indices(len(labels), k=1)
    same = label_ids[upper[0]] == label_ids[upper[1]]
    pair_scores = scores[upper]
    genuine = pair_scores[same].astype(np.float64)
    impostor_sorted = np.sort(pair_scores[~same].astype(np.float64))
    if genuine.size == 0 or impostor_sorted.size == 0:
        raise ValueError("calibration needs several images of some people and more than one person")
    match = _rates(genuine, impostor_sorted, _threshold_for(impostor_sorted, match_fmr))
    review = _rates(genuine, impostor_sorted, _threshold_for(impostor_sorted, review_fmr))
    # A per-pair FMR means (faces in the collection x FMR) expected false matches per search:
    # the table of operating points shows what a stricter target costs in FNMR.
    operating_points = {
        f"{target:.0e}": _rates(genuine, impostor_sorted, _threshold_for(impostor_sorted, target))
        for target in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
        if target * impostor_sorted.size >= 1 or target == 1e-2
    }
    return CalibrationReport(
        images=len(labelled),
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
    )
