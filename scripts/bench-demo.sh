#!/usr/bin/env bash
# Benchmark for issue #5: `bangfu demo` (full scale) from its start to a database ready to serve,
# on fresh SQLite files (RUNS times) and once on a fresh PostgreSQL database, with the command
# users run. Compilation is excluded (the release binary is built first). Prints a Markdown
# block for BENCHMARKS.md: wall time, peak RSS, database size.
#
#   scripts/bench-demo.sh                 # full scale, 3 SQLite runs, 1 PostgreSQL run
#   SCALE=10% RUNS=1 scripts/bench-demo.sh
#
# Environment: SCALE (default full), RUNS (default 3), PG_URL (default
# postgres://postgres@127.0.0.1:5432; none skips PostgreSQL), CARGO_TARGET_DIR.
set -euo pipefail
SCALE=${SCALE:-full}
RUNS=${RUNS:-3}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET_DIR/release/bangfu
[ -x /usr/bin/time ] || { SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo; $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
(cd "$REPO" && cargo build --release --locked -p bangfu >&2)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "## Demo scenario load (issue #5)"
echo
echo "- date: $(date -u)"
echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GB RAM"
echo "- commit: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet || echo ' plus working tree')"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- command: \`bangfu --database DB demo --scale $SCALE\` (schema + region list + demo, one transaction)"
echo
echo "| engine | run | wall s | peak RSS MB | database size MB |"
echo "|---|---:|---:|---:|---:|"
for i in $(seq 1 "$RUNS"); do
  db="$WORK/demo-$i.db"
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$BIN" --database "$db" demo --scale "$SCALE" > "$WORK/out-$i" 2>/dev/null
  read -r secs kb < "$WORK/time"
  size=$(( $(stat -c %s "$db") / 1048576 ))
  echo "| SQLite | $i | $secs | $((kb / 1024)) | $size |"
  rm -f "$db" "$db-wal" "$db-shm"
done
if [ "$PG_URL" != none ]; then
  name="bench_demo_$$"
  psql "$PG_URL/postgres" -qc "CREATE DATABASE $name" >/dev/null
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$BIN" --database "$PG_URL/$name" demo --scale "$SCALE" > "$WORK/out-pg" 2>/dev/null
  read -r secs kb < "$WORK/time"
  size=$(( $(psql "$PG_URL/$name" -qAtc "SELECT pg_database_size('$name')") / 1048576 ))
  echo "| PostgreSQL | 1 | $secs | $((kb / 1024)) | $size |"
  psql "$PG_URL/postgres" -qc "DROP DATABASE $name WITH (FORCE)" >/dev/null
fi
echo
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo 'Output of the last SQLite run:'
echo
echo '```'
grep -v '^$' "$WORK/out-$RUNS" | sed 's/密码 .*/密码 (omitted)/'
echo '```'
