//! The overview figures (数据概览) end to end on a small scenario: two counties in two provinces
//! paired in given years, a project per theme with money, households exited inside and outside
//! the paired years; region prefixes, since/until, a household imported while the server runs,
//! and published figure sets that later records never change.

// Amounts are written yuan_fen (1_000_00 is 1,000.00 元) on purpose.
#![allow(clippy::inconsistent_digit_grouping)]

use crate::harness::{TestApp, error_fields};
use crate::projects::{create_project, org, project_body};
use crate::registry::{HEADER, Person, family, id_number, row, write_file};
use reqwest::StatusCode;
use serde_json::{Value, json};

const THEMES: [&str; 8] = [
    "pairing",
    "education",
    "finance",
    "industry",
    "rural",
    "technology",
    "tourism",
    "consumption",
];

pub(crate) struct Scenario {
    pub city: i64,
    pub receiver: i64,
    pub projects: Vec<i64>,
    pub dir: tempfile::TempDir,
}

pub(crate) fn tx(
    kind: &str,
    amount: i64,
    date: &str,
    from: i64,
    to: i64,
    source: &str,
    project: i64,
) -> Value {
    json!({"type": kind, "amount": amount, "value_date": date, "provider_id": from, "receiver_id": to,
           "fund_source": source, "project_id": project, "voucher_no": format!("S-{project}-{date}-{amount}")})
}

