"""manage.py calibrate_thresholds on a labelled subset of lfw-dev."""

from __future__ import annotations

import io
import itertools
import json

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.models


@pytest.fixture
def subset_manifest(tmp_path, lfw_identities):
    """12 people with 4+ images and 20 one-image people: a few thousand pairs."""
    many = [i for i, paths in sorted(lfw_identities.items()) if len(paths) >= 4][:12]
    single = [i for i, paths in sorted(lfw_identities.items()) if len(paths) == 1][:20]
    manifest = tmp_path / "labels.csv"
    rows = ["path,identity"] + [f"{p},{i}" for i in many + single for p in lfw_identities[i]]
    manifest.write_text("\n".join(rows) + "\n")
    return manifest, sum(len(lfw_identities[i]) for i in many + single)


def test_json_report(subset_manifest, tmp_path):
    manifest, images = subset_manifest
    out = io.StringIO()
    call_command("calibrate_thresholds", str(tmp_path), "--manifest", str(manifest), "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["images"] == images and report["failed"] == 0
    assert report["genuine_pairs"] > 100 and report["impostor_pairs"] > 1000
    assert report["genuine_mean"] > report["impostor_mean"] + 0.3
    assert 0 < report["review"]["threshold"] < report["match"]["threshold"] < 1
    assert report["match"]["fmr"] <= 1e-4 and report["review"]["fmr"] <= 1e-2
    rows = {row["threshold"]: row for row in report["table"]}
    assert rows[0.1]["fmr"] >= rows[0.5]["fmr"] and rows[0.1]["fnmr"] <= rows[0.5]["fnmr"]


def test_table(subset_manifest, tmp_path):
    manifest, _ = subset_manifest
    out = io.StringIO()
    call_command("calibrate_thresholds", str(tmp_path), "--manifest", str(manifest), stdout=out)
    text = out.getvalue()
    assert "threshold" in text and "FMR" in text and "FNMR" in text
    assert "Recommended MATCH_THRESHOLD=" in text and "Recommended REVIEW_THRESHOLD=" in text


def test_fitted_tail_and_calibration_file(subset_manifest, tmp_path, settings):
    from matching.services.thresholds import thresholds_cache_clear, thresholds_for

    manifest, _ = subset_manifest
    written = tmp_path / "cal" / "model.json"
    out = io.StringIO()
    call_command(
        "calibrate_thresholds",
        str(tmp_path),
        "--manifest",
        str(manifest),
        "--write",
        str(written),
        "--json",
        stdout=out,
    )
    report = json.loads(out.getvalue())
    tail = report["tail"]
    assert 0 < tail["scale"] < 0.2 and tail["exceedances"] >= 1 and tail["p_u"] > 0
    curve = report["fmr_curve"]
    assert [r["threshold"] for r in curve] == sorted(r["threshold"] for r in curve)
    # FMR falls with the threshold, its upper bound is never below it, and far beyond the labelled
    # pairs the figure is the fitted tail's, marked so.
    assert all(a["fmr"] >= b["fmr"] for a, b in itertools.pairwise(curve))
    assert all(r["fmr_upper"] >= r["fmr"] for r in curve)
    assert curve[-1]["source"] == "extrapolated" and 0 < curve[-1]["fmr"] < 1e-6
    document = json.loads(written.read_text())
    assert document["source"].endswith("identities: all") and document["fmr_curve"] == curve
    assert set(document["fused"]) == {"2", "3"}  # the subset's 12 people with 4+ photos give fused curves
    # The thresholds service reads it.
    settings.THRESHOLDS_CALIBRATION_FILE = str(written)
    thresholds_cache_clear()
    try:
        assert thresholds_for(faces=1_000_000).match > thresholds_for(faces=1_000).match
    finally:
        thresholds_cache_clear()


def test_identity_halves_and_bad_options(subset_manifest, tmp_path):
    from django.core.management.base import CommandError

    from matching.services.calibration import calibration_half_of

    manifest, images = subset_manifest
    out = io.StringIO()
    call_command(
        "calibrate_thresholds",
        str(tmp_path),
        "--manifest",
        str(manifest),
        "--identities",
        "calibration",
        "--json",
        stdout=out,
    )
    report = json.loads(out.getvalue())
    rows = [line.split(",") for line in manifest.read_text().splitlines()[1:]]
    in_half = [who for _, who in rows if calibration_half_of(identity=who) == "calibration"]
    assert report["images"] == len(in_half) < images  # only that half's people
    # Each bad input gets a CommandError with the reason, and writes nothing.
    with pytest.raises(CommandError, match="identities"):
        call_command(
            "calibrate_thresholds", str(tmp_path), "--manifest", str(manifest), "--identities", "half"
        )
    with pytest.raises(CommandError, match="manifest"):
        call_command("calibrate_thresholds", str(tmp_path), "--manifest", str(tmp_path / "missing.csv"))
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(CommandError, match="Cannot write the calibration file"):
        call_command(
            "calibrate_thresholds",
            str(tmp_path),
            "--manifest",
            str(manifest),
            "--write",
            str(blocked / "x.json"),
        )
