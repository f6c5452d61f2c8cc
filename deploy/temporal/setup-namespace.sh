#!/bin/sh
# One-shot, once the Temporal server answers: the namespace (7-day retention) and the
# search attributes the settlement workflow sets (src/contract.ts SEARCH_ATTRIBUTES,
# all Keyword). Run by the `temporal-setup` service of deploy/compose.yml and
# temporal-dev.yml in the temporalio/admin-tools image. Idempotent.
# Environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE (default `default`).
set -eu
NS="${TEMPORAL_NAMESPACE:-default}"

i=0
until temporal operator cluster health >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 90 ]; then
    echo "temporal-setup: the Temporal server at ${TEMPORAL_ADDRESS} is not healthy; see its logs" >&2
    exit 1
  fi
  sleep 2
done

if ! temporal operator namespace describe --namespace "$NS" >/dev/null 2>&1; then
  temporal operator namespace create --namespace "$NS" --retention 168h
fi

# a new namespace reaches every service within seconds: retry until the attributes are listed
for name in SettlementStatus MachineId OperatorId TxType; do
  i=0
  until temporal operator search-attribute list --namespace "$NS" 2>/dev/null | grep -qw "$name"; do
    temporal operator search-attribute create --namespace "$NS" --name "$name" --type Keyword >/dev/null 2>&1 || true
    i=$((i + 1))
    if [ "$i" -ge 60 ]; then
      echo "temporal-setup: search attribute $name could not be created on namespace $NS" >&2
      exit 1
    fi
    sleep 1
  done
done
echo "temporal-setup: namespace $NS with SettlementStatus MachineId OperatorId TxType"
