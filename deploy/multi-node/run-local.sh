#!/usr/bin/env bash
# Three EBRCS nodes, one NATS server (JetStream) and one PostgreSQL (the catalog of record) on
# this machine: the multi-node example without containers (deploy/multi-node/README.md).
#
#   bash deploy/multi-node/run-local.sh          # Ctrl-C stops them all
#
# n1, n2, n3 serve on http://127.0.0.1:8081, :8082, :8083 (PORT_BASE=8080 + 1, 2, 3); NATS on
# 127.0.0.1:4222 (NATS_PORT; monitoring on NATS_PORT + 4000); PostgreSQL on 127.0.0.1:5433
# (PG_PORT), a cluster of its own in var/multi-node/pg (initdb at the first run; as the user
# postgres when run as root), database "ebrcs". Each node has its own working directory under
# var/multi-node/nN (its replica of the catalog, uploads and events queue), with the
# repository's configs/ and models/ linked in, and its log in var/multi-node/nN/log. The admin
# token (all three) is in var/multi-node/admin-token.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=${EBRCS_BIN:-$ROOT/build/ebrcs}
WORK=${EBRCS_MULTI_DIR:-$ROOT/var/multi-node}
NATS_PORT=${NATS_PORT:-4222}
PORT_BASE=${PORT_BASE:-8080}   # node i serves on PORT_BASE+i
NATS=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
PG_PORT=${PG_PORT:-5433}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

[ -x "$BIN" ] || make build models
[ -x "$NATS" ] || { echo "nats-server not found: run scripts/install-deps.sh" >&2; exit 1; }
[ -x "$PG_BIN/initdb" ] || { echo "PostgreSQL not found: run scripts/install-deps.sh" >&2; exit 1; }
mkdir -p "$WORK/nats"
if [ ! -s "$WORK/admin-token" ]; then
	(umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/admin-token")
fi
export EBRCS_ADMIN_TOKEN=$(cat "$WORK/admin-token")
export EBRCS_EVENTS_URL=nats://127.0.0.1:$NATS_PORT
export EBRCS_CATALOG_URL=postgres://postgres@127.0.0.1:$PG_PORT/ebrcs?sslmode=disable

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait; }
trap cleanup EXIT INT TERM

"$NATS" -js -sd "$WORK/nats" -a 127.0.0.1 -p "$NATS_PORT" -m "$((NATS_PORT + 4000))" -n ebrcs-nats >"$WORK/nats/log" 2>&1 &
pids+=($!)

# PostgreSQL refuses to run as root: then its cluster is the postgres user's.
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi
if [ ! -s "$WORK/pg/data/PG_VERSION" ]; then
	mkdir -p "$WORK/pg"
	if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$WORK/pg"; fi
	"${as_pg[@]}" "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres -A trust -E UTF8 --locale=C >"$WORK/pg/initdb.log"
fi
"${as_pg[@]}" "$PG_BIN/postgres" -D "$WORK/pg/data" -p "$PG_PORT" -k "$WORK/pg" -c listen_addresses=127.0.0.1 >"$WORK/pg/log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.2; done
"$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'ebrcs'" | grep -q 1 ||
	"$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE ebrcs"
for i in 1 2 3; do
	dir=$WORK/n$i
	mkdir -p "$dir/var"
	ln -sfn "$ROOT/configs" "$dir/configs"
	ln -sfn "$ROOT/models" "$dir/models"
	(cd "$dir" && EBRCS_NODE_NAME=n$i EBRCS_ADDR=127.0.0.1:$((PORT_BASE + i)) exec "$BIN" serve) >"$dir/log" 2>&1 &
	pids+=($!)
done
for i in 1 2 3; do
	for _ in $(seq 300); do
		curl -fsS -o /dev/null "http://127.0.0.1:$((PORT_BASE + i))/readyz" 2>/dev/null && break
		sleep 0.2
	done
done
cat <<INFO
Three nodes on one NATS server and one PostgreSQL catalog ($EBRCS_CATALOG_URL):
  n1 http://127.0.0.1:$((PORT_BASE + 1))/   n2 http://127.0.0.1:$((PORT_BASE + 2))/   n3 http://127.0.0.1:$((PORT_BASE + 3))/
  the nodes, their load and stations:  curl -s http://127.0.0.1:$((PORT_BASE + 1))/api/nodes
  every event as it happens:           $BIN events tail --events-url $EBRCS_EVENTS_URL
  the catalog of record:               $PG_BIN/psql -h 127.0.0.1 -p $PG_PORT -U postgres ebrcs
  logs: $WORK/n*/log, admin token: $WORK/admin-token
Ctrl-C stops them all.
INFO
wait -n "${pids[@]}"
