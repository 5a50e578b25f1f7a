#!/usr/bin/env bash
# Crash trials (issue 19): SIGKILLs `bangfu` at a random moment during each kind of write, on
# SQLite and on PostgreSQL (there the client is killed; the shared server is never touched), and
# checks after every trial:
#   - the database's integrity (SQLite: PRAGMA integrity_check; PostgreSQL: amcheck on every
#     B-tree index, when the extension is there),
#   - `bangfu ledger verify` (the next start: it also marks an abandoned run interrupted),
#   - `bangfu stats check` (the summaries equal a recomputation),
#   - the interrupted work is wholly there or wholly absent: the row counts it touches equal
#     either those before it or those of an uninterrupted run of the same command,
#   - no assessment run is left `running`, and a killed run is `interrupted` or `done`.
# Prints a summary table; exits non-zero on any failure.
#
#   scripts/crash-trials.sh                 # 3 trials per kind and engine (CI)
#   TRIALS=50 scripts/crash-trials.sh       # by hand
#   ENGINES=sqlite KINDS="assess demo" scripts/crash-trials.sh
#
# Uses the debug binary (target/debug/bangfu, built when missing). PostgreSQL at PG_URL (user with
# CREATE DATABASE); the script's databases are named bangfu_crash_<pid>_* and dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${TRIALS:-3}
ENGINES=${ENGINES:-sqlite postgres}
KINDS=${KINDS:-registry incomes projects transactions append assess demo rebuild}
ROWS=${ROWS:-4000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
bin=${BANGFU_BIN:-${CARGO_TARGET_DIR:-target}/debug/bangfu}
[ -x "$bin" ] || cargo build -p bangfu >&2
bin=$(realpath "$bin")
command -v python3 >/dev/null || { echo "FAIL: python3 is needed" >&2; exit 1; }
work=$(mktemp -d)
prefix="bangfu_crash_$$"
server=""

cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
  if [[ " $ENGINES " == *" postgres "* ]]; then
    psql "$PG_URL/test" -qAt -c "SELECT datname FROM pg_database WHERE datname LIKE '${prefix}%'" 2>/dev/null |
      while read -r name; do
        psql "$PG_URL/test" -qc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 || true
      done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- the two engines behind one set of functions ---------------------------------------------
# A database is named by a short name; target NAME gives what `bangfu --database` takes.
target() {
  case $engine in
    sqlite) echo "$work/$1.db" ;;
    postgres) echo "$PG_URL/${prefix}_$1" ;;
  esac
}

# The rows of a query (both engines' SQL), columns separated by |.
sql() {
  case $engine in
    sqlite) python3 - "$(target "$1")" "$2" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=60)
for row in c.execute(sys.argv[2]).fetchall():
    print("|".join("" if v is None else str(v) for v in row))
EOF
    ;;
    postgres) psql "$(target "$1")" -qAt -v ON_ERROR_STOP=1 -c "$2" ;;
  esac
}

# A new database NAME, empty or a copy of FROM.
make_db() {
  local name=$1 from=${2:-}
  case $engine in
    sqlite)
      rm -f "$work/$name.db" "$work/$name.db-wal" "$work/$name.db-shm"
      if [ -n "$from" ]; then
        cp "$work/$from.db" "$work/$name.db"
        if [ -f "$work/$from.db-wal" ]; then cp "$work/$from.db-wal" "$work/$name.db-wal"; fi
      fi
      ;;
    postgres)
      psql "$PG_URL/test" -qc "DROP DATABASE IF EXISTS ${prefix}_$name WITH (FORCE)" >/dev/null
      if [ -n "$from" ]; then
        psql "$PG_URL/test" -qc "CREATE DATABASE ${prefix}_$name TEMPLATE ${prefix}_$from" >/dev/null
      else
        psql "$PG_URL/test" -qc "CREATE DATABASE ${prefix}_$name" >/dev/null
      fi
      ;;
  esac
}

drop_db() {
  case $engine in
    sqlite) rm -f "$work/$1.db" "$work/$1.db-wal" "$work/$1.db-shm" ;;
    postgres) psql "$PG_URL/test" -qc "DROP DATABASE IF EXISTS ${prefix}_$1 WITH (FORCE)" >/dev/null ;;
  esac
}

