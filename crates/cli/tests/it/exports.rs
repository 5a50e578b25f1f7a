//! The public downloads and what they cost: project and transaction exports stay open to anyone
//! (transparency) but an anonymous download leaves no audit row, while a logged-in user's is
//! recorded once; their money is the project API's to the fen; CSV cells that a spreadsheet
//! would run as a formula leave quoted; the full ledger check is for administrators and
//! auditors; a household export writes nothing (人编号 are given when members are written).

// Amounts are written yuan_fen (1_000_00 is 1,000.00 元) on purpose.
#![allow(clippy::inconsistent_digit_grouping)]

use crate::harness::TestApp;
use crate::projects::{create_project, org, project_body};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    store::on_db!(&app.db, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await).unwrap()
}

async fn export_audit_rows(app: &TestApp) -> i64 {
    scalar(
        app,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'export'",
    )
    .await
}

async fn post_tx(app: &TestApp, body: Value) -> Value {
    let (status, created) = app.post("/api/v1/transactions", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

fn tx(
    kind: &str,
    amount: i64,
    date: &str,
    from: i64,
    to: i64,
    project: i64,
    voucher: &str,
) -> Value {
    json!({"type": kind, "amount": amount, "value_date": date, "provider_id": from, "receiver_id": to,
           "fund_source": "fiscal", "project_id": project, "voucher_no": voucher})
}

/// Two projects with money: commitments, disbursements, one passed on, an expenditure and a
/// reversal (a negative amount). Returns (project ids, the first project's id).
async fn funded_projects(app: &TestApp, first_name: &str) -> Vec<i64> {
    let city = org(app, "深圳市乡村振兴和协作交流局", "city_office", true).await;
    let county = org(app, "德保县财政局", "government", false).await;
    let town = org(app, "德保县城关镇", "government", false).await;
    let builder = org(app, "某建设公司", "enterprise", false).await;
    let mut a = project_body(
        first_name,
        "education",
        &[("451024", 1), ("653131", 2)],
        true,
    );
    a["description"] = json!("+86 热线 @所有人");
    a["organisations"] = json!([{"organisation_id": city, "role": "funding"}, {"organisation_id": builder, "role": "实施方"}]);
    a["beneficiaries"] = json!([{"village_code": "451024100201", "households": 12, "people": 40}]);
    let a = create_project(app, &a).await;
    let b = create_project(
        app,
        &project_body("塔县产业园", "industry", &[("653131", 1)], false),
    )
    .await;
    let c = create_project(
        app,
        &project_body("未拨款的项目", "consumption", &[("451024", 1)], true),
    )
    .await;
    post_tx(
        app,
        tx("commitment", 1_000_00, "2019-04-01", city, county, a, "C-1"),
    )
    .await;
    let d = post_tx(
        app,
        tx("disbursement", 600_00, "2019-05-01", city, county, a, "D-1"),
    )
    .await;
    let mut pass = tx("disbursement", 250_00, "2019-05-03", county, town, a, "D-2");
    pass["passes_on"] = d["id"].clone();
    post_tx(app, pass).await;
    post_tx(
        app,
        tx(
            "expenditure",
            100_00,
            "2019-06-01",
            town,
            builder,
            a,
            "-E-1",
        ),
    )
    .await;
    post_tx(
        app,
        tx("commitment", 300_00, "2019-04-02", city, county, b, "C-2"),
    )
    .await;
    let wrong = post_tx(
        app,
        tx("disbursement", 120_00, "2019-05-02", city, county, b, "D-3"),
    )
    .await;
    let (status, r) = app
        .post(
            &format!("/api/v1/transactions/{}/reverse", wrong["id"]),
            &json!({"reason": "=多拨冲销", "value_date": "2019-05-04"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    post_tx(
        app,
        tx("disbursement", 100_00, "2019-05-05", city, county, b, "D-4"),
    )
    .await;
    vec![a, b, c]
}

async fn download(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let r = client.get(app.url(path)).send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.bytes().await.unwrap().to_vec())
}

/// The records of a CSV export (BOM removed), header first.
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes)
        .unwrap()
        .trim_start_matches('\u{feff}');
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    r.records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

fn column(rows: &[Vec<String>], name: &str) -> usize {
    rows[0]
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[tokio::test]
async fn anonymous_exports_are_public_streamed_and_not_audited_a_login_export_is_audited_once() {
    let app = TestApp::spawn().await;
    funded_projects(&app, "德保塔县教育帮扶").await;
    let public = app.anonymous_client();
    let before = export_audit_rows(&app).await;
    for path in [
        "/api/v1/projects/export.csv",
        "/api/v1/transactions/export.csv",
    ] {
        let (status, headers, body) = download(&public, &app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        assert!(
            headers.get("content-length").is_none(),
            "{path} is streamed (chunked), not built whole first"
        );
        assert!(csv_rows(&body).len() > 3, "{path}");
    }
    for path in [
        "/api/v1/projects/export.xlsx",
        "/api/v1/transactions/export.xlsx",
    ] {
        let (status, _, body) = download(&public, &app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            store::tabular::open_bytes("x.xlsx", body)
                .unwrap()
                .rows
                .count()
                >= 3,
            "{path}"
        );
    }
    assert_eq!(
        export_audit_rows(&app).await,
        before,
        "anonymous downloads of public data leave no audit row"
    );

    let auditor = app.client_as("auditor", None, None).await;
    let (status, _, _) = download(&auditor, &app, "/api/v1/projects/export.csv").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        export_audit_rows(&app).await,
        before + 1,
        "a logged-in export is recorded once"
    );
    let (status, _, _) = download(&app.client, &app, "/api/v1/transactions/export.xlsx").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export_audit_rows(&app).await, before + 2);
    let (_, audit) = app.get("/api/v1/audit?action=export").await;
    let entities: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity"].as_str().unwrap())
        .collect();
    assert_eq!(entities, ["ledger_entry", "project"]);
}

#[tokio::test]
async fn project_export_rows_carry_the_project_apis_money_to_the_fen() {
    let app = TestApp::spawn().await;
    let ids = funded_projects(&app, "德保塔县教育帮扶").await;
    let (_, _, body) = download(&app.anonymous_client(), &app, "/api/v1/projects/export.csv").await;
    let rows = csv_rows(&body);
    assert_eq!(rows.len(), 1 + ids.len());
    let col = |n: &str| column(&rows, n);
    for id in ids {
        let (_, p) = app
            .anonymous_client()
            .get(app.url(&format!("/api/v1/projects/{id}")))
            .send()
            .await
            .map(|r| (r.status(), r))
            .unwrap();
        let p: Value = p.json().await.unwrap();
        let row = rows
            .iter()
            .find(|r| r[col("系统编号")] == id.to_string())
            .unwrap();
        let yuan = |fen: &Value| domain::money::Fen(fen.as_i64().unwrap()).yuan_string();
        assert_eq!(
            row[col("承诺（元）")],
            yuan(&p["money"]["committed"]),
            "project {id}"
        );
        assert_eq!(
            row[col("拨付（元）")],
            yuan(&p["money"]["disbursed"]),
            "project {id}"
        );
        assert_eq!(
            row[col("支出（元）")],
            yuan(&p["money"]["expended"]),
            "project {id}"
        );
        let bp = |v: &Value| domain::project::format_bp(v.as_i64());
        assert_eq!(
            row[col("拨付进度")],
            bp(&p["money"]["disbursement_progress_bp"]),
            "project {id}"
        );
        assert_eq!(
            row[col("支出进度")],
            bp(&p["money"]["expenditure_progress_bp"]),
            "project {id}"
        );
        assert_eq!(row[col("项目名称")], p["name"].as_str().unwrap());
        assert_eq!(
            row[col("受益户数")],
            p["beneficiary_totals"]["households"].to_string()
        );
    }
    let a = &rows[1];
    assert_eq!(a[col("承诺（元）")], "1000.00");
    assert_eq!(
        a[col("拨付（元）")],
        "600.00",
        "a pass-on is not disbursed twice"
    );
    assert_eq!(a[col("项目地点")], "451024、653131:2");
    assert!(
        a[col("参与机构")].contains("出资方:深圳市乡村振兴和协作交流局("),
        "{a:?}"
    );
    assert_eq!(
        rows[2][col("拨付（元）")],
        "100.00",
        "the reversal takes the wrong disbursement out"
    );
    assert_eq!(rows[3][col("承诺（元）")], "0.00");
}

#[tokio::test]
async fn csv_cells_that_would_run_as_formulas_are_quoted_and_numbers_stay_numbers() {
    let app = TestApp::spawn().await;
    let name = "=HYPERLINK(\"http://evil.example/\",\"详情\")";
    funded_projects(&app, name).await;
    let public = app.anonymous_client();
    let (_, _, body) = download(&public, &app, "/api/v1/projects/export.csv").await;
    let rows = csv_rows(&body);
    let a = &rows[1];
    assert_eq!(
        a[column(&rows, "项目名称")],
        format!("'{name}"),
        "a spreadsheet shows it as text"
    );
    assert_eq!(a[column(&rows, "项目简介")], "'+86 热线 @所有人");
    assert!(
        !String::from_utf8_lossy(&body).contains(",=HYPERLINK"),
        "no cell starts with ="
    );

    let (_, _, body) = download(&public, &app, "/api/v1/transactions/export.csv").await;
    let rows = csv_rows(&body);
    let amount = column(&rows, "金额（元）");
    let reversal = rows
        .iter()
        .find(|r| r[column(&rows, "冲销凭证号")] == "D-3")
        .unwrap();
    assert_eq!(
        reversal[amount], "-120.00",
        "a negative amount stays a number"
    );
    assert_eq!(reversal[column(&rows, "摘要")], "'=多拨冲销");
    assert!(
        rows.iter().any(|r| r[column(&rows, "凭证号")] == "'-E-1"),
        "a voucher number that starts with - is text"
    );
    assert!(
        rows[1..]
            .iter()
            .all(|r| r[column(&rows, "交易编号")].parse::<i64>().is_ok()),
        "ids stay numbers"
    );

    // XLSX cells are strings: the name comes back as written, not as a formula or its value.
    // (A formula cell would read back as its cached result, not as this text.)
    let (_, _, body) = download(&public, &app, "/api/v1/projects/export.xlsx").await;
    let table = store::tabular::open_bytes("p.xlsx", body).unwrap();
    let at = table.headers.iter().position(|h| h == "项目名称").unwrap();
    let mut rows = table.rows;
    let first = rows.next().unwrap().unwrap();
    assert_eq!(first.cells[at], name);
}

#[tokio::test]
async fn the_full_ledger_check_is_for_administrators_and_auditors_and_the_ledger_page_shows_the_head()
 {
    let app = TestApp::spawn().await;
    funded_projects(&app, "德保塔县教育帮扶").await;
    let (status, body) = app
        .send(
            &app.anonymous_client(),
            reqwest::Method::GET,
            "/api/v1/ledger/verify",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let county = app.client_as("county", Some("451024"), None).await;
    let organisation = app.client_as("org", None, Some(1)).await;
    let district = app.client_as("district", None, Some(1)).await;
    for client in [&county, &organisation, &district] {
        let (status, body) = app
            .send(client, reqwest::Method::GET, "/api/v1/ledger/verify", None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("审计"),
            "{body}"
        );
    }
    let auditor = app.client_as("auditor", None, None).await;
    let (status, body) = app
        .send(
            &auditor,
            reqwest::Method::GET,
            "/api/v1/ledger/verify",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], true);
    let (status, body) = app.get("/api/v1/ledger/verify").await;
    assert_eq!((status, body["count"].as_i64()), (StatusCode::OK, Some(8)));

    // The public still sees the head (cheap) and how to check it without the server.
    let (_, head) = app
        .send(
            &app.anonymous_client(),
            reqwest::Method::GET,
            "/api/v1/ledger/head",
            None,
        )
        .await;
    let page = app
        .anonymous_client()
        .get(app.url("/ledger"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(
        page.contains(head["head_hash"].as_str().unwrap()),
        "the head hash is shown"
    );
    assert!(
        page.contains("bangfu ledger verify") && page.contains("/api/v1/transactions/export.csv"),
        "how to verify"
    );

    let (_, doc) = app.get("/api/v1/openapi.json").await;
    let responses = &doc["paths"]["/api/v1/ledger/verify"]["get"]["responses"];
    assert!(
        responses["401"].is_object() && responses["403"].is_object(),
        "{responses}"
    );
}

#[tokio::test]
async fn members_are_numbered_when_written_and_a_household_export_writes_nothing() {
    let app = TestApp::spawn().await;
    let body = json!({
        "household_no": "4416211032120001", "village_code": "441621103212", "attribute": "一般贫困户",
        "identification_standard": "国家标准", "main_cause": "因病", "identified_year": 2015, "status": "未脱贫",
        "members": [
            {"name": "陈一", "sex": "男", "id_number": crate::registry::id_number("441621", "19650101", 21, true), "relation": "户主",
             "ethnicity": "汉", "education": "小学", "schooling": "非在校生", "health": "健康", "labour": "普通劳动力"},
            {"name": "陈二", "sex": "女", "id_number": crate::registry::id_number("441621", "19680202", 21, false), "relation": "配偶",
             "ethnicity": "汉", "education": "小学", "schooling": "非在校生", "health": "健康", "labour": "普通劳动力"}
        ]
    });
    let (status, created) = app.post("/api/v1/households", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM members WHERE member_no IS NULL").await,
        0,
        "numbered when written"
    );
    let members_digest = || async {
        let rows: Vec<(i64, Option<String>, String)> = store::on_db!(&app.db, p => sqlx::query_as(
            "SELECT id, member_no, updated_at FROM members ORDER BY id").fetch_all(p).await)
        .unwrap();
        let households: Vec<(i64, String)> = store::on_db!(&app.db, p => sqlx::query_as(
            "SELECT id, updated_at FROM households ORDER BY id").fetch_all(p).await)
        .unwrap();
        format!("{rows:?}{households:?}")
    };
    let before = members_digest().await;
    let audit_before = scalar(&app, "SELECT COUNT(*) FROM audit_log").await;
    let (status, _, first) = download(&app.client, &app, "/api/v1/households/export.csv").await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, second) = download(&app.client, &app, "/api/v1/households/export.csv").await;
    assert_eq!(first, second, "the same bytes twice");
    let rows = csv_rows(&first);
    let no = column(&rows, "人编号");
    assert!(
        rows[1..].iter().all(|r| !r[no].is_empty()),
        "every row carries its 人编号: {rows:?}"
    );
    assert_eq!(
        members_digest().await,
        before,
        "the export changed no member or household"
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM audit_log").await,
        audit_before + 2,
        "only the two export entries"
    );
    assert_eq!(
        export_audit_rows(&app).await,
        2,
        "personal data: every export is recorded"
    );
}
