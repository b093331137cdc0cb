#!/usr/bin/env bash
# Start a throwaway PostgreSQL on loopback for the test suite and print its URL.
# Usage: eval "$(bash .ci/start-postgres.sh)"  → exports CAREMATCH_TEST_POSTGRES_URL
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[[ -n "$PGBIN" ]] || { echo "echo 'PostgreSQL is not installed' >&2; false"; exit 1; }
PGDATA=${CAREMATCH_PGDATA:-/tmp/carematch-pg}
PGPORT=${CAREMATCH_PGPORT:-55432}
RUNAS=()
if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres
  RUNAS=(runuser -u postgres --)
fi
if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
  mkdir -p "$PGDATA"
  [[ ${#RUNAS[@]} -gt 0 ]] && chown postgres "$PGDATA"
  "${RUNAS[@]}" "$PGBIN/initdb" -D "$PGDATA" -U carematch --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi
if ! "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k /tmp -c fsync=off -c max_connections=200" start >/dev/null
fi
echo "export CAREMATCH_TEST_POSTGRES_URL=postgresql+psycopg://carematch@127.0.0.1:$PGPORT/postgres"
