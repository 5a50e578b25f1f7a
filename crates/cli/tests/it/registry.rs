//! The household registry end to end: file imports (CSV in GBK and UTF-8, XLSX), all-or-nothing
//! behaviour, the checks users rely on, masking everywhere, and the API for changes over time.

use crate::harness::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Write;

pub const HEADER: &str = "户编号,人编号,行政区划代码,姓名,性别,证件号码,与户主关系,民族,文化程度,在校生状况,健康状况,劳动技能,务工时间（月）,贫困户属性,识别标准,主要致贫原因,其他致贫原因,识别年度,脱贫状态,脱贫年度,联系电话";

/// A checksum-valid, fictitious ID number: county prefix, birth date, sequence (odd = male).
pub fn id_number(county: &str, birth: &str, seq: u32, male: bool) -> String {
    let seq = if male { seq * 2 + 1 } else { seq * 2 } % 1000;
    let first17 = format!("{county}{birth}{seq:03}");
    format!(
        "{first17}{}",
        domain::id_number::check_char(&first17).unwrap()
    )
}

pub struct Person {
    pub name: &'static str,
    pub male: bool,
    pub id: String,
    pub relation: &'static str,
}

/// One CSV row of the members template.
pub fn row(
    household: &str,
    village: &str,
    p: &Person,
    cause: &str,
    status: &str,
    exit_year: &str,
) -> String {
    format!(
        "{household},,{village},{},{},{},{},汉族,初中,非在校生,健康,普通劳动力,6,一般贫困户,国家标准,{cause},缺技术,2014,{status},{exit_year},13800001234",
        p.name,
        if p.male { "男" } else { "女" },
        p.id,
        p.relation
    )
}

/// A small household: head, spouse and a child.
pub fn family(household: &str, village: &str, seq: u32) -> Vec<String> {
    let county = &village[..6];
    let people = [
        Person {
            name: "王大山",
            male: true,
            id: id_number(county, "19700305", seq, true),
            relation: "户主",
        },
        Person {
            name: "李秀英",
            male: false,
            id: id_number(county, "19720811", seq, false),
            relation: "配偶",
        },
        Person {
            name: "王小明",
            male: true,
            id: id_number(county, "20050120", seq + 500, true),
            relation: "之子",
        },
    ];
    people
        .iter()
        .map(|p| row(household, village, p, "因病", "已脱贫", "2018"))
        .collect()
}

pub fn write_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    path.to_string_lossy().into_owned()
}

fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