# On PostgreSQL a killed client's backend may still finish its statement: wait until the server
# has let go of every session of the database, as after any client crash.
settle() {
  [ "$engine" = postgres ] || return 0
  for _ in $(seq 600); do
    n=$(psql "$PG_URL/test" -qAt -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '${prefix}_$1'")
    [ "$n" = 0 ] && return 0
    sleep 0.1
  done
  fail "$1: PostgreSQL sessions still open 60 s after the client was killed"
}

integrity() {
  case $engine in
    sqlite) [ "$(sql "$1" "PRAGMA integrity_check")" = ok ] ;;
    postgres)
      if psql "$(target "$1")" -qc "CREATE EXTENSION IF NOT EXISTS amcheck" >/dev/null 2>&1; then
        psql "$(target "$1")" -qAt -v ON_ERROR_STOP=1 -c "SELECT count(bt_index_check(c.oid))
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
          JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE a.amname = 'btree' AND n.nspname = current_schema()" >/dev/null 2>&1
      fi
      ;;
  esac
}

bangfu() { local db=$1; shift; "$bin" --database "$(target "$db")" "$@"; }

# --- what each kind runs, and the rows it touches ---------------------------------------------
counts_sql() {
  local c
  case $1 in
    registry) c="households members household_status_history import_batches audit_log" ;;
    incomes) c="household_incomes import_batches audit_log" ;;
    projects) c="projects project_locations project_organisations audit_log" ;;
    transactions | append) c="ledger_entries audit_log" ;;
    assess) c="exit_decisions village_results county_results monitoring_cases audit_log" ;;
    demo) c="organisations pairings households members projects ledger_entries import_batches" ;;
    rebuild) c="stats_household_members stats_invested stats_projects stats_funds" ;;
  esac
  local parts=()
  for t in $c; do parts+=("(SELECT count(*) FROM $t)"); done
  local IFS=,
  echo "SELECT ${parts[*]}"
}

# The database a kind starts from, and its command.
start_of() { case $1 in demo) echo empty ;; *) echo base ;; esac; }
command_of() {
  case $1 in
    registry) echo "import households $work/members-b.csv" ;;
    incomes) echo "import incomes $work/incomes-a.csv" ;;
    projects) echo "import projects $work/projects.csv" ;;
    transactions) echo "import transactions $work/transactions.csv" ;;
    assess) echo "assess --year 2020" ;;
    demo) echo "demo --scale 1%" ;;
    rebuild) echo "stats rebuild" ;;
  esac
}

# --- the ledger append over the API: the server is killed between and during requests ----------
append_loop() { # DB TOKEN VOUCHER_PREFIX OUT_FILE
  local base=$1 token=$2 voucher=$3 out=$4 n=0 code
  echo 0 >"$out"
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/api/v1/transactions" \
      -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "$(sed "s/@VOUCHER@/$voucher-$n/" "$work/append.json")" || true)
    [ "$code" = 201 ] || break
    n=$((n + 1))
    echo "$n" >"$out"
  done
}

start_server() { # DB -> sets $server and $base
  local db=$1
  "$bin" --database "$(target "$db")" serve --addr 127.0.0.1:0 >"$work/server.log" 2>&1 &
  server=$!
  base=""
  for _ in $(seq 600); do
    base=$(grep -o 'http://[0-9.:]*' "$work/server.log" | head -1 || true)
    [ -n "$base" ] && return 0
    kill -0 "$server" 2>/dev/null || fail "server did not start: $(cat "$work/server.log")"
    sleep 0.1
  done
  fail "server did not announce its address"
}

