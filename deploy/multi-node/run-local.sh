#!/usr/bin/env bash
# Three EBRCS nodes and one NATS server (JetStream) on this machine: the multi-node example
# without containers (deploy/multi-node/README.md).
#
#   bash deploy/multi-node/run-local.sh          # Ctrl-C stops them all
#
# n1, n2, n3 serve on http://127.0.0.1:8081, :8082, :8083 (PORT_BASE=8080 + 1, 2, 3); NATS on
# 127.0.0.1:4222 (NATS_PORT; monitoring on NATS_PORT + 4000). Each node has its own working directory under var/multi-node/nN (its catalog,
# uploads and events queue), with the repository's configs/ and models/ linked in, and its log
# in var/multi-node/nN/log. The admin token (all three) is in var/multi-node/admin-token.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=${EBRCS_BIN:-$ROOT/build/ebrcs}
WORK=${EBRCS_MULTI_DIR:-$ROOT/var/multi-node}
NATS_PORT=${NATS_PORT:-4222}
PORT_BASE=${PORT_BASE:-8080}   # node i serves on PORT_BASE+i
NATS=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}

[ -x "$BIN" ] || make build models
[ -x "$NATS" ] || { echo "nats-server not found: run scripts/install-deps.sh" >&2; exit 1; }
mkdir -p "$WORK/nats"
if [ ! -s "$WORK/admin-token" ]; then
	(umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/admin-token")
fi
export EBRCS_ADMIN_TOKEN=$(cat "$WORK/admin-token")
export EBRCS_EVENTS_URL=nats://127.0.0.1:$NATS_PORT

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait; }
trap cleanup EXIT INT TERM

"$NATS" -js -sd "$WORK/nats" -a 127.0.0.1 -p "$NATS_PORT" -m "$((NATS_PORT + 4000))" -n ebrcs-nats >"$WORK/nats/log" 2>&1 &
pids+=($!)
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
Three nodes on one NATS server:
  n1 http://127.0.0.1:$((PORT_BASE + 1))/   n2 http://127.0.0.1:$((PORT_BASE + 2))/   n3 http://127.0.0.1:$((PORT_BASE + 3))/
  the nodes, their load and stations:  curl -s http://127.0.0.1:$((PORT_BASE + 1))/api/nodes
  every event as it happens:           $BIN events tail --events-url $EBRCS_EVENTS_URL
  logs: $WORK/n*/log, admin token: $WORK/admin-token
Ctrl-C stops them all.
INFO
wait -n "${pids[@]}"
