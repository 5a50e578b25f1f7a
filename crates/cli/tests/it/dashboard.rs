//! The dashboard (数据看板): its summaries give the overview's numbers exactly as the records do
//! (also after projects move, change theme or get more money), the drill-down repeats the same
//! figures at every level, pairing targets meet their actuals, the pages render them (saying
//! 演示数据 on demo data) and the embedded ECharts assets are served with their cache headers.

// Amounts are written yuan_fen (1_000_00 is 1,000.00 元) on purpose.
#![allow(clippy::inconsistent_digit_grouping)]

use crate::harness::TestApp;
use crate::projects::{create_project, org, project_body};
use crate::registry::{HEADER, Person, create_household, id_number, row, write_file};
use crate::stats::{Scenario, household, import, invest, scenario};
use reqwest::StatusCode;
use serde_json::{Value, json};
use store::stats::OverviewFilter;

/// The scenario of the overview tests plus a project at two villages in two provinces (weights
/// 1:2, money that does not split evenly), its indicators and a microloan, and a pairing with
/// yearly targets.
pub(crate) async fn dashboard_scenario(app: &TestApp) -> (Scenario, i64) {
    let s = scenario(app).await;
    let mut body = project_body(
        "两地乡村振兴项目",
        "rural",
        &[("451024100001", 1), ("653131100002", 2)],
        true,
    );
    body["indicators"] = json!([{"indicator": "villages_covered", "year": 2019, "value": 3},
                                {"indicator": "infrastructure_items", "year": 2020, "value": 5}]);
    let shared = create_project(app, &body).await;
    invest(
        app,
        1_000_03,
        "2019-07-01",
        s.city,
        s.receiver,
        "fiscal",
        shared,
    )
    .await;
    invest(
        app,
        333_33,
        "2020-07-01",
        s.city,
        s.receiver,
        "enterprise",
        shared,
    )
    .await;
    let mut loans = project_body("小额信贷", "finance", &[("451024100001", 1)], true);
    loans["loans"] = json!([{"borrower": "赵一", "amount": 5_000_000, "term_months": 36, "issued_on": "2019-08-01",
                             "outstanding": 5_000_000}]);
    create_project(app, &loans).await;
    let enterprise = org(app, "深圳某集团", "enterprise", true).await;
    let (status, pairing) = app
        .post(
            "/api/v1/pairings",
            &json!({"organisation_id": enterprise, "region_code": "653131", "pairing_type": "企村结对",
                    "start_year": 2019, "end_year": 2020,
                    "targets": [{"indicator": "财政帮扶资金", "unit": "万元", "year": 2019, "target": 1},
                                {"indicator": "脱贫人口", "unit": "人", "year": 2019, "target": 4},
                                {"indicator": "覆盖村数", "unit": "个", "year": 2019, "target": 2},
                                {"indicator": "群众满意度", "unit": "%", "year": 2019, "target": 90}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pairing}");
    (s, shared)
}

fn without_as_of(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("as_of");
    }
    v
}

/// The overview from the summary tables equals the overview from the records, for every region
/// prefix and year window.
async fn assert_summaries_match_records(app: &TestApp, context: &str) {
    assert_no_dirty_keys(app, context).await;
    let today = today();
    for region in [
        "", "45", "4510", "451024", "65", "6531", "653131", "653101", "44",
    ] {
        for (since, until) in [
            (None, None),
            (Some(2014), None),
            (None, Some(2018)),
            (Some(2019), Some(2019)),
            (Some(2021), None),
        ] {
            let region_code =
                (!region.is_empty()).then(|| domain::RegionCode::parse(region).unwrap());
            let f = OverviewFilter {
                region: region_code,
                since,
                until,
                as_of: None,
            };
            let from_summaries = app.db.stats_overview(&f).await.unwrap();
            let from_records = app
                .db
                .stats_overview(&OverviewFilter {
                    as_of: Some(today.clone()),
                    ..f.clone()
                })
                .await
                .unwrap();
            assert_eq!(
                without_as_of(serde_json::to_value(&from_summaries).unwrap()),
                without_as_of(serde_json::to_value(&from_records).unwrap()),
                "{context}: region {region:?} {since:?}..{until:?}"
            );
        }
    }
    // Row for row, the trigger-kept tables equal the one-pass recomputation the demo loader uses.
    let diffs = app.db.recompute_summaries(false).await.unwrap();
    assert_eq!(diffs.len(), 11);
    for d in &diffs {
        assert_eq!((d.only_kept, d.only_recomputed), (0, 0), "{context}: {d:?}");
    }
}

/// Every transaction of the store brings the summaries up to date before it commits: none
/// leaves a key to recompute behind.
async fn assert_no_dirty_keys(app: &TestApp, context: &str) {
    let left: Vec<(String, i64)> = store::on_db!(&app.db, p => sqlx::query_as(
        "SELECT kind, key FROM stats_dirty ORDER BY kind, key").fetch_all(p).await)
    .unwrap();
    assert!(
        left.is_empty(),
        "{context}: dirty keys left by a commit: {left:?}"
    );
}

/// As of today (the server's one clock, in Beijing) the records path counts every record of the
/// scenario (all dated in the past).
fn today() -> String {
    store::today().to_string()
}

#[tokio::test]
async fn the_summaries_give_the_records_figures_as_projects_and_money_change() {
    let app = TestApp::spawn().await;
    let (s, shared) = dashboard_scenario(&app).await;
    assert_summaries_match_records(&app, "after the scenario").await;

    // The shared project moves: a third location, other weights, another theme; its money is
    // split again over the new locations.
    let mut body = project_body(
        "两地乡村振兴项目",
        "tourism",
        &[("451024100001", 3), ("653131100002", 1), ("653131", 1)],
        true,
    );
    body["indicators"] = json!([{"indicator": "visitors", "year": 2019, "value": 1200}]);
    let (status, updated) = app.put(&format!("/api/v1/projects/{shared}"), &body).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    invest(
        &app,
        7_77,
        "2020-08-01",
        s.city,
        s.receiver,
        "donation",
        shared,
    )
    .await;
    assert_summaries_match_records(&app, "after the project moved").await;

    // An older project now starts in 2015 instead of 2019.
    let mut moved = project_body("教育扶贫项目", "education", &[("653131", 1)], false);
    moved["approved_on"] = json!("2015-01-01");
    moved["start_date"] = json!("2015-03-01");
    let (status, updated) = app
        .put(&format!("/api/v1/projects/{}", s.projects[1]), &moved)
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_summaries_match_records(&app, "after a start date changed").await;

    // A changed elevation of a site's county is seen at once.
    let out = app.bangfu(&[
        "import",
        "region-attributes",
        &crate::registry::write_file(
            &s.dir,
            "e.csv",
            "行政区划代码,海拔\n653131,4100\n".as_bytes(),
        ),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_summaries_match_records(&app, "after an elevation changed").await;
    let (_, o) = app.get("/api/v1/stats/overview").await;
    assert_eq!(o["elevation_max_m"], 4100);
}

#[tokio::test]
async fn summaries_a_migration_marks_dirty_are_recomputed_when_it_is_applied() {
    let app = TestApp::spawn().await;
    dashboard_scenario(&app).await;
    // What migration 0016 did to the summaries it took over from the triggers of 0007/0008:
    // emptied (the per-project parts were new), every project noted, for `migrate::run`.
    store::on_db!(&app.db, p => sqlx::raw_sql(
        "DELETE FROM stats_invested; DELETE FROM stats_project_regions; DELETE FROM stats_projects;
         DELETE FROM stats_indicators; DELETE FROM stats_sites; DELETE FROM stats_funds;
         DELETE FROM stats_project_parts; DELETE FROM stats_indicator_parts; DELETE FROM stats_fund_parts;
         INSERT INTO stats_dirty (kind, key) SELECT 'projects.id', id FROM projects",
    )
    .execute(p).await.map(|_| ()))
    .unwrap();
    assert_eq!(store::migrate::run(&app.db).await.unwrap(), 0);
    assert_summaries_match_records(&app, "after the migrations ran").await;
    let (_, o) = app.get("/api/v1/stats/overview").await;
    assert!(o["projects"].as_i64().unwrap() > 0, "{o}");
}

#[tokio::test]
async fn stats_check_finds_a_damaged_summary_and_rebuild_repairs_it() {
    let app = TestApp::spawn().await;
    let (s, shared) = dashboard_scenario(&app).await;
    let (_, before) = app.get("/api/v1/stats/overview").await;
    let check = app.bangfu(&["stats", "check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("汇总数据与明细记录一致"));

    // Someone edits a summary by hand: the figures go wrong, and the check says where.
    // (The version bump makes the server drop its cached figures, as any real write does.)
    store::on_db!(&app.db, p => sqlx::raw_sql(
        "UPDATE stats_funds SET amount = amount + 100; UPDATE stats_version SET version = version + 1",
    )
    .execute(p).await.map(|_| ()))
    .unwrap();
    let (_, damaged) = app.get("/api/v1/stats/overview").await;
    assert_ne!(damaged["fiscal_funds_fen"], before["fiscal_funds_fen"]);
    let check = app.bangfu(&["stats", "check"]);
    assert!(!check.status.success());
    let stdout = String::from_utf8_lossy(&check.stdout);
    let damaged_line = stdout
        .lines()
        .find(|l| l.starts_with("stats_funds"))
        .unwrap();
    assert!(!damaged_line.trim_end().ends_with(" 0"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("不一致"),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let rebuild = app.bangfu(&["stats", "rebuild"]);
    assert!(
        rebuild.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuild.stderr)
    );
    let (_, repaired) = app.get("/api/v1/stats/overview").await;
    assert_eq!(repaired["fiscal_funds_fen"], before["fiscal_funds_fen"]);
    assert!(app.bangfu(&["stats", "check"]).status.success());
    // The triggers are back: money recorded after the rebuild is in the summaries at once.
    invest(
        &app,
        5_00,
        "2020-09-01",
        s.city,
        s.receiver,
        "donation",
        shared,
    )
    .await;
    assert_summaries_match_records(&app, "after the rebuild").await;
}

/// (county or village key, status, exit year, households, members).
type SummaryRow = (i64, String, i64, i64, i64);

async fn summary_rows(app: &TestApp, sql: &str) -> Vec<SummaryRow> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    store::on_db!(&app.db, p => sqlx::query_as::<_, SummaryRow>(sql).fetch_all(p).await).unwrap()
}

/// The household summaries kept by the triggers (rows that count something) equal a fresh
/// GROUP BY over the households, by county and by village.
async fn assert_household_summaries_fresh(app: &TestApp, context: &str) {
    assert_no_dirty_keys(app, context).await;
    for (table, key) in [
        ("stats_household_members", "county_key"),
        ("stats_village_members", "village_key"),
    ] {
        let kept = summary_rows(
            app,
            &format!(
                "SELECT {key}, status, exit_year, households, members FROM {table}
                 WHERE households <> 0 OR members <> 0 ORDER BY 1, 2, 3"
            ),
        )
        .await;
        let fresh = summary_rows(
            app,
            &format!(
                "SELECT {key}, status, COALESCE(exit_year, 0), COUNT(*), CAST(SUM(member_count) AS BIGINT) FROM households
                 WHERE removed_year IS NULL GROUP BY {key}, status, COALESCE(exit_year, 0) ORDER BY 1, 2, 3"
            ),
        )
        .await;
        assert!(!fresh.is_empty(), "{context}: the registry has households");
        assert_eq!(kept, fresh, "{context}: {table}");
    }
}

/// `households` rows of a file of many households over several villages and statuses, larger
/// than one chunk of the import (4,000 rows) so that it is written by several statements.
fn many_households(count: u32, changed: bool) -> Vec<String> {
    let villages = [
        "441621100001",
        "441621102205",
        "441621105001",
        "441621107211",
    ];
    let birth = |i: u32| {
        format!(
            "19{:02}{:02}{:02}",
            50 + i / 336,
            1 + (i / 28) % 12,
            1 + i % 28
        )
    };
    let mut lines = Vec::new();
    for i in 0..count {
        let no = format!("M{i:05}");
        let village = villages[(i % 4) as usize];
        // The second version exits a fifth of the households in 2020 and moves a seventh.
        let (status, exit_year) = match (changed && i % 5 == 0, i % 3) {
            (true, _) => ("已脱贫", "2020"),
            (false, 0) => ("未脱贫", ""),
            (false, 1) => ("已脱贫", "2018"),
            _ => ("已脱贫（不再享受政策）", "2019"),
        };
        let village = if changed && i % 7 == 0 {
            villages[((i + 1) % 4) as usize]
        } else {
            village
        };
        let people = [
            (1, true, "户主", "王大山"),
            (1, false, "配偶", "李秀英"),
            (2, true, "之子", "王小明"),
        ];
        for &(seq, male, relation, name) in people.iter().take(1 + (i % 3) as usize) {
            let p = Person {
                name,
                male,
                id: id_number("441621", &birth(i), seq, male),
                relation,
            };
            lines.push(row(&no, village, &p, "因病", status, exit_year));
        }
    }
    lines
}

/// What any reader of the figures does first: apply the keys writes outside the store left dirty.
async fn read_overview(app: &TestApp) {
    let (status, body) = app.get("/api/v1/stats/overview").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn raw_sql(app: &TestApp, sql: &str) -> u64 {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    store::on_db!(&app.db, p => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()))
        .unwrap()
}

#[tokio::test]
async fn household_summaries_equal_a_fresh_count_after_every_kind_of_change() {
    let app = TestApp::spawn().await;
    let s = scenario(&app).await;
    assert_household_summaries_fresh(&app, "after the scenario's import").await;
    let (_, o) = app.get("/api/v1/stats/overview").await;
    assert_eq!(
        (
            o["people_out_of_poverty"].as_i64(),
            o["people_remaining"].as_i64()
        ),
        (Some(3 + 2), Some(2 + 4))
    );

    // A large import in several chunks, then the same file again with statuses and villages
    // changed (updates of households known to the registry).
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, rows: &[String]| {
        write_file(
            &dir,
            name,
            format!("{HEADER}\n{}\n", rows.join("\n")).as_bytes(),
        )
    };
    let large = write("large.csv", &many_households(3_000, false));
    let out = app.bangfu(&["import", "households", &large]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_household_summaries_fresh(&app, "after a large import").await;
    let changed = write("changed.csv", &many_households(3_000, true));
    let version = app.db.stats_version().await.unwrap();
    let out = app.bangfu(&["import", "households", &changed]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_household_summaries_fresh(&app, "after a re-import with changes").await;
    assert!(
        app.db.stats_version().await.unwrap() > version,
        "the re-import bumps stats_version"
    );

    // A re-import of the scenario's counties while the server runs is seen by the overview at
    // once: T0001 exits in 2020 with a third member, T0003 moves to another village of its
    // county, K0001 (喀什市, not paired) moves to 塔什库尔干 where its 2018 exit counts, and a
    // new household of three remains in 德保.
    let mut rows = household("T0001", "653131100001", 3, 3, "已脱贫", "2020");
    rows.extend(household("T0003", "653131100001", 5, 4, "返贫", "2019"));
    rows.extend(
        household("K0001", "653101100002", 6, 5, "已脱贫", "2018")
            .iter()
            .map(|r| r.replace(",653101100002,", ",653131100002,")),
    );
    rows.extend(household("N0001", "451024100002", 8, 3, "未脱贫", ""));
    import(&app, &s.dir, "again.csv", &rows);
    assert_household_summaries_fresh(&app, "after a re-import of the scenario").await;
    let (_, o) = app.get("/api/v1/stats/overview").await;
    assert_eq!(o["people_out_of_poverty"], 3 + 2 + 3 + 5, "{o}");
    assert_eq!(o["people_remaining"], 4 + 3, "{o}");
    assert_summaries_match_records(&app, "after a re-import of the scenario").await;

    // Changes through the API: a new household, a birth, a death, an exit, a removal (清退).
    let h = create_household(&app, "API-S1").await;
    let id = h["id"].as_i64().unwrap();
    assert_household_summaries_fresh(&app, "after a household was created").await;
    let version = app.db.stats_version().await.unwrap();
    let (status, born) = app
        .post(&format!("/api/v1/households/{id}/members"), &json!({"event_type": "birth", "date": "2020-03-01",
            "member": {"name": "陈三", "sex": "女", "id_number": id_number("441621", "20200301", 12, false), "relation": "之女",
                        "ethnicity": "汉", "education": "学龄前儿童", "schooling": "学前教育", "health": "健康", "labour": "无劳动力"}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{born}");
    assert_household_summaries_fresh(&app, "after a birth").await;
    let spouse = born["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "陈二")
        .unwrap()["id"]
        .clone();
    let (status, body) = app
        .post(
            &format!("/api/v1/households/{id}/events"),
            &json!({"event_type": "death", "member_id": spouse, "date": "2021-05-06"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_household_summaries_fresh(&app, "after a death").await;
    // A status change (out of poverty is the exit procedure's, see exit_status.rs): an exited
    // household of the re-import stops enjoying the policy, then returns to poverty.
    let (_, k) = app.get("/api/v1/households?q=K0001").await;
    let k = k["items"][0]["id"].as_i64().expect("K0001");
    for to in ["已脱贫（不再享受政策）", "返贫"] {
        let (status, body) = app
            .post(
                &format!("/api/v1/households/{k}/status"),
                &json!({"status": to, "year": 2019}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_household_summaries_fresh(&app, &format!("after a change to {to}")).await;
    }
    let (status, body) = app
        .post(
            &format!("/api/v1/households/{id}/events"),
            &json!({"event_type": "household_removed", "date": "2021-06-01", "note": "识别不准"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_household_summaries_fresh(&app, "after a removal").await;
    assert!(app.db.stats_version().await.unwrap() > version);

    // Statements over many households at once, of every kind, run by hand outside the store (no
    // store function deletes a household; the summaries must still follow): they leave the keys
    // they changed dirty, and the figures' next reader recomputes them.
    raw_sql(
        &app,
        "INSERT INTO households (household_no, village_key, county_key, identification_standard, attribute, main_cause,
             identified_year, status, exit_year, member_count, removed_year, created_at, updated_at)
         SELECT 'RAW-' || v.n, r.key, c.key, '1', '1', '1', 2014, v.status, v.exit_year, v.members, v.removed, 'now', 'now'
         FROM (SELECT 1 AS n, '0' AS status, CAST(NULL AS BIGINT) AS exit_year, 2 AS members, CAST(NULL AS BIGINT) AS removed
               UNION ALL SELECT 2, '0', NULL, 3, NULL UNION ALL SELECT 3, '1', 2019, 1, NULL
               UNION ALL SELECT 4, '1', 2019, 4, 2020 UNION ALL SELECT 5, '3', 2020, 5, NULL) AS v
         JOIN regions r ON r.code = '451024100002' JOIN regions c ON c.code = '451024'",
    )
    .await;
    read_overview(&app).await;
    assert_household_summaries_fresh(&app, "after a multi-row insert").await;
    let version = app.db.stats_version().await.unwrap();
    raw_sql(
        &app,
        "UPDATE households SET updated_at = 'later' WHERE household_no LIKE 'RAW-%'",
    )
    .await;
    read_overview(&app).await;
    assert_household_summaries_fresh(&app, "after an update of other columns").await;
    raw_sql(&app, "UPDATE households SET status = '1', exit_year = 2020 WHERE household_no IN ('RAW-1', 'RAW-5')").await;
    raw_sql(
        &app,
        "UPDATE households SET member_count = member_count + 1,
             removed_year = CASE WHEN household_no = 'RAW-2' THEN 2021 WHEN household_no = 'RAW-4' THEN NULL ELSE removed_year END,
             village_key = (SELECT key FROM regions WHERE code = '451024100001')
         WHERE household_no LIKE 'RAW-%'",
    )
    .await;
    read_overview(&app).await;
    assert_household_summaries_fresh(&app, "after multi-row updates").await;
    assert!(app.db.stats_version().await.unwrap() > version);
    assert_eq!(
        raw_sql(
            &app,
            "DELETE FROM households WHERE household_no LIKE 'RAW-%'"
        )
        .await,
        5
    );
    read_overview(&app).await;
    assert_household_summaries_fresh(&app, "after a multi-row delete").await;
    assert_summaries_match_records(&app, "at the end").await;
}

async fn public_get(app: &TestApp, path: &str) -> Value {
    let r = app
        .anonymous_client()
        .get(app.url(path))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

fn child<'a>(d: &'a Value, code: &str) -> &'a Value {
    d["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["region_code"] == code)
        .unwrap_or_else(|| panic!("{code} in {d}"))
}

#[tokio::test]
async fn the_dashboard_repeats_the_overview_figures_at_every_level() {
    let app = TestApp::spawn().await;
    dashboard_scenario(&app).await;
    let d = public_get(&app, "/api/v1/stats/dashboard").await;
    let o = public_get(&app, "/api/v1/stats/overview").await;
    assert_eq!(d["overview"], o);
    assert_eq!(d["demo"], false);
    assert_eq!(o["demo"], false);

    // Provinces on the map, each with the figures of its own overview.
    let codes: Vec<&str> = d["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["region_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["45", "65"]);
    for code in ["45", "65"] {
        let mut own = public_get(&app, &format!("/api/v1/stats/overview?region={code}")).await;
        own["since"] = Value::Null;
        assert_eq!(child(&d, code), &own, "{code}");
    }
    assert_eq!(child(&d, "45")["region_name"], "广西壮族自治区");
    let sum = |key: &str| -> i64 {
        d["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[key].as_i64().unwrap())
            .sum()
    };
    assert_eq!(
        sum("invested_funds_fen"),
        o["invested_funds_fen"].as_i64().unwrap(),
        "every location is in a province"
    );
    assert_eq!(sum("counties"), 2);

    // Funds by year and source add up to the invested total; 2020 has the enterprise money.
    let years = d["funds_by_year"].as_array().unwrap();
    let total: i64 = years.iter().map(|y| y["total_fen"].as_i64().unwrap()).sum();
    assert_eq!(total, o["invested_funds_fen"].as_i64().unwrap());
    let y2020 = years.iter().find(|y| y["year"] == 2020).unwrap();
    assert_eq!(y2020["enterprise_fen"], 333_33);
    assert_eq!(y2020["foundation_fen"], 500_00);

    // 速度: exits by year while paired; what remains after the last year is today's remaining.
    let people = d["people_by_year"].as_array().unwrap();
    let by_year: Vec<(i64, i64)> = people
        .iter()
        .map(|y| {
            (
                y["year"].as_i64().unwrap(),
                y["people_out_of_poverty"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(by_year, [(2018, 3), (2019, 2)]);
    assert_eq!(
        people.last().unwrap()["remaining_after"],
        o["people_remaining"]
    );
    assert_eq!(
        people[0]["remaining_after"],
        o["people_remaining"].as_i64().unwrap() + 2
    );

    // Each theme with its indicators; loans under finance.
    let theme = |id: &str| {
        d["themes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["theme"] == id)
            .unwrap()
            .clone()
    };
    let rural = theme("rural");
    assert_eq!(rural["projects"], 2);
    let villages = rural["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["indicator"] == "villages_covered")
        .unwrap();
    assert_eq!(
        (villages["value"].as_i64(), villages["display"].as_str()),
        (Some(3), Some("3 个"))
    );
    let finance = theme("finance");
    let loans = finance["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["indicator"] == "loans")
        .unwrap();
    assert_eq!(loans["value"], 1);

    // 深度: 塔什库尔干 is in 喀什地区 (南疆四地州); its share of the money and of the exits.
    let deep = &d["deep"];
    let kashgar = public_get(&app, "/api/v1/stats/overview?region=6531").await;
    assert_eq!(deep["counties"], 1);
    assert_eq!(deep["areas"][0]["code"], "6531");
    assert_eq!(deep["areas"][0]["name"], "喀什地区");
    assert_eq!(deep["invested_funds_fen"], kashgar["invested_funds_fen"]);
    let share =
        kashgar["invested_funds_fen"].as_f64().unwrap() / o["invested_funds_fen"].as_f64().unwrap();
    assert!((deep["funds_share"].as_f64().unwrap() - share).abs() < 1e-9);
    assert!((deep["people_share"].as_f64().unwrap() - 2.0 / 5.0).abs() < 1e-9);

    // Drill-down: province → county → town → village, same figures.
    let gx = public_get(&app, "/api/v1/stats/dashboard?region=45").await;
    assert_eq!(gx["children_level"], "county");
    assert_eq!(child(&gx, "451024")["region_name"], "德保县");
    assert_eq!(gx["prefectures"][0]["name"], "百色市");
    let debao = public_get(&app, "/api/v1/stats/dashboard?region=451024").await;
    assert_eq!(debao["children_level"], "town");
    let town = child(&debao, "451024100");
    assert_eq!(
        town["people_out_of_poverty"], 3,
        "D0001 left while paired; D0002 before"
    );
    assert_eq!(
        town["invested_funds_fen"],
        public_get(&app, "/api/v1/stats/overview?region=451024100").await["invested_funds_fen"]
    );
    let t = public_get(&app, "/api/v1/stats/dashboard?region=451024100").await;
    assert_eq!(t["children_level"], "village");
    let village = child(&t, "451024100001");
    assert_eq!(village["people_out_of_poverty"], 3);
    assert_eq!(
        village["projects"], 2,
        "the shared project and the loans (the theme projects are at the county)"
    );
    assert_eq!(
        t["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["广西壮族自治区", "百色市", "德保县", "城关镇"]
    );

    // A year window narrows every part.
    let late = public_get(&app, "/api/v1/stats/dashboard?since=2020").await;
    assert_eq!(
        late["overview"],
        public_get(&app, "/api/v1/stats/overview?since=2020").await
    );
    assert!(
        late["funds_by_year"]
            .as_array()
            .unwrap()
            .iter()
            .all(|y| y["year"].as_i64().unwrap() >= 2020)
    );
}

#[tokio::test]
async fn pairing_targets_meet_the_regions_actual_figures() {
    let app = TestApp::spawn().await;
    dashboard_scenario(&app).await;
    let p = public_get(&app, "/api/v1/stats/pairings").await;
    let items = p["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only pairings with targets: {p}");
    let item = &items[0];
    assert_eq!(item["region_name"], "塔什库尔干塔吉克自治县");
    assert_eq!(item["organisation"], "深圳某集团");
    let target = |name: &str| {
        item["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["indicator"] == name)
            .unwrap()
            .clone()
    };
    let y2019 = public_get(
        &app,
        "/api/v1/stats/overview?region=653131&since=2019&until=2019",
    )
    .await;
    let fiscal = target("财政帮扶资金");
    let expected = y2019["fiscal_funds_fen"].as_f64().unwrap() / 1e6;
    assert!(
        (fiscal["actual"].as_f64().unwrap() - expected).abs() < 1e-9,
        "{fiscal} vs {expected}"
    );
    assert!((fiscal["achieved"].as_f64().unwrap() - expected).abs() < 1e-9);
    assert_eq!(target("脱贫人口")["actual"].as_f64(), Some(2.0));
    assert_eq!(target("覆盖村数")["actual"].as_f64(), Some(3.0));
    assert_eq!(
        target("群众满意度")["actual"],
        Value::Null,
        "not measured by the records"
    );
    // Another region has none.
    let none = public_get(&app, "/api/v1/stats/pairings?region=45").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn dashboard_pages_show_the_figures_and_say_demo_data() {
    let app = TestApp::spawn().await;
    dashboard_scenario(&app).await;
    let public = app.anonymous_client();
    let get = |path: &str| {
        let public = public.clone();
        let url = app.url(path);
        async move {
            let r = public.get(url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, page) = get("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("深圳对口帮扶数据看板")
            && page.contains("广</b>度")
            && page.contains("速</b>度"),
        "{page}"
    );
    assert!(!page.contains("演示数据"));
    assert!(page.contains("href=\"/dashboard/45\"") && page.contains("新疆维吾尔自治区"));
    assert!(
        !page.contains("<script>") && !page.contains("onclick"),
        "no inline script under the CSP"
    );

    // The embedded assets the page names, with their cache headers.
    let src = page
        .split("<script src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert!(src.starts_with("/static/vendor/echarts-5."), "{src}");
    let r = public.get(app.url(&src)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(
        r.text().await.unwrap().len() > 500_000,
        "the whole of ECharts"
    );
    let maps = page
        .split("data-maps=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let china: Value = public
        .get(app.url(&format!("{maps}china.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        china["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["properties"]["name"] == "广西")
    );
    let r = public
        .get(app.url(&format!("{maps}province/45.json")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        public
            .get(app.url(&format!("{maps}province/99.json")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let r = public
        .get(app.url("/static/dashboard.js"))
        .send()
        .await
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let again = public
        .get(app.url("/static/dashboard.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // Drill-down pages, down to the household list.
    let (_, gx) = get("/dashboard/45").await;
    assert!(
        gx.contains("德保县") && gx.contains("href=\"/dashboard/451024\""),
        "{gx}"
    );
    let (_, town) = get("/dashboard/451024100").await;
    assert!(
        town.contains("href=\"/dashboard/451024100001\"")
            && town.contains("/households?region=451024100")
    );
    for missing in ["/dashboard/99", "/dashboard/abc"] {
        assert_eq!(get(missing).await.0, StatusCode::NOT_FOUND, "{missing}");
    }

    // Demo data says so, on the page and in the API.
    app.db.set_demo(true).await.unwrap();
    let (_, page) = get("/dashboard").await;
    assert!(page.contains("演示数据"));
    assert_eq!(
        public_get(&app, "/api/v1/stats/overview").await["demo"],
        true
    );
}

#[tokio::test]
async fn a_county_cadre_sees_its_own_county_and_the_public_everything() {
    let app = TestApp::spawn().await;
    dashboard_scenario(&app).await;
    let cadre = app.client_as("county", Some("451024"), None).await;
    let r = cadre
        .get(app.url("/dashboard?since=2014"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/dashboard/451024?since=2014");
    let own: Value = cadre
        .get(app.url("/api/v1/stats/overview"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (own["region_code"].as_str(), own["counties"].as_i64()),
        (Some("451024"), Some(1))
    );
    // It may still look at other regions' aggregates, which are public.
    let other: Value = cadre
        .get(app.url("/api/v1/stats/overview?region=65"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(other["region_code"], "65");
    let all = public_get(&app, "/api/v1/stats/overview").await;
    assert_eq!(all["region_code"], Value::Null);
    assert_eq!(all["counties"], 2);
}
