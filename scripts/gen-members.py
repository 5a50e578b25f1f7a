#!/usr/bin/env python3
"""Writes a synthetic members file (the registry template) for benchmarks: N people in
households of 1-6 members over the villages of one county, with checksum-valid fictitious ID
numbers. Deterministic for a given N and county.

usage: gen-members.py ROWS COUNTY_CODE VILLAGES_CSV OUT.csv [INCOMES_OUT.csv]

With GEN_ADDRESS=1 each row also carries 家庭住址 (village, group, house number), a column
county files often add and the import passes over: wider rows, for a larger file within the
row limit.
"""
import os
import csv
import datetime
import random
import sys

BASE = datetime.date(1940, 1, 1)

W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
C = "10X98765432"


def check(first17):
    return C[sum(int(d) * w for d, w in zip(first17, W)) % 11]


def main():
    rows, county, villages_csv, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    incomes_out = sys.argv[5] if len(sys.argv) > 5 else None
    address = os.environ.get("GEN_ADDRESS") == "1"
    villages = []
    village_names = {}
    with open(villages_csv, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["areaCode"] == county:
                villages.append(r["code"])
                village_names[r["code"]] = r["name"]
    rnd = random.Random(42)
    header = "户编号,人编号,行政区划代码,姓名,性别,证件号码,与户主关系,民族,文化程度,在校生状况,健康状况,劳动技能,务工时间（月）,贫困户属性,识别标准,主要致贫原因,其他致贫原因,识别年度,脱贫状态,脱贫年度,联系电话" + (",家庭住址" if address else "")
    causes = ["因病", "因残", "因学", "因灾", "缺土地", "缺水", "缺技术", "缺劳力", "缺资金", "交通条件落后", "自身发展动力不足"]
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱覃武戴孔汤庞樊兰殷施陶洪翟安颜倪严牛温芦季俞章鲁葛伍申尤毕聂柴焦向柳邢岳齐沿梅莫庄辛管祝左涂谷祁时舒耿牟卜路詹关苗凌费纪靳盛童欧甄项曲成游阳裴席卫查屈鲍位覃霍翁隋植甘景薄单包司柏宁柯阮桂闵欧阳解强丛华车冉房边辜吉饶刁瞿戚丘古米池滕晋苑邬臧畅宫来嵺苟全褚廉简娄盖符奚木穆党燕郎邸冀谈姬屠连郜晏栾郁商蒙计喻揭窦迟宇敖糜鄢冷卓花艾蓝都巩稽井练仲乐虞卞封竺冼原官衣楚佟栗匡宗应台巫鞠僧桑荆谌银扬明沙薄伏岑习胥保和蔺"
    given = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬斌文辉力建国志强海峰"
    seq = 0
    written = 0
    hh = 0
    fi = open(incomes_out, "w", encoding="utf-8", newline="") if incomes_out else None
    if fi:
        fi.write("户编号,年度,工资性收入,生产经营性收入,财产性收入,转移性收入,生产经营性支出\n")
    with open(out, "w", encoding="utf-8", newline="") as f:
        f.write(header + "\n")
        while written < rows:
            hh += 1
            size = min(rnd.choice([1, 2, 3, 3, 4, 4, 4, 5, 5, 6]), rows - written)
            village = villages[hh % len(villages)]
            no = f"{county}{hh:08d}"
            cause = rnd.choice(causes)
            other = rnd.choice(["", "缺技术", "缺资金、缺技术"])
            if cause in other:
                other = ""
            year = rnd.choice([2014, 2014, 2015, 2016])
            out_status = rnd.random() < 0.95
            status, exit_year = ("已脱贫", str(rnd.choice([2017, 2018, 2019]))) if out_status else ("未脱贫", "")
            for m in range(size):
                seq += 1
                male = (m % 2 == 0)
                # Injective: 500 people a birth date, dates spread over 74 years.
                born = BASE + datetime.timedelta(days=(seq // 500) * 13 % 27000)
                order = (seq % 500) * 2 + (1 if male else 0)
                first17 = f"{county}{born:%Y%m%d}{order:03d}"
                idn = first17 + check(first17)
                relation = "户主" if m == 0 else ("配偶" if m == 1 else rnd.choice(["之子", "之女", "之父", "之母", "之孙子"]))
                name = rnd.choice(surnames) + rnd.choice(given) + (rnd.choice(given) if rnd.random() < 0.7 else "")
                f.write(
                    f"{no},,{village},{name},{'男' if male else '女'},{idn},{relation},汉族,初中,非在校生,健康,普通劳动力,{rnd.randint(0, 12)},"
                    f"一般贫困户,国家标准,{cause},{other},{year},{status},{exit_year},139{seq % 100000000:08d}"
                    + (f",{village_names[village]}第{hh % 12 + 1}村民小组{hh % 97 + 1}号" if address else "")
                    + "\n"
                )
                written += 1
            if fi:
                for y in (2018, 2019):
                    fi.write(f"{no},{y},{rnd.randint(2000, 30000)},{rnd.randint(0, 8000)},{rnd.randint(0, 500)},{rnd.randint(0, 3000)},{rnd.randint(0, 2000)}\n")
    if fi:
        fi.close()
    print(f"{written} rows, {hh} households, {len(villages)} villages", file=sys.stderr)


if __name__ == "__main__":
    main()