fn run(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = app.bangfu(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn household_count(app: &TestApp) -> usize {
    app.get_all("/api/v1/households?limit=500").await.len()
}

#[tokio::test]
async fn a_gbk_members_file_imports_with_masked_ids_and_member_counts() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let mut lines = vec![HEADER.to_string()];
    lines.extend(family("4416210001", "441621103212", 1));
    lines.extend(family("4416210002", "441621103212", 2));
    lines.push(row(
        "4416210003",
        "441621103212",
        &Person {
            name: "张独居",
            male: true,
            id: id_number("441621", "19400101", 3, true),
            relation: "户主",
        },
        "因残",
        "未脱贫",
        "",
    ));
    let file = write_file(
        &dir,
        "members-gbk.csv",
        &gbk(&(lines.join("\r\n") + "\r\n")),
    );
    let (ok, stdout, stderr) = run(&app, &["import", "households", &file]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("新增 3 户") && stdout.contains("新增成员 7 人"),
        "{stdout}"
    );

    let items = app.get_all("/api/v1/households?region=441621").await;
    assert_eq!(items.len(), 3);
    let counts: Vec<i64> = items
        .iter()
        .map(|h| h["member_count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [3, 3, 1]);
    assert_eq!(items[0]["head_name"], "王大山");
    assert_eq!(items[0]["status"]["name"], "已脱贫（享受政策）");
    let (_, detail) = app
        .get(&format!("/api/v1/households/{}", items[0]["id"]))
        .await;
    let ids: Vec<&str> = detail["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id_number"].as_str().unwrap())
        .collect();
    assert!(
        ids.iter()
            .all(|i| i.contains("**********") && i.len() == 18),
        "{ids:?}"
    );
    assert_eq!(detail["members"][0]["phone"], "138****1234");
    assert_eq!(
        detail["status_history"].as_array().unwrap().len(),
        2,
        "identified, then exited"
    );
    assert_eq!(detail["region_path"][2][1], "紫金县");
}

#[tokio::test]
async fn errors_name_rows_and_columns_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let mut lines = vec![HEADER.to_string()];
    lines.extend(family("H1", "441621103212", 1));
    let mut bad_id = family("H2", "441621103212", 2);
    // Row 6 (header = 1): wrong check character.
    let good = id_number("441621", "19700305", 2, true);
    let wrong = format!(
        "{}{}",
        &good[..17],
        if good.ends_with('1') { '2' } else { '1' }
    );
    bad_id[0] = bad_id[0].replace(&good, &wrong);
    lines.extend(bad_id);
    // Row 9: unknown cause.
    let mut bad_cause = family("H3", "441621103212", 3);
    for l in bad_cause.iter_mut() {
        *l = l.replace(",因病,", ",因懒,");
    }
    lines.extend(bad_cause);
    let file = write_file(&dir, "bad.csv", (lines.join("\n") + "\n").as_bytes());
    let (ok, stdout, stderr) = run(&app, &["import", "households", &file]);
    assert!(!ok);
    assert!(stderr.contains("第 5 行 证件号码 列"), "{stderr}");
    assert!(stderr.contains("校验"), "{stderr}");
    for row in [8, 9, 10] {
        assert!(
            stderr.contains(&format!("第 {row} 行 主要致贫原因 列")),
            "{stderr}"
        );
    }
    assert!(stderr.contains("未写入任何数据"), "{stderr}");
    assert!(
        !stderr.contains(&wrong),
        "the wrong number is masked in the report"
    );
    assert!(!stdout.contains("导入完成"));
    assert_eq!(
        household_count(&app).await,
        0,
        "H1 was fine but nothing is written"
    );
}

#[tokio::test]
async fn one_person_cannot_be_in_two_households() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let first = write_file(
        &dir,
        "a.csv",
        format!(
            "{HEADER}\n{}\n",
            family("户A", "441621103212", 1).join("\n")
        )
        .as_bytes(),
    );
    assert!(run(&app, &["import", "households", &first]).0);
    // The spouse of 户A appears again as head of 户B, under her old 15-digit number.
    let spouse18 = id_number("441621", "19720811", 1, false);
    let spouse15 = format!("{}{}", &spouse18[..6], &spouse18[8..17]);
    let p = Person {
        name: "李秀英",
        male: false,
        id: spouse15,
        relation: "户主",
    };
    let second = write_file(
        &dir,
        "b.csv",
        format!(
            "{HEADER}\n{}\n",
            row("户B", "441621103212", &p, "因病", "未脱贫", "")
        )
        .as_bytes(),
    );
    let (ok, _, stderr) = run(&app, &["import", "households", &second]);
    assert!(!ok);
    assert!(
        stderr.contains("户A") && stderr.contains("户B"),
        "both households are named: {stderr}"
    );
    assert_eq!(household_count(&app).await, 1);

    // Within one file, too.
    let mut lines = vec![HEADER.to_string()];
    let q = Person {
        name: "赵四",
        male: true,
        id: id_number("451024", "19800101", 7, true),
        relation: "户主",
    };
    lines.push(row("户C", "451024100200", &q, "因病", "未脱贫", ""));
    lines.push(row("户D", "451024100200", &q, "因病", "未脱贫", ""));
    let third = write_file(&dir, "c.csv", (lines.join("\n") + "\n").as_bytes());
    let (ok, _, stderr) = run(&app, &["import", "households", &third]);
    assert!(!ok);
    assert!(stderr.contains("户C") && stderr.contains("户D"), "{stderr}");
}

