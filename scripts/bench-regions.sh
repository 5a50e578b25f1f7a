#!/usr/bin/env bash
# Benchmark for issue #2: loading the shipped region list (665,276 units, five levels) on a fresh
# SQLite file and a fresh PostgreSQL database, against the sqlite3 tool's bare `.import` of the
# same source files. Prints a Markdown block ready to paste into BENCHMARKS.md.
#
#   scripts/bench-regions.sh              # 5 runs of each
#   RUNS=3 scripts/bench-regions.sh
#
# Environment:
#   RUNS            runs of each measurement (default 5); the table reports the median
#   PG_URL          PostgreSQL server without database (default postgres://postgres@127.0.0.1:5432);
#                   set PG_URL=none to skip the PostgreSQL runs
#   REGIONS_DIR     the source CSV files (default ../shared/data/regions beside the repo)
#   CARGO_TARGET_DIR  where cargo puts the release binary (default <repo>/target)
#   REV             build this commit (e.g. HEAD) instead of the working tree
set -euo pipefail

RUNS=${RUNS:-5}
REPO=$(cd "$(dirname "$0")/.." && pwd)
REGIONS_DIR=${REGIONS_DIR:-$REPO/../shared/data/regions}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET_DIR/release/bangfu
OUR_ROWS=665276      # the shipped list, all five levels
VILLAGE_ROWS=620573  # villages.csv alone
LEVEL_FILES=(provinces cities areas streets villages)

say() { echo "bench-regions: $*" >&2; }

# --- tools -------------------------------------------------------------------------------------
missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
if [ "$PG_URL" != none ] && ! command -v psql >/dev/null; then missing+=(postgresql-client); fi
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    # Only refresh the package lists when the packages are not known yet.
    if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then $SUDO apt-get update -qq; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for f in "${LEVEL_FILES[@]}"; do
    [ -r "$REGIONS_DIR/$f.csv" ] || { say "missing $REGIONS_DIR/$f.csv (set REGIONS_DIR)"; exit 1; }
done
if [ "$PG_URL" != none ] && ! psql "$PG_URL/postgres" -qAtc 'SELECT 1' >/dev/null; then
    say "cannot reach PostgreSQL at $PG_URL (set PG_URL=none to skip it)"; exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-regions.XXXXXX")
