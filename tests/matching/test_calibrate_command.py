"""manage.py calibrate_thresholds on a labelled subset of lfw-dev."""

from __future__ import annotations

import io
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