#[tokio::test]
async fn one_person_far_apart_in_a_large_file_is_refused_with_both_households() {
    // Thousands of rows apart, the two rows reach the database in different chunks of the
    // import: the clash is still found, named and placed on its spreadsheet row.
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let birth = |i: u32| {
        format!(
            "19{:02}{:02}{:02}",
            50 + i / 336,
            1 + (i / 28) % 12,
            1 + i % 28
        )
    };
    let mut lines = vec![HEADER.to_string()];
    for i in 0..2_000u32 {
        let no = format!("B{i:04}");
        for (seq, male, relation, name) in [
            (1, true, "户主", "王大山"),
            (1, false, "配偶", "李秀英"),
            (2, true, "之子", "王小明"),
        ] {
            let p = Person {
                name,
                male,
                id: id_number("441621", &birth(i), seq, male),
                relation,
            };
            lines.push(row(&no, "441621103212", &p, "因病", "已脱贫", "2018"));
        }
    }
    let spouse = Person {
        name: "李秀英",
        male: false,
        id: id_number("441621", &birth(0), 1, false),
        relation: "户主",
    };
    lines.push(row("B9999", "441621103212", &spouse, "因病", "未脱贫", ""));
    let file = write_file(&dir, "large.csv", (lines.join("\n") + "\n").as_bytes());
    let (ok, stdout, stderr) = run(&app, &["import", "households", &file]);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("第 6002 行 证件号码 列"), "{stderr}");
    assert!(
        stderr.contains("B0000") && stderr.contains("B9999"),
        "both households are named: {stderr}"
    );
    assert!(
        stderr.contains("发现 1 处问题"),
        "exactly this problem: {stderr}"
    );
    assert_eq!(household_count(&app).await, 0, "nothing is written");
}

#[tokio::test]
async fn household_rows_must_agree_and_have_one_head() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let mut rows = family("H1", "441621103212", 1);
    rows[1] = rows[1].replace(",一般贫困户,", ",低保贫困户,");
    rows[2] = rows[2].replace(",之子,", ",户主,");
    let file = write_file(
        &dir,
        "x.csv",
        format!("{HEADER}\n{}\n", rows.join("\n")).as_bytes(),
    );
    let (ok, _, stderr) = run(&app, &["import", "households", &file]);
    assert!(!ok);
    assert!(stderr.contains("第 3 行 贫困户属性 列"), "{stderr}");
    assert!(stderr.contains("第 4 行 与户主关系 列"), "{stderr}");
}

#[tokio::test]
async fn a_dry_run_checks_everything_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        &dir,
        "ok.csv",
        format!("{HEADER}\n{}\n", family("H1", "441621103212", 1).join("\n")).as_bytes(),
    );
    let (ok, stdout, _) = run(&app, &["import", "households", &file, "--dry-run"]);
    assert!(ok);
    assert!(stdout.contains("试运行"), "{stdout}");
    assert_eq!(household_count(&app).await, 0);
}

#[tokio::test]
async fn reimporting_an_export_with_masked_cells_changes_only_what_changed() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        &dir,
        "a.csv",
        format!("{HEADER}\n{}\n", family("H1", "441621103212", 1).join("\n")).as_bytes(),
    );
    assert!(run(&app, &["import", "households", &file]).0);
    let items = app.get_all("/api/v1/households").await;
    let (_, detail) = app
        .get(&format!("/api/v1/households/{}", items[0]["id"]))
        .await;
    // Give everyone a 人编号 as the county system would, then re-import masked rows with one change.
    let mut lines = vec![HEADER.to_string()];
    for m in detail["members"].as_array().unwrap() {
        lines.push(format!(
            "H1,,441621103212,{},{},{},{},汉族,高中,非在校生,健康,普通劳动力,6,一般贫困户,国家标准,因病,缺技术,2014,已脱贫,2018,138****1234",
            m["name"].as_str().unwrap(),
            m["sex"]["name"].as_str().unwrap(),
            m["id_number"].as_str().unwrap(),
            m["relation"]["name"].as_str().unwrap()
        ));
    }
    let file = write_file(&dir, "b.csv", (lines.join("\n") + "\n").as_bytes());
    let (ok, _, stderr) = run(&app, &["import", "households", &file]);
    assert!(
        !ok,
        "masked numbers without 人编号 cannot identify a person"
    );
    assert!(stderr.contains("人编号"), "{stderr}");

    // With 人编号 the masked cells mean "unchanged".
    let mut lines = vec![HEADER.to_string()];
    let full = family("H1", "441621103212", 1);
    for (i, l) in full.iter().enumerate() {
        lines.push(l.replacen("H1,,", &format!("H1,P{i},"), 1));
    }
    let with_numbers = write_file(&dir, "c.csv", (lines.join("\n") + "\n").as_bytes());
    let (ok, stdout, stderr) = run(&app, &["import", "households", &with_numbers]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("更新 1 户") && stdout.contains("更新 3 人"),
        "{stdout}"
    );
    let masked_lines: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                return l.clone();
            }
            let cells: Vec<&str> = l.split(',').collect();
            let mut cells: Vec<String> = cells.iter().map(|c| c.to_string()).collect();
            cells[5] = domain::id_number::mask_id(&cells[5]);
            cells[20] = "138****1234".into();
            if i == 3 {
                cells[8] = "高中".into();
            }
            cells.join(",")
        })
        .collect();
    let masked = write_file(&dir, "d.csv", (masked_lines.join("\n") + "\n").as_bytes());
    let (ok, _, stderr) = run(&app, &["import", "households", &masked]);
    assert!(ok, "{stderr}");
    let (_, after) = app
        .get(&format!("/api/v1/households/{}", items[0]["id"]))
        .await;
    let son = after["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member_no"] == "P2")
        .unwrap();
    assert_eq!(son["education"]["name"], "高中");
    assert_eq!(
        son["id_number"],
        domain::id_number::mask_id(&id_number("441621", "20050120", 501, true)),
        "number unchanged"
    );
    let revealed = app
        .post(
            &format!("/api/v1/members/{}/reveal", son["id"]),
            &json!({"reason": "核对户籍身份"}),
        )
        .await
        .1;
    assert_eq!(
        revealed["id_number"],
        id_number("441621", "20050120", 501, true)
    );
    assert_eq!(after["member_count"], 3);
}