PG_DBS=()
cleanup() {
    for db in "${PG_DBS[@]}"; do
        psql "$PG_URL/postgres" -qAtc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- build -------------------------------------------------------------------------------------
# REV builds a committed revision (exported to a scratch folder) instead of the working tree, so
# the figures belong to exactly that commit even while the tree is being edited.
SRC=$REPO
if [ -n "${REV:-}" ]; then
    SRC=$WORK/src
    mkdir -p "$SRC"
    git -C "$REPO" archive "$REV" | tar -x -C "$SRC"
fi
say "building the release binary from ${REV:-the working tree}"
(cd "$SRC" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p bangfu --quiet)

# Runs a command under /usr/bin/time and appends "seconds peak_kb" to the file $1.
timed() {
    local out=$1; shift
    if ! /usr/bin/time -o "$WORK/t" -f '%e %M' "$@" >"$WORK/cmd.log" 2>&1; then
        say "failed: $*"; cat "$WORK/cmd.log" >&2; cat "$WORK/t" >&2; exit 1
    fi
    tail -n 1 "$WORK/t" >>"$out"
}

# The CSVs are read from the page cache in every run, like the binary's embedded data.
cat "$REGIONS_DIR"/*.csv >/dev/null

export BANGFU_LOG=warn
STARTED=$(date -u)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq 1 "$RUNS"); do
    say "round $i of $RUNS"
    # (a) bangfu on SQLite: migrate = create the schema and load the shipped list.
    db=$WORK/bangfu-$i.db
    timed "$WORK/ours-sqlite" "$BIN" --database "$db" migrate
    n=$(sqlite3 "$db" 'SELECT COUNT(*) FROM regions')
    [ "$n" = "$OUR_ROWS" ] || { say "SQLite has $n regions, expected $OUR_ROWS"; exit 1; }
    rm -f "$db" "$db-wal" "$db-shm"

    # (b) bangfu on PostgreSQL, fresh database each run.
    if [ "$PG_URL" != none ]; then
        pgdb=bangfu_bench_$$_$i
        PG_DBS+=("$pgdb")
        psql "$PG_URL/postgres" -qAtc "CREATE DATABASE $pgdb" >/dev/null
        timed "$WORK/ours-postgres" "$BIN" --database "$PG_URL/$pgdb" migrate
        n=$(psql "$PG_URL/$pgdb" -qAtc 'SELECT COUNT(*) FROM regions')
        [ "$n" = "$OUR_ROWS" ] || { say "PostgreSQL has $n regions, expected $OUR_ROWS"; exit 1; }
        psql "$PG_URL/postgres" -qAtc "DROP DATABASE $pgdb" >/dev/null
    fi

    # (c) sqlite3's bare import of villages.csv: .import creates the table from the header
    # (six TEXT columns, no key, no index) in one transaction.
    db=$WORK/bare-villages-$i.db
    timed "$WORK/bare-villages" sqlite3 "$db" ".import --csv $REGIONS_DIR/villages.csv villages"
    n=$(sqlite3 "$db" 'SELECT COUNT(*) FROM villages')
    [ "$n" = "$VILLAGE_ROWS" ] || { say "bare import has $n villages, expected $VILLAGE_ROWS"; exit 1; }
    rm -f "$db"

    # (d) the same for all five level files, one table each, in one sqlite3 invocation.
    db=$WORK/bare-all-$i.db
    args=()
    for f in "${LEVEL_FILES[@]}"; do args+=(".import --csv $REGIONS_DIR/$f.csv $f"); done
    timed "$WORK/bare-all" sqlite3 "$db" "${args[@]}"
    n=$(sqlite3 "$db" "SELECT (SELECT COUNT(*) FROM provinces) + (SELECT COUNT(*) FROM cities)
        + (SELECT COUNT(*) FROM areas) + (SELECT COUNT(*) FROM streets) + (SELECT COUNT(*) FROM villages)")
    [ "$n" = "$OUR_ROWS" ] || { say "bare import of all levels has $n rows, expected $OUR_ROWS"; exit 1; }
    rm -f "$db"
done

# --- report ------------------------------------------------------------------------------------
# median of column $2 (1 = seconds, 2 = KB) of file $1
median() { awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
minimum() { awk '{print $1}' "$1" | sort -g | head -n 1; }
maximum() { awk '{print $1}' "$1" | sort -g | tail -n 1; }
commas() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
row() { # file label rows
    local med; med=$(median "$1" 1)
    printf '| %s | %s | %.2f | %.2f | %.2f | %s | %.0f |\n' "$2" "$(commas "$3")" "$med" \
        "$(minimum "$1")" "$(maximum "$1")" "$(commas "$(awk -v r="$3" -v s="$med" 'BEGIN {printf "%d", r/s}')")" \
        "$(awk -v k="$(median "$1" 2)" 'BEGIN {print k/1024}')"
}

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ours=$(median "$WORK/ours-sqlite" 1)
bare=$(median "$WORK/bare-villages" 1)
bare_all=$(median "$WORK/bare-all" 1)
echo
echo "- date: $STARTED"
echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(free -h | awk '/^Mem:/ {print $2}') RAM, $(df -T "$WORK" | awk 'NR==2 {print $2}') file system for the database files"
if [ -n "${REV:-}" ]; then
    echo "- commit: $(git -C "$REPO" rev-parse --short "$REV") (built from \`git archive\`)"
else
    echo "- commit: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" status --porcelain | grep -q . && echo ' (working tree has uncommitted changes)')"
fi
echo "- $(sqlite3 --version | cut -d' ' -f1,2 | sed 's/^/sqlite3 /'); $( [ "$PG_URL" = none ] || psql "$PG_URL/postgres" -qAtc 'SHOW server_version' | sed 's/^/PostgreSQL /')"
echo "- load average (1, 5, 15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER"
echo "- command: \`RUNS=$RUNS${REV:+ REV=$REV} scripts/bench-regions.sh\`"
echo
echo "Runs: $RUNS of each, interleaved (one of each per round); wall time and peak RSS from \`/usr/bin/time -f '%e %M'\`."
echo
echo "| what | rows | median s | min s | max s | rows/s (median) | peak RSS MB (median) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row "$WORK/ours-sqlite" "\`bangfu migrate\`, SQLite (schema + shipped list)" $OUR_ROWS
[ "$PG_URL" = none ] || row "$WORK/ours-postgres" "\`bangfu migrate\`, PostgreSQL (schema + shipped list)" $OUR_ROWS
row "$WORK/bare-villages" "\`sqlite3\` bare \`.import --csv\` villages.csv" $VILLAGE_ROWS
row "$WORK/bare-all" "\`sqlite3\` bare \`.import --csv\` all five level files" $OUR_ROWS
echo
awk -v o="$ours" -v b="$bare" -v a="$bare_all" 'BEGIN {
    printf "Ratio of bangfu SQLite median to bare villages import median: %.2f× (to bare import of all five files: %.2f×)\n", o/b, o/a }'
echo
echo "All per-run figures (seconds peak_KB):"
echo
for f in ours-sqlite ours-postgres bare-villages bare-all; do
    [ -s "$WORK/$f" ] && echo "- $f: $(paste -sd ';' "$WORK/$f" | sed 's/;/; /g')"
done
echo
echo "bangfu's load does more than the bare import: it decompresses the embedded list (zstd), derives"
echo "each row's key, level and parent, applies all migrations, and maintains the regions primary key"
echo "and the regions_parent index while inserting; the bare import writes six TEXT columns into a"
echo "table with no key and no index. PostgreSQL peak RSS is the bangfu client process only (the"
echo "server's memory is not counted)."
