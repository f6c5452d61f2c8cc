#!/bin/sh
# One-shot: the Temporal server's two databases on PostgreSQL, their base schema and
# every versioned upgrade (temporal-sql-tool skips those already applied). Run by the
# `temporal-schema` service of deploy/compose.yml and temporal-dev.yml in the
# temporalio/admin-tools image before the server starts, and again on every upgrade
# of the server image (then with the new image's schema directory).
# Environment: SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD (and SQL_PLUGIN, default postgres12;
# TEMPORAL_DBNAME, TEMPORAL_VISIBILITY_DBNAME: the databases, default temporal, temporal_visibility;
# TEMPORAL_SCHEMA_DIR: default the admin-tools image's /etc/temporal/schema/postgresql/v12).
set -eu
export SQL_PLUGIN="${SQL_PLUGIN:-postgres12}"
SCHEMA_ROOT="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"

# PostgreSQL may still be starting although its health check passed once (nc is in
# the admin-tools image; elsewhere, without nc, the first step fails instead of waiting)
if command -v nc >/dev/null 2>&1; then
  i=0
  until nc -z -w 5 "$SQL_HOST" "$SQL_PORT"; do
    i=$((i + 1))
    if [ "$i" -ge 60 ]; then
      echo "temporal-schema: PostgreSQL at ${SQL_HOST}:${SQL_PORT} does not answer; check the postgresql service" >&2
      exit 1
    fi
    sleep 2
  done
fi

for pair in "${TEMPORAL_DBNAME:-temporal}:temporal" "${TEMPORAL_VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  db="${pair%%:*}"
  dir="${pair##*:}"
  # create-database fails when the database exists; the set-up below must then succeed
  temporal-sql-tool --db "$db" create-database 2>/dev/null || echo "temporal-schema: database $db exists"
  # version 0.0 creates the schema_version table only; a no-op on a database set up before
  temporal-sql-tool --db "$db" setup-schema -v 0.0
  temporal-sql-tool --db "$db" update-schema -d "$SCHEMA_ROOT/$dir/versioned"
  echo "temporal-schema: $db is up to date"
done