#[tokio::test]
async fn xlsx_and_utf8_bom_files_import_too() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in HEADER.split(',').enumerate() {
        ws.write_string(0, c as u16, h).unwrap();
    }
    for (r, line) in family("X1", "451024100200", 4).iter().enumerate() {
        for (c, v) in line.split(',').enumerate() {
            ws.write_string(r as u32 + 1, c as u16, v).unwrap();
        }
    }
    let xlsx = write_file(&dir, "m.xlsx", &wb.save_to_buffer().unwrap());
    let (ok, stdout, stderr) = run(&app, &["import", "households", &xlsx]);
    assert!(ok, "{stdout}{stderr}");
    let bom = write_file(
        &dir,
        "m.csv",
        format!(
            "\u{feff}{HEADER}\r\n{}\r\n",
            family("X2", "451024100200", 5).join("\r\n")
        )
        .as_bytes(),
    );
    assert!(run(&app, &["import", "households", &bom]).0);
    assert_eq!(
        app.get_all("/api/v1/households?region=451024").await.len(),
        2
    );
}

#[tokio::test]
async fn incomes_import_computes_net_and_per_capita() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        &dir,
        "a.csv",
        format!("{HEADER}\n{}\n", family("H1", "441621103212", 1).join("\n")).as_bytes(),
    );
    assert!(run(&app, &["import", "households", &file]).0);
    let incomes = "户编号,年度,工资性收入,生产经营性收入,财产性收入,转移性收入,生产经营性支出\nH1,2019,\"12,000.50\",3000元,０,1500,600.5\nH9,2019,1,1,1,1,1\n";
    let bad = write_file(&dir, "i.csv", incomes.as_bytes());
    let (ok, _, stderr) = run(&app, &["import", "incomes", &bad]);
    assert!(!ok);
    assert!(
        stderr.contains("第 3 行 户编号 列") && stderr.contains("H9"),
        "{stderr}"
    );
    let good = write_file(
        &dir,
        "j.csv",
        incomes
            .lines()
            .take(2)
            .collect::<Vec<_>>()
            .join("\n")
            .as_bytes(),
    );
    let (ok, stdout, stderr) = run(&app, &["import", "incomes", &good]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("收入 1 条"));
    let items = app
        .get_all("/api/v1/households?income_year=2019&income_min=5300&income_max=5300")
        .await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["per_capita_fen"], 530000,
        "(12000.50 + 3000 + 0 + 1500 − 600.50) / 3 = 5300.00"
    );
    assert!(
        app.get_all("/api/v1/households?income_year=2019&income_min=5300.01")
            .await
            .is_empty()
    );
}