pub(crate) async fn post_tx(app: &TestApp, body: &Value) {
    let (status, created) = app.post("/api/v1/transactions", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

/// Commitment then an invested disbursement of `amount` from a Shenzhen-side organisation.
pub(crate) async fn invest(
    app: &TestApp,
    amount: i64,
    date: &str,
    from: i64,
    to: i64,
    source: &str,
    project: i64,
) {
    post_tx(
        app,
        &tx("commitment", amount, date, from, to, source, project),
    )
    .await;
    post_tx(
        app,
        &tx("disbursement", amount, date, from, to, source, project),
    )
    .await;
}

fn person(name: &'static str, county: &str, seq: u32, relation: &'static str) -> Person {
    Person {
        name,
        male: relation == "户主",
        id: id_number(county, "19750101", seq, relation == "户主"),
        relation,
    }
}

/// A household of `people` members with this status and exit year (CSV rows).
pub(crate) fn household(
    no: &str,
    village: &str,
    seq: u32,
    people: usize,
    status: &str,
    exit_year: &str,
) -> Vec<String> {
    let county = &village[..6];
    let mut rows = vec![row(
        no,
        village,
        &person("赵一", county, seq, "户主"),
        "因病",
        status,
        exit_year,
    )];
    for i in 1..people {
        rows.push(row(
            no,
            village,
            &person("赵二", county, seq + 100 * i as u32, "之子"),
            "因病",
            status,
            exit_year,
        ));
    }
    rows
}

pub(crate) fn import(app: &TestApp, dir: &tempfile::TempDir, name: &str, rows: &[String]) {
    let text = format!("{HEADER}\n{}\n", rows.join("\n"));
    let file = write_file(dir, name, text.as_bytes());
    let out = app.bangfu(&["import", "households", &file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) async fn scenario(app: &TestApp) -> Scenario {
    let dir = tempfile::tempdir().unwrap();
    let attrs = write_file(
        &dir,
        "attrs.csv",
        "行政区划代码,面积,海拔\n653131,22994,4000\n451024,2575,300\n653101,1000,1300\n".as_bytes(),
    );
    let out = app.bangfu(&["import", "region-attributes", &attrs]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let city = org(app, "深圳市乡村振兴和协作交流局", "city_office", true).await;
    let receiver = org(app, "受援县财政局", "government", false).await;
    // 塔什库尔干 as a county 2014–2020; 德保 through one of its towns from 2016 on; 喀什市 not paired.
    for (region, start, end) in [
        ("653131", 2014, json!(2020)),
        ("451024100", 2016, Value::Null),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/pairings",
                &json!({"organisation_id": city, "region_code": region, "pairing_type": "东西部扶贫协作",
                        "start_year": start, "end_year": end}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // One project per theme, alternating between the two counties, started 2019.
    let mut projects = Vec::new();
    for (i, theme) in THEMES.iter().enumerate() {
        let at = if i % 2 == 0 { "451024" } else { "653131" };
        let id = create_project(
            app,
            &project_body(&format!("{theme}项目"), theme, &[(at, 1)], false),
        )
        .await;
        invest(
            app,
            (i as i64 + 1) * 1_000_00 + 1,
            "2019-05-01",
            city,
            receiver,
            "fiscal",
            id,
        )
        .await;
        projects.push(id);
    }
    // Social money for the education project (塔县) in 2020.
    let foundation = org(app, "某公益基金会", "foundation", true).await;
    invest(
        app,
        500_00,
        "2020-02-01",
        foundation,
        receiver,
        "foundation",
        projects[1],
    )
    .await;
    // An industry project at 塔县 started 2013, before the seed's Xinjiang figures begin.
    let mut old = project_body("老产业项目", "industry", &[("653131", 1)], false);
    old["approved_on"] = json!("2013-01-01");
    old["start_date"] = json!("2013-02-01");
    old["end_date"] = json!("2014-12-31");
    let old = create_project(app, &old).await;
    invest(app, 700_00, "2013-06-01", city, receiver, "fiscal", old).await;
    // Spending by the county is not investment and is not counted again.
    let contractor = org(app, "某建设公司", "enterprise", false).await;
    post_tx(
        app,
        &tx(
            "expenditure",
            100_00,
            "2019-06-01",
            receiver,
            contractor,
            "fiscal",
            projects[0],
        ),
    )
    .await;

    let mut rows = Vec::new();
    rows.extend(family("D0001", "451024100001", 1)); // 3 people, exited 2018 while paired: counted
    rows.extend(household("D0002", "451024100001", 2, 3, "已脱贫", "2015")); // before 德保 was paired
    rows.extend(household("T0001", "653131100001", 3, 2, "未脱贫", "")); // remaining
    rows.extend(household(
        "T0002",
        "653131100001",
        4,
        2,
        "已脱贫（不再享受政策）",
        "2019",
    )); // counted
    rows.extend(household("T0003", "653131100002", 5, 4, "返贫", "2019")); // remaining
    rows.extend(household("K0001", "653101100002", 6, 5, "已脱贫", "2018")); // 喀什市 is not paired
    import(app, &dir, "households.csv", &rows);
    Scenario {
        city,
        receiver,
        projects,
        dir,
    }
}

pub(crate) async fn overview(app: &TestApp, query: &str) -> Value {
    // Public: no login.
    let resp = app
        .anonymous_client()
        .get(app.url(&format!("/api/v1/stats/overview{query}")))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

fn theme<'a>(o: &'a Value, id: &str) -> &'a Value {
    o["themes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["theme"] == id)
        .unwrap()
}

#[tokio::test]
async fn every_overview_figure_is_computed_from_the_records() {
    let app = TestApp::spawn().await;
    let s = scenario(&app).await;
    let o = overview(&app, "").await;
    assert_eq!(o["provinces"], 2);
    assert_eq!(o["counties"], 2);
    assert_eq!(o["area_km2"].as_f64().unwrap(), 25569.0);
    assert_eq!(o["shenzhen_equivalents"], 13);
    // 1..=8 × 1,000.01 元 in 2019, plus 700 元 in 2013; the expenditure is not counted again.
    assert_eq!(o["fiscal_funds_fen"], 36_000_08 + 700_00);
    assert_eq!(o["social_funds_fen"], 500_00);
    assert_eq!(o["projects"], 9);
    assert_eq!(o["people_out_of_poverty"], 3 + 2);
    assert_eq!(o["people_remaining"], 2 + 4);
    assert_eq!(o["elevation_min_m"], 300);
    assert_eq!(o["elevation_max_m"], 4000);
    let themes = o["themes"].as_array().unwrap();
    assert_eq!(themes.len(), 8);
    assert_eq!(theme(&o, "education")["theme_name"], "教育扶贫");
    assert_eq!(theme(&o, "education")["projects"], 1);
    assert_eq!(theme(&o, "education")["funds_fen"], 2_000_01 + 500_00);
    assert_eq!(theme(&o, "education")["fiscal_funds_fen"], 2_000_01);
    assert_eq!(theme(&o, "industry")["projects"], 2);
    assert_eq!(theme(&o, "industry")["funds_fen"], 4_000_01 + 700_00);
    let theme_funds: i64 = themes
        .iter()
        .map(|t| t["funds_fen"].as_i64().unwrap())
        .sum();
    assert_eq!(theme_funds, o["invested_funds_fen"].as_i64().unwrap());

    // The fiscal total agrees to the fen with the invested-funds report.
    let (_, report) = app.get("/api/v1/reports/invested?fiscal=true").await;
    assert_eq!(report["total"], o["fiscal_funds_fen"], "{report}");

    // A household imported through the command line while the server runs counts at once.
    import(
        &app,
        &s.dir,
        "more.csv",
        &household("D0003", "451024100001", 7, 3, "已脱贫", "2019"),
    );
    let o = overview(&app, "").await;
    assert_eq!(o["people_out_of_poverty"], 3 + 2 + 3);
    // …and so does a new disbursement.
    invest(
        &app,
        1_00,
        "2020-03-01",
        s.city,
        s.receiver,
        "fiscal",
        s.projects[0],
    )
    .await;
    assert_eq!(
        overview(&app, "").await["fiscal_funds_fen"],
        36_000_08 + 700_00 + 1_00
    );
}

#[tokio::test]
async fn a_region_prefix_and_years_narrow_every_figure() {
    let app = TestApp::spawn().await;
    scenario(&app).await;
    for region in ["6531", "653131", "65"] {
        let o = overview(&app, &format!("?region={region}")).await;
        assert_eq!(o["provinces"], 1, "{region}");
        assert_eq!(o["counties"], 1, "{region}");
        assert_eq!(o["area_km2"].as_f64().unwrap(), 22994.0);
        assert_eq!(o["shenzhen_equivalents"], 12);
        assert_eq!(o["fiscal_funds_fen"], 20_000_04 + 700_00, "{region}");
        assert_eq!(o["projects"], 5, "{region}");
        assert_eq!(o["people_out_of_poverty"], 2);
        assert_eq!(o["people_remaining"], 6);
        assert_eq!(o["elevation_min_m"], 4000);
        assert_eq!(o["elevation_max_m"], 4000);
        assert_eq!(theme(&o, "pairing")["projects"], 0);
        assert_eq!(o["region_code"], region);
    }
    // The seed's Xinjiang figure: money by value date, projects by start year, from 2014.
    let x = overview(&app, "?region=6531&since=2014").await;
    assert_eq!(x["fiscal_funds_fen"], 20_000_04);
    assert_eq!(x["projects"], 4);
    assert_eq!(x["region_name"], "喀什地区");

    let g = overview(&app, "?region=45").await;
    assert_eq!(
        (g["counties"].as_i64(), g["projects"].as_i64()),
        (Some(1), Some(4))
    );
    assert_eq!(g["fiscal_funds_fen"], 16_000_04);
    assert_eq!(g["people_out_of_poverty"], 3);
    assert_eq!(g["people_remaining"], 0);

    // Up to 2018: only the 2013 project and money, only the 2018 exits.
    let early = overview(&app, "?until=2018").await;
    assert_eq!(early["fiscal_funds_fen"], 700_00);
    assert_eq!(early["projects"], 1);
    assert_eq!(early["people_out_of_poverty"], 3);
    // 塔县's pairing ended 2020: from 2021 only 德保 is paired.
    let late = overview(&app, "?since=2021").await;
    assert_eq!(
        (late["counties"].as_i64(), late["fiscal_funds_fen"].as_i64()),
        (Some(1), Some(0))
    );

    let (status, err) = app.get("/api/v1/stats/overview?region=abc").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&err), ["region"]);
    let (status, err) = app
        .get("/api/v1/stats/overview?since=2020&until=2019")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&err), ["until"]);
}

async fn raw(app: &TestApp, sql: &str) -> Result<u64, String> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    store::on_db!(&app.db, p => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()).map_err(|e| e.to_string()))
}

#[tokio::test]
async fn published_figures_are_frozen_as_of_their_date() {
    let app = TestApp::spawn().await;
    let s = scenario(&app).await;
    // As of 2020-01-31: the foundation's 2020-02-01 money is not yet in.
    let out = app.bangfu(&["stats", "publish", "--as-of", "2020-01-31"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp = app
        .anonymous_client()
        .get(app.url("/api/v1/stats/published"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let list: Value = resp.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let id = items[0]["id"].as_i64().unwrap();
    let (status, first) = app.get(&format!("/api/v1/stats/published/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["as_of"], "2020-01-31");
    let f = &first["figures"];
    assert_eq!(f["fiscal_funds_fen"], 36_000_08 + 700_00);
    assert_eq!(f["social_funds_fen"], 0);
    assert_eq!(f["counties"], 2);
    assert_eq!(f["people_out_of_poverty"], 5);

    // Later records change the overview but never the published set.
    invest(
        &app,
        9_00,
        "2020-03-01",
        s.city,
        s.receiver,
        "fiscal",
        s.projects[2],
    )
    .await;
    import(
        &app,
        &s.dir,
        "later.csv",
        &household("D0009", "451024100001", 9, 2, "已脱贫", "2019"),
    );
    let now = overview(&app, "").await;
    assert_eq!(now["people_out_of_poverty"], 7);
    let (_, again) = app.get(&format!("/api/v1/stats/published/{id}")).await;
    assert_eq!(again, first);

    // The database itself refuses to alter a published set.
    for sql in [
        "UPDATE published_figures SET figures_json = '{}'",
        "DELETE FROM published_figures",
    ] {
        let err = raw(&app, sql).await.expect_err(sql);
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    // A date still to come, or no date at all, is refused and nothing is published.
    for bad in ["2999-01-01", "明天"] {
        let out = app.bangfu(&["stats", "publish", "--as-of", bad]);
        assert!(!out.status.success(), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("as_of"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (_, list) = app.get("/api/v1/stats/published").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, _) = app.get("/api/v1/stats/published/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
