#!/usr/bin/env bash
# Builds the real Temporal server for `TEMPORAL_MODE=server` (and the suite's real-server
# part) from the Go module proxy, once, into .tools/temporal-server/<version>/:
#   temporal-server     go.temporal.io/server/cmd/server        (frontend, history, matching, worker)
#   temporal-sql-tool   go.temporal.io/server/cmd/tools/sql     (creates and upgrades the SQL schemas)
#   temporal-ui-server  github.com/temporalio/ui-server/v2/cmd/server (the Web UI, assets embedded)
#   schema/             the server's PostgreSQL schema files (from the module)
# Prints the directory on the last line of stdout; progress goes to stderr.
# Needs Go (any 1.21+: it fetches the toolchain the server's go.mod asks for, GOTOOLCHAIN below).
# Cold: ~6–10 min on 2 cores (module downloads + compile). Warm (Go caches kept): ~1 min.
# Already built: instant.
set -euo pipefail

SERVER_VERSION="v1.32.2"       # go.temporal.io/server
UI_SERVER_VERSION="v2.56.4"    # github.com/temporalio/ui-server/v2: the newest whose go.temporal.io/api (v1.63.5, as the server's) the proxy serves; v2.58 needs api v1.64.0, which it refuses
GO_TOOLCHAIN="go1.27.3"        # the server's go.mod needs Go >= 1.26.10

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.tools/temporal-server/$SERVER_VERSION"
say() { echo "[install-temporal-server] $*" >&2; }

if [[ -x "$dest/temporal-server" && -x "$dest/temporal-sql-tool" && -x "$dest/temporal-ui-server" \
  && -d "$dest/schema/postgresql" ]]; then
  echo "$dest"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  say "ERROR: Go is not installed, and TEMPORAL_MODE=server builds the Temporal server from the Go module proxy."
  say "Install Go (apt-get install golang, or https://go.dev/dl), or use TEMPORAL_MODE=dev (the default)."
  exit 1
fi

start=$(date +%s)
rm -rf "$dest.partial"
mkdir -p "$dest.partial"
export GOTOOLCHAIN="$GO_TOOLCHAIN"
# both main packages are named `server`: each goes to a GOBIN of its own, then is renamed
build() { # <module path>@<version> <binary name>
  local tmp="$dest.partial/.bin-$2"
  GOBIN="$tmp" go install -trimpath "$1" >&2
  mv "$tmp/$(basename "${1%@*}")" "$dest.partial/$2"
  rm -rf "$tmp"
}
say "building Temporal server $SERVER_VERSION and its SQL tool with $GO_TOOLCHAIN (first time: several minutes)…"
build "go.temporal.io/server/cmd/server@$SERVER_VERSION" temporal-server
build "go.temporal.io/server/cmd/tools/sql@$SERVER_VERSION" temporal-sql-tool
say "building the Temporal UI server $UI_SERVER_VERSION…"
build "github.com/temporalio/ui-server/v2/cmd/server@$UI_SERVER_VERSION" temporal-ui-server

modcache="$(go env GOMODCACHE)"
schema="$modcache/go.temporal.io/server@$SERVER_VERSION/schema"
if [[ ! -d "$schema/postgresql" ]]; then
  say "ERROR: the schema files are missing from the Go module cache ($schema)"; exit 1
fi
mkdir -p "$dest.partial/schema"
cp -R "$schema/postgresql" "$dest.partial/schema/"
chmod -R u+w "$dest.partial/schema"
rm -rf "$dest"
mv "$dest.partial" "$dest"
say "built in $(( $(date +%s) - start ))s into $dest"
echo "$dest"
