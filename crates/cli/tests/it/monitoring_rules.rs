//! The monitoring rules of issue 13 end to end, through the API and the real binary: the three
//! categories as DOMAIN.md §7 defines them, the years monitoring and its third category began,
//! the registry closed after 2020, thresholds that carry forward, manual cases cross-checked,
//! the risk elimination procedure, and the incidence of a past year from the status history.

use crate::assessment::{EAST_VILLAGE, Hh, exited, household_id, import, run_ok};
use crate::harness::{TestApp, error_fields};
use crate::registry::{HEADER, Person, id_number, row, write_file};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A village committee of 云南 (盘龙区), whose 2023 monitoring threshold is 8,050 元.
const YUNNAN_VILLAGE: &str = "530103011201";

fn member(county: &str, seq: u32, relation: &str, labour: &str) -> Value {
    json!({"name": format!("农户{seq}"), "sex": "男", "id_number": id_number(county, "19800101", seq, true), "relation": relation,
        "ethnicity": "汉", "education": "初中", "schooling": "非在校生", "health": "健康", "labour": labour})
}

/// A 一般农户 (never registered) of three people, created through the API.
async fn rural_household(app: &TestApp, no: &str, seq: u32) -> i64 {
    let county = &EAST_VILLAGE[..6];
    let (status, created) = app
        .post(
            "/api/v1/households",
            &json!({"household_no": no, "village_code": EAST_VILLAGE, "household_type": "一般农户",
                "members": [member(county, seq, "户主", "普通劳动力"), member(county, seq + 1, "之子", "普通劳动力"), member(county, seq + 2, "之女", "普通劳动力")]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["member_count"], 3);
    created["id"].as_i64().unwrap()
}

async fn cases_of(app: &TestApp, no: &str) -> Vec<Value> {
    app.get_all("/api/v1/monitoring-cases?status=all")
        .await
        .into_iter()
        .filter(|c| c["household_no"] == no)
        .collect()
}

async fn open_case(app: &TestApp, id: i64, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/households/{id}/monitoring-cases"), &body)
        .await
}

fn message(body: &Value) -> String {
    body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|x| x["message"].as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
                .join("；")
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_issues_example_is_a_sudden_hardship_case_and_a_sharp_drop_far_above_the_line_is_none()
{
    let app = TestApp::spawn().await;
    // 一般农户, 2021: 24,000 for three people = 8,000 each; threshold 1.5 × 4,000 = 6,000.
    let id = rural_household(&app, "EX-1", 100).await;
    // An exited household whose income fell from 30,000 to 20,000 per person.
    import(
        &app,
        &[exited("DROP-1", EAST_VILLAGE, 7)],
        &[
            ("EX-1", 2020, "24000"),
            ("EX-1", 2021, "24000"),
            ("DROP-1", 2020, "30000"),
            ("DROP-1", 2021, "20000"),
        ],
    );
    let (status, e) = app
        .post(
            &format!("/api/v1/households/{id}/expenses"),
            &json!({"expense_date": "2021-04-10", "kind": "医疗", "amount": "30000"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    let (status, s) = app
        .post(
            &format!("/api/v1/households/{id}/shocks"),
            &json!({"shock_date": "2021-04-02", "kind": "重病"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");

    let summary = run_ok(&app, &["assess", "--year", "2021"]);
    assert!(summary.contains("突发严重困难户"), "{summary}");
    let cases = cases_of(&app, "EX-1").await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!(cases[0]["category"], "3", "{}", cases[0]);
    assert_eq!(cases[0]["category_name"], "突发严重困难户");
    let first = cases[0]["signals"][0]["detail"].as_str().unwrap();
    assert!(
        first.contains("不低于监测标准 6000.00 元")
            && first.contains("30000.00")
            && first.contains("24000.00"),
        "the explanation names the comparison: {first}"
    );
    assert!(
        cases[0]["signals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["detail"].as_str().unwrap().contains("重大疾病")),
        "the shock is recorded as the cause"
    );
    assert_eq!(
        cases[0]["rule_version"], 1,
        "the case names its rule version"
    );
    assert!(
        cases_of(&app, "DROP-1").await.is_empty(),
        "30,000 → 20,000 per person is far above the threshold"
    );
}

#[tokio::test]
async fn monitoring_begins_in_2020_and_its_third_category_in_2021() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[
            exited("Y-LOW", EAST_VILLAGE, 11),
            exited("Y-EXP", EAST_VILLAGE, 12),
        ],
        &[
            ("Y-LOW", 2019, "2000"),
            ("Y-LOW", 2020, "2000"),
            ("Y-EXP", 2019, "9000"),
            ("Y-EXP", 2020, "9000"),
            ("Y-EXP", 2021, "9000"),
        ],
    );
    let low = household_id(&app, "Y-LOW").await;
    let exp = household_id(&app, "Y-EXP").await;
    for date in ["2020-06-01", "2021-06-01"] {
        let (status, e) = app
            .post(&format!("/api/v1/households/{exp}/expenses"), &json!({"expense_date": date, "kind": "medical", "amount": "20000", "reimbursed": "1000"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{e}");
    }
    // 2019: before monitoring began, the batch opens no case, and a person cannot file one.
    let summary = run_ok(&app, &["assess", "--year", "2019"]);
    assert!(
        app.get_all("/api/v1/monitoring-cases?status=all")
            .await
            .is_empty(),
        "{summary}"
    );
    let (status, refused) = open_case(
        &app,
        low,
        json!({"channel": "declaration", "category": "1", "identified_at": "2019-12-20"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(error_fields(&refused), ["identified_at"]);
    assert!(message(&refused).contains("自2020年起"), "{refused}");

    // 2020: two categories. The hardship household is monitored as 脱贫不稳定户.
    run_ok(&app, &["assess", "--year", "2020"]);
    let c = cases_of(&app, "Y-LOW").await;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["category"], "1");
    let c = cases_of(&app, "Y-EXP").await;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["category"], "1", "no 突发严重困难户 in 2020: {}", c[0]);
    assert!(
        c[0]["signals"].to_string().contains("自2021年起"),
        "{}",
        c[0]
    );
    // A person cannot file a 突发严重困难户 in 2020 either; in 2021 they can.
    let (status, refused) = open_case(
        &app,
        exp,
        json!({"channel": "visit", "category": "3", "identified_at": "2020-11-02", "note": "住院"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(error_fields(&refused), ["category"]);
    assert!(
        message(&refused).contains("2021") && message(&refused).contains("脱贫不稳定户"),
        "{refused}"
    );
    // 2021: a household with income above the threshold and expenses above its income: the
    // third category.
    let fresh = crate::assessment::Hh {
        exit_year: "2019",
        ..exited("Y-NEW", EAST_VILLAGE, 13)
    };
    import(&app, &[fresh], &[("Y-NEW", 2021, "9000")]);
    let new = household_id(&app, "Y-NEW").await;
    let (status, e) = app
        .post(
            &format!("/api/v1/households/{new}/expenses"),
            &json!({"expense_date": "2021-03-01", "kind": "disaster", "amount": "12000"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    run_ok(&app, &["assess", "--year", "2021"]);
    let c = cases_of(&app, "Y-NEW").await;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["category"], "3", "{}", c[0]);
}

#[tokio::test]
async fn a_manual_case_must_fit_the_household() {
    let app = TestApp::spawn().await;
    let rural = rural_household(&app, "K-RURAL", 200).await;
    import(
        &app,
        &[
            exited("K-OUT", EAST_VILLAGE, 21),
            crate::assessment::poor("K-POOR", EAST_VILLAGE, 22),
        ],
        &[],
    );
    let out = household_id(&app, "K-OUT").await;
    let poor = household_id(&app, "K-POOR").await;
    let (status, refused) = open_case(
        &app,
        rural,
        json!({"channel": "declaration", "category": "脱贫不稳定户", "identified_at": "2021-05-01"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(error_fields(&refused), ["category"]);
    assert!(message(&refused).contains("应为边缘易致贫户"), "{refused}");
    let (status, refused) = open_case(
        &app,
        out,
        json!({"channel": "declaration", "category": "2", "identified_at": "2021-05-01"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(message(&refused).contains("应为脱贫不稳定户"), "{refused}");
    let (status, refused) = open_case(
        &app,
        poor,
        json!({"channel": "declaration", "category": "1", "identified_at": "2021-05-01"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(message(&refused).contains("尚未脱贫"), "{refused}");
    // Nothing was opened; the right categories are accepted.
    assert!(
        app.get_all("/api/v1/monitoring-cases?status=all")
            .await
            .is_empty()
    );
    for (id, category) in [(rural, "2"), (out, "突发严重困难户")] {
        let (status, case) = open_case(
            &app,
            id,
            json!({"channel": "visit", "category": category, "identified_at": "2021-05-01", "note": "走访发现"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{case}");
    }
}

#[tokio::test]
async fn no_registered_household_is_identified_after_2020() {
    let app = TestApp::spawn().await;
    let county = &EAST_VILLAGE[..6];
    let body = |no: &str, year: i64| {
        json!({"household_no": no, "village_code": EAST_VILLAGE, "attribute": "一般贫困户", "identification_standard": "国家标准",
            "main_cause": "因病", "identified_year": year, "status": "未脱贫",
            "members": [member(county, 300, "户主", "普通劳动力")]})
    };
    let (status, refused) = app.post("/api/v1/households", &body("CL-2021", 2021)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(error_fields(&refused), ["identified_year"]);
    assert!(
        message(&refused).contains("截至2020年") && message(&refused).contains("防返贫监测"),
        "{refused}"
    );
    // The same through a file: the row and column named, nothing written.
    let dir = tempfile::tempdir().unwrap();
    let p = Person {
        name: "新识别",
        male: true,
        id: id_number(county, "19790101", 301, true),
        relation: "户主",
    };
    let line = row("CL-FILE", EAST_VILLAGE, &p, "因病", "未脱贫", "").replace(",2014,", ",2021,");
    let file = write_file(&dir, "closed.csv", format!("{HEADER}\n{line}\n").as_bytes());
    let out = app.bangfu(&["import", "households", &file]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("第 2 行 识别年度 列") && stderr.contains("防返贫监测"),
        "{stderr}"
    );
    assert!(app.get_all("/api/v1/households?q=CL-").await.is_empty());
    // 2020 is still open.
    let (status, created) = app.post("/api/v1/households", &body("CL-2020", 2020)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

#[tokio::test]
async fn a_threshold_stays_in_force_until_a_newer_one() {
    let app = TestApp::spawn().await;
    import(&app, &[exited("YN-1", YUNNAN_VILLAGE, 31)], &[]);
    let id = household_id(&app, "YN-1").await;
    let (status, case) = open_case(
        &app,
        id,
        json!({"channel": "declaration", "identified_at": "2024-01-05", "note": "收入下降"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    for (date, income) in [("2024-01-15", "8100"), ("2024-07-15", "8100")] {
        let (status, v) = app
            .post(
                &format!("/api/v1/households/{id}/visits"),
                &json!({"visit_date": date, "visitor": "驻村工作队", "income_12m": income}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
    }
    let (status, check) = app
        .get(&format!(
            "/api/v1/monitoring-cases/{}/elimination",
            case["id"]
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(
        check["threshold_yuan"], "8050.00",
        "云南 2023 applies in 2024: {check}"
    );
    assert!(
        check["threshold_source"].as_str().unwrap().contains("沿用"),
        "{check}"
    );
    let income = check["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "stable_income")
        .unwrap();
    assert_eq!(income["passed"], true, "8,100 > 8,050: {income}");
}

async fn step(app: &TestApp, case: i64, step: &str, date: &str) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/monitoring-cases/{case}/elimination-procedure"),
        &json!({"step": step, "date": date, "responsible": "村委会 王主任", "note": "评议通过"}),
    )
    .await
}

#[tokio::test]
async fn the_risk_is_eliminated_by_the_last_step_of_its_procedure() {
    let app = TestApp::spawn().await;
    // 弱劳动力 counts as labour capacity.
    import(
        &app,
        &[Hh {
            labour: "弱劳动力",
            ..exited("EL-1", EAST_VILLAGE, 41)
        }],
        &[("EL-1", 2021, "3000")],
    );
    let id = household_id(&app, "EL-1").await;
    let (status, case) = open_case(
        &app,
        id,
        json!({"channel": "declaration", "identified_at": "2021-08-01", "note": "因病申报"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let case = case["id"].as_i64().unwrap();
    // 2021-08-31 → 2022-02-28 is six calendar months; threshold 6,000.
    for (date, income) in [("2021-08-31", "7000"), ("2022-02-28", "7000")] {
        let (status, v) = app
            .post(
                &format!("/api/v1/households/{id}/visits"),
                &json!({"visit_date": date, "visitor": "驻村第一书记", "income_12m": income}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
    }
    let (status, procedure) = app
        .get(&format!(
            "/api/v1/monitoring-cases/{case}/elimination-procedure"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{procedure}");
    assert_eq!(procedure["next"][1], "入户核实");
    assert_eq!(procedure["check"]["may_eliminate"], true, "{procedure}");

    // Eliminating directly is refused, naming the missing step.
    let eliminate = format!("/api/v1/monitoring-cases/{case}/eliminate");
    let (status, refused) = app.post(&eliminate, &json!({"date": "2022-03-01"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(message(&refused).contains("尚缺“入户核实”"), "{refused}");
    // Out of order, undated or unattributed: refused.
    let (status, refused) = step(&app, case, "county_approval", "2022-03-01").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&refused), ["step"]);
    let (status, refused) = app
        .post(
            &format!("/api/v1/monitoring-cases/{case}/elimination-procedure"),
            &json!({"step": "入户核实", "date": "2021-07-01"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&refused), ["responsible", "date"]);

    let (status, p) = step(&app, case, "入户核实", "2022-03-01").await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let (_, refused) = app.post(&eliminate, &json!({"date": "2022-03-02"})).await;
    assert!(
        message(&refused).contains("尚缺“村级评议公示”"),
        "{refused}"
    );
    let (status, p) = step(&app, case, "village_review", "2022-03-02").await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["publicity_until"], "2022-03-08");
    assert_eq!(p["approval_from"], "2022-03-09");
    // One day short of the 公示, then on the day.
    let (status, refused) = step(&app, case, "县级审批公告", "2022-03-08").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(error_fields(&refused), ["date"]);
    assert!(
        message(&refused).contains("最早可于 2022-03-09"),
        "{refused}"
    );
    let (_, still) = app.get(&format!("/api/v1/monitoring-cases/{case}")).await;
    assert_eq!(still["status"], "monitoring");
    let (status, p) = step(&app, case, "县级审批公告", "2022-03-09").await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["case_status"], "eliminated");
    assert_eq!(
        p["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (
                s["step_name"].as_str().unwrap(),
                s["date"].as_str().unwrap(),
                s["responsible"].as_str().unwrap()
            ))
            .collect::<Vec<_>>(),
        [
            ("入户核实", "2022-03-01", "村委会 王主任"),
            ("村级评议公示", "2022-03-02", "村委会 王主任"),
            ("县级审批公告", "2022-03-09", "村委会 王主任")
        ]
    );
    let (_, done) = app.get(&format!("/api/v1/monitoring-cases/{case}")).await;
    assert_eq!(done["status"], "eliminated");
    assert_eq!(done["eliminated_at"], "2022-03-09");
    assert_eq!(done["elimination"]["rule_version"], 1);
    assert_eq!(done["elimination"]["threshold_yuan"], "6000.00");
    let (status, _) = app.post(&eliminate, &json!({"date": "2022-03-10"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = step(&app, case, "入户核实", "2022-03-10").await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The case page shows the procedure as it was recorded.
    let (status, page) = app.get_text(&format!("/monitoring/{case}")).await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        "风险消除程序",
        "村级评议公示",
        "县级审批公告",
        "村委会 王主任",
        "规则版本 1",
    ] {
        assert!(page.contains(expected), "{expected} in {page}");
    }
}

#[tokio::test]
async fn a_household_whose_members_all_lack_labour_capacity_is_never_eliminated() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[Hh {
            labour: "无劳动力",
            ..exited("NL-1", EAST_VILLAGE, 51)
        }],
        &[],
    );
    let id = household_id(&app, "NL-1").await;
    let (status, case) = open_case(
        &app,
        id,
        json!({"channel": "declaration", "category": "1", "identified_at": "2021-01-04"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    for (date, income) in [("2021-01-10", "9000"), ("2021-12-10", "9000")] {
        let (status, _) = app
            .post(
                &format!("/api/v1/households/{id}/visits"),
                &json!({"visit_date": date, "visitor": "驻村第一书记", "income_12m": income}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, refused) = step(
        &app,
        case["id"].as_i64().unwrap(),
        "verification",
        "2022-01-05",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(error_fields(&refused), ["labour"]);
    assert!(message(&refused).contains("持续监测"), "{refused}");
}

#[tokio::test]
async fn a_past_years_incidence_counts_the_households_poor_in_that_year() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[
            Hh {
                exit_year: "2019",
                ..exited("H-2019", EAST_VILLAGE, 61)
            },
            Hh {
                exit_year: "2015",
                ..exited("H-2015", EAST_VILLAGE, 62)
            },
        ],
        &[],
    );
    let (status, body) = app
        .put(
            "/api/v1/regions/441621103212/population/2016",
            &json!({"rural_population": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    run_ok(&app, &["assess", "--year", "2016"]);
    let rows = app
        .get_all("/api/v1/exit-progress?year=2016&level=village")
        .await;
    let village = rows
        .iter()
        .find(|r| r["code"] == EAST_VILLAGE)
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(
        (
            village["households"].as_i64(),
            village["remaining"].as_i64()
        ),
        (Some(2), Some(1)),
        "exited in 2019: still poor at the end of 2016; exited in 2015: not: {village}"
    );
    assert_eq!(village["incidence_bp"], 100, "1 of 100: {village}");
    // Today both are out: the 2020 figure counts none.
    run_ok(&app, &["assess", "--year", "2020"]);
    let rows = app
        .get_all("/api/v1/exit-progress?year=2020&level=village")
        .await;
    let village = rows.iter().find(|r| r["code"] == EAST_VILLAGE).unwrap();
    assert_eq!(village["remaining"], 0, "{village}");
}

/// The line of `bangfu assess`'s summary table with this label, as a number.
fn summary_figure(table: &str, label: &str) -> i64 {
    table
        .lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(label)).then(|| words.last().unwrap_or_default().replace(',', ""))
        })
        .unwrap_or_else(|| panic!("{label} in {table}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_past_years_exit_counts_use_the_status_of_that_year_as_its_incidence_does() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[
            Hh {
                exit_year: "2019",
                ..exited("H-2019", EAST_VILLAGE, 71)
            },
            Hh {
                exit_year: "2015",
                ..exited("H-2015", EAST_VILLAGE, 72)
            },
        ],
        &[
            ("H-2019", 2015, "5000"),
            ("H-2019", 2016, "5000"),
            ("H-2015", 2015, "5000"),
            ("H-2015", 2016, "5000"),
        ],
    );
    // Identified in 2018: not in the registry of 2016.
    let county = &EAST_VILLAGE[..6];
    let (status, late) = app
        .post(
            "/api/v1/households",
            &json!({"household_no": "H-LATE", "village_code": EAST_VILLAGE, "attribute": "一般贫困户",
                "identification_standard": "国家标准", "main_cause": "因病", "identified_year": 2018, "status": "未脱贫",
                "members": [member(county, 73, "户主", "普通劳动力")]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{late}");

    // The API's run: at the end of 2016 H-2019 was still poor (and may exit), H-2015 was out,
    // H-LATE not yet identified. Today all three would count, none of them as poor but H-LATE.
    let (status, run) = app
        .post("/api/v1/assessment-runs?wait=true", &json!({"year": 2016}))
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let s = &run["summary"];
    assert_eq!(
        (
            s["assessed"].as_i64(),
            s["poor_assessed"].as_i64(),
            s["may_exit"].as_i64(),
            s["may_exit_poor"].as_i64()
        ),
        (Some(2), Some(1), Some(2), Some(1)),
        "{s}"
    );
    // The same households and the same status as the village's incidence of that run.
    let run_id = run["id"].as_i64().unwrap();
    let villages = app
        .get_all(&format!("/api/v1/assessment-runs/{run_id}/villages"))
        .await;
    let village = villages
        .iter()
        .find(|v| v["code"] == EAST_VILLAGE)
        .unwrap_or_else(|| panic!("{villages:?}"));
    assert_eq!(
        (
            village["households"].as_i64(),
            village["poor_households"].as_i64(),
            village["may_exit_households"].as_i64(),
            village["remaining"].as_i64(),
            village["remaining_after_exits"].as_i64()
        ),
        (Some(2), Some(1), Some(1), Some(1), Some(0)),
        "{village}"
    );
    // Each decision records the status the household had then.
    let h2019 = household_id(&app, "H-2019").await;
    let (_, decisions) = app
        .get(&format!("/api/v1/households/{h2019}/assessment?year=2016"))
        .await;
    assert_eq!(decisions["latest"]["household_status"], "0", "{decisions}");
    let h2015 = household_id(&app, "H-2015").await;
    let (_, decisions) = app
        .get(&format!("/api/v1/households/{h2015}/assessment?year=2016"))
        .await;
    assert_eq!(decisions["latest"]["household_status"], "1", "{decisions}");
    let (_, decisions) = app
        .get(&format!(
            "/api/v1/households/{}/assessment?year=2016",
            late["id"]
        ))
        .await;
    assert!(decisions["latest"].is_null(), "{decisions}");

    // The command line prints the same counts.
    let table = run_ok(&app, &["assess", "--year", "2016"]);
    assert_eq!(summary_figure(&table, "评估户数"), 2, "{table}");
    assert_eq!(summary_figure(&table, "其中未脱贫或返贫"), 1, "{table}");
    assert_eq!(
        summary_figure(&table, "其中未脱贫或返贫（可启动退出程序）"),
        1,
        "{table}"
    );
    // In 2020 the two are out and H-LATE is still poor.
    let table = run_ok(&app, &["assess", "--year", "2020"]);
    assert_eq!(summary_figure(&table, "评估户数"), 3, "{table}");
    assert_eq!(summary_figure(&table, "其中未脱贫或返贫"), 1, "{table}");
}

#[tokio::test]
async fn the_new_rule_items_are_shown_edited_and_checked() {
    let app = TestApp::spawn().await;
    let (status, page) = app.get_text("/assessment/rules").await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        "防返贫监测自 2020 年起",
        "突发严重困难户自 2021 年起单列",
        "建档立卡识别截至 2020 年",
        "1200‰（risk_multiple_permille）",
        "县级审批公告",
    ] {
        assert!(page.contains(expected), "{expected} in the rules page");
    }
    let (status, refused) = app
        .put(
            "/api/v1/rules",
            &json!({"risk_multiple_permille": 900, "sudden_hardship_from_year": 2019, "note": "试"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(
        error_fields(&refused),
        ["risk_multiple_permille", "sudden_hardship_from_year"]
    );
    let (status, saved) = app
        .put(
            "/api/v1/rules",
            &json!({"risk_multiple_permille": 1300, "note": "风险线调整为 1.3 倍"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["version"], 2);
    assert_eq!(saved["rules"]["risk_multiple_permille"], 1300);
    let (_, page) = app.get_text("/assessment/rules").await;
    assert!(page.contains("1300‰（risk_multiple_permille）"));
}
