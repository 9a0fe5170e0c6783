#!/usr/bin/env bash
# Starts a throw-away PostgreSQL cluster for the tests: a fresh data directory in $PG_DIR,
# listening on 127.0.0.1:$PG_PORT only, password (SCRAM) authentication, run by an
# unprivileged user (PostgreSQL refuses to run as root). TLS is on, with a server certificate
# for "localhost" issued by a throw-away CA ($PG_DIR/ca.pem), so that the tests can check
# sslmode=verify-full; plain connections are accepted too. Writes the superuser's connection
# URL to $PG_DIR/url. Stop it with stop-postgres.sh.
set -euo pipefail
: "${PG_DIR:?set PG_DIR to a new directory for the cluster}"
PG_PORT="${PG_PORT:-54329}"

bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$bin/initdb" ] || { echo "start-postgres: no PostgreSQL server found (apt-get install postgresql)" >&2; exit 1; }

# As root, the cluster belongs to the 'postgres' user that Debian's package creates.
run_as=()
if [ "$(id -u)" = 0 ]; then run_as=(runuser -u postgres --); fi

mkdir -p "$PG_DIR"
password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
printf '%s\n' "$password" >"$PG_DIR/password"
chmod 700 "$PG_DIR"
chmod 600 "$PG_DIR/password"
# The CA signs the server certificate; only "localhost" is in it (not 127.0.0.1), so that a
# test can tell verify-ca (any name) from verify-full.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=imghash test CA" \
  -keyout "$PG_DIR/ca.key" -out "$PG_DIR/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$PG_DIR/server.key" -out "$PG_DIR/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' >"$PG_DIR/server.ext"
openssl x509 -req -in "$PG_DIR/server.csr" -CA "$PG_DIR/ca.pem" -CAkey "$PG_DIR/ca.key" \
  -CAcreateserial -days 2 -extfile "$PG_DIR/server.ext" -out "$PG_DIR/server.crt" 2>/dev/null
chmod 600 "$PG_DIR/server.key" "$PG_DIR/ca.key"
[ ${#run_as[@]} -eq 0 ] || chown -R postgres: "$PG_DIR"

"${run_as[@]}" "$bin/initdb" -D "$PG_DIR/data" -U imghash --auth=scram-sha-256 \
  --pwfile="$PG_DIR/password" -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log"
"${run_as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
  -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories='$PG_DIR' -c max_connections=300 -c fsync=off -c ssl=on -c ssl_cert_file='$PG_DIR/server.crt' -c ssl_key_file='$PG_DIR/server.key'" >/dev/null

printf 'postgres://imghash:%s@127.0.0.1:%s/postgres\n' "$password" "$PG_PORT" >"$PG_DIR/url"
echo "postgres: up on 127.0.0.1:$PG_PORT (URL in $PG_DIR/url)"
