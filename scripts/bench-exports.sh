#!/usr/bin/env bash
# Project export benchmark (issue #12): GET /api/v1/projects/export.csv, anonymous, on a demo
# database, timed with curl (RUNS runs, median), beside the database's own tool writing a CSV of
# a query with the same columns and sums in the same run: `sqlite3 -csv` on SQLite,
# `psql -c "\copy (SELECT …) TO …"` on PostgreSQL. Prints both and their ratio (target ≤ 2×).
#
#   scripts/bench-exports.sh                          # SQLite: full demo into a temp file
#   ENGINE=postgres scripts/bench-exports.sh          # PostgreSQL: full demo into database bench_exports
#   SCALE=5% RUNS=5 PORT=18081 scripts/bench-exports.sh
#   DATABASE=./bangfu.db scripts/bench-exports.sh     # an existing database (SQLite file or postgres:// URL)
#   PG_URL=postgres://postgres@127.0.0.1:5432 ENGINE=postgres ...
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINE=${ENGINE:-sqlite}
SCALE=${SCALE:-full}
RUNS=${RUNS:-3}
PORT=${PORT:-18081}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-bench_exports}
TARGET=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

for tool in /usr/bin/time sqlite3 psql curl; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq time sqlite3 postgresql-client curl >/dev/null; break; }
done
cargo build --release -p bangfu >&2
bin="$TARGET/release/bangfu"

db=${DATABASE:-}
if [ -z "$db" ]; then
  if [ "$ENGINE" = postgres ]; then
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB" >/dev/null
    db="$PG_URL/$PG_DB"
  else
    db="$work/bench.db"
  fi
  echo "== bangfu demo --scale $SCALE into $db" >&2
  start=$(date +%s.%N)
  "$bin" --database "$db" demo --scale "$SCALE" >/dev/null 2>"$work/demo.log" || { cat "$work/demo.log" >&2; exit 1; }
  echo "demo generated in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s" >&2
fi
case "$db" in postgres://*|postgresql://*) ENGINE=postgres ;; *) ENGINE=sqlite ;; esac

# The export's columns and sums in one query: project fields, locations with weights, roles
# with organisation names, beneficiary sums, committed / disbursed (not passed on) / spent and
# both progress ratios. The engine's own aggregate joins the lists.
# (SQLite before 3.44 has no ORDER BY inside an aggregate: it reads an ordered subquery.)
if [ "$ENGINE" = postgres ]; then
  agg=string_agg; loc_order=" ORDER BY position"; org_order=" ORDER BY po.role, po.organisation_id"
else
  agg=group_concat; loc_order=""; org_order=""
fi
query="WITH loc AS (SELECT project_id, $agg(CASE WHEN weight = 1 THEN CAST(region_key AS TEXT) ELSE region_key || ':' || weight END, '、'$loc_order) AS l
              FROM (SELECT * FROM project_locations ORDER BY project_id, position) pl GROUP BY project_id),
     org AS (SELECT po.project_id, $agg(po.role || ':' || o.name || '(' || o.id || ')', '；'$org_order) AS o
              FROM (SELECT * FROM project_organisations ORDER BY project_id, role, organisation_id) po JOIN organisations o ON o.id = po.organisation_id GROUP BY po.project_id),
     ben AS (SELECT project_id, SUM(households) AS h, SUM(people) AS n FROM project_beneficiaries GROUP BY project_id),
     m AS (SELECT project_id,
              SUM(CASE WHEN tx_type = 'commitment' THEN amount ELSE 0 END) AS c,
              SUM(CASE WHEN tx_type = 'disbursement' AND passes_on IS NULL THEN amount ELSE 0 END) AS d,
              SUM(CASE WHEN tx_type = 'incoming_funds' OR (tx_type = 'disbursement' AND passes_on IS NULL) THEN amount ELSE 0 END) AS r,
              SUM(CASE WHEN tx_type = 'expenditure' THEN amount ELSE 0 END) AS e
           FROM ledger_entries GROUP BY project_id)
SELECT p.code, p.name, p.theme, p.sub_type, p.livelihood, p.pairing_id, p.approved_on, p.start_date, p.end_date,
       p.status, p.status_date, p.budget / 100.0, loc.l, org.o, p.description, p.id, COALESCE(ben.h, 0), COALESCE(ben.n, 0),
       COALESCE(m.c, 0) / 100.0, COALESCE(m.d, 0) / 100.0, COALESCE(m.e, 0) / 100.0,
       CASE WHEN m.c > 0 THEN m.d * 10000 / m.c END, CASE WHEN m.r > 0 THEN m.e * 10000 / m.r END
FROM projects p LEFT JOIN loc ON loc.project_id = p.id LEFT JOIN org ON org.project_id = p.id
     LEFT JOIN ben ON ben.project_id = p.id LEFT JOIN m ON m.project_id = p.id
ORDER BY p.id"
query_oneline=$(echo "$query" | tr '\n' ' ')

base="http://127.0.0.1:$PORT"
BANGFU_LOG=warn "$bin" --database "$db" serve --addr "127.0.0.1:$PORT" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 150); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf "$base/healthz" >/dev/null || { cat "$work/server.log" >&2; echo "server did not start" >&2; exit 1; }

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ours=(); raw=()
for i in $(seq "$RUNS"); do
  t=$(curl -sf -o "$work/export.csv" -w '%{time_total}' "$base/api/v1/projects/export.csv")
  ours+=("$t")
  start=$(date +%s.%N)
  if [ "$ENGINE" = postgres ]; then
    psql "$db" -qc "\\copy ($query_oneline) TO '$work/raw.csv' WITH CSV HEADER" >/dev/null
  else
    sqlite3 -csv -header "$db" "$query_oneline" >"$work/raw.csv"
  fi
  raw+=("$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}')")
  echo "run $i: export ${t} s, raw ${raw[-1]} s" >&2
done
ours_med=$(printf '%s\n' "${ours[@]}" | median)
raw_med=$(printf '%s\n' "${raw[@]}" | median)
rows=$(($(wc -l <"$work/export.csv") - 1))
raw_rows=$(($(wc -l <"$work/raw.csv") - 1))
size=$(du -h "$work/export.csv" | cut -f1)
ratio=$(awk -v a="$ours_med" -v b="$raw_med" 'BEGIN {printf "%.2f", a / b}')

cat <<EOF

### Project export: GET /api/v1/projects/export.csv ($ENGINE, $(date +%Y-%m-%d), $(nproc) cores)

Database: \`${DATABASE:-demo --scale $SCALE}\`; $rows projects exported ($size), the raw query wrote $raw_rows.
Median of $RUNS runs each, interleaved in the same run.

| measure | seconds |
|---|---|
| \`curl\` GET /api/v1/projects/export.csv (anonymous, streamed) | $ours_med |
| $([ "$ENGINE" = postgres ] && echo '`psql \copy (SELECT …) TO file`' || echo '`sqlite3 -csv` of the same query') | $raw_med |
| ratio | ${ratio}× |
EOF
