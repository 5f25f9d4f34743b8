"""Every message marked in the code is in the committed catalogues, translated.

Django's makemessages (GNU gettext's xgettext; scripts/test installs it when it is missing) runs in
a temporary copy of the checkout, so it writes into a copy of locale/ and never into the committed
one; every message it extracts must then be in the committed catalogue of each of the four other
languages with a translation that is neither empty nor fuzzy. tests/portal/test_i18n.py checks the
translations themselves (placeholders, tags, .po against .mo).

A canary file with a message no catalogue holds is added to the copy: the check must name it, and
only it, so a check that finds nothing proves nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
LANGUAGES = ["fr", "zh_Hans", "zh_Hant", "ja"]
# Left out, as README's makemessages command leaves them out (and what git never holds).
NOT_SCANNED = {".git", ".venv", "var", "tests", "bench", ".ruff_cache", "node_modules", "__pycache__"}
CANARY = "A canary message that no catalogue holds (tests/portal/test_catalogues.py)"

Key = tuple[str | None, str, str]


def catalogue_path(root: Path, language: str) -> Path:
    return root / "locale" / language / "LC_MESSAGES" / "django.po"


def forms_of(entry: polib.POEntry) -> list[str]:
    if not entry.msgid_plural:
        return [entry.msgstr]
    return [entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural)] or [""]


def key_of(entry: polib.POEntry) -> Key:
    return (entry.msgctxt, entry.msgid, entry.msgid_plural or "")


def untranslated(*, extracted: polib.POFile, committed: polib.POFile) -> list[str]:
    """The extracted messages the committed catalogue lacks, or holds empty or fuzzy."""
    held = {key_of(e): e for e in committed if not e.obsolete}
    bad = []
    for entry in extracted:
        if entry.obsolete or not entry.msgid:
            continue
        found = held.get(key_of(entry))
        if found is None:
            bad.append(f"missing: {entry.msgid[:80]!r}")
        elif "fuzzy" in found.flags or not all(form.strip() for form in forms_of(found)):
            bad.append(f"empty or fuzzy: {entry.msgid[:80]!r}")
    return bad


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> Path:
    """A copy of the checkout after makemessages: its locale/ holds what the code marks today."""
    if shutil.which("xgettext") is None:
        pytest.fail("GNU gettext (xgettext) is not installed: scripts/test installs it (apt package gettext)")
    copy = tmp_path_factory.mktemp("catalogues") / "checkout"
    shutil.copytree(ROOT, copy, ignore=lambda _dir, names: [n for n in names if n in NOT_SCANNED])
    (copy / "portal" / "catalogue_canary.py").write_text(
        f"from django.utils.translation import gettext_noop\n\nCANARY = gettext_noop({CANARY!r})\n"
    )
    before = _digest(ROOT / "locale")
    env = {**os.environ, "VAR_DIR": str(copy / "var"), "DJANGO_SETTINGS_MODULE": "portal.settings"}
    env.pop("DATABASE_URL", None)  # makemessages needs no database
    languages = [arg for code in ["en", *LANGUAGES] for arg in ("-l", code)]
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", *languages, "--no-obsolete"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert _digest(ROOT / "locale") == before  # the committed catalogues were not touched
    return copy


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_message_is_translated_in_the_committed_catalogue(extracted, language):
    found = untranslated(
        extracted=polib.pofile(str(catalogue_path(extracted, language))),
        committed=polib.pofile(str(catalogue_path(ROOT, language))),
    )
    assert len(polib.pofile(str(catalogue_path(extracted, language)))) > 250  # the extraction found the code
    # The canary (marked only in the copy) is reported, and nothing else is.
    assert found == [f"missing: {CANARY[:80]!r}"], (
        "run makemessages and translate these (README, 'Languages'):\n" + "\n".join(found)
    )


def test_the_check_reports_an_empty_a_fuzzy_and_a_changed_plural_message():
    committed = polib.POFile()
    committed.append(polib.POEntry(msgid="Hello", msgstr=""))
    committed.append(polib.POEntry(msgid="Due soon", msgstr="Bientôt dû", flags=["fuzzy"]))
    plural = {"msgid": "%(n)s day", "msgid_plural": "%(n)s days"}
    committed.append(polib.POEntry(**plural, msgstr_plural={0: "%(n)s j", 1: "%(n)s j"}))
    committed.append(polib.POEntry(msgid="Fine", msgstr="Bien"))
    extracted = polib.POFile()
    for msgid in ("Hello", "Due soon", "Fine", "New"):
        extracted.append(polib.POEntry(msgid=msgid))
    extracted.append(polib.POEntry(msgid="%(n)s day", msgid_plural="%(n)s days in all"))
    assert untranslated(extracted=extracted, committed=committed) == [
        "empty or fuzzy: 'Hello'",
        "empty or fuzzy: 'Due soon'",
        "missing: 'New'",
        "missing: '%(n)s day'",
    ]