# --- one trial ----------------------------------------------------------------------------------
# Outcome: "absent" (killed before its commit), "whole" (killed after), "finished" (it ended
# before the kill), or a failure reason.
trial() { # KIND N DELAY
  local kind=$1 n=$2 delay=$3 db="t_${1}_$2" before after outcome="" acked
  make_db "$db" "$(start_of "$kind")"
  before=$(sql "$db" "$(counts_sql "$kind")")
  if [ "$kind" = append ]; then
    start_server "$db"
    append_loop "$base" "$token" "CRASH-$n" "$work/acked" &
    local loop=$!
    sleep "$delay"
    kill -9 "$server"
    wait "$server" 2>/dev/null || true
    server=""
    wait "$loop" 2>/dev/null || true
    settle "$db"
    acked=$(cat "$work/acked")
    after=$(sql "$db" "$(counts_sql "$kind")")
    local b a
    b=${before%%|*}
    a=${after%%|*}
    # Each append is one transaction: every acknowledged one is there, plus at most the one
    # in flight when the server died.
    if [ $((a - b)) = "$acked" ]; then outcome="whole:$acked"
    elif [ $((a - b)) = $((acked + 1)) ]; then outcome="whole:$acked+1"
    else outcome="PARTIAL: $acked acknowledged, $((a - b)) entries added"; fi
  else
    # shellcheck disable=SC2046
    "$bin" --database "$(target "$db")" $(command_of "$kind") >"$work/run.log" 2>&1 &
    local pid=$!
    sleep "$delay"
    if kill -9 "$pid" 2>/dev/null; then killed=1; else killed=0; fi
    wait "$pid" 2>/dev/null || true
    settle "$db"
    after=$(sql "$db" "$(counts_sql "$kind")")
    if [ "$after" = "$before" ]; then outcome=absent
    elif [ "$after" = "${complete[$kind]}" ]; then outcome=whole
    else outcome="PARTIAL: before $before, after $after, complete ${complete[$kind]}"; fi
    if [ $killed = 0 ] && [ "${outcome:0:7}" != PARTIAL ]; then outcome=finished; fi
  fi
  if ! integrity "$db"; then outcome="INTEGRITY: $outcome"; fi
  if ! bangfu "$db" ledger verify >"$work/verify.log" 2>&1; then
    outcome="LEDGER: $(tail -1 "$work/verify.log") ($outcome)"
  fi
  if ! bangfu "$db" stats check >"$work/check.log" 2>&1; then
    outcome="STATS: $(tail -1 "$work/check.log") ($outcome)"
  fi
  local running
  running=$(sql "$db" "SELECT count(*) FROM assessment_runs WHERE status = 'running'")
  [ "$running" = 0 ] || outcome="RUNNING: $running run(s) left running after the next start ($outcome)"
  if [ "$kind" = assess ] && [ "$outcome" = absent ]; then
    local marked
    marked=$(sql "$db" "SELECT count(*) FROM assessment_runs WHERE status = 'interrupted'")
    [ "$marked" -le 1 ] || outcome="RUNS: $marked interrupted runs"
    if [ "$marked" = 1 ]; then outcome="absent (run marked interrupted)"; fi
  fi
  drop_db "$db"
  echo "$outcome"
}