pub async fn create_household(app: &TestApp, no: &str) -> Value {
    let body = json!({
        "household_no": no, "village_code": "441621103212", "attribute": "一般贫困户", "identification_standard": "国家标准",
        "main_cause": "因病", "other_causes": ["缺资金"], "identified_year": 2015, "status": "未脱贫", "group_name": "三组",
        "safe_water": true,
        "members": [
            {"name": "陈一", "sex": "男", "id_number": id_number("441621", "19650101", 11, true), "relation": "户主", "ethnicity": "汉",
             "education": "小学", "schooling": "非在校生", "health": "长期慢性病", "labour": "普通劳动力", "migrant_months": 0, "phone": "13912345678"},
            {"name": "陈二", "sex": "女", "id_number": id_number("441621", "19680202", 11, false), "relation": "配偶", "ethnicity": "汉",
             "education": "小学", "schooling": "非在校生", "health": "健康", "labour": "普通劳动力"}
        ]
    });
    let (status, created) = app.post("/api/v1/households", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

#[tokio::test]
async fn the_api_records_a_household_and_its_changes_over_time() {
    let app = TestApp::spawn().await;
    let h = create_household(&app, "API-1").await;
    let id = h["id"].as_i64().unwrap();
    assert_eq!(h["member_count"], 2);
    assert_eq!(h["group_name"], "三组");
    let (status, dup) = app
        .post(
            "/api/v1/households",
            &json!({"household_no": "API-1", "members": [{}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{dup}");

    // A birth adds a member; a death removes one (history kept).
    let (status, after_birth) = app
        .post(&format!("/api/v1/households/{id}/members"), &json!({"event_type": "birth", "date": "2020-03-01",
            "member": {"name": "陈三", "sex": "女", "id_number": id_number("441621", "20200301", 12, false), "relation": "之女",
                        "ethnicity": "汉", "education": "学龄前儿童", "schooling": "学前教育", "health": "健康", "labour": "无劳动力"}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{after_birth}");
    assert_eq!(after_birth["member_count"], 3);
    let spouse = after_birth["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "陈二")
        .unwrap()["id"]
        .clone();
    let (status, after_death) = app
        .post(
            &format!("/api/v1/households/{id}/events"),
            &json!({"event_type": "death", "member_id": spouse, "date": "2021-05-06"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{after_death}");
    assert_eq!(after_death["member_count"], 2);
    let events: Vec<&str> = after_death["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["birth", "death"]);
    assert!(
        after_death["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "陈二" && m["active"] == false)
    );

    // Status history is appended only by allowed changes: out of poverty only by the exit
    // procedure's 销号 (see exit_status.rs), so a direct change is refused and nothing is added.
    let (status, refused) = app
        .post(
            &format!("/api/v1/households/{id}/status"),
            &json!({"status": "已脱贫", "year": 2019}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (_, unchanged) = app.get(&format!("/api/v1/households/{id}")).await;
    assert_eq!(unchanged["status"]["code"], "0");
    assert_eq!(unchanged["status_history"].as_array().unwrap().len(), 1);
    assert_eq!(unchanged["status_history"][0]["source"], "导入");

    // Income with computed figures; cadres and a relocation measure.
    let (status, income) = app
        .put(&format!("/api/v1/households/{id}/incomes/2019"), &json!({"wage": "8000", "business": 1000, "property": "0", "transfer": "500.5", "business_cost": "100.5"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{income}");
    assert_eq!(income["net_fen"], 940000);
    assert_eq!(income["per_capita_fen"], 470000);
    let (status, _) = app
        .post(&format!("/api/v1/households/{id}/cadres"), &json!({"name": "刘鹏威", "unit": "建设银行深圳市分行", "unit_level": "市直", "start_date": "2018-04-01"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, err) = app
        .post(
            &format!("/api/v1/households/{id}/measures"),
            &json!({"measure_type": "易地扶贫搬迁", "date": "2019-06-01"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = err["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["relocated_from", "relocated_to"]);
    let (status, with_measure) = app
        .post(
            &format!("/api/v1/households/{id}/measures"),
            &json!({"measure_type": "易地扶贫搬迁", "date": "2019-06-01",
            "relocated_from": "441621103212", "relocated_to": "441621100001", "amount": "60000"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{with_measure}");
    assert_eq!(with_measure["measures"][0]["relocated_to"], "441621100001");
    assert_eq!(with_measure["cadres"][0]["name"], "刘鹏威");
}

#[tokio::test]
async fn api_errors_name_the_member_field() {
    let app = TestApp::spawn().await;
    let body = json!({
        "household_no": "E1", "village_code": "441621103", "attribute": "一般贫困户", "identification_standard": "国家标准",
        "main_cause": "因病", "identified_year": 2015, "status": "未脱贫",
        "members": [{"name": "甲", "sex": "男", "id_number": "441621196501010000", "relation": "户主", "ethnicity": "火星",
                     "education": "小学", "schooling": "非在校生", "health": "健康", "labour": "普通劳动力"}]
    });
    let (status, err) = app.post("/api/v1/households", &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = err["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "village_code",
            "members[0].id_number",
            "members[0].ethnicity"
        ]
    );
    assert!(!err.to_string().contains("441621196501010000"));
    assert_eq!(household_count(&app).await, 0);
}

#[tokio::test]
async fn lists_filter_by_region_status_and_cause_and_page_by_keyset() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let mut lines = vec![HEADER.to_string()];
    for i in 0..12u32 {
        let village = if i % 2 == 0 {
            "441621103212"
        } else {
            "451024100200"
        };
        let mut fam = family(&format!("F{i:03}"), village, 20 + i);
        if i % 3 == 0 {
            for l in fam.iter_mut() {
                *l = l
                    .replace(",已脱贫,2018,", ",未脱贫,,")
                    .replace(",因病,", ",因学,");
            }
        }
        lines.extend(fam);
    }
    let file = write_file(&dir, "many.csv", (lines.join("\n") + "\n").as_bytes());
    let (ok, _, stderr) = run(&app, &["import", "households", &file]);
    assert!(ok, "{stderr}");
    let all = app.get_all("/api/v1/households?limit=5").await;
    let nos: Vec<&str> = all
        .iter()
        .map(|h| h["household_no"].as_str().unwrap())
        .collect();
    assert_eq!(nos.len(), 12);
    let mut sorted = nos.clone();
    sorted.sort();
    assert_eq!(nos, sorted);
    assert_eq!(app.get_all("/api/v1/households?region=4416").await.len(), 6);
    assert_eq!(
        app.get_all("/api/v1/households?region=441621103212")
            .await
            .len(),
        6
    );
    assert_eq!(
        app.get_all("/api/v1/households?status=未脱贫").await.len(),
        4
    );
    assert_eq!(app.get_all("/api/v1/households?cause=因学").await.len(), 4);
    assert_eq!(
        app.get_all("/api/v1/households?cause=缺技术").await.len(),
        12,
        "other causes count too"
    );
    let by_year = app
        .get_all("/api/v1/households?sort=member_count&limit=4")
        .await;
    assert_eq!(by_year.len(), 12);
    let (status, err) = app.get("/api/v1/households?status=不存在").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
}

#[tokio::test]
async fn uploads_through_the_api_report_json_problems() {
    let app = TestApp::spawn().await;
    let mut lines = vec![HEADER.to_string()];
    lines.extend(family("U1", "441621103212", 1));
    lines[2] = lines[2].replace(",汉族,", ",外星族,");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(gbk(&lines.join("\r\n"))).file_name("upload.csv"),
    );
    let r = app
        .client
        .post(app.url("/api/v1/imports/households?dry_run=false"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["committed"], false);
    assert_eq!(body["problems"][0]["row"], 3);
    assert_eq!(body["problems"][0]["column"], "民族");
    assert_eq!(household_count(&app).await, 0);

    lines[2] = lines[2].replace(",外星族,", ",汉族,");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(lines.join("\n").into_bytes()).file_name("upload.csv"),
    );
    let r = app
        .client
        .post(app.url("/api/v1/imports/households"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["committed"], true);
    assert_eq!(body["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(household_count(&app).await, 1);
}

#[tokio::test]
async fn no_full_id_number_leaves_the_system_unasked() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let rows = family("M1", "441621103212", 9);
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.split(',').nth(5).unwrap().to_string())
        .collect();
    let file = write_file(
        &dir,
        "m.csv",
        format!("{HEADER}\n{}\n", rows.join("\n")).as_bytes(),
    );
    let out = app.bangfu(&["import", "households", &file]);
    let mut seen =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // A failing import that quotes them.
    let mut bad = rows.clone();
    bad[1] = bad[1].replace(",女,", ",男,");
    let bad_file = write_file(
        &dir,
        "n.csv",
        format!("{HEADER}\n{}\n", bad.join("\n").replace("M1", "M2")).as_bytes(),
    );
    let out = app.bangfu(&["import", "households", &bad_file]);
    seen += &String::from_utf8_lossy(&out.stderr);
    let items = app.get_all("/api/v1/households").await;
    let id = items[0]["id"].as_i64().unwrap();
    for path in [
        "/api/v1/households".to_string(),
        format!("/api/v1/households/{id}"),
        format!("/households/{id}"),
        "/regions/441621103212".to_string(),
    ] {
        seen += &app.get_text(&path).await.1;
    }
    seen += &app.get_text("/api/v1/audit?limit=500").await.1;
    for full in &ids {
        assert!(!seen.contains(full.as_str()), "{full} leaked");
    }
}

#[tokio::test]
async fn killing_an_import_midway_leaves_the_database_as_it_was() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let seed = write_file(
        &dir,
        "seed.csv",
        format!("{HEADER}\n{}\n", family("K0", "441621103212", 1).join("\n")).as_bytes(),
    );
    assert!(run(&app, &["import", "households", &seed]).0);
    let counts = || async {
        let mut out = Vec::new();
        for table in [
            "households",
            "members",
            "household_status_history",
            "import_batches",
            "audit_log",
        ] {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            let n: i64 = match &app.db {
                store::Db::Sqlite(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(p)
                    .await
                    .unwrap(),
                store::Db::Postgres(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(p)
                    .await
                    .unwrap(),
            };
            out.push(n);
        }
        out
    };
    let before = counts().await;
    // A large file: 60,000 households, 180,000 people.
    let mut text = String::with_capacity(40 << 20);
    text.push_str(HEADER);
    text.push('\n');
    for i in 0..60_000u32 {
        let county = "441621";
        for (j, (rel, male, birth)) in [
            ("户主", true, "19700305"),
            ("配偶", false, "19720811"),
            ("之子", true, "20050120"),
        ]
        .iter()
        .enumerate()
        {
            let seq = (i * 3 + j as u32) % 500;
            let day = 1 + (i / 500) % 28;
            let birth = format!("{}{:02}", &birth[..6], day);
            let id = {
                let first17 = format!(
                    "{county}{birth}{:03}",
                    if *male { seq * 2 + 1 } else { seq * 2 }
                );
                let y: u32 = birth[..4].parse::<u32>().unwrap() - (i / 14_000);
                let first17 = format!("{}{y}{}", &first17[..6], &first17[10..]);
                format!(
                    "{first17}{}",
                    domain::id_number::check_char(&first17).unwrap()
                )
            };
            text.push_str(&format!(
                "K{i:06},,441621103212,某某,{},{id},{rel},汉族,初中,非在校生,健康,普通劳动力,6,一般贫困户,国家标准,因病,,2014,未脱贫,,\n",
                if *male { "男" } else { "女" }
            ));
        }
    }
    let big = write_file(&dir, "big.csv", text.as_bytes());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bangfu"))
        .args([
            "--database",
            &app.test_db.target,
            "import",
            "households",
            &big,
        ])
        .env("BANGFU_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has written for a while (the import holds its transaction open).
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the import was still running when killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        counts().await,
        before,
        "nothing of the killed import remains"
    );
    // The database still works: the same small import again is a clean update.
    let (ok, stdout, stderr) = run(&app, &["import", "households", &seed]);
    assert!(ok, "{stdout}{stderr}");
}

/// Issue 13 item 12: a 20-digit 残疾人证号 (a valid ID number, category 1–7, grade 1–4) is
/// accepted instead of an ID number at every door; the ID part is the person's identity, the
/// suffix is masked like the number and shown as category and grade in the household file.
#[tokio::test]
async fn a_disability_certificate_number_is_accepted_at_every_door_and_masked() {
    let app = TestApp::spawn().await;
    let head = id_number("441621", "19650101", 21, true);
    let cert = format!("{head}42"); // 肢体 二级
    let member = |id: &str| {
        json!({"name": "陈一", "sex": "男", "id_number": id, "relation": "户主", "ethnicity": "汉",
               "education": "小学", "schooling": "非在校生", "health": "残疾", "labour": "普通劳动力"})
    };
    let body = |no: &str, id: &str| {
        json!({"household_no": no, "village_code": "441621103212", "attribute": "一般贫困户",
               "identification_standard": "国家标准", "main_cause": "因残", "identified_year": 2015,
               "status": "未脱贫", "members": [member(id)]})
    };
    // Bad category or grade: a Chinese 422 naming the member's field, nothing written.
    for (bad, fragment) in [
        (format!("{head}82"), "残疾类别，应为 1–7"),
        (format!("{head}02"), "残疾类别，应为 1–7"),
        (format!("{head}45"), "残疾等级，应为 1–4"),
        (format!("{head}40"), "残疾等级，应为 1–4"),
    ] {
        let (status, err) = app.post("/api/v1/households", &body("DIS-0", &bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(err["error"]["details"][0]["field"], "members[0].id_number");
        let text = err.to_string();
        assert!(text.contains(fragment), "{fragment}: {text}");
        assert!(!text.contains(&head), "the number is never echoed");
    }
    assert_eq!(household_count(&app).await, 0);

    // The JSON API.
    let (status, h) = app.post("/api/v1/households", &body("DIS-1", &cert)).await;
    assert_eq!(status, StatusCode::CREATED, "{h}");
    let m = &h["members"][0];
    assert_eq!(
        m["id_number"],
        format!("{}**", domain::id_number::mask_id(&head))
    );
    assert_eq!(m["disability"]["category"], 4);
    assert_eq!(m["disability"]["category_name"], "肢体残疾");
    assert_eq!(m["disability"]["grade_name"], "二级");
    assert!(
        !h.to_string().contains(&head[4..14]),
        "masked everywhere: {h}"
    );
    // The same person under the plain ID number is the same person (uniqueness by the ID part).
    let (status, clash) = app.post("/api/v1/households", &body("DIS-2", &head)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{clash}");
    // The reveal gives the 证件号码 as registered.
    let (_, revealed) = app
        .post(
            &format!("/api/v1/members/{}/reveal", m["id"]),
            &json!({"reason": "核对残疾人证"}),
        )
        .await;
    assert_eq!(revealed["id_number"], cert.as_str());
    // The household file shows category and grade, and the masked number only.
    let (_, page) = app.get_text(&format!("/households/{}", h["id"])).await;
    assert!(page.contains("残疾人证：肢体残疾 二级"), "{page}");
    assert!(!page.contains(&cert) && !page.contains(&head));
    // The members export masks the certificate like the number.
    let (_, csv) = app.get_text("/api/v1/households/export.csv").await;
    assert!(
        csv.contains(&format!("{}**", domain::id_number::mask_id(&head))),
        "{csv}"
    );
    assert!(!csv.contains(&head));

    // The file import (CLI), with a second certificate holder and one bad row.
    let dir = tempfile::tempdir().unwrap();
    let other = id_number("441621", "19700707", 22, false);
    let p = Person {
        name: "林二",
        male: false,
        id: format!("{other}11"),
        relation: "户主",
    };
    let good = row("DIS-3", "441621103212", &p, "因残", "未脱贫", "");
    let path = write_file(&dir, "dis.csv", format!("{HEADER}\n{good}\n").as_bytes());
    let (ok, stdout, stderr) = run(&app, &["import", "households", &path]);
    assert!(ok, "{stdout}{stderr}");
    let id3 = crate::assessment::household_id(&app, "DIS-3").await;
    let (_, h3) = app.get(&format!("/api/v1/households/{id3}")).await;
    assert_eq!(h3["members"][0]["disability"]["category_name"], "视力残疾");
    assert_eq!(h3["members"][0]["disability"]["grade_name"], "一级");
    let bad = Person {
        id: format!("{}81", id_number("441621", "19700808", 23, true)),
        name: "林三",
        male: true,
        relation: "户主",
    };
    let bad = row("DIS-4", "441621103212", &bad, "因残", "未脱贫", "");
    let path = write_file(&dir, "bad.csv", format!("{HEADER}\n{bad}\n").as_bytes());
    let (ok, _, stderr) = run(&app, &["import", "households", &path]);
    assert!(!ok);
    assert!(
        stderr.contains("证件号码") && stderr.contains("残疾类别，应为 1–7"),
        "{stderr}"
    );
}
