#!/usr/bin/env bash
# Builds nostr-rs-relay (pinned, from crates.io) into .tools/nostr-rs-relay/bin for the
# stock-relay tests (test/integration/stockRelay.test.ts: the ingest against a relay
# that is not ours), and prints the binary's path on the last line of stdout.
# Quick and quiet when the pinned build is already there. Progress goes to stderr.
#
# Why nostr-rs-relay and not strfry: strfry is C++, published neither on crates.io nor
# as a Debian package, and nothing else can be fetched here; nostr-rs-relay is a crate.
#
# The crate's own Cargo.lock pins time 0.3.25, which no longer compiles on Rust >= 1.80.
# scripts/stock-relay/nostr-rs-relay-<version>.Cargo.lock is that lock file with exactly
# `cargo update -p time@0.3.25 --precise 0.3.36` applied (time, time-core, time-macros,
# deranged, serde, serde_derive moved; num-conv, powerfmt added), and the build is --locked
# to it. The compiled crates are kept in $SATMACHINE_CARGO_TARGET (default
# ~/.cache/satmachine/cargo-target) so that a rebuild on the same machine (a fresh clone,
# CI) takes seconds to a minute instead of a cold 15-30 minutes.
#
# Needs: cargo (rustup), a C compiler (rusqlite builds its bundled SQLite) and protoc
# (the build compiles a .proto file; Debian's protobuf-compiler, installed here with
# apt-get when missing and we are root).
set -euo pipefail

VERSION="0.8.12"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.tools/nostr-rs-relay"
bin="$prefix/bin/nostr-rs-relay"
lock="$root/scripts/stock-relay/nostr-rs-relay-$VERSION.Cargo.lock"
cache="${SATMACHINE_CACHE_DIR:-$HOME/.cache/satmachine}"
target="${SATMACHINE_CARGO_TARGET:-$cache/cargo-target}"
say() { echo "[install-stock-relay] $*" >&2; }

stamp="nostr-rs-relay==$VERSION $(cksum <"$lock" | cut -d' ' -f1)"
marker="$prefix/.satmachine-installed"

if [[ -x "$bin" && -f "$marker" && "$(cat "$marker")" == "$stamp" ]]; then
  say "using nostr-rs-relay $VERSION at $bin"
  echo "$bin"
  exit 0
fi

cargo="$(command -v cargo || true)"
[[ -n "$cargo" ]] || { [[ -x "$HOME/.cargo/bin/cargo" ]] && cargo="$HOME/.cargo/bin/cargo"; }
if [[ -z "$cargo" ]]; then
  say "ERROR: cargo is not installed: install Rust (rustup, or Debian's cargo) and run this again."
  exit 1
fi
if ! command -v cc >/dev/null 2>&1; then
  say "ERROR: no C compiler (cc): on Debian, apt-get install build-essential."
  exit 1
fi

if ! command -v protoc >/dev/null 2>&1; then
  if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null 2>&1; then
    say "ERROR: protoc is missing: install Debian's protobuf-compiler (or set PROTOC) and run this again."
    exit 1
  fi
  say "installing Debian's protobuf-compiler (apt-get)…"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends protobuf-compiler >&2; then
    apt-get update -q >&2 || true
    apt-get install -y -q --no-install-recommends protobuf-compiler >&2 || {
      say "ERROR: apt-get install protobuf-compiler failed (see above)."
      exit 1
    }
  fi
fi

start=$(date +%s)
src="$cache/src/nostr-rs-relay-$VERSION"
if [[ ! -f "$src/.satmachine-extracted" ]]; then
  # The crate's source, fetched by cargo from crates.io (checksum checked against the
  # index): a throw-away manifest depending on it, resolved from the pinned lock file.
  say "fetching nostr-rs-relay $VERSION and its dependencies from crates.io…"
  fetch="$(mktemp -d)"
  trap 'rm -rf "$fetch"' EXIT
  mkdir -p "$fetch/src"
  : >"$fetch/src/lib.rs"
  cat >"$fetch/Cargo.toml" <<TOML
[package]
name = "satmachine-fetch-stock-relay"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
nostr-rs-relay = "=$VERSION"
TOML
  cp "$lock" "$fetch/Cargo.lock"
  if ! (cd "$fetch" && "$cargo" fetch -q >&2); then
    say "ERROR: cargo could not fetch nostr-rs-relay $VERSION (is crates.io reachable?)"
    exit 1
  fi
  crate="$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/nostr-rs-relay-"$VERSION".crate 2>/dev/null | head -n1)"
  if [[ -z "$crate" ]]; then
    say "ERROR: cargo fetched, but nostr-rs-relay-$VERSION.crate is not in cargo's registry cache."
    exit 1
  fi
  rm -rf "$src"
  mkdir -p "$cache/src"
  tar xzf "$crate" -C "$cache/src"
  touch "$src/.satmachine-extracted"
fi
cp "$lock" "$src/Cargo.lock"

say "building nostr-rs-relay $VERSION (target dir $target; a cold build takes 15-30 minutes on 2 cores)…"
mkdir -p "$prefix"
if ! CARGO_TARGET_DIR="$target" "$cargo" install --path "$src" --locked --force \
  --root "$prefix" --bin nostr-rs-relay >&2; then
  say "ERROR: cargo could not build nostr-rs-relay $VERSION (see above)."
  exit 1
fi
rm -f "$prefix/.crates.toml" "$prefix/.crates2.json"
if [[ ! -x "$bin" ]]; then
  say "ERROR: the build finished, but $bin is not there."
  exit 1
fi
echo "$stamp" >"$marker"
say "built nostr-rs-relay $VERSION in $(($(date +%s) - start))s"
say "using nostr-rs-relay $VERSION at $bin"
echo "$bin"
