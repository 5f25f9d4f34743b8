"""manage.py calibrate_thresholds FOLDER [--manifest CSV] [--identities HALF] [--write FILE] [--json]"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from matching.services.calibration import (
    HALVES,
    calibration_file_write,
    calibration_manifest_read,
    calibration_run,
    calibration_split,
)
from matching.services.embedding import FaceModelUnavailable


class Command(BaseCommand):
    help = (
        "Measure genuine and impostor score distributions on labelled faces (CSV path,identity; the "
        "central face of each image is the labelled person) and recommend MATCH_THRESHOLD (FMR 1e-4) "
        "and REVIEW_THRESHOLD (FMR 1e-2); fit the impostor tail and, with --write, record FMR(threshold) "
        "for the size-driven bands (THRESHOLDS_CALIBRATION_FILE)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder")
        parser.add_argument("--manifest", help="CSV path,identity (default: FOLDER/manifest.csv)")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--match-fmr", type=float, default=1e-4, help="FMR target of the match band")
        parser.add_argument("--review-fmr", type=float, default=1e-2, help="FMR target of the review band")
        parser.add_argument(
            "--identities",
            choices=HALVES,
            default="all",
            help="calibrate on this half of the identities (a fixed split by name); the other one evaluates",
        )
        parser.add_argument(
            "--write", metavar="FILE", help="write the calibration file the thresholds service reads"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        folder = Path(options["folder"])
        try:
            labelled = calibration_manifest_read(
                folder=folder, manifest=Path(options["manifest"]) if options["manifest"] else None
            )
        except (OSError, KeyError) as exc:
            raise CommandError(f"Cannot read the manifest (CSV with columns path,identity): {exc}") from exc
        labelled = calibration_split(labelled=labelled, half=options["identities"])
        bar = None
        if not options["json"] and self.stdout.isatty():
            from tqdm import tqdm

            bar = tqdm(total=len(labelled), unit="img", desc="embed")
        try:
            report = calibration_run(
                labelled=labelled,
                match_fmr=options["match_fmr"],
                review_fmr=options["review_fmr"],
                progress=(lambda: bar.update(1)) if bar else None,
            )
        except FaceModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if bar is not None:
                bar.close()
        if options["write"]:
            source = f"{folder.name or folder}, identities: {options['identities']}"
            try:
                calibration_file_write(report=report, path=Path(options["write"]), source=source)
            except OSError as exc:
                raise CommandError(f"Cannot write the calibration file {options['write']}: {exc}") from exc
        if options["json"]:
            self.stdout.write(json.dumps(dataclasses.asdict(report)))
            return
        out = self.stdout.write
        out(
            f"{report.images} images of {report.identities} people ({report.failed} without a usable face); "
            f"{report.genuine_pairs:,} genuine pairs (mean {report.genuine_mean:.3f}), "
            f"{report.impostor_pairs:,} impostor pairs "
            f"(mean {report.impostor_mean:.3f}, max {report.impostor_max:.3f})"
        )
        out(f"{'threshold':>9}  {'FMR':>10}  {'FNMR':>8}")
        for row in report.table:
            out(f"{row.threshold:>9.2f}  {row.fmr:>10.2e}  {row.fnmr:>8.4f}")
        out("Operating points (lowest threshold with FMR at most the target):")
        for target, row in report.operating_points.items():
            out(f"  FMR <= {target}: threshold {row.threshold:.2f} (FMR {row.fmr:.2e}, FNMR {row.fnmr:.4f})")
        tail = report.tail
        out(
            f"Impostor tail above {tail.u:.3f} ({tail.exceedances:,} pairs, FMR {tail.p_u:.1e}): "
            "exponential, "
            f"scale {tail.scale:.4f} (generalised Pareto shape {tail.gpd_shape:+.3f}; <= 0: the exponential "
            f"is the heavier); measured down to FMR {tail.measured_down_to_fmr:.1e}, fitted below"
        )
        for photos, fused in report.fused.items():
            out(
                f"  fusing {photos} photos ({fused.templates:,} templates, {fused.impostor_pairs:,} impostor "
                f"pairs): tail above {fused.tail.u:.3f} scale {fused.tail.scale:.4f} "
                f"(generalised Pareto shape {fused.tail.gpd_shape:+.3f})"
            )
        out(
            f"Recommended MATCH_THRESHOLD={report.match.threshold:.2f} "
            f"(FMR {report.match.fmr:.2e}, FNMR {report.match.fnmr:.4f})"
        )
        out(
            f"Recommended REVIEW_THRESHOLD={report.review.threshold:.2f} "
            f"(FMR {report.review.fmr:.2e}, FNMR {report.review.fnmr:.4f})"
        )
