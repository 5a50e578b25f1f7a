//! The fund ledger end to end: each invariant refused with its field and nothing written;
//! reversals; append-only enforced by the database itself; `bangfu ledger verify` on an
//! untouched and on a tampered ledger; chains that never fork; and the reports, whose every
//! grouping adds up to the same total to the fen on both backends.

// Amounts are written yuan_fen (1_000_00 is 1,000.00 元) on purpose.
#![allow(clippy::inconsistent_digit_grouping)]

use crate::harness::{TestApp, error_fields};
use crate::projects::{create_project, org, project_body};
use reqwest::StatusCode;
use serde_json::{Value, json};
use store::Db;

/// Organisations and projects shared by the tests.
struct World {
    city: i64,
    district: i64,
    foundation: i64,
    county_a: i64,
    county_b: i64,
    contractor: i64,
    /// Education, livelihood, at 德保县 (45) and 塔什库尔干 (65), equal weights.
    a: i64,
    /// Industry, not livelihood, at 塔什库尔干 (65).
    b: i64,
}

async fn world(app: &TestApp) -> World {
    let city = org(app, "深圳市乡村振兴和协作交流局", "city_office", true).await;
    let district = org(app, "福田区协作办", "district_office", true).await;
    let foundation = org(app, "华强公益基金会", "foundation", true).await;
    let county_a = org(app, "德保县财政局", "government", false).await;
    let county_b = org(app, "塔什库尔干县财政局", "government", false).await;
    let contractor = org(app, "某建设公司", "enterprise", false).await;
    let a = create_project(
        app,
        &project_body(
            "德保塔县教育帮扶",
            "education",
            &[("451024", 1), ("653131", 1)],
            true,
        ),
    )
    .await;
    let b = create_project(
        app,
        &project_body("塔县产业园", "industry", &[("653131", 1)], false),
    )
    .await;
    World {
        city,
        district,
        foundation,
        county_a,
        county_b,
        contractor,
        a,
        b,
    }
}

fn tx(
    kind: &str,
    amount: i64,
    date: &str,
    from: i64,
    to: i64,
    source: &str,
    project: i64,
) -> Value {
    json!({"type": kind, "amount": amount, "value_date": date, "provider_id": from, "receiver_id": to,
           "fund_source": source, "project_id": project, "voucher_no": format!("V-{date}-{amount}")})
}

