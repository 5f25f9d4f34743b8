# Sourced by scripts/run and scripts/test: a virtualenv in .venv with the pinned requirements.
# Reinstalls only when the requirements file changed.
bootstrap_venv() {
  local requirements="$1"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --upgrade pip
  fi
  local stamp=".venv/.installed-$(basename "$requirements")"
  local digest
  digest=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    .venv/bin/pip install --quiet -r "$requirements"
    echo "$digest" > "$stamp"
  fi
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "error: '$*' needs root (or sudo)" >&2; return 1; fi
}

# Debian's Chromium for the browser tests: Playwright drives it and never downloads a browser.
ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    echo "Installing Debian's chromium for the browser tests..."
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
}

# GNU gettext for the catalogue test (tests/portal/test_catalogues.py runs makemessages).
ensure_gettext() {
  if ! command -v xgettext >/dev/null; then
    echo "Installing gettext for the catalogue test..."
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null
  fi
}
