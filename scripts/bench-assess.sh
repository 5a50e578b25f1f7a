#!/usr/bin/env bash
# Benchmark for issue #6: `bangfu assess --year YEAR` over a synthetic registry of the demo's size
# (≈2 million people in ≈500,000 households over a few counties, incomes for two years, rural
# population per village and county), on a fresh SQLite file and a fresh PostgreSQL database,
# with the same command users run. Prints a Markdown block ready to paste into BENCHMARKS.md.
#
#   scripts/bench-assess.sh                      # 2,000,000 people, 3 assessment runs each
#   PEOPLE=200000 RUNS=1 scripts/bench-assess.sh # a quick look
#
# Environment:
#   PEOPLE          people in the synthetic registry (default 2000000; ≈4 per household)
#   COUNTIES        county codes to spread them over (default: 3 western, 2 eastern counties)
#   YEAR            the assessed year (default 2019); incomes are written for YEAR-1 and YEAR
#   RUNS            assessment runs per engine (default 3); each run is a new batch
#   PG_URL          PostgreSQL server without database (default postgres://postgres@127.0.0.1:5432);
#                   PG_URL=none skips PostgreSQL
#   REGIONS_DIR     the 2023 division list CSVs (default ../shared/data/regions beside the repo)
#   CARGO_TARGET_DIR  where cargo puts the release binary (default <repo>/target)
#   KEEP            a directory to keep the generated files and the SQLite database in (the
#                   PostgreSQL database is kept too; its name is printed)
set -euo pipefail

PEOPLE=${PEOPLE:-2000000}
COUNTIES=${COUNTIES:-"451024 451081 451026 441621 441622"}
YEAR=${YEAR:-2019}
RUNS=${RUNS:-3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
REGIONS_DIR=${REGIONS_DIR:-$REPO/../shared/data/regions}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET_DIR/release/bangfu

say() { echo "bench-assess: $*" >&2; }

missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v python3 >/dev/null || missing+=(python3)
if [ "$PG_URL" != none ] && ! command -v psql >/dev/null; then missing+=(postgresql-client); fi
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then $SUDO apt-get update -qq; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -r "$REGIONS_DIR/villages.csv" ] || { say "missing $REGIONS_DIR/villages.csv (set REGIONS_DIR)"; exit 1; }
if [ "$PG_URL" != none ] && ! psql "$PG_URL/postgres" -qAtc 'SELECT 1' >/dev/null; then
    say "cannot reach PostgreSQL at $PG_URL (set PG_URL=none to skip it)"; exit 1
fi

