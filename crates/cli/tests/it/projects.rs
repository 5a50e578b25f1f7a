//! Projects end to end: creation with locations, organisations, results, beneficiaries and theme
//! indicators; every problem reported at once with nothing written; the status workflow; the
//! filters of the list; the pages.

// Amounts are written yuan_fen (1_000_00 is 1,000.00 元) on purpose.
#![allow(clippy::inconsistent_digit_grouping)]

use crate::harness::{TestApp, error_fields};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub async fn org(app: &TestApp, name: &str, kind: &str, shenzhen_side: bool) -> i64 {
    let (status, body) = app
        .post(
            "/api/v1/organisations",
            &json!({"name": name, "kind": kind, "shenzhen_side": shenzhen_side}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

/// A minimal valid project at these locations (region codes with weights).
pub fn project_body(name: &str, theme: &str, locations: &[(&str, i64)], livelihood: bool) -> Value {
    json!({
        "name": name,
        "theme": theme,
        "livelihood": livelihood,
        "approved_on": "2019-03-01",
        "start_date": "2019-04-01",
        "end_date": "2020-12-31",
        "budget": 1_000_000_00,
        "locations": locations.iter().map(|(c, w)| json!({"region_code": c, "weight": w})).collect::<Vec<_>>(),
    })
}

pub async fn create_project(app: &TestApp, body: &Value) -> i64 {
    let (status, created) = app.post("/api/v1/projects", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_i64().unwrap()
}

async fn project_count(app: &TestApp) -> usize {
    app.get_all("/api/v1/projects").await.len()
}

async fn create_household(app: &TestApp, no: &str) -> i64 {
    let body = json!({
        "household_no": no, "village_code": "441621103212", "attribute": "一般贫困户", "identification_standard": "国家标准",
        "main_cause": "因病", "identified_year": 2015, "status": "未脱贫",
        "members": [
            {"name": "陈一", "sex": "男", "id_number": crate::registry::id_number("441621", "19650101", 21, true), "relation": "户主", "ethnicity": "汉",
             "education": "小学", "schooling": "非在校生", "health": "健康", "labour": "普通劳动力"},
            {"name": "陈二", "sex": "女", "id_number": crate::registry::id_number("441621", "19680202", 21, false), "relation": "配偶", "ethnicity": "汉",
             "education": "小学", "schooling": "非在校生", "health": "健康", "labour": "普通劳动力"}
        ]
    });
    let (status, created) = app.post("/api/v1/households", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_project_is_created_whole_and_its_budget_splits_over_locations_to_the_fen() {
    let app = TestApp::spawn().await;
    let city = org(&app, "深圳市乡村振兴和协作交流局", "city_office", true).await;
    let cgn = org(&app, "中广核", "enterprise", true).await;
    let household = create_household(&app, "4416211032120099").await;
    let mut body = project_body(
        "白鹭班助学",
        "education",
        &[("441621", 1), ("451024", 1), ("451081", 1)],
        true,
    );
    body["budget"] = json!(100);
    body["sub_type"] = json!("白鹭班");
    body["code"] = json!("SZ-2019-EDU-001");
    body["organisations"] = json!([{"organisation_id": cgn, "role": "funding"}, {"organisation_id": city, "role": "accountable"}, {"organisation_id": cgn, "role": "实施方"}]);
    body["results"] = json!([{"indicator": "资助学生", "unit": "人", "year": 2019, "baseline": 0, "target": 50, "actual": 48}]);
    body["beneficiaries"] = json!([
        {"household_id": household},
        {"village_code": "451024100201", "households": 12, "people": 40, "note": "村里的助学对象"}
    ]);
    body["indicators"] = json!([{"indicator": "students_supported", "year": 2019, "value": 48}, {"indicator": "开设班级", "year": 2019, "value": 1}]);
    let (status, p) = app.post("/api/v1/projects", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["theme_name"], "教育扶贫");
    assert_eq!(p["status"], "approved");
    assert_eq!(p["status_history"][0]["status_name"], "立项");
    assert_eq!(p["status_history"][0]["changed_on"], "2019-03-01");
    assert_eq!(
        p["status_history"][0]["changed_by"],
        crate::harness::ADMIN_USER
    );
    let shares: Vec<i64> = p["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["budget_share"].as_i64().unwrap())
        .collect();
    assert_eq!(
        shares,
        [34, 33, 33],
        "equal weights, largest remainder, sums to the budget"
    );
    assert_eq!(
        p["locations"][1]["full_name"],
        "广西壮族自治区 百色市 德保县"
    );
    assert_eq!(p["organisations"].as_array().unwrap().len(), 3);
    assert_eq!(
        p["beneficiary_totals"],
        json!({"households": 13, "people": 42, "villages": 2, "linked": 1})
    );
    assert_eq!(p["beneficiaries"][0]["household_no"], "4416211032120099");
    assert_eq!(p["indicators"][1]["indicator_name"], "资助学生");
    assert_eq!(p["money"]["committed"], 0);
    assert!(p["money"]["disbursement_progress_bp"].is_null());
    let id = p["id"].as_i64().unwrap();

    let (status, results) = app.get(&format!("/api/v1/projects/{id}/results")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(results["items"][0]["actual"], 48.0);
    let (_, bens) = app
        .get(&format!("/api/v1/projects/{id}/beneficiaries"))
        .await;
    assert_eq!(bens["items"].as_array().unwrap().len(), 2);

    // Filters: theme, status, region, organisation, year, livelihood.
    create_project(
        &app,
        &project_body("塔县光伏", "industry", &[("653131", 1)], false),
    )
    .await;
    assert_eq!(
        app.get_all("/api/v1/projects?theme=教育扶贫").await.len(),
        1
    );
    assert_eq!(app.get_all("/api/v1/projects?region=65").await.len(), 1);
    assert_eq!(
        app.get_all("/api/v1/projects?region=4510").await[0]["id"],
        id
    );
    assert_eq!(
        app.get_all(&format!("/api/v1/projects?organisation_id={cgn}"))
            .await
            .len(),
        1
    );
    assert_eq!(
        app.get_all("/api/v1/projects?year=2020&status=approved")
            .await
            .len(),
        2
    );
    assert_eq!(app.get_all("/api/v1/projects?year=2021").await.len(), 0);
    assert_eq!(
        app.get_all("/api/v1/projects?livelihood=true").await.len(),
        1
    );
    assert_eq!(app.get_all("/api/v1/projects?q=光伏").await.len(), 1);
    let (status, err) = app.get("/api/v1/projects?theme=扶贫").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&err), ["theme"]);
}

#[tokio::test]
async fn every_problem_of_a_project_is_reported_at_once_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let before = project_count(&app).await;
    let body = json!({
        "name": "",
        "theme": "扶贫",
        "approved_on": "2019-02-30",
        "end_date": "2018-01-01",
        "budget": -1,
        "pairing_id": 999,
        "locations": [{"region_code": "441699"}, {"region_code": "44162"}],
        "organisations": [{"organisation_id": 999, "role": "owner"}],
        "results": [{"indicator": "", "unit": "人", "year": 1800}],
        "beneficiaries": [{"household_id": 987654}, {"village_code": "441621", "households": 3}],
        "indicators": [{"indicator": "happiness", "year": 2019, "value": -3}],
        "loans": [{"amount": 0, "term_months": 400, "issued_on": "x", "outstanding": 5, "overdue": 9}]
    });
    let (status, err) = app.post("/api/v1/projects", &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let fields = error_fields(&err);
    for f in [
        "name",
        "theme",
        "approved_on",
        "budget",
        "pairing_id",
        "locations[0].region_code",
        "locations[1].region_code",
        "organisations[0].organisation_id",
        "organisations[0].role",
        "results[0].indicator",
        "results[0].year",
        "beneficiaries[0].household_id",
        "beneficiaries[1].village_code",
        "indicators[0].indicator",
        "indicators[0].value",
        "loans[0].amount",
        "loans[0].term_months",
        "loans[0].issued_on",
        "loans[0].outstanding",
    ] {
        assert!(
            fields.contains(&f.to_string()),
            "{f} missing from {fields:?}"
        );
    }
    let messages = err.to_string();
    assert!(
        messages.contains("主题“扶贫”无效") && messages.contains("区划代码 441699 不存在"),
        "{messages}"
    );
    assert_eq!(project_count(&app).await, before);
    // No locations at all is a problem of its own.
    let mut no_place = project_body("无地点", "rural", &[], false);
    no_place["locations"] = json!([]);
    let (status, err) = app.post("/api/v1/projects", &no_place).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&err), ["locations"]);
    assert_eq!(project_count(&app).await, before);
}

#[tokio::test]
async fn the_status_workflow_moves_one_step_at_a_time_dated_and_attributed() {
    let app = TestApp::spawn().await;
    let id = create_project(
        &app,
        &project_body("紫金县道路硬化", "rural", &[("441621103", 1)], true),
    )
    .await;
    let path = format!("/api/v1/projects/{id}/status");
    let (status, err) = app
        .post(&path, &json!({"status": "已完工", "date": "2019-06-01"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&err), ["status"]);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("可改为：实施中、终止"),
        "{err}"
    );
    let (status, err) = app
        .post(&path, &json!({"status": "实施中", "date": "2019-01-01"}))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "before the last change"
    );
    assert_eq!(error_fields(&err), ["date"]);
    for (s, d) in [
        ("in_progress", "2019-04-01"),
        ("已完工", "2020-10-01"),
        ("已验收", "2020-12-20"),
    ] {
        let (status, p) = app
            .post(&path, &json!({"status": s, "date": d, "note": "按计划"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{p}");
    }
    let (_, p) = app.get(&format!("/api/v1/projects/{id}")).await;
    assert_eq!(p["status_name"], "已验收");
    assert_eq!(p["status_date"], "2020-12-20");
    let history: Vec<(&str, &str)> = p["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["status_name"].as_str().unwrap(),
                h["changed_on"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            ("立项", "2019-03-01"),
            ("实施中", "2019-04-01"),
            ("已完工", "2020-10-01"),
            ("已验收", "2020-12-20")
        ]
    );
    assert!(
        p["status_history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["changed_by"] == crate::harness::ADMIN_USER)
    );
    let (status, _) = app
        .post(
            &path,
            &json!({"status": "终止", "date": "2021-01-01", "note": "x"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a final state stays final"
    );

    // Termination needs a reason.
    let other = create_project(
        &app,
        &project_body("中止的项目", "tourism", &[("441621", 1)], false),
    )
    .await;
    let (status, err) = app
        .post(
            &format!("/api/v1/projects/{other}/status"),
            &json!({"status": "终止", "date": "2019-05-01"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&err), ["note"]);
}

#[tokio::test]
async fn a_project_is_replaced_by_put_but_its_status_is_not() {
    let app = TestApp::spawn().await;
    let id = create_project(
        &app,
        &project_body("金融扶贫小额信贷", "finance", &[("441621", 1)], true),
    )
    .await;
    let mut body = project_body(
        "金融扶贫小额信贷（二期）",
        "finance",
        &[("441621", 3), ("441622", 1)],
        true,
    );
    body["status"] = json!("accepted");
    body["loans"] = json!([{"borrower": "某农户", "amount": 5_000_000, "term_months": 36, "issued_on": "2019-05-01", "outstanding": 2_000_000, "overdue": 0}]);
    let (status, p) = app.put(&format!("/api/v1/projects/{id}"), &body).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(
        p["name"], "金融扶贫小额信贷(二期)",
        "text is NFKC-normalised like every name"
    );
    assert_eq!(
        p["status"], "approved",
        "the status moves only through the workflow"
    );
    assert_eq!(p["locations"][0]["budget_share"], 75_000_000);
    assert_eq!(p["loans"][0]["outstanding"], 2_000_000);
    let (_, report) = app.get("/api/v1/reports/indicators").await;
    assert_eq!(report["loans"]["loans"], 1);
    assert_eq!(report["loans"]["amount"], 5_000_000);
    let (status, _) = app.put("/api/v1/projects/99999", &body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn project_pages_show_money_locations_people_and_results() {
    let app = TestApp::spawn().await;
    let city = org(&app, "深圳市<b>协作办</b>", "city_office", true).await;
    let county = org(&app, "塔什库尔干县财政局", "government", false).await;
    let mut body = project_body(
        "塔县<script>x</script>安居工程",
        "rural",
        &[("653131", 1)],
        true,
    );
    body["organisations"] = json!([{"organisation_id": city, "role": "funding"}, {"organisation_id": county, "role": "implementing"}]);
    body["results"] =
        json!([{"indicator": "安居房", "unit": "套", "year": 2019, "target": 200, "actual": 180}]);
    body["beneficiaries"] = json!([{"households": 200, "people": 830}]);
    let id = create_project(&app, &body).await;
    for (t, amount) in [("commitment", 80_000_000), ("disbursement", 60_000_000)] {
        let (status, e) = app
            .post(
                "/api/v1/transactions",
                &json!({"type": t, "amount": amount, "value_date": "2019-05-01", "provider_id": city,
                "receiver_id": county, "fund_source": "fiscal", "project_id": id}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{e}");
    }
    let (status, list) = app.get_text("/projects?theme=rural&region=65").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains(&format!("href=\"/projects/{id}\"")), "{list}");
    assert!(
        !list.contains("<script>x</script>")
            && (list.contains("&lt;script&gt;") || list.contains("&#60;script&#62;")),
        "{list}"
    );
    let (status, page) = app.get_text(&format!("/projects/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    for needle in [
        "新疆维吾尔自治区 喀什地区 塔什库尔干塔吉克自治县",
        "安居房",
        "830",
        "title=\"800,000.00元\">80.00万元</span>",
        "title=\"600,000.00元\">60.00万元</span>",
        "75.00%",
        "出资方",
        "立项",
    ] {
        assert!(
            page.contains(needle),
            "{needle} missing from the project page"
        );
    }
    let (status, org_page) = app.get_text(&format!("/organisations/{city}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        org_page.contains(&format!("href=\"/projects/{id}\"")) && org_page.contains("出资方"),
        "what it funded"
    );
    assert!(
        org_page.contains("title=\"600,000.00元\">60.00万元</span>"),
        "what it disbursed"
    );
    let (status, _) = app.get_text("/projects/424242").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get_text("/projects?theme=nonsense").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text.as_bytes()).unwrap();
    path.to_string_lossy().into_owned()
}

fn run(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = app.bangfu(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PROJECT_HEADER: &str = "项目编号,项目名称,主题,子类型,民生项目,对口关系编号,立项日期,开始日期,结束日期,状态,状态日期,预算（元）,项目地点,参与机构,项目简介";

#[tokio::test]
async fn projects_import_all_or_nothing_with_a_dry_run_and_export_back() {
    let app = TestApp::spawn().await;
    let cgn = org(&app, "中广核", "enterprise", true).await;
    let dir = tempfile::tempdir().unwrap();
    let good = format!(
        "\u{feff}{PROJECT_HEADER}\n\
         ZJ-2019-01,紫金县光伏扶贫,产业扶贫,光伏,否,,2019-03-01,2019-04-01,2020-12-31,,,\"1,200,000.50\",441621:3、441622,出资方:中广核({cgn})；实施方:中广核,光伏电站\n\
         TX-2019-02,塔县白鹭班,education,白鹭班,是,,2019/5/1,,,已完工,2020-07-01,80万,653131,出资方:{cgn},\n"
    );
    // "80万" is not an amount this system guesses at: the whole file is refused first.
    let file = write(&dir, "projects.csv", &good);
    let (ok, _, stderr) = run(&app, &["import", "projects", &file]);
    assert!(!ok);
    assert!(
        stderr.contains("第 3 行 预算（元） 列") && stderr.contains("未写入任何数据"),
        "{stderr}"
    );
    assert_eq!(project_count(&app).await, 0);

    let good = good.replace("80万", "800000");
    let file = write(&dir, "projects.csv", &good);
    let (ok, stdout, stderr) = run(&app, &["import", "projects", &file, "--dry-run"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("试运行") && stdout.contains("新增项目 2 个"),
        "{stdout}"
    );
    assert_eq!(project_count(&app).await, 0, "a dry run writes nothing");
    let (ok, stdout, stderr) = run(&app, &["import", "projects", &file]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("新增项目 2 个，更新 0 个"), "{stdout}");
    let items = app.get_all("/api/v1/projects").await;
    assert_eq!(items.len(), 2);
    let zj = items.iter().find(|p| p["code"] == "ZJ-2019-01").unwrap();
    let (_, zj) = app.get(&format!("/api/v1/projects/{}", zj["id"])).await;
    assert_eq!(zj["budget"], 120_000_050);
    let shares: Vec<i64> = zj["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["budget_share"].as_i64().unwrap())
        .collect();
    assert_eq!(shares, [90_000_038, 30_000_012], "weights 3:1, to the fen");
    assert_eq!(zj["organisations"].as_array().unwrap().len(), 2);
    let tx = items.iter().find(|p| p["code"] == "TX-2019-02").unwrap();
    assert_eq!(
        tx["status_name"], "已完工",
        "an imported finished project keeps its state"
    );

    // Export, edit one name, import back: one project updated, nothing added.
    let out = dir.path().join("export.csv");
    let (ok, _, stderr) = run(&app, &["export", "projects", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let exported = std::fs::read_to_string(&out).unwrap();
    assert!(
        exported.starts_with('\u{feff}') && exported.contains("出资方:中广核"),
        "{exported}"
    );
    let edited = exported.replace("紫金县光伏扶贫", "紫金县光伏扶贫(扩建)");
    let file = write(&dir, "edited.csv", &edited);
    let (ok, stdout, stderr) = run(&app, &["import", "projects", &file]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("新增项目 0 个，更新 2 个"), "{stdout}");
    assert_eq!(app.get_all("/api/v1/projects?q=扩建").await.len(), 1);
    let xlsx = dir.path().join("export.xlsx");
    let (ok, _, _) = run(&app, &["export", "projects", xlsx.to_str().unwrap()]);
    assert!(ok);
    let table = store::tabular::open_path(&xlsx).unwrap();
    assert_eq!(table.headers[0], "项目编号");
    assert_eq!(table.rows.count(), 2);
}

#[tokio::test]
async fn a_bad_projects_file_names_every_row_and_column_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{PROJECT_HEADER}\n\
         A-1,好项目,rural,,否,,2019-03-01,,,,,100,441621,,\n\
         A-1,重复编号,rural,,否,,2019-03-01,,,,,100,441621,,\n\
         A-3,坏主题,扶贫,,也许,,2019-02-30,,,,,100,441699,出资方:不存在的机构,\n"
    );
    let file = write(&dir, "bad.csv", &text);
    let (ok, _, stderr) = run(&app, &["import", "projects", &file]);
    assert!(!ok);
    for needle in [
        "第 3 行 项目编号 列",
        "第 4 行 主题 列",
        "第 4 行 民生项目 列",
        "第 4 行 参与机构 列",
        "未写入任何数据",
    ] {
        assert!(stderr.contains(needle), "{needle} missing from {stderr}");
    }
    assert_eq!(project_count(&app).await, 0);
    // Through the API: the same report as JSON, 422, nothing written.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(text.into_bytes()).file_name("bad.csv"),
    );
    let r = app
        .client
        .post(app.url("/api/v1/imports/projects"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["committed"], false);
    assert!(
        body["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["row"] == 4 && p["column"] == "主题"),
        "{body}"
    );
    assert_eq!(project_count(&app).await, 0);
    let missing = write(&dir, "missing.csv", "项目名称,主题\n某项目,rural\n");
    let (ok, _, stderr) = run(&app, &["import", "projects", &missing]);
    assert!(!ok && stderr.contains("缺少“项目编号”列"), "{stderr}");
}

#[tokio::test]
async fn microloans_follow_the_versioned_term_and_amount_rules() {
    let app = TestApp::spawn().await;
    let id = create_project(
        &app,
        &project_body("金融扶贫小额信贷", "finance", &[("441621", 1)], true),
    )
    .await;
    let mut body = project_body("金融扶贫小额信贷", "finance", &[("441621", 1)], true);
    let loan = |amount: i64, term: i64| json!({"borrower": "某农户", "amount": amount, "term_months": term, "issued_on": "2019-05-01", "outstanding": 0, "overdue": 0});
    // Three years and 5万元 exactly are fine; one month or one fen more is not a microloan.
    body["loans"] = json!([loan(50_000_00, 36)]);
    let (status, p) = app.put(&format!("/api/v1/projects/{id}"), &body).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    body["loans"] = json!([loan(50_000_01, 36), loan(10_000_00, 37)]);
    let (status, err) = app.put(&format!("/api/v1/projects/{id}"), &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(
        error_fields(&err),
        ["loans[0].amount", "loans[1].term_months"]
    );
    assert!(err.to_string().contains("每户不超过 50000 元"), "{err}");
    assert!(err.to_string().contains("1–36 个月"), "{err}");
    // The limits are rule items: a longer term once the rules say so.
    let (status, _) = app
        .put("/api/v1/rules", &json!({"microloan_max_months": 60}))
        .await;
    assert_eq!(status, StatusCode::OK);
    body["loans"] = json!([loan(10_000_00, 37)]);
    let (status, p) = app.put(&format!("/api/v1/projects/{id}"), &body).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let (_, page) = app.get_text("/assessment/rules").await;
    assert!(
        page.contains("期限不超过 60 个月"),
        "the rules page shows it"
    );
}

/// Issue 18 item 7: pages show money the way Chinese finance readers expect (万元 / 亿元 with
/// two decimals), the exact amount to the fen in the tooltip; the API keeps the raw fen.
#[tokio::test]
async fn pages_show_money_in_wan_and_yi_with_the_exact_amount_in_a_tooltip() {
    let app = TestApp::spawn().await;
    let mut body = project_body("预算展示项目", "rural", &[("653131", 1)], true);
    body["budget"] = json!(28_574_924_27i64);
    let id = create_project(&app, &body).await;
    let mut big = project_body("大额项目", "rural", &[("653131", 1)], true);
    big["budget"] = json!(4_216_350_000_000i64);
    let big_id = create_project(&app, &big).await;

    let (status, list) = app.get_text("/projects").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains("<span class=\"money\" title=\"28,574,924.27元\">2,857.49万元</span>"),
        "the budget in 万元, exact in the tooltip: {list}"
    );
    assert!(
        list.contains("<span class=\"money\" title=\"42,163,500,000.00元\">421.63亿元</span>"),
        "the large budget in 亿元"
    );
    assert!(
        !list.contains("28574924.27") && !list.contains("42163500000.00"),
        "no raw figure left on the page"
    );
    let (_, page) = app.get_text(&format!("/projects/{id}")).await;
    assert!(
        page.contains("title=\"28,574,924.27元\">2,857.49万元</span>"),
        "the project page's budget"
    );
    // The API keeps the exact raw value.
    let (status, p) = app.get(&format!("/api/v1/projects/{big_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["budget"], 4_216_350_000_000i64, "{p}");
}
