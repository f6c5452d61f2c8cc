#!/usr/bin/env bash
# Installs LNbits (pinned, from PyPI) into a virtualenv under .tools/lnbits-venv for
# the integration tests of the LNbits payment backend (test/integration/lnbits*.test.ts),
# and prints the virtualenv's path on the last line of stdout.
# Quick and quiet when the pinned version is already there. Progress goes to stderr.
#
# LNbits needs Python >= 3.10 and < 3.13: the first of $LNBITS_PYTHON, python3.12,
# python3.11, python3.10, python3 that fits is used.
#
# Every dependency is pinned too (the constraints below, a `pip freeze` of a working
# install): LNbits' own requirements are ranges, and a newer release of one of them
# can break it (bitstring 5 removed ConstBitStream, which LNbits' bolt11 imports).
set -euo pipefail

LNBITS_VERSION="1.6.2"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.tools/lnbits-venv"
say() { echo "[install-lnbits] $*" >&2; }

constraints="$(cat <<'EOF'
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
aiosqlite==0.22.1
annotated-doc==0.0.7
anyio==4.14.2
asn1crypto==1.5.1
asyncpg==0.31.0
attrs==26.1.0
base58==2.1.1
bcrypt==5.0.0
bech32==1.2.0
bip32==5.0.0
bitarray==3.12.3
bitstring==4.4.0
bolt11==2.1.1
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
click==8.3.3
coincurve==20.0.0
coincurve-cp314-fix==22.0.1
cryptography==50.0.2
Deprecated==1.3.1
dnspython==2.9.2
email-validator==2.4.0
embit==0.8.0
fastapi==0.116.2
fastapi-sso==0.19.0
filetype==1.2.0
frozenlist==1.8.0
greenlet==3.3.2
grpcio==1.76.0
h11==0.16.0
http_ece==1.2.1
httpcore==1.0.9
httpx==0.27.2
idna==3.20
itsdangerous==2.2.0
Jinja2==3.1.6
jsonpath-ng==1.7.0
limits==5.8.0
lnurl==0.10.4
loguru==0.7.3
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
multidict==7.2.1
nostr-sdk==0.44.8
oauthlib==4.0.1
packaging==25.0
pillow==12.3.0
ply==3.11
propcache==0.5.4
protobuf==6.33.6
py-vapid==1.9.6
pycparser==3.12
pycryptodomex==3.23.0
pydantic==1.10.27
Pygments==2.21.0
pyinstrument==5.1.3
PyJWT==2.12.1
pyln-bolt7==1.0.246
pyln-client==25.12
pyln-proto==26.6.9
pynostr==0.7.0
PyQRCode==1.2.1
PySocks==1.7.1
python-crontab==3.3.0
python-dotenv==1.2.4
python-multipart==0.0.34
pywebpush==2.2.1
random-username==1.0.2
requests==2.34.2
rich==15.0.0
shellingham==1.5.4
shortuuid==1.0.13
slowapi==0.1.10
sniffio==1.3.1
socksio==1.0.0
SQLAlchemy==1.4.54
sse-starlette==2.3.6
starlette==0.48.0
tlv8==0.10.0
tornado==6.6.1
typer==0.28.0
typing_extensions==4.15.0
urllib3==2.8.0
uvicorn==0.40.0
uvloop==0.22.1
wasmtime==50.0.1
websocket-client==1.9.2
websockets==15.0.1
wrapt==2.5.2
yarl==1.25.1
EOF
)"
stamp="lnbits==$LNBITS_VERSION $(printf '%s' "$constraints" | cksum | cut -d' ' -f1)"
marker="$venv/.satmachine-installed"

installed_version() {
  "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("lnbits"))' 2>/dev/null || true
}

if [[ -f "$marker" && "$(cat "$marker")" == "$stamp" && "$(installed_version)" == "$LNBITS_VERSION" ]]; then
  say "using LNbits $LNBITS_VERSION in $venv ($("$venv/bin/python" --version 2>&1))"
  echo "$venv"
  exit 0
fi

python=""
for candidate in "${LNBITS_PYTHON:-}" python3.12 python3.11 python3.10 python3; do
  [[ -n "$candidate" ]] || continue
  command -v "$candidate" >/dev/null 2>&1 || continue
  if "$candidate" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] < (3, 13) else 1)' 2>/dev/null; then
    python="$(command -v "$candidate")"
    break
  fi
done
if [[ -z "$python" ]]; then
  say "ERROR: LNbits $LNBITS_VERSION needs Python >= 3.10 and < 3.13; none found"
  say "  (tried \$LNBITS_PYTHON, python3.12, python3.11, python3.10, python3). Install one, or set LNBITS_PYTHON."
  exit 1
fi

start=$(date +%s)
say "installing lnbits==$LNBITS_VERSION from PyPI into $venv with $python ($("$python" --version 2>&1)); takes a minute or two"
rm -rf "$venv"
mkdir -p "$root/.tools"
if ! "$python" -m venv "$venv" >&2; then
  say "ERROR: $python cannot create a virtualenv (on Debian: apt-get install python3-venv)"
  exit 1
fi
cfile="$(mktemp)"
trap 'rm -f "$cfile"' EXIT
printf '%s\n' "$constraints" >"$cfile"
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
  -c "$cfile" "lnbits==$LNBITS_VERSION" >&2; then
  say "ERROR: pip could not install lnbits==$LNBITS_VERSION (is PyPI reachable?)"
  exit 1
fi
if [[ "$(installed_version)" != "$LNBITS_VERSION" ]] || ! "$venv/bin/python" -c 'import uvicorn, bolt11' >&2; then
  say "ERROR: lnbits==$LNBITS_VERSION installed but does not import"
  exit 1
fi
echo "$stamp" >"$marker"
say "installed LNbits $LNBITS_VERSION in $(($(date +%s) - start))s"
say "using LNbits $LNBITS_VERSION in $venv ($("$venv/bin/python" --version 2>&1))"
echo "$venv"