if [ -n "${KEEP:-}" ]; then WORK=$KEEP; mkdir -p "$WORK"; else WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-assess.XXXXXX"); fi
PG_DB=bench_assess_$$
cleanup() {
    if [ -n "${KEEP:-}" ]; then
        [ "$PG_URL" = none ] || say "kept $WORK and the PostgreSQL database $PG_DB"
        return
    fi
    if [ "$PG_URL" != none ]; then psql "$PG_URL/postgres" -qAtc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

say "building the release binary"
(cd "$REPO" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p bangfu --quiet)

# --- the synthetic registry ---------------------------------------------------------------------
# Deterministic (seeded). Households of 1–7 people; 90% exited in 2016–2019, 10% still poor;
# per-capita incomes mostly well above the monitoring threshold, a few near the line or below it,
# 1% with a sharp drop; a few
# households with one of 两不愁三保障 or safe water unmet; rural population per village set so
# that village incidence spreads around the thresholds.
say "generating $PEOPLE people over counties $COUNTIES"
python3 - "$PEOPLE" "$YEAR" "$REGIONS_DIR/villages.csv" "$WORK" $COUNTIES <<'PY'
import csv, random, sys, datetime
people, year, villages_csv, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
counties = sys.argv[5:]
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
C = "10X98765432"
def check(s):
    return C[sum(int(d) * w for d, w in zip(s, W)) % 11]
villages = {c: [] for c in counties}
with open(villages_csv, encoding="utf-8") as f:
    for r in csv.DictReader(f):
        if r["areaCode"] in villages:
            villages[r["areaCode"]].append(r["code"])
rnd = random.Random(6)
base = datetime.date(1940, 1, 1)
header = ("户编号,人编号,行政区划代码,姓名,性别,证件号码,与户主关系,民族,文化程度,在校生状况,健康状况,劳动技能,务工时间（月）,"
          "贫困户属性,识别标准,主要致贫原因,其他致贫原因,识别年度,脱贫状态,脱贫年度,联系电话,"
          "是否安全饮水,不愁吃,不愁穿,义务教育有保障,基本医疗有保障,住房安全有保障")
surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱覃"
given = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红娥玲芬燕彬斌文辉力建国志海峰"
causes = ["因病", "因残", "因学", "因灾", "缺土地", "缺水", "缺技术", "缺劳力", "缺资金", "交通条件落后", "自身发展动力不足"]
lines = {2018: 2995, 2019: 3218, 2020: 4000}
line = lines.get(year, 3218)
per_county = people // len(counties)
visits = open(f"{out}/visits.csv", "w", encoding="utf-8", newline="")
visits.write("户编号,走访日期,走访人,走访情况,近12个月人均纯收入,发现风险\n")
members = open(f"{out}/members.csv", "w", encoding="utf-8", newline="")
incomes = open(f"{out}/incomes.csv", "w", encoding="utf-8", newline="")
members.write(header + "\n")
incomes.write("户编号,年度,工资性收入,生产经营性收入,财产性收入,转移性收入,生产经营性支出\n")
village_people = {}
households = 0
written = 0
for ci, county in enumerate(counties):
    vs = villages[county]
    target = per_county if ci < len(counties) - 1 else people - written
    done = 0
    seq = 0
    hh = 0
    while done < target:
        hh += 1
        households += 1
        size = min(rnd.choice([1, 2, 3, 3, 4, 4, 4, 5, 5, 6, 7]), target - done)
        village = vs[hh % len(vs)]
        village_people[village] = village_people.get(village, 0) + size
        no = f"{county}{hh:08d}"
        cause = rnd.choice(causes)
        identified = rnd.choice([2014, 2014, 2015, 2016])
        poor = rnd.random() < 0.10
        status, exit_year = ("未脱贫", "") if poor else ("已脱贫", str(rnd.choice([2016, 2017, 2018, 2019])))
        flags = ["是"] * 6
        if rnd.random() < 0.03:
            flags[rnd.randrange(6)] = "否"
        for m in range(size):
            seq += 1
            male = m % 2 == 0
            born = base + datetime.timedelta(days=(seq // 500) * 13 % 27000)
            order = (seq % 500) * 2 + (1 if male else 0)
            first17 = f"{county}{born:%Y%m%d}{order:03d}"
            relation = "户主" if m == 0 else ("配偶" if m == 1 else rnd.choice(["之子", "之女", "之父", "之母"]))
            labour = "丧失劳动力" if rnd.random() < 0.05 else "普通劳动力"
            name = rnd.choice(surnames) + rnd.choice(given) + (rnd.choice(given) if rnd.random() < 0.7 else "")
            members.write(
                f"{no},,{village},{name},{'男' if male else '女'},{first17}{check(first17)},{relation},汉族,初中,非在校生,健康,{labour},{rnd.randint(0, 12)},"
                f"一般贫困户,国家标准,{cause},,{identified},{status},{exit_year},139{(households * 7 + m) % 100000000:08d},{','.join(flags)}\n"
            )
        done += size
        written += size
        # Per-capita income: most far above the monitoring threshold (1.5 × the line), some near
        # the line, a few below it, a few with a sharp drop; the two years move together.
        r = rnd.random()
        base_pc = line * (rnd.uniform(0.6, 0.99) if r < 0.02 else rnd.uniform(1.0, 1.5) if r < 0.05 else rnd.uniform(1.6, 4.0))
        if poor:
            base_pc *= 0.8
        drop = rnd.random() < 0.01
        for y in (year - 1, year):
            pc = base_pc * (1.6 if drop and y < year else rnd.uniform(0.97, 1.08))
            net = int(pc * size)
            wage = int(net * 0.6)
            business = int(net * 0.3) + 200
            transfer = net - wage - (business - 200)
            incomes.write(f"{no},{y},{wage},{business},0,{transfer},200\n")
        # 2% of households visited during the year, a quarter of those with a risk noted.
        if rnd.random() < 0.02:
            risk = rnd.choice(["家中老人长期患病", "务工收入不稳定", "房屋漏雨"]) if rnd.random() < 0.25 else ""
            visits.write(f"{no},{year}-{rnd.randint(3, 11):02d}-{rnd.randint(1, 28):02d},驻村工作队,入户核实收入,{int(base_pc)},{risk}\n")
members.close()
incomes.close()
visits.close()
with open(f"{out}/population.csv", "w", encoding="utf-8", newline="") as f:
    f.write("行政区划代码,年份,农业户籍人口\n")
    county_pop = {}
    for v, n in sorted(village_people.items()):
        # Registered poor are a share of the rural population: 4–12 times as many villagers.
        pop = n * rnd.choice([4, 5, 6, 8, 10, 12])
        county_pop[v[:6]] = county_pop.get(v[:6], 0) + pop
        f.write(f"{v},{year},{pop}\n")
    for c, pop in sorted(county_pop.items()):
        f.write(f"{c},{year},{pop}\n")
print(f"{written} people, {households} households, {len(village_people)} villages", file=sys.stderr)
print(f"{written} {households} {len(village_people)}", file=open(f"{out}/counts", "w"))
PY
read -r N_PEOPLE N_HOUSEHOLDS N_VILLAGES <"$WORK/counts"

# Runs a command under /usr/bin/time; appends "seconds peak_kb" to the file $1 and keeps stdout.
timed() {
    local out=$1; shift
    if ! /usr/bin/time -o "$WORK/t" -f '%e %M' "$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err"; then
        say "failed: $*"; cat "$WORK/cmd.out" "$WORK/cmd.err" >&2; cat "$WORK/t" >&2; exit 1
    fi
    tail -n 1 "$WORK/t" >>"$out"
}

bench_engine() {
    local name=$1 db=$2
    say "$name: migrate and import"
    "$BIN" --database "$db" migrate >/dev/null 2>&1
    BANGFU_LOG=warn timed "$WORK/$name-import-households" "$BIN" --database "$db" import households "$WORK/members.csv"
    BANGFU_LOG=warn timed "$WORK/$name-import-incomes" "$BIN" --database "$db" import incomes "$WORK/incomes.csv"
    BANGFU_LOG=warn timed "$WORK/$name-import-population" "$BIN" --database "$db" import region-attributes "$WORK/population.csv"
    BANGFU_LOG=warn timed "$WORK/$name-import-visits" "$BIN" --database "$db" import visits "$WORK/visits.csv"
    for i in $(seq 1 "$RUNS"); do
        say "$name: assess run $i"
        BANGFU_LOG=warn timed "$WORK/$name-assess" "$BIN" --database "$db" assess --year "$YEAR"
        cp "$WORK/cmd.out" "$WORK/$name-assess-$i.out"
    done
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
bench_engine sqlite "$WORK/bench.db"
if [ "$PG_URL" != none ]; then
    psql "$PG_URL/postgres" -qAtc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
    psql "$PG_URL/postgres" -qAtc "CREATE DATABASE $PG_DB" >/dev/null
    bench_engine postgres "$PG_URL/$PG_DB"
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
fmt_runs() { awk '{printf "%s%s s (%d MB)", (NR>1?"; ":""), $1, $2/1024} END {print ""}' "$1"; }

echo
echo "- date: $(date -u)"
echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem:/ {print $2}') GB RAM"
echo "- commit: $(git -C "$REPO" rev-parse --short HEAD) (working tree)"
echo "- data: $N_PEOPLE people, $N_HOUSEHOLDS households, $N_VILLAGES villages in counties $COUNTIES; incomes for $((YEAR - 1)) and $YEAR; visits of $YEAR for 2% of households"
echo "- load average (1, 5, 15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER"
echo "- command: \`PEOPLE=$PEOPLE RUNS=$RUNS scripts/bench-assess.sh\`; timed: \`bangfu --database DB assess --year $YEAR\`"
echo
echo "| engine | households | assess median s | min s | max s | households/s (median) | peak RSS MB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for e in sqlite postgres; do
    [ -r "$WORK/$e-assess" ] || continue
    med=$(cut -d' ' -f1 "$WORK/$e-assess" | median)
    min=$(cut -d' ' -f1 "$WORK/$e-assess" | sort -n | head -1)
    max=$(cut -d' ' -f1 "$WORK/$e-assess" | sort -n | tail -1)
    rss=$(cut -d' ' -f2 "$WORK/$e-assess" | median)
    echo "| $e | $N_HOUSEHOLDS | $med | $min | $max | $(awk -v n="$N_HOUSEHOLDS" -v s="$med" 'BEGIN {printf "%d", n / s}') | $((${rss%.*} / 1024)) |"
done
echo
for e in sqlite postgres; do
    [ -r "$WORK/$e-assess" ] || continue
    echo "- $e assess runs: $(fmt_runs "$WORK/$e-assess")"
    echo "- $e imports (members, incomes, population, visits): $(cat "$WORK/$e-import-households" "$WORK/$e-import-incomes" "$WORK/$e-import-population" "$WORK/$e-import-visits" | fmt_runs /dev/stdin)"
done
echo
echo "Summary printed by the last SQLite run:"
echo
echo '```'
cat "$WORK/sqlite-assess-$RUNS.out"
echo '```'
