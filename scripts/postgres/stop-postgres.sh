#!/usr/bin/env bash
# Stops the cluster start-postgres.sh started in $PG_DIR (fast shutdown), if it runs.
set -uo pipefail
: "${PG_DIR:?set PG_DIR to the directory of the cluster}"
[ -d "$PG_DIR/data" ] || exit 0
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
run_as=()
if [ "$(id -u)" = 0 ]; then run_as=(runuser -u postgres --); fi
"${run_as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
