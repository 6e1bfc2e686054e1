#!/usr/bin/env bash
# Runs one kassa loadgen scenario against N release `kassa serve` processes on one fresh
# PostgreSQL database (the load generator spreads its workers over them round-robin) and prints,
# besides the load generator's table, the servers' CPU seconds and peak memory.
#
#   scripts/bench-nodes.sh 3 flash-sale --units 1000 --buyers 5000 --concurrency 256
#   scripts/bench-nodes.sh 1 checkout --concurrency 64 --duration 30s
#
# PostgreSQL at $BENCH_PG (default postgres://postgres@127.0.0.1:5432). Everything after the
# scenario goes to `kassa loadgen` unchanged. Build first: `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."

nodes="$1"; shift
bin=./target/release/kassa
first_port="${BENCH_PORT:-18090}"
work="$(mktemp -d)"
pg_base="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
pg_db="kassa_bench_$$"
psql "$pg_base/postgres" -qc "CREATE DATABASE $pg_db"
export KASSA__DATABASE__URL="$pg_base/$pg_db"
export KASSA__DATABASE__DATA_DIR="$work/data"
export KASSA__IDENTITY__JWT_SECRET="bench-secret-bench-secret-bench-secret-bench-secret-0123456789"
export KASSA__LOG__LEVEL="${KASSA__LOG__LEVEL:-warn}"

servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$pg_base/postgres" -qc "DROP DATABASE IF EXISTS $pg_db" || true
  rm -rf "$work"
}
trap cleanup EXIT

password='Plum-Kettle-Harbour-47'
"$bin" migrate >/dev/null
KASSA_STAFF_PASSWORD="$password" "$bin" staff create --role owner --email owner@example.com >/dev/null
urls=()
for i in $(seq 0 $((nodes - 1))); do
  port=$((first_port + i))
  KASSA__SERVER__PORT="$port" "$bin" serve > "$work/kassa-$i.log" 2>&1 &
  servers+=("$!")
  urls+=(--url "http://127.0.0.1:$port")
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done

ticks() {
  local total=0
  for pid in "${servers[@]}"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)
before=$(ticks)
started=$(date +%s.%N)
KASSA_LOADGEN_STAFF_EMAIL=owner@example.com KASSA_LOADGEN_STAFF_PASSWORD="$password" \
  "$bin" loadgen "$@" "${urls[@]}" || status=$?
after=$(ticks)
ended=$(date +%s.%N)
peaks=""
for pid in "${servers[@]}"; do
  peaks="$peaks $(( $(awk '/VmHWM/ {print $2}' "/proc/$pid/status") / 1024 ))"
done
echo "servers ($nodes): $(echo "scale=2; ($after - $before) / $hz" | bc) CPU seconds over $(echo "$ended - $started" | bc | cut -c1-6) s wall (setup included), peak RSS per node (MiB):$peaks"
exit "${status:-0}"
