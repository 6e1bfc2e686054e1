#!/usr/bin/env bash
# Runs one kassa loadgen scenario against a fresh release `kassa serve` and prints, besides the
# load generator's own table, the server's CPU seconds and peak memory for the run.
#
#   scripts/bench.sh sqlite checkout --concurrency 64 --duration 30s
#   scripts/bench.sh postgres flash-sale --units 2000 --buyers 10000 --concurrency 256
#
# The first argument picks the backend: `sqlite` (a fresh data directory) or `postgres` (a fresh
# database on $BENCH_PG, default postgres://postgres@127.0.0.1:5432). Everything after the
# scenario goes to `kassa loadgen` unchanged. Build first: `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."

backend="$1"; shift
bin=./target/release/kassa
port="${BENCH_PORT:-18090}"
work="$(mktemp -d)"
export KASSA__SERVER__PORT="$port"
export KASSA__IDENTITY__JWT_SECRET="bench-secret-bench-secret-bench-secret-bench-secret-0123456789"
export KASSA__LOG__LEVEL="${KASSA__LOG__LEVEL:-warn}"
export KASSA__DATABASE__DATA_DIR="$work/data"
pg_db=""
if [ "$backend" = postgres ]; then
  pg_base="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
  pg_db="kassa_bench_$$"
  psql "$pg_base/postgres" -qc "CREATE DATABASE $pg_db"
  export KASSA__DATABASE__URL="$pg_base/$pg_db"
fi

cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  [ -n "$pg_db" ] && psql "$pg_base/postgres" -qc "DROP DATABASE IF EXISTS $pg_db" || true
  rm -rf "$work"
}
trap cleanup EXIT

password='Plum-Kettle-Harbour-47'
KASSA_STAFF_PASSWORD="$password" "$bin" staff create --role owner --email owner@example.com >/dev/null
"$bin" serve > "$work/kassa.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks)
started=$(date +%s.%N)
KASSA_LOADGEN_STAFF_EMAIL=owner@example.com KASSA_LOADGEN_STAFF_PASSWORD="$password" \
  "$bin" loadgen "$@" --url "http://127.0.0.1:$port" || status=$?
after=$(ticks)
ended=$(date +%s.%N)
peak_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
echo "server: $(echo "scale=2; ($after - $before) / $hz" | bc) CPU seconds over $(echo "$ended - $started" | bc | cut -c1-6) s wall (setup included), peak RSS $((peak_kib / 1024)) MiB"
exit "${status:-0}"
