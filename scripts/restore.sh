#!/usr/bin/env bash
# Restores a dump made by scripts/backup.sh into an EMPTY database (docs/deploy.md,
# "Backups and restore"). It refuses a database that already has tables: restore into
# a new database, check it, then point DATABASE_URL at it.
#
#   createdb -O satmachine satmachine_restored
#   scripts/restore.sh /var/backups/satmachine/satmachine-20261206T030000Z.dump \
#     postgres://satmachine:…@127.0.0.1:5432/satmachine_restored
#
#   PG_BIN_DIR   directory of pg_restore / psql (default: from PATH)
#
# One transaction: on any error nothing is restored. The services need the same
# SATMACHINE_SECRET_KEY as when the dump was taken to open the stored secrets.
set -euo pipefail

die() {
  echo "restore.sh: $*" >&2
  exit 1
}

[[ $# -eq 2 ]] || die "usage: restore.sh <dump file> <target database URL>"
dump="$1"
target="$2"
[[ -f "$dump" ]] || die "$dump: no such file"
bin="${PG_BIN_DIR:+${PG_BIN_DIR%/}/}"
pg_restore="${bin}pg_restore"
psql="${bin}psql"
command -v "$pg_restore" >/dev/null || die "$pg_restore not found: install PostgreSQL's client programs or set PG_BIN_DIR"
command -v "$psql" >/dev/null || die "$psql not found: install PostgreSQL's client programs or set PG_BIN_DIR"

"$pg_restore" --list "$dump" >/dev/null || die "$dump is not a pg_dump custom-format archive (or needs a newer pg_restore)"
tables="$("$psql" --no-password --no-psqlrc -XAtq --dbname="$target" -c \
  "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")" ||
  die "cannot connect to the target database; create it first (createdb) and check the URL"
[[ "$tables" == "0" ]] ||
  die "the target database has $tables tables: restore into a new, empty database (createdb), then switch DATABASE_URL to it"

"$pg_restore" --no-password --no-owner --no-privileges --exit-on-error --single-transaction \
  --dbname="$target" "$dump"
echo "restore.sh: restored $dump" >&2
