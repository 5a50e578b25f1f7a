#!/usr/bin/env bash
# Issue 13's measured acceptance: `bangfu assess --year 2014` … `--year 2020` on the FULL demo,
# each run timed beside a bare SQL pass over the same rows in the same run of this script, and
# the figures per year. Prints a Markdown block ready to paste into BENCHMARKS.md.
#
#   scripts/bench-assess-demo.sh                      # a fresh full demo on SQLite (≈1.4 GB)
#   DB=/path/demo.db scripts/bench-assess-demo.sh     # an existing demo database (SQLite)
#   DB=postgres://postgres@127.0.0.1:5432/NAME scripts/bench-assess-demo.sh   # PostgreSQL
#                                                     # (created and loaded when empty)
#
# Environment:
#   YEARS             assessed years (default 2014 … 2020)
#   CARGO_TARGET_DIR  where cargo puts the release binary (default <repo>/target)
#   KEEP              a directory for the SQLite demo and the logs (default: a temporary one)
#   SKIP_BUILD=1      use the release binary as it is
#
# The bare SQL pass (sqlite3 / psql, one transaction, right after the run of the same year):
#   1. the run's sparse monitoring reads of the year (rigid expenses per household, shocks,
#      visits with a risk, open cases), as the run's own queries;
#   2. INSERT … SELECT into a scratch decisions table (the columns and key of exit_decisions)
#      of one row per registered household in the registry at the end of the year, read from
#      households ⋈ incomes of the year and the year before ⋈ the status at the end of the
#      year from household_status_history, as the run reads them, with the decision written
#      in SQL: may_exit, the failing keys and the same compact explanation JSON;
#   3. village and county incidence: GROUP BY over those decisions joined with the households,
#      with the latest rural population of the year or before, into a scratch results table;
#   4. the run's new monitoring cases copied into a scratch table, and the households' category
#      rewritten, as the run writes them.
# The scratch tables keep every pass's rows, as exit_decisions keeps every run's. After each
# pass the script checks that the SQL decisions equal the run's (may_exit and failing keys).
set -euo pipefail

YEARS=${YEARS:-"2014 2015 2016 2017 2018 2019 2020"}
REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET_DIR/release/bangfu

say() { echo "bench-assess-demo: $*" >&2; }

if [ -n "${KEEP:-}" ]; then WORK=$KEEP; mkdir -p "$WORK"; else WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-assess-demo.XXXXXX"); fi
DB=${DB:-$WORK/demo.db}
case "$DB" in postgres://* | postgresql://*) ENGINE=postgres ;; *) ENGINE=sqlite ;; esac

if [ -z "${SKIP_BUILD:-}" ]; then
    say "building the release binary"
    (cd "$REPO" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p bangfu --quiet)
fi

sql() {
    if [ $ENGINE = sqlite ]; then sqlite3 -bail "$DB" "$@"; else psql "$DB" -qAt -v ON_ERROR_STOP=1 -c "$@"; fi
}
# The bare pass's client, reading the SQL from stdin.
if [ $ENGINE = sqlite ]; then SQL_CLIENT=(sqlite3 -bail "$DB"); else SQL_CLIENT=(psql "$DB" -qAt -v ON_ERROR_STOP=1); fi

# Runs a command under /usr/bin/time; prints "seconds peak_kb" and keeps stdout in $WORK/cmd.out.
timed() {
    if ! /usr/bin/time -o "$WORK/t" -f '%e %M' "$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err"; then
        say "failed: $*"; cat "$WORK/cmd.out" "$WORK/cmd.err" >&2; exit 1
    fi
    tail -n 1 "$WORK/t"
}

if [ $ENGINE = postgres ]; then
    base=${DB%/*}; name=${DB##*/}
    if [ -z "$(psql "$base/postgres" -qAtc "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]; then
        psql "$base/postgres" -qAtc "CREATE DATABASE $name" >/dev/null
    fi
fi
"$BIN" --database "$DB" migrate >/dev/null 2>&1
if [ "$(sql "SELECT COUNT(*) FROM households")" = 0 ]; then
    say "loading the full demo into $DB"
    DEMO_TIME=$(BANGFU_LOG=warn timed "$BIN" --database "$DB" demo)
    say "demo: $DEMO_TIME (s, peak KB)"
