#!/usr/bin/env bash
# Drops the scratch databases the PostgreSQL test pass creates (gh_api_*, gh_store_*).
set -euo pipefail
url="${GATEHOUSE_TEST_DATABASE_URL:?set GATEHOUSE_TEST_DATABASE_URL}"
command -v psql >/dev/null || { echo "psql not installed; scratch databases left in place"; exit 0; }
for db in $(psql "$url" -Atc "select datname from pg_database where datname like 'gh\_api\_%' or datname like 'gh\_store\_%'"); do
  psql "$url" -qc "drop database if exists $db with (force)" >/dev/null
done
