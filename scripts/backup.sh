#!/usr/bin/env bash
# Backs up one PostgreSQL database (pg_dump, custom format) into BACKUP_DIR as
# <name>-<UTC timestamp>.dump and deletes that name's dumps older than
# BACKUP_RETENTION_DAYS. Run it from cron or a systemd timer (docs/deploy.md,
# "Backups and restore").
#
#   DATABASE_URL=postgres://… BACKUP_DIR=/var/backups/satmachine scripts/backup.sh
#
#   DATABASE_URL           the database to dump (required)
#   BACKUP_DIR             where dumps go (default /var/backups/satmachine; created, mode 700)
#   BACKUP_RETENTION_DAYS  dumps of this name older than this many days are deleted after a
#                          successful dump (default 14; at least 1)
#   BACKUP_NAME            file name prefix (default: the database's name), e.g. to back up
#                          Temporal's databases `temporal` and `temporal_visibility` beside ours
#   PG_BIN_DIR             directory of pg_dump / pg_restore (default: from PATH); pg_dump must
#                          be of the server's major version or newer
#
# The dump holds what the database holds: stored secrets (LNbits keys, …) only sealed
# with SATMACHINE_SECRET_KEY, never the key itself. This script never reads the key:
# keep it apart from the dumps (docs/deploy.md, "The secret key").
# Prints the path of the new dump on stdout; exits non-zero, leaving no dump, on failure.
set -euo pipefail
umask 077

die() {
  echo "backup.sh: $*" >&2
  exit 1
}

[[ -n "${DATABASE_URL:-}" ]] || die "DATABASE_URL is not set: the database to back up, e.g. postgres://satmachine:…@127.0.0.1:5432/satmachine"
dir="${BACKUP_DIR:-/var/backups/satmachine}"
days="${BACKUP_RETENTION_DAYS:-14}"
[[ "$days" =~ ^[0-9]+$ && "$days" -ge 1 ]] || die "BACKUP_RETENTION_DAYS must be a whole number of days, at least 1 (got \"$days\")"
bin="${PG_BIN_DIR:+${PG_BIN_DIR%/}/}"
pg_dump="${bin}pg_dump"
pg_restore="${bin}pg_restore"
command -v "$pg_dump" >/dev/null || die "$pg_dump not found: install PostgreSQL's client programs or set PG_BIN_DIR"

name="${BACKUP_NAME:-}"
if [[ -z "$name" ]]; then
  # the database name: the URL's path without query
  name="${DATABASE_URL##*/}"
  name="${name%%\?*}"
fi
[[ "$name" =~ ^[A-Za-z0-9_.-]+$ ]] || die "BACKUP_NAME must be letters, digits, '_', '.', '-' (got \"$name\")"

mkdir -p "$dir"
chmod 700 "$dir"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$dir/$name-$stamp.dump"
[[ ! -e "$out" ]] || die "$out exists already (two backups in the same second?); try again"
partial="$out.partial"
trap 'rm -f "$partial"' EXIT

if ! "$pg_dump" --format=custom --compress=6 --no-password --file="$partial" --dbname="$DATABASE_URL" 2>"$partial.err"; then
  err="$(cat "$partial.err")"
  rm -f "$partial.err"
  hint=""
  [[ "$err" == *"version mismatch"* ]] &&
    hint=" — use a pg_dump of the server's major version or newer (set PG_BIN_DIR, e.g. /usr/lib/postgresql/<N>/bin)"
  die "pg_dump failed: $err$hint"
fi
rm -f "$partial.err"
# the archive must be readable before it counts (and before older ones are deleted)
if command -v "$pg_restore" >/dev/null; then
  "$pg_restore" --list "$partial" >/dev/null || die "the dump $partial does not read back; nothing kept"
fi
mv "$partial" "$out"
trap - EXIT

# retention: only this name's dumps, only after a good one
find "$dir" -maxdepth 1 -type f -name "$name-*.dump" -mtime "+$((days - 1))" ! -path "$out" -print -delete |
  sed 's/^/backup.sh: deleted (older than '"$days"' days) /' >&2
echo "$out"
