"""What one public form post of three worst-case allowed selfies costs the web process.

    .venv/bin/python bench/selfie_post.py [--json] [--out bench/results/selfie_post.json]

For each case a fresh portal (its own VAR_DIR, SQLite) runs as a real web server
(`manage.py runserver --noreload`, one process); after a warm-up post of one small photo, the
benchmark resets the server's peak RSS (/proc/PID/clear_refs), posts the form with three files
through HTTP (CSRF token and form key from the page, as a browser does), and reads the server's
peak RSS (VmHWM) and CPU seconds (utime + stime) from /proc. "Added" is the peak minus the RSS
before the post. Targets: at most 150 MB added and 1 s of CPU per post.

Cases (each the worst an attacker can send within the limits, three times):
- png_rgba_max: a PNG at SELFIE_MAX_PIXELS_PNG, RGBA (the widest mode), noise up to IMAGE_MAX_BYTES;
- jpeg_max: a JPEG at SELFIE_MAX_PIXELS of noise, as close to IMAGE_MAX_BYTES as quality allows;
- webp_rgba_max: a lossless WebP at SELFIE_MAX_PIXELS_WEBP, RGBA, noise up to IMAGE_MAX_BYTES;
- png_blank_6000: the attack of issue 8 (a 35 KB blank 6000x6000 PNG), now refused by its header.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FACE = ROOT.parent / "shared" / "faces" / "lfw-dev" / "Rafael_Ramirez" / "Rafael_Ramirez_0001.jpg"
TARGET_ADDED_BYTES = 150_000_000
TARGET_CPU_S = 1.0


def _settings_value(name: str) -> int:
    code = f"import django,os;django.setup();from django.conf import settings;print(settings.{name})"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="portal.settings", VAR_DIR=tempfile.mkdtemp())
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


def _side(max_pixels: int) -> int:
    return int(max_pixels**0.5)


def png_rgba_max(max_pixels: int, max_bytes: int) -> bytes:
    side = _side(_settings_value("SELFIE_MAX_PIXELS_PNG"))
    rng = np.random.default_rng(1)
    pixels = np.zeros((side, side, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    # Noise rows (incompressible) up to ~95% of the byte limit; the rest a smooth gradient.
    noise_rows = min(side, int(max_bytes * 0.95 / (side * 4)))
    pixels[:noise_rows] = rng.integers(0, 256, (noise_rows, side, 4), dtype=np.uint8)
    pixels[noise_rows:, :, 0] = np.linspace(0, 255, side, dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, mode="RGBA").save(out, format="PNG")
    return out.getvalue()


def jpeg_max(max_pixels: int, max_bytes: int) -> bytes:
    side = _side(max_pixels)
    noise = np.random.default_rng(2).integers(0, 256, (side, side, 3), dtype=np.uint8)
    best = b""
    for quality in (100, 98, 95, 92, 90, 85, 80, 75, 70, 60, 50):
        out = io.BytesIO()
        Image.fromarray(noise).save(out, format="JPEG", quality=quality)
        if out.tell() <= max_bytes:
            best = out.getvalue()
            break
    return best


def webp_rgba_max(max_pixels: int, max_bytes: int) -> bytes:
    side = _side(_settings_value("SELFIE_MAX_PIXELS_WEBP"))
    rng = np.random.default_rng(3)
    pixels = np.zeros((side, side, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    noise_rows = min(side, int(max_bytes * 0.9 / (side * 4)))
    pixels[:noise_rows] = rng.integers(0, 256, (noise_rows, side, 4), dtype=np.uint8)
    pixels[noise_rows:, :, 1] = np.linspace(0, 255, side, dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, mode="RGBA").save(out, format="WEBP", lossless=True, method=0)
    return out.getvalue()


def png_blank_6000(max_pixels: int, max_bytes: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (6000, 6000), 255).save(out, format="PNG", optimize=True)
    return out.getvalue()


CASES = {
    "png_rgba_max": png_rgba_max,
    "jpeg_max": jpeg_max,
    "webp_rgba_max": webp_rgba_max,
    "png_blank_6000": png_blank_6000,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _proc_status(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _post(session: requests.Session, base: str, files: list[tuple[str, bytes, str]], email: str):
    page = session.get(f"{base}/request/", timeout=60).text
    form_key = re.search(r'name="form_key" value="([^"]*)"', page)
    data = {
        "csrfmiddlewaretoken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1),
        "form_key": form_key.group(1) if form_key else "",
        "kind": "access",
        "email": email,
        "identifiers": "",
        "country": "",
    }
    upload = [("selfies", (name, content, kind)) for name, content, kind in files]
    return session.post(f"{base}/request/", data=data, files=upload, allow_redirects=False, timeout=600)


def case_run(name: str, content: bytes, kind: str) -> dict:
    var_dir = tempfile.mkdtemp(prefix="selfie-post-")
    env = dict(os.environ, VAR_DIR=var_dir, DJANGO_SETTINGS_MODULE="portal.settings", LOG_LEVEL="WARNING")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, cwd=ROOT, check=True)
    port = _free_port()
    server = subprocess.Popen(
        [*manage, "runserver", "--noreload", "--nothreading", f"127.0.0.1:{port}"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(f"{base}/", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        session = requests.Session()
        warm = _post(session, base, [("face.jpg", FACE.read_bytes(), "image/jpeg")], "warm@example.org")
        assert warm.status_code == 302, f"warm-up post answered {warm.status_code}"
        Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # peak RSS := current RSS
        before = _proc_status(server.pid)["VmRSS"]
        cpu_before = _cpu_seconds(server.pid)
        files = [(f"{name}-{i}.{kind.split('/')[1]}", content, kind) for i in range(3)]
        response = _post(session, base, files, f"{name.replace('_', '-')}@example.org")
        cpu = _cpu_seconds(server.pid) - cpu_before
        peak = _proc_status(server.pid)["VmHWM"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    with sqlite3.connect(Path(var_dir) / "facerights.sqlite3") as db:
        stored = db.execute("select count(*) from rights_selfie").fetchone()[0] - 1  # minus the warm-up's
    # The sentence next to the photo field (its element's text, tags stripped).
    found = re.search(r'id="id_selfies-error"[^>]*>(.*?)</ul>', response.text, re.S)
    refused = (
        [" ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split()).removeprefix("Error: ")] if found else []
    )
    return {
        "case": name,
        "file_bytes": len(content),
        "files": 3,
        "status": response.status_code,
        "selfies_stored": stored,
        "refusal": refused[0].strip() if refused else "",
        "rss_before_bytes": before,
        "rss_added_bytes": peak - before,
        "cpu_s": round(cpu, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "selfie_post.json"))
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="default: every case")
    args = parser.parse_args()
    max_pixels, max_bytes = _settings_value("SELFIE_MAX_PIXELS"), _settings_value("IMAGE_MAX_BYTES")
    results = []
    for name in args.case or list(CASES):
        content = CASES[name](max_pixels, max_bytes)
        kind = {b"\xff\xd8": "image/jpeg", b"RI": "image/webp"}.get(content[:2], "image/png")
        result = case_run(name, content, kind)
        results.append(result)
        if not args.json:
            print(
                f"{name}: 3 x {result['file_bytes'] / 1e6:.1f} MB -> HTTP {result['status']}, "
                f"{result['selfies_stored']} selfies stored, RSS +{result['rss_added_bytes'] / 1e6:.0f} MB, "
                f"CPU {result['cpu_s']:.2f} s"
            )
    summary = {
        "selfie_max_pixels": max_pixels,
        "image_max_bytes": max_bytes,
        "targets": {"rss_added_bytes": TARGET_ADDED_BYTES, "cpu_s": TARGET_CPU_S},
        "cases": results,
        "worst_rss_added_bytes": max(r["rss_added_bytes"] for r in results),
        "worst_cpu_s": max(r["cpu_s"] for r in results),
        "cpu_count": os.cpu_count(),
    }
    summary["within_targets"] = (
        summary["worst_rss_added_bytes"] <= TARGET_ADDED_BYTES and summary["worst_cpu_s"] <= TARGET_CPU_S
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary) if args.json else f"written to {args.out}")


if __name__ == "__main__":
    main()
