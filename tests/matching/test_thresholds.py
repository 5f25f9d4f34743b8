"""thresholds_for / thresholds_current: the bands chosen for the number of faces searched."""

from __future__ import annotations

import json

import pytest

from matching.models import Face, Image
from matching.services.thresholds import (
    CalibrationUnavailable,
    thresholds_cache_clear,
    thresholds_current,
    thresholds_for,
)
from tests.matching.conftest import unit_vectors
from tests.matching.helpers import image_with_faces

SIZES = [1_000, 10_000, 100_000, 1_000_000, 10_000_000]


@pytest.fixture(autouse=True)
def _fresh_calibration_cache():
    thresholds_cache_clear()
    yield
    thresholds_cache_clear()


@pytest.fixture
def defaults(settings):
    settings.MATCH_THRESHOLD = 0.37
    settings.REVIEW_THRESHOLD = 0.18
    settings.MATCH_EXPECTED_STRANGERS = 0.01
    settings.REVIEW_EXPECTED_STRANGERS = 20.0
    settings.THRESHOLDS_FOR_FACES = 0
    return settings


def _write_curve(path, rows):
    """A calibration file whose one-photo curve is ``rows`` of (threshold, fmr_upper, source)."""
    curve = [
        {"threshold": t, "fmr": f, "fmr_upper": f, "measured": 0.0, "fnmr": 0.0, "source": s}
        for t, f, s in rows
    ]
    path.write_text(json.dumps({"fmr_curve": curve, "fused": {"3": {"fmr_curve": curve[1:]}}}))
    return path


def test_the_committed_calibration_keeps_expected_strangers_within_the_targets(defaults):
    previous = None
    for faces in SIZES:
        bands = thresholds_for(faces=faces)
        assert bands.faces_planned_for == faces and bands.selfies == 1
        assert bands.review <= bands.match
        # The expected strangers (95% bound of FMR x faces) stay within the settings' targets.
        assert bands.match_expected_strangers <= 0.01
        assert bands.review_expected_strangers <= 20.0
        assert str(faces) in bands.why.replace(",", "")
        if previous is not None:  # a larger collection never gets laxer bands
            assert bands.match >= previous.match and bands.review >= previous.review
        previous = bands
    # A million faces needs a match band far stricter than the old fixed 0.37, and its FMR is the
    # fitted tail's, below what the labelled pairs measure: the bands say so.
    at_million = thresholds_for(faces=1_000_000)
    assert at_million.match > 0.45 and at_million.review > 0.3 and at_million.extrapolated
    assert "extrapolated" in at_million.why


def test_small_collections_get_the_floors(defaults):
    bands = thresholds_for(faces=20)
    assert (bands.match, bands.review) == (0.37, 0.18)  # the settings are floors, never undercut
    defaults.MATCH_THRESHOLD, defaults.REVIEW_THRESHOLD = 0.6, 0.5
    assert (thresholds_for(faces=20).match, thresholds_for(faces=20).review) == (0.6, 0.5)


def test_fused_queries_have_their_own_curve(defaults):
    # A template fusing three photos has a heavier impostor tail: at the same size its bands are
    # at least as strict as one photo's.
    for faces in SIZES[1:]:
        one, three = thresholds_for(faces=faces), thresholds_for(faces=faces, selfies=3)
        assert three.selfies == 3 and three.match >= one.match and three.review >= one.review
    # Beyond three photos the three-photo curve is used (clamped), below one the one-photo curve.
    assert thresholds_for(faces=10_000, selfies=7).selfies == 3
    assert thresholds_for(faces=10_000, selfies=0).selfies == 1


def test_the_rule_on_a_known_curve(defaults, tmp_path):
    defaults.MATCH_THRESHOLD = defaults.REVIEW_THRESHOLD = 0.0
    defaults.THRESHOLDS_CALIBRATION_FILE = str(
        _write_curve(
            tmp_path / "cal.json",
            [
                (0.2, 3e-3, "measured"),
                (0.3, 3e-5, "fitted"),
                (0.4, 3e-7, "fitted"),
                (0.5, 3e-9, "extrapolated"),
            ],
        )
    )
    # 1,000 faces: 3e-5 x 1e3 = 0.03 > 0.01, 3e-7 x 1e3 = 3e-4 <= 0.01 -> match 0.4; review 0.2 (3 <= 20).
    bands = thresholds_for(faces=1000)
    assert (bands.match, bands.review) == (0.4, 0.2) and not bands.extrapolated
    assert bands.match_expected_strangers == pytest.approx(3e-4)
    assert bands.review_expected_strangers == pytest.approx((3e-3 - 3e-7) * 1000)
    # 1e6 faces: only 0.5 keeps the match band under 0.01 (3e-9 x 1e6 = 3e-3), and that is extrapolated;
    # review: 3e-5 x 1e6 = 30 > 20, 3e-7 x 1e6 = 0.3 -> 0.4.
    bands = thresholds_for(faces=1_000_000)
    assert (bands.match, bands.review, bands.extrapolated) == (0.5, 0.4, True)
    # Past the curve: its strictest threshold, never a laxer one.
    assert thresholds_for(faces=10**12).match == 0.5
    # Zero or negative faces count as one face.
    assert thresholds_for(faces=0).faces_planned_for == 1
    assert thresholds_for(faces=1000, selfies=3).match == 0.4  # the fused curve (here: the last three rows)


def test_thresholds_current_counts_the_index_unless_the_size_is_fixed(defaults, db):
    for vector in unit_vectors(3, seed=5):
        image_with_faces(vectors=[vector])
    assert thresholds_current().faces_planned_for == 3
    # The index's own count, not the table's: a face row the index does not hold yet is not searched.
    Face.objects.create(image=Image.objects.first(), x1=0, y1=0, x2=1, y2=1, det_score=0.9, embedding=b"")
    assert thresholds_current().faces_planned_for == 3
    assert thresholds_current(indexed_faces=12_345).faces_planned_for == 12_345
    defaults.THRESHOLDS_FOR_FACES = 1_000_000
    assert thresholds_current(indexed_faces=12_345).faces_planned_for == 1_000_000
    assert thresholds_current().match == thresholds_for(faces=1_000_000).match


@pytest.mark.parametrize(
    "content",
    [
        None,
        "not json",
        json.dumps({"no": "curve"}),
        json.dumps({"fmr_curve": []}),
        json.dumps({"fmr_curve": [{}]}),
    ],
    ids=["missing", "not-json", "no-curve", "empty-curve", "rows-without-fields"],
)
def test_a_bad_calibration_file_is_a_clear_error(defaults, tmp_path, content):
    path = tmp_path / "cal.json"
    if content is not None:
        path.write_text(content)
    defaults.THRESHOLDS_CALIBRATION_FILE = str(path)
    # Each bad file: CalibrationUnavailable naming the file, never a band chosen from nothing.
    with pytest.raises(CalibrationUnavailable, match="calibration file"):
        thresholds_for(faces=1000)


def test_a_calibration_without_fused_curves_refuses_fused_queries(defaults, tmp_path):
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"fmr_curve": [{"threshold": 0.3, "fmr_upper": 1e-5, "source": "fitted"}]}))
    defaults.THRESHOLDS_CALIBRATION_FILE = str(path)
    assert thresholds_for(faces=10).match >= 0.3
    with pytest.raises(CalibrationUnavailable, match="fused"):
        thresholds_for(faces=10, selfies=2)
