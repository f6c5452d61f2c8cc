#!/usr/bin/env bash
# Provides Debian's chromium for the console's browser tests (test/browser/) and
# prints its path on the last line of stdout. Quick and idempotent when present;
# otherwise installs the Debian package (needs root and Debian's package mirrors).
# Playwright's own browser downloads are never used: they cannot be reached here.
# Progress goes to stderr; only the resolved path goes to stdout.
set -euo pipefail

CHROMIUM="${CHROMIUM_BIN:-/usr/bin/chromium}"
say() { echo "[install-chromium] $*" >&2; }

report() {
  local version
  version="$("$CHROMIUM" --version 2>/dev/null | head -n1)" || {
    say "ERROR: $CHROMIUM exists but does not run ($CHROMIUM --version failed)."
    say "Reinstall it: apt-get install --reinstall chromium"
    return 1
  }
  say "using $CHROMIUM ($version)"
  echo "$CHROMIUM"
}

if [[ -x "$CHROMIUM" ]]; then
  report
  exit 0
fi

if [[ -n "${CHROMIUM_BIN:-}" ]]; then
  say "ERROR: CHROMIUM_BIN=$CHROMIUM_BIN is not an executable file. Unset it or point it at a chromium binary."
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  say "ERROR: $CHROMIUM is missing and apt-get is not available (not a Debian-based system)."
  say "Install Chromium with your package manager and set CHROMIUM_BIN to its path."
  exit 1
fi

sudo_cmd=()
if [[ "$(id -u)" != "0" ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo -n)
  else
    say "ERROR: $CHROMIUM is missing and installing it needs root (apt-get install chromium)."
    exit 1
  fi
fi

start=$(date +%s)
say "installing Debian's chromium package (apt-get)…"
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo_cmd[@]}" apt-get update -q >&2; then
  say "ERROR: apt-get update failed: check that Debian's package mirrors are reachable."
  exit 1
fi
if ! "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends chromium >&2; then
  say "ERROR: apt-get install chromium failed (see above)."
  exit 1
fi
if [[ ! -x "$CHROMIUM" ]]; then
  say "ERROR: the chromium package installed, but $CHROMIUM is not there."
  exit 1
fi
say "installed in $(($(date +%s) - start))s"
report
