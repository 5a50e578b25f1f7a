#!/usr/bin/env bash
# Dashboard benchmark (issue #5): GET /api/v1/stats/overview with 64 concurrent connections,
# measured by wrk (Debian's, installed when missing) against the release binary serving a
# database with data: requests per second and latency percentiles (p99). Also times the first
# (uncached) answer after a change and the dashboard API of the whole.
#
#   scripts/bench-dashboard.sh                  # demo at SCALE (default full) into a temp SQLite file
#   SCALE=5% scripts/bench-dashboard.sh
#   DATABASE=./bangfu.db scripts/bench-dashboard.sh          # an existing database, unchanged
#   DATABASE=postgres://postgres@127.0.0.1:5432/bangfu_demo scripts/bench-dashboard.sh
#   DURATION=30s CONNECTIONS=64 THREADS=2 PORT=18080 ...
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-full}
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PORT=${PORT:-18080}
TARGET=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

for tool in wrk curl; do
  command -v "$tool" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk curl >/dev/null; break; }
done
cargo build --release -p bangfu >&2
bin="$TARGET/release/bangfu"

db=${DATABASE:-}
if [ -z "$db" ]; then
  db="$work/bench.db"
  echo "== bangfu demo --scale $SCALE into $db" >&2
  start=$(date +%s.%N)
  "$bin" --database "$db" demo --scale "$SCALE" >&2
  echo "demo generated in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s" >&2
fi

base="http://127.0.0.1:$PORT"
BANGFU_LOG=warn "$bin" --database "$db" serve --addr "127.0.0.1:$PORT" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf "$base/healthz" >/dev/null || { cat "$work/server.log" >&2; echo "server did not start" >&2; exit 1; }

url="$base/api/v1/stats/overview"
# The first answer computes the figures from the summary tables; later ones are kept until a
# record changes (stats_version).
first=$(curl -s -o "$work/overview.json" -w '%{time_total}' "$url")
second=$(curl -s -o /dev/null -w '%{time_total}' "$url")
dash=$(curl -s -o /dev/null -w '%{time_total}' "$base/api/v1/stats/dashboard")
xj=$(curl -s -o /dev/null -w '%{time_total}' "$url?region=6531&since=2014")
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" | tee "$work/wrk.txt" >&2
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
errors=$(grep -E 'Non-2xx|Socket errors' "$work/wrk.txt" || true)
size=$(du -h "$db" 2>/dev/null | cut -f1 || echo "-")

cat <<EOF

### Dashboard: GET /api/v1/stats/overview ($(date +%Y-%m-%d), $(nproc) cores)

Database: \`${DATABASE:-demo --scale $SCALE}\` (${size}); projects $(grep -o '"projects":[0-9]*' "$work/overview.json" | head -1 | cut -d: -f2), people out of poverty $(grep -o '"people_out_of_poverty":[0-9]*' "$work/overview.json" | head -1 | cut -d: -f2).

| measure | value |
|---|---|
| wrk -t$THREADS -c$CONNECTIONS -d$DURATION: requests/s | $rps |
| latency p50 / p99 | $p50 / $p99 |
| first answer after a change (computed from the summaries) | ${first} s |
| a kept answer (one curl) | ${second} s |
| \`?region=6531&since=2014\`, first answer | ${xj} s |
| \`/api/v1/stats/dashboard\` (whole, with its children), first answer | ${dash} s |
${errors:+| wrk errors | $errors |}
EOF