# The files the imports read, made once from the first engine's base: registry files of two
# counties outside the demo's (so that their people clash with none), one with incomes; projects
# and commitments like the demo's first, under new codes and vouchers.
make_files() {
  local county
  for county in 110101 110102; do
    { echo "code,name,areaCode"
      sql base "SELECT code, name FROM regions WHERE level = 5 AND code LIKE '$county%' ORDER BY code" |
        awk -F'|' -v c="$county" '{print $1 "," $2 "," c}'; } >"$work/villages-$county.csv"
  done
  python3 scripts/gen-members.py "$ROWS" 110101 "$work/villages-110101.csv" "$work/members-a.csv" "$work/incomes-a.csv" >/dev/null
  python3 scripts/gen-members.py "$ROWS" 110102 "$work/villages-110102.csv" "$work/members-b.csv" >/dev/null
  bangfu base export projects "$work/exported-projects.csv" >/dev/null
  bangfu base export transactions "$work/exported-transactions.csv" >/dev/null
  python3 - "$work" "$ROWS" <<'EOF'
import csv, sys
work, rows = sys.argv[1], int(sys.argv[2])
# Projects: the first exported project again under new codes.
with open(f"{work}/exported-projects.csv", encoding="utf-8-sig") as f:
    r = list(csv.reader(f))
header, first = r[0], r[1]
code = header.index("项目编号")
with open(f"{work}/projects.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(header)
    for i in range(rows // 30):
        row = list(first)
        row[code] = f"CRASH-{i:06d}"
        w.writerow(row)
# Transactions: the first commitment again under new vouchers, in the import's columns.
with open(f"{work}/exported-transactions.csv", encoding="utf-8-sig") as f:
    d = list(csv.DictReader(f))
cols = ["交易类型", "金额（元）", "记账日期", "付款方", "收款方", "资金来源", "项目编号", "凭证号", "摘要"]
commit = next(x for x in d if x["交易类型"] == "承诺")
with open(f"{work}/transactions.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(cols)
    for i in range(rows // 10):
        row = {**commit, "凭证号": f"CRASH-T-{i:06d}", "摘要": "崩溃试验"}
        w.writerow([row[c] for c in cols])
EOF
}

# --- setup per engine: an empty database, a base (1% demo + one county's registry), files -----
setup() {
  log "$engine: setting up (1% demo, $ROWS registry rows)"
  make_db empty
  bangfu empty migrate >/dev/null 2>&1 || fail "$engine: migrate failed"
  make_db base empty
  bangfu base demo --scale 1% >/dev/null 2>"$work/setup.log" || fail "$engine: demo: $(tail -3 "$work/setup.log")"
  [ -f "$work/members-a.csv" ] || make_files
  bangfu base import households "$work/members-a.csv" >/dev/null 2>"$work/setup.log" || fail "$engine: registry: $(tail -3 "$work/setup.log")"
  # The ledger append's request body: a commitment like the base's first one.
  local row
  row=$(sql base "SELECT tx_type, amount, value_date, provider_id, receiver_id, fund_source, project_id
                  FROM ledger_entries WHERE tx_type = 'commitment' ORDER BY id LIMIT 1")
  IFS='|' read -r ty amount date provider receiver source project <<<"$row"
  printf '{"type":"%s","amount":%s,"value_date":"%s","provider_id":%s,"receiver_id":%s,"fund_source":"%s","project_id":%s,"voucher_no":"@VOUCHER@","memo":"崩溃试验"}' \
    "$ty" 1 "$date" "$provider" "$receiver" "$source" "$project" >"$work/append.json"
  bangfu base user add crash-admin --role admin >/dev/null 2>&1
  token=$(bangfu base token create --user crash-admin 2>/dev/null | tail -1)
  [ -n "$token" ] || fail "$engine: no API token"
  settle base
}

# Each kind once without a kill: how long it takes (the kills fall within that time) and the
# counts of a whole run.
calibrate() {
  local kind=$1 db="c_$1" start end
  make_db "$db" "$(start_of "$kind")"
  start=$(date +%s.%N)
  if [ "$kind" = append ]; then
    duration[$kind]=3
  else
    # shellcheck disable=SC2046
    bangfu "$db" $(command_of "$kind") >"$work/run.log" 2>&1 || fail "$engine $kind: $(tail -3 "$work/run.log")"
    end=$(date +%s.%N)
    duration[$kind]=$(python3 -c "print(round($end - $start, 3))")
    complete[$kind]=$(sql "$db" "$(counts_sql "$kind")")
    if [ "$kind" != rebuild ] && [ "$(sql "$(start_of "$kind")" "$(counts_sql "$kind")")" = "${complete[$kind]}" ]; then
      fail "$engine $kind: the command changed nothing, the trial would prove nothing"
    fi
  fi
  drop_db "$db"
}

declare -A complete duration
# The engines run side by side (each is mostly waiting on its database), each writing its rows of
# the summary and its failures into the work directory.
run_engine() {
  engine=$1
  local top=$work
  work="$top/$engine" # its databases, files and logs
  mkdir -p "$work"
  if [ "$engine" = postgres ]; then
    psql "$PG_URL/test" -qAtc 'SELECT 1' >/dev/null 2>&1 || fail "PostgreSQL is not reachable at $PG_URL"
  fi
  setup
  local kind n delay outcome failed=0
  for kind in $KINDS; do
    calibrate "$kind"
    declare -A tally=()
    for n in $(seq "$TRIALS"); do
      delay=$(python3 -c "import random; print(round(random.uniform(0.02, 0.98) * ${duration[$kind]}, 3))")
      outcome=$(trial "$kind" "$n" "$delay")
      log "$engine $kind #$n killed at ${delay}s of ${duration[$kind]}s: $outcome"
      case $outcome in
        absent* | whole* | finished) tally[${outcome%%[ :]*}]=$(( ${tally[${outcome%%[ :]*}]:-0} + 1 )) ;;
        *) tally[failed]=$(( ${tally[failed]:-0} + 1 )); failed=$((failed + 1)) ;;
      esac
    done
    printf '%-9s %-13s %6s %8s %7s %7s %9s %7s\n' "$engine" "$kind" "$TRIALS" "${duration[$kind]}" \
      "${tally[absent]:-0}" "${tally[whole]:-0}" "${tally[finished]:-0}" "${tally[failed]:-0}" >>"$top/summary-$engine"
    unset tally
  done
  drop_db base
  drop_db empty
  echo "$failed" >"$top/failed-$engine"
}

export PGOPTIONS="-c client_min_messages=warning"
started=$(date +%s)
pids=()
for engine in $ENGINES; do
  run_engine "$engine" &
  pids+=($!)
done
failures=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { echo "FAIL: the $(echo $ENGINES | cut -d' ' -f$((i + 1))) trials stopped" >&2; failures=$((failures + 1)); }
done
for engine in $ENGINES; do
  failures=$((failures + $(cat "$work/failed-$engine" 2>/dev/null || echo 1)))
done

echo
echo "Crash trials: $TRIALS per kind and engine, SIGKILL at a random moment ($(( $(date +%s) - started )) s)"
printf '%-9s %-13s %6s %8s %7s %7s %9s %7s\n' engine kind trials "run (s)" absent whole finished failed
for engine in $ENGINES; do cat "$work/summary-$engine" 2>/dev/null || true; done
if [ "$failures" != 0 ]; then
  echo "FAIL: $failures trial(s) left partial work, a broken ledger, wrong summaries or a run left running" >&2
  exit 1
fi
echo "0 partial writes, 0 integrity failures"