else
    DEMO_TIME="(existing database)"
fi

if [ $ENGINE = sqlite ]; then
    JSON_OBJECT=json_object; JSON_ARRAY=json_array; BEGIN="BEGIN IMMEDIATE"
    sql "CREATE TABLE IF NOT EXISTS bench_decisions (run_id BIGINT NOT NULL, household_id BIGINT NOT NULL, year BIGINT NOT NULL,
           rule_version_id BIGINT NOT NULL, household_status TEXT NOT NULL, may_exit BOOLEAN NOT NULL, failing TEXT NOT NULL DEFAULT '',
           explanation_json TEXT NOT NULL, PRIMARY KEY (run_id, household_id)) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS bench_cases AS SELECT * FROM monitoring_cases WHERE 0;"
else
    JSON_OBJECT=json_build_object; JSON_ARRAY=json_build_array; BEGIN="BEGIN"
    sql "CREATE TABLE IF NOT EXISTS bench_decisions (run_id BIGINT NOT NULL, household_id BIGINT NOT NULL, year BIGINT NOT NULL,
           rule_version_id BIGINT NOT NULL, household_status TEXT NOT NULL, may_exit BOOLEAN NOT NULL, failing TEXT NOT NULL DEFAULT '',
           explanation_json TEXT NOT NULL, PRIMARY KEY (run_id, household_id));
         CREATE TABLE IF NOT EXISTS bench_cases AS SELECT * FROM monitoring_cases WHERE false;" >/dev/null
fi
sql "CREATE TABLE IF NOT EXISTS bench_area_results (run_id BIGINT NOT NULL, level TEXT NOT NULL, region_key BIGINT NOT NULL,
       households BIGINT NOT NULL, poor_households BIGINT NOT NULL, remaining BIGINT NOT NULL, rural_population BIGINT,
       PRIMARY KEY (run_id, level, region_key))" >/dev/null