async fn post(app: &TestApp, body: &Value) -> Value {
    let (status, created) = app.post("/api/v1/transactions", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn ledger_count(app: &TestApp) -> i64 {
    let (_, head) = app.get("/api/v1/ledger/head").await;
    head["count"].as_i64().unwrap()
}

/// Posts `body`, expects a 422 naming `field` with `fragment` in the message, and checks that
/// nothing was written (ledger count, the entries listed, the audit log).
async fn assert_refused(app: &TestApp, body: &Value, field: &str, fragment: &str) {
    let before = ledger_count(app).await;
    let listed = app.get_all("/api/v1/transactions").await.len();
    let audit_before = audit_rows(app).await;
    let (status, err) = app.post("/api/v1/transactions", body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        error_fields(&err).contains(&field.to_string()),
        "{field} not in {err}"
    );
    let text = err["error"]["details"].to_string();
    assert!(text.contains(fragment), "“{fragment}” not in {text}");
    assert_eq!(ledger_count(app).await, before, "nothing was written");
    assert_eq!(app.get_all("/api/v1/transactions").await.len(), listed);
    assert_eq!(
        audit_rows(app).await,
        audit_before,
        "not even an audit entry"
    );
}

async fn audit_rows(app: &TestApp) -> i64 {
    store::on_db!(&app.db, p => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE entity = 'ledger_entry'").fetch_one(p).await)
        .unwrap()
}

#[tokio::test]
async fn a_disbursement_above_the_commitments_is_refused_unless_flagged_with_a_reason() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    post(
        &app,
        &tx(
            "commitment",
            1_000_00,
            "2019-04-01",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
    )
    .await;
    post(
        &app,
        &tx(
            "disbursement",
            600_00,
            "2019-05-01",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
    )
    .await;
    let over = tx(
        "disbursement",
        400_01,
        "2019-06-01",
        w.city,
        w.county_a,
        "fiscal",
        w.a,
    );
    assert_refused(&app, &over, "amount", "将超过承诺 1000.00 元").await;
    let mut flagged = over.clone();
    flagged["over_commitment"] = json!(true);
    assert_refused(&app, &flagged, "over_commitment_reason", "必须说明理由").await;
    flagged["over_commitment_reason"] = json!("追加资金已批复，承诺待补录");
    let e = post(&app, &flagged).await;
    assert_eq!(e["over_commitment_reason"], "追加资金已批复,承诺待补录");
    let (_, p) = app.get(&format!("/api/v1/projects/{}", w.a)).await;
    assert_eq!(p["money"]["disbursed"], 1_000_01);
}

#[tokio::test]
async fn an_expenditure_above_what_the_project_received_is_refused() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    post(
        &app,
        &tx(
            "commitment",
            500_00,
            "2019-04-01",
            w.city,
            w.county_b,
            "fiscal",
            w.b,
        ),
    )
    .await;
    post(
        &app,
        &tx(
            "disbursement",
            300_00,
            "2019-05-01",
            w.city,
            w.county_b,
            "fiscal",
            w.b,
        ),
    )
    .await;
    assert_refused(
        &app,
        &tx(
            "expenditure",
            300_01,
            "2019-06-01",
            w.county_b,
            w.contractor,
            "fiscal",
            w.b,
        ),
        "amount",
        "已收到的资金 300.00 元",
    )
    .await;
    post(
        &app,
        &tx(
            "expenditure",
            300_00,
            "2019-06-01",
            w.county_b,
            w.contractor,
            "fiscal",
            w.b,
        ),
    )
    .await;
    // Incoming funds (a donation received directly) add to what the project received.
    post(
        &app,
        &tx(
            "incoming_funds",
            50_00,
            "2019-06-02",
            w.foundation,
            w.county_b,
            "donation",
            w.b,
        ),
    )
    .await;
    post(
        &app,
        &tx(
            "expenditure",
            50_00,
            "2019-06-03",
            w.county_b,
            w.contractor,
            "donation",
            w.b,
        ),
    )
    .await;
}

#[tokio::test]
async fn a_zero_or_negative_amount_is_refused() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    assert_refused(
        &app,
        &tx(
            "commitment",
            0,
            "2019-04-01",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
        "amount",
        "金额必须大于零",
    )
    .await;
    assert_refused(
        &app,
        &tx(
            "commitment",
            -100,
            "2019-04-01",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
        "amount",
        "金额必须大于零",
    )
    .await;
}

#[tokio::test]
async fn a_value_date_before_the_project_exists_is_refused() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    assert_refused(
        &app,
        &tx(
            "commitment",
            100,
            "2019-02-28",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
        "value_date",
        "早于项目立项日期 2019-03-01",
    )
    .await;
    assert_refused(
        &app,
        &tx(
            "commitment",
            100,
            "2019-13-01",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
        "value_date",
        "日期",
    )
    .await;
    post(
        &app,
        &tx(
            "commitment",
            100,
            "2019-03-01",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
    )
    .await;
    // The project cannot then be moved to start after its money.
    let mut body = project_body(
        "德保塔县教育帮扶",
        "education",
        &[("451024", 1), ("653131", 1)],
        true,
    );
    body["approved_on"] = json!("2019-03-02");
    let (status, err) = app.put(&format!("/api/v1/projects/{}", w.a), &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&err), ["approved_on"]);
}

#[tokio::test]
async fn an_unknown_organisation_or_project_is_refused() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    assert_refused(
        &app,
        &tx(
            "commitment",
            100,
            "2019-04-01",
            9999,
            w.county_a,
            "fiscal",
            w.a,
        ),
        "provider_id",
        "付款方机构 9999 不存在",
    )
    .await;
    assert_refused(
        &app,
        &tx("commitment", 100, "2019-04-01", w.city, 9998, "fiscal", w.a),
        "receiver_id",
        "收款方机构 9998 不存在",
    )
    .await;
    assert_refused(
        &app,
        &tx(
            "commitment",
            100,
            "2019-04-01",
            w.city,
            w.county_a,
            "fiscal",
            9997,
        ),
        "project_id",
        "项目 9997 不存在",
    )
    .await;
    assert_refused(
        &app,
        &tx("借款", 100, "2019-04-01", w.city, w.county_a, "财政", w.a),
        "type",
        "交易类型“借款”无效",
    )
    .await;
    assert_refused(
        &app,
        &tx(
            "commitment",
            100,
            "2019-04-01",
            w.city,
            w.county_a,
            "lottery",
            w.a,
        ),
        "fund_source",
        "资金来源",
    )
    .await;
}

#[tokio::test]
async fn passing_on_more_than_was_received_is_refused() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    post(
        &app,
        &tx(
            "commitment",
            1_000_00,
            "2019-04-01",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
    )
    .await;
    let hop1 = post(
        &app,
        &tx(
            "disbursement",
            1_000_00,
            "2019-05-01",
            w.city,
            w.district,
            "fiscal",
            w.a,
        ),
    )
    .await;
    assert_eq!(
        hop1["invested"], false,
        "city → district stays inside the Shenzhen side"
    );
    let mut hop2 = tx(
        "disbursement",
        1_000_01,
        "2019-05-10",
        w.district,
        w.county_a,
        "fiscal",
        w.a,
    );
    hop2["passes_on"] = hop1["id"].clone();
    assert_refused(&app, &hop2, "amount", "尚未转拨的余额 1000.00 元").await;
    hop2["amount"] = json!(700_00);
    let done = post(&app, &hop2).await;
    assert_eq!(done["invested"], true);
    hop2["amount"] = json!(300_01);
    assert_refused(&app, &hop2, "amount", "尚未转拨的余额 300.00 元").await;
    // Fiscal money stays fiscal: a pass-on may not change its fund source.
    let mut laundered = hop2.clone();
    laundered["amount"] = json!(10_00);
    laundered["fund_source"] = json!("donation");
    assert_refused(&app, &laundered, "fund_source", "转拨不能改变资金来源").await;
    // Only the receiver may pass money on.
    let mut stranger = tx(
        "disbursement",
        10,
        "2019-05-10",
        w.city,
        w.county_a,
        "fiscal",
        w.a,
    );
    stranger["passes_on"] = hop1["id"].clone();
    assert_refused(&app, &stranger, "provider_id", "只能转拨本机构收到的资金").await;
    let mut unknown = tx(
        "disbursement",
        10,
        "2019-05-10",
        w.district,
        w.county_a,
        "fiscal",
        w.a,
    );
    unknown["passes_on"] = json!(777);
    assert_refused(&app, &unknown, "passes_on", "被转拨的交易 777 不存在").await;
}

#[tokio::test]
async fn a_reversal_points_at_the_entry_it_reverses_and_undoes_it_once() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let c = post(
        &app,
        &tx(
            "commitment",
            800_00,
            "2019-04-01",
            w.city,
            w.county_b,
            "fiscal",
            w.b,
        ),
    )
    .await;
    let d = post(
        &app,
        &tx(
            "disbursement",
            800_00,
            "2019-05-01",
            w.city,
            w.county_b,
            "fiscal",
            w.b,
        ),
    )
    .await;
    let d_id = d["id"].as_i64().unwrap();
    // Reversing the commitment first would leave the disbursement uncovered.
    let (status, err) = app
        .post(
            &format!("/api/v1/transactions/{}/reverse", c["id"]),
            &json!({"reason": "录错"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(error_fields(&err), ["reverses"]);
    let (status, err) = app
        .post(
            &format!("/api/v1/transactions/{d_id}/reverse"),
            &json!({"reason": " "}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&err), ["reason"]);
    let (status, r) = app
        .post(
            &format!("/api/v1/transactions/{d_id}/reverse"),
            &json!({"reason": "金额录错，重新录入", "value_date": "2019-05-02"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["amount"], -800_00);
    assert_eq!(r["reverses"], d_id);
    assert_eq!(
        r["invested"], true,
        "mirrors the original so every sum nets out"
    );
    let (_, original) = app.get(&format!("/api/v1/transactions/{d_id}")).await;
    assert_eq!(original["reversed_by"], r["id"]);
    assert_eq!(original["amount"], 800_00, "the original is untouched");
    let (status, err) = app
        .post(
            &format!("/api/v1/transactions/{d_id}/reverse"),
            &json!({"reason": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("已被交易"),
        "{err}"
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/transactions/{}/reverse", r["id"]),
            &json!({"reason": "undo"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            "/api/v1/transactions/424242/reverse",
            &json!({"reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, p) = app.get(&format!("/api/v1/projects/{}", w.b)).await;
    assert_eq!(p["money"]["disbursed"], 0);
    assert_eq!(p["money"]["invested"], 0);
    assert_eq!(
        app.get_all(&format!("/api/v1/projects/{}/transactions", w.b))
            .await
            .len(),
        3
    );
    let out = app.bangfu(&["ledger", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn raw(db: &Db, sql: &str) -> Result<u64, String> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    store::on_db!(db, p => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()).map_err(|e| e.to_string()))
}

#[tokio::test]
async fn the_database_itself_refuses_update_delete_and_truncate_on_the_ledger() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    post(
        &app,
        &tx(
            "commitment",
            100_00,
            "2019-04-01",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
    )
    .await;
    for sql in [
        "UPDATE ledger_entries SET amount = 1",
        "UPDATE ledger_entries SET memo = 'x' WHERE id = 1",
        "DELETE FROM ledger_entries",
    ] {
        let err = raw(&app.db, sql).await.expect_err(sql);
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    if app.test_db.is_postgres() {
        let err = raw(&app.db, "TRUNCATE ledger_entries CASCADE")
            .await
            .expect_err("truncate");
        assert!(err.contains("append-only"), "{err}");
    }
    assert_eq!(ledger_count(&app).await, 1);
    let (_, e) = app.get("/api/v1/transactions/1").await;
    assert_eq!(e["amount"], 100_00);
}

#[tokio::test]
async fn verify_prints_the_head_and_names_the_entry_altered_behind_the_systems_back() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    post(
        &app,
        &tx(
            "commitment",
            1_000_00,
            "2019-04-01",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
    )
    .await;
    post(
        &app,
        &tx(
            "disbursement",
            600_00,
            "2019-05-01",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
    )
    .await;
    post(
        &app,
        &tx(
            "expenditure",
            100_00,
            "2019-06-01",
            w.county_a,
            w.contractor,
            "fiscal",
            w.a,
        ),
    )
    .await;
    let (_, head) = app.get("/api/v1/ledger/head").await;
    let head_hash = head["head_hash"].as_str().unwrap().to_string();
    assert_eq!(head_hash.len(), 64);
    let out = app.bangfu(&["ledger", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&head_hash) && stdout.contains("共 3 条交易"),
        "{stdout}"
    );
    let (_, api) = app.get("/api/v1/ledger/verify").await;
    assert_eq!(api["ok"], true);

    // Behind the system's back: drop the triggers and change one column of entry 2.
    let drops: &[&str] = if app.test_db.is_postgres() {
        &["DROP TRIGGER ledger_entries_no_update ON ledger_entries"]
    } else {
        &[
            "DROP TRIGGER ledger_entries_no_update",
            "DROP TRIGGER ledger_entries_no_delete",
        ]
    };
    for sql in drops {
        raw(&app.db, sql).await.unwrap();
    }
    assert_eq!(
        raw(
            &app.db,
            "UPDATE ledger_entries SET value_date = '2019-05-02' WHERE id = 2"
        )
        .await
        .unwrap(),
        1
    );
    let out = app.bangfu(&["ledger", "verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a tampered ledger fails verification"
    );
    assert!(
        stderr.contains("交易 2：") && stderr.contains("被改动"),
        "{stderr}"
    );
    let (_, api) = app.get("/api/v1/ledger/verify").await;
    assert_eq!(api["ok"], false);
    assert_eq!(api["problem"]["entry_id"], 2);

    // Put it back; then delete entry 2 instead: a gap in the chain is named too. (Deleting the
    // newest entries cannot be told from a shorter ledger: that is why the head hash is printed,
    // to be published and compared.)
    raw(
        &app.db,
        "UPDATE ledger_entries SET value_date = '2019-05-01' WHERE id = 2",
    )
    .await
    .unwrap();
    assert!(app.bangfu(&["ledger", "verify"]).status.success());
    raw(&app.db, "DELETE FROM ledger_entries WHERE id = 2")
        .await
        .unwrap();
    let out = app.bangfu(&["ledger", "verify"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("交易 2 缺失"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn concurrent_postings_never_fork_the_chain() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    post(
        &app,
        &tx(
            "commitment",
            1_000_000_00,
            "2019-04-01",
            w.city,
            w.county_b,
            "fiscal",
            w.b,
        ),
    )
    .await;
    let bodies: Vec<Value> = (1..=12)
        .map(|i| {
            tx(
                "disbursement",
                i * 100,
                "2019-05-01",
                w.city,
                w.county_b,
                "fiscal",
                w.b,
            )
        })
        .collect();
    let results =
        futures::future::join_all(bodies.iter().map(|b| app.post("/api/v1/transactions", b))).await;
    assert!(
        results.iter().all(|(s, _)| *s == StatusCode::CREATED),
        "{results:?}"
    );
    let out = app.bangfu(&["ledger", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("共 13 条交易"));
    let (_, p) = app.get(&format!("/api/v1/projects/{}", w.b)).await;
    assert_eq!(
        p["money"]["disbursed"],
        (1..=12).map(|i| i * 100).sum::<i64>()
    );
}

/// The acceptance set: internal allocations, a city → district → county chain with a further
/// hop inside the county, a foundation's social funds, a reversal, an expenditure, two years,
/// two provinces, two themes.
async fn acceptance_ledger(app: &TestApp, w: &World) -> i64 {
    post(
        app,
        &tx(
            "commitment",
            1_000_001,
            "2019-04-01",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
    )
    .await;
    let hop1 = post(
        app,
        &tx(
            "disbursement",
            600_001,
            "2019-05-01",
            w.city,
            w.district,
            "fiscal",
            w.a,
        ),
    )
    .await;
    let mut hop2 = tx(
        "disbursement",
        600_001,
        "2019-05-02",
        w.district,
        w.county_a,
        "fiscal",
        w.a,
    );
    hop2["passes_on"] = hop1["id"].clone();
    let hop2 = post(app, &hop2).await;
    let mut hop3 = tx(
        "disbursement",
        200_000,
        "2019-06-01",
        w.county_a,
        w.contractor,
        "fiscal",
        w.a,
    );
    hop3["passes_on"] = hop2["id"].clone();
    post(app, &hop3).await;
    post(
        app,
        &tx(
            "commitment",
            300_000,
            "2020-01-10",
            w.foundation,
            w.county_b,
            "foundation",
            w.b,
        ),
    )
    .await;
    post(
        app,
        &tx(
            "disbursement",
            300_000,
            "2020-02-10",
            w.foundation,
            w.county_b,
            "foundation",
            w.b,
        ),
    )
    .await;
    post(
        app,
        &tx(
            "commitment",
            500_000,
            "2020-03-01",
            w.city,
            w.county_b,
            "fiscal",
            w.b,
        ),
    )
    .await;
    let wrong = post(
        app,
        &tx(
            "disbursement",
            499_999,
            "2020-03-05",
            w.city,
            w.county_b,
            "fiscal",
            w.b,
        ),
    )
    .await;
    let (status, _) = app
        .post(
            &format!("/api/v1/transactions/{}/reverse", wrong["id"]),
            &json!({"reason": "金额有误", "value_date": "2020-03-06"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    post(
        app,
        &tx(
            "disbursement",
            400_000,
            "2020-03-07",
            w.city,
            w.county_b,
            "fiscal",
            w.b,
        ),
    )
    .await;
    post(
        app,
        &tx(
            "expenditure",
            100_000,
            "2020-04-01",
            w.county_b,
            w.contractor,
            "fiscal",
            w.b,
        ),
    )
    .await;
    // Invested: 600,001 (district → county, once for the whole chain) + 300,000 + 400,000.
    1_300_001
}

fn rows_sum(report: &Value) -> i64 {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount"].as_i64().unwrap())
        .sum()
}

fn amounts_by(report: &Value, key: &str) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[key].to_string().trim_matches('"').to_string(),
                r["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn every_grouping_of_invested_funds_gives_the_same_total_and_a_chain_counts_once() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let expected = acceptance_ledger(&app, &w).await;
    for by in [
        "provider",
        "receiver",
        "province",
        "theme",
        "year",
        "fund_source",
        "year,province,theme,fund_source",
        "",
    ] {
        let (status, report) = app.get(&format!("/api/v1/reports/invested?by={by}")).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["total"], expected, "total by {by}");
        assert_eq!(
            rows_sum(&report),
            expected,
            "rows by {by} add up to the total"
        );
    }
    let (_, by_provider) = app.get("/api/v1/reports/invested?by=provider").await;
    assert_eq!(
        amounts_by(&by_provider, "provider_name"),
        [
            ("华强公益基金会".into(), 300_000),
            ("深圳市乡村振兴和协作交流局".into(), 400_000),
            ("福田区协作办".into(), 600_001)
        ]
    );
    let (_, by_receiver) = app.get("/api/v1/reports/invested?by=receiver").await;
    assert_eq!(
        amounts_by(&by_receiver, "receiver_name"),
        [
            ("塔什库尔干县财政局".into(), 700_000),
            ("德保县财政局".into(), 600_001)
        ]
    );
    let (_, by_province) = app.get("/api/v1/reports/invested?by=province").await;
    assert_eq!(
        amounts_by(&by_province, "province_code"),
        [("45".into(), 300_001), ("65".into(), 1_000_000)],
        "600,001 split 1:1 to the fen"
    );
    let (_, by_theme) = app.get("/api/v1/reports/invested?by=theme").await;
    assert_eq!(
        amounts_by(&by_theme, "theme"),
        [("education".into(), 600_001), ("industry".into(), 700_000)]
    );
    let (_, by_year) = app.get("/api/v1/reports/invested?by=year").await;
    assert_eq!(
        amounts_by(&by_year, "year"),
        [("2019".into(), 600_001), ("2020".into(), 700_000)]
    );
    let (_, fiscal) = app.get("/api/v1/reports/invested?by=fund_source").await;
    assert_eq!(
        (
            fiscal["fiscal_total"].as_i64(),
            fiscal["social_total"].as_i64()
        ),
        (Some(1_000_001), Some(300_000))
    );
    let (_, xinjiang) = app
        .get("/api/v1/reports/invested?by=year&region=6531")
        .await;
    assert_eq!(
        xinjiang["total"], 1_000_000,
        "only the Xinjiang share of the split project"
    );
    let (_, y2019) = app.get("/api/v1/reports/invested?by=theme&year=2019").await;
    assert_eq!(y2019["total"], 600_001);
    let (status, err) = app.get("/api/v1/reports/invested?by=colour").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&err), ["by"]);
    // The same figure in the ledger itself: invested entries, net of the reversal.
    let invested: i64 = app
        .get_all("/api/v1/transactions?invested=true")
        .await
        .iter()
        .map(|t| t["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(invested, expected);
}

#[tokio::test]
async fn progress_eighty_eighty_and_xlsx_reports_agree_with_the_ledger() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let expected = acceptance_ledger(&app, &w).await;

    let (_, by_project) = app.get("/api/v1/reports/progress?by=project").await;
    let rows = by_project["rows"].as_array().unwrap();
    let a = rows.iter().find(|r| r["project_id"] == w.a).unwrap();
    assert_eq!(
        (
            a["committed"].as_i64(),
            a["disbursed"].as_i64(),
            a["expended"].as_i64()
        ),
        (Some(1_000_001), Some(600_001), Some(0))
    );
    assert_eq!(a["disbursement_progress"], "60.00%");
    let b = rows.iter().find(|r| r["project_id"] == w.b).unwrap();
    assert_eq!(
        (
            b["committed"].as_i64(),
            b["disbursed"].as_i64(),
            b["expended"].as_i64()
        ),
        (Some(800_000), Some(700_000), Some(100_000))
    );
    assert_eq!(
        (
            b["disbursement_progress"].as_str(),
            b["expenditure_progress"].as_str()
        ),
        (Some("87.50%"), Some("14.29%"))
    );

    let (_, by_county) = app.get("/api/v1/reports/progress?by=county").await;
    let counties = by_county["rows"].as_array().unwrap();
    let dbx = counties
        .iter()
        .find(|r| r["region_code"] == "451024")
        .unwrap();
    let tax = counties
        .iter()
        .find(|r| r["region_code"] == "653131")
        .unwrap();
    assert_eq!(dbx["committed"], 500_001);
    assert_eq!(tax["committed"], 500_000 + 800_000);
    assert_eq!(
        by_county["total"]["committed"],
        by_project["total"]["committed"]
    );
    assert_eq!(by_county["total"]["disbursed"], 1_300_001);

    let (_, themes) = app.get("/api/v1/reports/projects").await;
    assert_eq!(themes["total"], 2);
    let edu = themes["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["theme"] == "education")
        .unwrap();
    assert_eq!(edu["counts"][0], 1);

    // 80/80 in Xinjiang: all of it at county level, 300,000 of 1,000,000 in livelihood projects.
    let (_, x) = app.get("/api/v1/reports/eighty-eighty").await;
    assert_eq!(x["region_name"], "新疆维吾尔自治区");
    assert_eq!(
        (
            x["overall"]["total"].as_i64(),
            x["overall"]["county_and_below"].as_i64()
        ),
        (Some(1_000_000), Some(1_000_000))
    );
    assert_eq!(x["overall"]["livelihood"], 300_000);
    assert_eq!(
        (
            x["overall"]["county_ok"].as_bool(),
            x["overall"]["livelihood_ok"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert_eq!(x["overall"]["livelihood_share"], "30.00%");

    // XLSX: a real workbook whose total row carries the same fen.
    let r = app
        .client
        .get(app.url("/api/v1/reports/invested.xlsx?by=province,theme"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("spreadsheetml")
    );
    let bytes = r.bytes().await.unwrap().to_vec();
    let table = store::tabular::open_bytes("invested.xlsx", bytes).unwrap();
    assert_eq!(
        table.headers,
        [
            "省份代码",
            "省份",
            "主题",
            "投入金额（元）",
            "投入金额（分）"
        ]
    );
    let rows: Vec<Vec<String>> = table.rows.map(|r| r.unwrap().cells).collect();
    let total = rows.iter().find(|r| r[0] == "合计").expect("a total row");
    assert_eq!(total[4], expected.to_string());
    assert!(
        rows.iter()
            .any(|r| r[1] == "广西壮族自治区" && r[2] == "教育扶贫" && r[4] == "300001"),
        "{rows:?}"
    );
    for path in [
        "/api/v1/reports/progress.xlsx?by=county",
        "/api/v1/reports/projects.xlsx",
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(r.bytes().await.unwrap().starts_with(b"PK"), "{path}");
    }
}

#[tokio::test]
async fn the_reports_and_ledger_pages_draw_charts_without_script() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let expected = acceptance_ledger(&app, &w).await;
    let (status, page) = app.get_text("/reports").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.matches("<svg class=\"chart\"").count() >= 4,
        "four bar charts"
    );
    assert!(!page.contains("<script"), "no script at all");
    let total = domain::money::Fen(expected);
    assert!(
        page.contains(&format!(
            "title=\"{}\">{}</span>",
            total.to_exact_string(),
            total.to_reader_string()
        )),
        "the total as a reader's figure, to the fen in its tooltip"
    );
    for needle in [
        "德保县",
        "塔什库尔干塔吉克自治县",
        "两个80%",
        "30.00%",
        "教育扶贫",
        "按省份（投入）",
        "invested.xlsx",
    ] {
        assert!(page.contains(needle), "{needle} missing from /reports");
    }
    let (_, xj) = app.get_text("/reports?region=45").await;
    assert!(
        xj.contains("title=\"3,000.01元\">3,000.01元</span>"),
        "filtered to Guangxi"
    );
    let (status, _) = app.get_text("/reports?year_from=abc").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, ledger) = app.get_text("/ledger").await;
    assert_eq!(status, StatusCode::OK);
    let (_, head) = app.get("/api/v1/ledger/head").await;
    assert!(
        ledger.contains(head["head_hash"].as_str().unwrap()),
        "the head hash is shown for publication"
    );
    assert!(ledger.contains("冲销"));
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

const TX_HEADER: &str = "交易类型,金额（元）,记账日期,付款方,收款方,资金来源,项目编号,凭证号,摘要,转拨凭证号,超承诺理由,冲销凭证号";

async fn coded_project(app: &TestApp, code: &str, location: &str) -> i64 {
    let mut body = project_body(code, "rural", &[(location, 1)], true);
    body["code"] = json!(code);
    create_project(app, &body).await
}

#[tokio::test]
async fn transactions_import_in_file_order_with_chains_and_reversals_all_or_nothing() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    coded_project(&app, "DB-01", "451024").await;
    let dir = tempfile::tempdir().unwrap();
    let file = format!(
        "{TX_HEADER}\n\
         承诺,\"10,000.00\",2019-04-01,深圳市乡村振兴和协作交流局,德保县财政局,财政,DB-01,C-1,年度承诺,,,\n\
         拨付,6000,2019-05-01,深圳市乡村振兴和协作交流局({}),福田区协作办,财政资金,DB-01,D-1,市拨区,,,\n\
         拨付,6000,2019-05-03,福田区协作办,德保县财政局,财政,DB-01,D-2,区转拨县,D-1,,\n\
         拨付,1,2019-05-04,深圳市乡村振兴和协作交流局,德保县财政局,财政,DB-01,D-3,多拨一元,,,\n\
         ,,2019-05-05,,,,,R-1,多拨冲销,,,D-3\n\
         支出,2500.5,2019-06-01,德保县财政局,某建设公司,财政,DB-01,E-1,工程款,,,\n",
        w.city
    );
    let path = write(&dir, "tx.csv", &file);
    let (ok, stdout, stderr) = run(&app, &["import", "transactions", &path, "--dry-run"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("试运行") && stdout.contains("记入台账 6 笔"),
        "{stdout}"
    );
    assert_eq!(ledger_count(&app).await, 0, "a dry run writes nothing");
    let (ok, stdout, stderr) = run(&app, &["import", "transactions", &path]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("记入台账 6 笔"), "{stdout}");
    let entries = app.get_all("/api/v1/transactions").await;
    assert_eq!(
        entries[2]["passes_on"], entries[1]["id"],
        "转拨凭证号 links to the row before"
    );
    assert_eq!(entries[4]["reverses"], entries[3]["id"]);
    let (_, report) = app.get("/api/v1/reports/invested?by=year").await;
    assert_eq!(
        report["total"], 600_000,
        "the chain counts once, the reversed yuan not at all"
    );
    assert!(run(&app, &["ledger", "verify"]).0);

    // The same file again: every row is already in the ledger, nothing is added.
    let (ok, _, stderr) = run(&app, &["import", "transactions", &path]);
    assert!(!ok);
    assert!(
        stderr.contains("完全相同") && stderr.contains("未写入任何数据"),
        "{stderr}"
    );
    assert_eq!(ledger_count(&app).await, 6);

    // A later row breaking a rule refuses the whole file, naming its row and column.
    let bad = format!(
        "{TX_HEADER}\n\
         拨付,100,2019-07-01,深圳市乡村振兴和协作交流局,福田区协作办,财政,DB-01,D-9,再拨,,,\n\
         拨付,100.01,2019-07-02,福田区协作办,德保县财政局,财政,DB-01,D-10,转拨过多,D-9,,\n\
         支出,1,2019-01-01,德保县财政局,某建设公司,财政,DB-01,E-9,早于立项,,,\n\
         拨付,1,2019-07-03,无名氏,德保县财政局,财政,NOPE,D-11,,,,\n"
    );
    let path = write(&dir, "bad.csv", &bad);
    let (ok, _, stderr) = run(&app, &["import", "transactions", &path]);
    assert!(!ok);
    for needle in ["第 5 行 付款方 列", "第 5 行 项目编号 列", "未写入任何数据"]
    {
        assert!(stderr.contains(needle), "{needle} missing from {stderr}");
    }
    // With the unknown names fixed, the rule checks run and name their rows.
    let bad = bad
        .replace("无名氏", "福田区协作办")
        .replace("NOPE", "DB-01");
    let path = write(&dir, "bad2.csv", &bad);
    let (ok, _, stderr) = run(&app, &["import", "transactions", &path]);
    assert!(!ok);
    for needle in [
        "第 3 行 金额（元） 列",
        "尚未转拨的余额 100.00 元",
        "第 4 行 记账日期 列",
        "早于项目立项日期",
    ] {
        assert!(stderr.contains(needle), "{needle} missing from {stderr}");
    }
    assert_eq!(ledger_count(&app).await, 6, "all or nothing");

    // Export: the ledger with its chain, ending at the published head.
    let out = dir.path().join("ledger.csv");
    let (ok, _, stderr) = run(&app, &["export", "transactions", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    let (_, head) = app.get("/api/v1/ledger/head").await;
    assert!(text.contains(head["head_hash"].as_str().unwrap()));
    assert!(text.contains("D-3") && text.contains("多拨冲销"));
    let r = app
        .client
        .get(app.url("/api/v1/transactions/export.xlsx"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let table = store::tabular::open_bytes("t.xlsx", r.bytes().await.unwrap().to_vec()).unwrap();
    assert_eq!(table.rows.count(), 6);
}

/// Issue 13 item 11: a county's 资金到账 for a transfer the Shenzhen side already recorded names
/// that disbursement (`receives`) and is not added again to the project's received amount.
#[tokio::test]
async fn a_county_receipt_names_the_shenzhen_disbursement_and_is_not_received_twice() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    post(
        &app,
        &tx(
            "commitment",
            1_000_00,
            "2019-04-01",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
    )
    .await;
    let d = post(
        &app,
        &tx(
            "disbursement",
            800_00,
            "2019-05-01",
            w.city,
            w.county_a,
            "fiscal",
            w.a,
        ),
    )
    .await;
    let money = |p: Value| p["money"].clone();
    let (_, before) = app.get(&format!("/api/v1/projects/{}", w.a)).await;
    assert_eq!(money(before.clone())["received"], 800_00);

    let mut receipt = tx(
        "incoming_funds",
        800_00,
        "2019-05-03",
        w.city,
        w.county_a,
        "fiscal",
        w.a,
    );
    receipt["receives"] = d["id"].clone();
    // Not the same money, or not this disbursement's: refused with the field named, nothing written.
    let mut short = receipt.clone();
    short["amount"] = json!(799_99);
    assert_refused(&app, &short, "amount", "应等于所引用的拨付交易").await;
    let mut early = receipt.clone();
    early["value_date"] = json!("2019-04-30");
    assert_refused(&app, &early, "value_date", "早于所引用的拨付交易").await;
    let mut elsewhere = receipt.clone();
    elsewhere["receiver_id"] = json!(w.county_b);
    assert_refused(
        &app,
        &elsewhere,
        "receiver_id",
        "收款方应与所引用的拨付交易",
    )
    .await;
    let mut other_project = receipt.clone();
    other_project["project_id"] = json!(w.b);
    assert_refused(&app, &other_project, "project_id", "同一项目").await;
    let mut unknown = receipt.clone();
    unknown["receives"] = json!(777);
    assert_refused(&app, &unknown, "receives", "所引用的拨付交易 777 不存在").await;
    let mut not_incoming = receipt.clone();
    not_incoming["type"] = json!("disbursement");
    not_incoming["amount"] = json!(1_00);
    assert_refused(&app, &not_incoming, "receives", "只有资金到账").await;

    let r = post(&app, &receipt).await;
    assert_eq!(r["receives"], d["id"]);
    let (_, after) = app.get(&format!("/api/v1/projects/{}", w.a)).await;
    assert_eq!(
        money(after.clone()),
        money(before),
        "the receipt is the disbursement seen from the county: no figure moves"
    );
    assert_eq!(money(after)["incoming"], 0);
    let (_, d_now) = app.get(&format!("/api/v1/transactions/{}", d["id"])).await;
    assert_eq!(d_now["received_by"], r["id"]);
    // A second receipt of the same transfer is refused.
    let mut again = receipt.clone();
    again["voucher_no"] = json!("V-AGAIN");
    assert_refused(&app, &again, "receives", "只能登记一次到账").await;
    // The county can spend what arrived, once: 800, not 1,600.
    let spend = tx(
        "expenditure",
        800_01,
        "2019-06-01",
        w.county_a,
        w.contractor,
        "fiscal",
        w.a,
    );
    assert_refused(&app, &spend, "amount", "已收到的资金 800.00 元").await;

    // The chain verifies, the summaries equal the recomputation, invested is counted once.
    assert!(app.bangfu(&["ledger", "verify"]).status.success());
    let check = app.bangfu(&["stats", "check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let (_, report) = app.get("/api/v1/reports/invested?by=year").await;
    assert_eq!(report["total"], 800_00);

    // The export shows the reference (voucher and id) and the import takes it back: a county
    // file naming the Shenzhen side's voucher, and a row naming an earlier row of its own file.
    let (_, csv) = app.get_text("/api/v1/transactions/export.csv").await;
    let header = csv.lines().next().unwrap();
    assert!(
        header.contains("到账对应拨付凭证号") && header.contains("到账对应拨付交易编号"),
        "{header}"
    );
    let last = csv.lines().last().unwrap();
    assert!(
        last.contains(&format!(
            ",V-2019-05-01-80000,{},否,,,{},",
            r["id"], d["id"]
        )),
        "the receipt's row names the disbursement: {last}"
    );

    coded_project(&app, "DB-02", "451024").await;
    let dir = tempfile::tempdir().unwrap();
    let header = format!("{TX_HEADER},到账对应拨付凭证号");
    let file = format!(
        "{header}\n\
         承诺,500,2019-04-01,深圳市乡村振兴和协作交流局,德保县财政局,财政,DB-02,C-20,承诺,,,,\n\
         拨付,500,2019-05-01,深圳市乡村振兴和协作交流局,德保县财政局,财政,DB-02,D-20,拨付,,,,\n\
         资金到账,500,2019-05-02,深圳市乡村振兴和协作交流局,德保县财政局,财政,DB-02,R-20,县到账,,,,D-20\n"
    );
    let path = write(&dir, "receipts.csv", &file);
    let (ok, stdout, stderr) = run(&app, &["import", "transactions", &path]);
    assert!(ok, "{stdout}{stderr}");
    let entries = app.get_all("/api/v1/transactions").await;
    let n = entries.len();
    assert_eq!(entries[n - 1]["receives"], entries[n - 2]["id"]);
    let db02 = entries[n - 1]["project_id"].as_i64().unwrap();
    let (_, p) = app.get(&format!("/api/v1/projects/{db02}")).await;
    assert_eq!(p["money"]["received"], 500_00);
    // The same receipt again, now naming the ledger's D-20: refused by row and column.
    for (row, needle) in [
        (
            "资金到账,500,2019-05-03,深圳市乡村振兴和协作交流局,德保县财政局,财政,DB-02,R-21,再到账,,,,D-20",
            "只能登记一次到账",
        ),
        (
            "资金到账,5,2019-05-03,德保县财政局,某建设公司,财政,DB-02,R-22,无此拨付,,,,NOPE",
            "没有凭证号为“NOPE”的交易",
        ),
    ] {
        let path = write(&dir, "again.csv", &format!("{header}\n{row}\n"));
        let (ok, _, stderr) = run(&app, &["import", "transactions", &path]);
        assert!(!ok);
        for needle in ["第 2 行 到账对应拨付凭证号 列", needle, "未写入任何数据"]
        {
            assert!(stderr.contains(needle), "{needle} missing from {stderr}");
        }
    }
    assert_eq!(app.get_all("/api/v1/transactions").await.len(), n);
    assert!(app.bangfu(&["ledger", "verify"]).status.success());
    assert!(app.bangfu(&["stats", "check"]).status.success());
}