# The bare pass of year $1 for run $2 (rule version $3, lines $4 and $5 in fen).
bare_sql() {
    local y=$1 run=$2 rv=$3 l0=$4 l1=$5 p=$(($1 - 1))
    local from="$y-01-01" until="$(($1 + 1))-01-01"
    local flag g="''" failing=""
    for c in food_secure:food clothing_secure:clothing education_secure:education medical_secure:medical housing_secure:housing safe_water:water; do
        flag=${c%%:*}
        g="$g || (CASE WHEN h.$flag THEN '1' WHEN NOT h.$flag THEN '0' ELSE '-' END)"
        failing="$failing || (CASE WHEN h.$flag THEN '' ELSE ',${c##*:}' END)"
    done
    cat <<SQL
$BEGIN;
SELECT COUNT(*), SUM(x) FROM (SELECT e.household_id, SUM(e.amount_fen - e.reimbursed_fen) AS x FROM rigid_expenses e JOIN households h ON h.id = e.household_id
  WHERE e.expense_date >= '$from' AND e.expense_date < '$until' GROUP BY e.household_id) t;
SELECT COUNT(*) FROM shocks s JOIN households h ON h.id = s.household_id WHERE s.shock_date >= '$from' AND s.shock_date < '$until';
SELECT COUNT(*) FROM visits v JOIN households h ON h.id = v.household_id WHERE v.visit_date >= '$from' AND v.visit_date < '$until' AND v.risks <> '';
SELECT COUNT(*) FROM monitoring_cases c JOIN households h ON h.id = c.household_id WHERE c.status = 'monitoring';
INSERT INTO bench_decisions (run_id, household_id, year, rule_version_id, household_status, may_exit, failing, explanation_json)
SELECT $run, x.id, $y, $rv, x.status, x.failing = '', x.failing,
       $JSON_OBJECT('y', $y, 'i', $JSON_ARRAY($JSON_ARRAY($y, x.pc0, $l0), $JSON_ARRAY($p, x.pc1, $l1)), 'g', x.g)
FROM (SELECT h.id,
             COALESCE((SELECT s.status FROM household_status_history s WHERE s.household_id = h.id AND s.year <= $y ORDER BY s.year DESC, s.id DESC LIMIT 1),
                      CASE WHEN h.identified_year <= $y AND NOT EXISTS (SELECT 1 FROM household_status_history s0 WHERE s0.household_id = h.id) THEN h.status END) AS status,
             i0.per_capita_fen AS pc0, i1.per_capita_fen AS pc1, $g AS g,
             SUBSTR((CASE WHEN i0.per_capita_fen > $l0 THEN '' ELSE ',income' END) || (CASE WHEN i1.per_capita_fen > $l1 THEN '' ELSE ',income_$p' END) $failing, 2) AS failing
      FROM households h
      LEFT JOIN household_incomes i0 ON i0.household_id = h.id AND i0.year = $y
      LEFT JOIN household_incomes i1 ON i1.household_id = h.id AND i1.year = $p
      WHERE (h.removed_year IS NULL OR h.removed_year > $y) AND h.status <> 'N') x
WHERE x.status IS NOT NULL;
INSERT INTO bench_area_results (run_id, level, region_key, households, poor_households, remaining, rural_population)
SELECT $run, 'village', g.area, g.n, g.poor, g.remaining,
       (SELECT rp.rural_population FROM region_population rp WHERE rp.region_key = g.area AND rp.year <= $y ORDER BY rp.year DESC LIMIT 1)
FROM (SELECT h.village_key AS area, COUNT(*) AS n, SUM(CASE WHEN d.household_status IN ('0', '3') THEN 1 ELSE 0 END) AS poor,
             SUM(CASE WHEN d.household_status IN ('0', '3') THEN h.member_count ELSE 0 END) AS remaining
      FROM bench_decisions d JOIN households h ON h.id = d.household_id WHERE d.run_id = $run GROUP BY h.village_key) g;
INSERT INTO bench_area_results (run_id, level, region_key, households, poor_households, remaining, rural_population)
SELECT $run, 'county', g.area, g.n, g.poor, g.remaining,
       (SELECT rp.rural_population FROM region_population rp WHERE rp.region_key = g.area AND rp.year <= $y ORDER BY rp.year DESC LIMIT 1)
FROM (SELECT h.county_key AS area, COUNT(*) AS n, SUM(CASE WHEN d.household_status IN ('0', '3') THEN 1 ELSE 0 END) AS poor,
             SUM(CASE WHEN d.household_status IN ('0', '3') THEN h.member_count ELSE 0 END) AS remaining
      FROM bench_decisions d JOIN households h ON h.id = d.household_id WHERE d.run_id = $run GROUP BY h.county_key) g;
INSERT INTO bench_cases SELECT * FROM monitoring_cases WHERE run_id = $run;
UPDATE households SET monitoring_type = monitoring_type WHERE id IN (SELECT household_id FROM monitoring_cases WHERE run_id = $run);
COMMIT;
SQL
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$WORK/rows"
for y in $YEARS; do
    say "assess --year $y"
    t_run=$(BANGFU_LOG=warn timed "$BIN" --database "$DB" assess --year "$y")
    cp "$WORK/cmd.out" "$WORK/assess-$y.out"
    run=$(sql "SELECT MAX(id) FROM assessment_runs")
    rv=$(sql "SELECT rule_version_id FROM assessment_runs WHERE id = $run")
    if [ $ENGINE = sqlite ]; then
        line() { sql "SELECT json_extract(rules_json, '\$.poverty_lines.\"$1\".value') FROM rule_versions WHERE id = $rv"; }
    else
        line() { sql "SELECT (rules_json::json -> 'poverty_lines' -> '$1' ->> 'value') FROM rule_versions WHERE id = $rv"; }
    fi
    # Lines are stored in yuan; decisions compare fen.
    l0=$(line "$y"); l1=$(line $((y - 1)))
    l0=${l0:+$((l0 * 100))}; l1=${l1:+$((l1 * 100))}
    bare_sql "$y" "$run" "$rv" "${l0:-NULL}" "${l1:-NULL}" >"$WORK/bare-$y.sql"
    say "bare SQL pass for $y (run $run)"
    t_bare=$(timed "${SQL_CLIENT[@]}" <"$WORK/bare-$y.sql")
    # The SQL decisions are the run's (else the comparison would be of different work).
    differ=$(sql "SELECT COUNT(*) FROM exit_decisions d JOIN bench_decisions b ON b.run_id = d.run_id AND b.household_id = d.household_id
                  WHERE d.run_id = $run AND (d.may_exit <> b.may_exit OR d.failing <> b.failing OR d.household_status <> b.household_status)")
    counted=$(sql "SELECT (SELECT COUNT(*) FROM exit_decisions WHERE run_id = $run) || ' ' || (SELECT COUNT(*) FROM bench_decisions WHERE run_id = $run)")
    # Households with incomes on record whose decision lacks an income of the years it looks at.
    if [ $ENGINE = sqlite ]; then null_income="(json_extract(d.explanation_json, '\$.i[0][1]') IS NULL OR json_extract(d.explanation_json, '\$.i[1][1]') IS NULL)"
    else null_income="((d.explanation_json::json -> 'i' -> 0 ->> 1) IS NULL OR (d.explanation_json::json -> 'i' -> 1 ->> 1) IS NULL)"; fi
    missing=$(sql "SELECT COUNT(*) FROM exit_decisions d WHERE d.run_id = $run AND $null_income
                   AND EXISTS (SELECT 1 FROM household_incomes i WHERE i.household_id = d.household_id)")
    summary=$(sql "SELECT summary_json FROM assessment_runs WHERE id = $run")
    echo "$y|$t_run|$t_bare|$differ|$counted|$missing|$summary" >>"$WORK/rows"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
households=$(sql "SELECT COUNT(*) FROM households WHERE removed_year IS NULL")

echo
echo "- date: $(date -u)"
echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem:/ {print $2}') GB RAM"
echo "- commit: $(git -C "$REPO" rev-parse --short HEAD) (working tree)"
echo "- engine: $ENGINE; demo load (s, peak KB): $DEMO_TIME; households in the registry: $households"
echo "- load average (1, 5, 15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER"
echo "- command: \`scripts/bench-assess-demo.sh\`; timed: \`bangfu --database DB assess --year Y\` (wall, whole command) and the bare SQL pass (wall, \`sqlite3\`/\`psql\` < the pass)"
echo
python3 - "$WORK/rows" <<'PY'
import json, sys
rows = [l.rstrip("\n").split("|", 6) for l in open(sys.argv[1], encoding="utf-8")]
def g(n): return f"{n:,}"
print("| year | assessed | can exit | of which still poor | cannot exit | villages meeting incidence | counties meeting incidence | monitoring 1 / 2 / 3 (new) | monitoring share | 未填报 with incomes | assess s (inside) | bare SQL s | ratio |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for y, t_run, t_bare, differ, counted, missing, summary in rows:
    s = json.loads(summary)
    run_s, bare_s = float(t_run.split()[0]), float(t_bare.split()[0])
    c = {x["key"]: x["count"] for x in s["candidates"]}
    print(f"| {y} | {g(s['assessed'])} | {g(s['may_exit'])} | {g(s['may_exit_poor'])} of {g(s['poor_assessed'])} | {g(s['may_not_exit'])} "
          f"| {g(s['villages_passed'])} / {g(s['villages'])} | {g(s['counties_passed'])} / {g(s['counties'])} "
          f"| {g(c.get('1', 0))} / {g(c.get('2', 0))} / {g(c.get('3', 0))} ({g(s['new_cases'])}) | {100 * sum(c.values()) / max(1, s['assessed'] + s.get('not_registered', 0)):.1f}% | {missing} "
          f"| {run_s:.2f} ({s['elapsed_ms'] / 1000:.2f}) | {bare_s:.2f} | {run_s / bare_s:.2f}× |")
print()
print("Cannot exit, by reason (a household may fail several):")
print()
for y, t_run, t_bare, differ, counted, missing, summary in rows:
    s = json.loads(summary)
    reasons = "; ".join(f"{f['name']} {g(f['count'])}" for f in s["failing"]) or "none"
    print(f"- {y}: {reasons}")
print()
for y, t_run, t_bare, differ, counted, missing, summary in rows:
    run_n, bare_n = counted.split()
    print(f"- {y}: decisions written by the run {g(int(run_n))}, by the bare pass {g(int(bare_n))}, differing {differ}; peak RSS of the run {int(t_run.split()[1]) // 1024} MB")
PY
