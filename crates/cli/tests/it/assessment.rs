//! Exit assessment and monitoring end to end, on a real database through the API and the real
//! binary: the boundary cases of the rules (income at the line, stability, each guarantee,
//! western and eastern incidence, a province's own monitoring threshold, no labour capacity),
//! rule versions that never rewrite past decisions, the exit procedure's 公示 and objections,
//! and the records monitoring needs.

use crate::harness::{TestApp, error_fields};
use crate::registry::{HEADER, Person, id_number, row, write_file};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub(crate) const WEST_VILLAGE: &str = "451024100200"; // 广西 德保县
pub(crate) const EAST_VILLAGE: &str = "441621103212"; // 广东 紫金县
const FLAG_COLUMNS: &str =
    ",是否安全饮水,不愁吃,不愁穿,义务教育有保障,基本医疗有保障,住房安全有保障";
const ALL_SECURE: &str = "是,是,是,是,是,是";
const INCOME_HEADER: &str =
    "户编号,年度,工资性收入,生产经营性收入,财产性收入,转移性收入,生产经营性支出";

/// A one-person household (so that per-capita income is the household's income).
pub(crate) struct Hh {
    pub no: String,
    pub village: &'static str,
    pub seq: u32,
    pub status: &'static str,
    pub exit_year: &'static str,
    pub flags: String,
    pub labour: &'static str,
}

pub(crate) fn poor(no: &str, village: &'static str, seq: u32) -> Hh {
    Hh {
        no: no.into(),
        village,
        seq,
        status: "未脱贫",
        exit_year: "",
        flags: ALL_SECURE.into(),
        labour: "普通劳动力",
    }
}

pub(crate) fn exited(no: &str, village: &'static str, seq: u32) -> Hh {
    Hh {
        status: "已脱贫",
        exit_year: "2018",
        ..poor(no, village, seq)
    }
}

fn member_line(h: &Hh) -> String {
    let county = &h.village[..6];
    let p = Person {
        name: "测试户主",
        male: true,
        id: id_number(county, "19700305", h.seq, true),
        relation: "户主",
    };
    let line = row(&h.no, h.village, &p, "因病", h.status, h.exit_year)
        .replace(",普通劳动力,", &format!(",{},", h.labour));
    format!("{line},{}", h.flags)
}

/// Posts an HTML form as the test administrator; returns the status and the redirect target.
pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let r = app
        .client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("request");
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (r.status(), location)
}

pub(crate) fn run_ok(app: &TestApp, args: &[&str]) -> String {
    let out = app.bangfu(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "bangfu {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Imports the households (if any) and their incomes ((household_no, year, yuan) rows) through
/// the binary.
pub(crate) fn import(app: &TestApp, households: &[Hh], incomes: &[(&str, i64, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    if !households.is_empty() {
        let mut lines = vec![format!("{HEADER}{FLAG_COLUMNS}")];
        lines.extend(households.iter().map(member_line));
        let members = write_file(&dir, "members.csv", (lines.join("\n") + "\n").as_bytes());
        run_ok(app, &["import", "households", &members]);
    }
    if !incomes.is_empty() {
        let mut lines = vec![INCOME_HEADER.to_string()];
        lines.extend(
            incomes
                .iter()
                .map(|(no, year, yuan)| format!("{no},{year},{yuan},0,0,0,0")),
        );
        let file = write_file(&dir, "incomes.csv", (lines.join("\n") + "\n").as_bytes());
        run_ok(app, &["import", "incomes", &file]);
    }
}

pub(crate) async fn household_id(app: &TestApp, no: &str) -> i64 {
    let items = app
        .get_all(&format!("/api/v1/households?q={no}&include_removed=true"))
        .await;
    items
        .iter()
        .find(|h| h["household_no"] == no)
        .unwrap_or_else(|| panic!("household {no}"))["id"]
        .as_i64()
        .unwrap()
}

async fn latest_decision(app: &TestApp, no: &str, year: i64) -> Value {
    let id = household_id(app, no).await;
    let (status, body) = app
        .get(&format!("/api/v1/households/{id}/assessment?year={year}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["latest"].clone()
}

fn failing(decision: &Value) -> Vec<String> {
    decision["failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

fn criterion<'a>(decision: &'a Value, key: &str) -> &'a Value {
    decision["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("criterion {key} in {decision}"))
}

#[tokio::test]
async fn income_exactly_at_the_line_and_a_previous_year_below_it_keep_a_household_in() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[
            poor("AT-LINE", EAST_VILLAGE, 1),
            poor("ABOVE", EAST_VILLAGE, 2),
            poor("PREV-AT", EAST_VILLAGE, 3),
            poor("PREV-BELOW", EAST_VILLAGE, 4),
        ],
        &[
            ("AT-LINE", 2018, "3000"),
            ("AT-LINE", 2019, "3218"),
            ("ABOVE", 2018, "3000"),
            ("ABOVE", 2019, "3218.01"),
            ("PREV-AT", 2018, "2995"),
            ("PREV-AT", 2019, "5000"),
            ("PREV-BELOW", 2018, "2000"),
            ("PREV-BELOW", 2019, "5000"),
        ],
    );
    let summary = run_ok(&app, &["assess", "--year", "2019"]);
    for expected in [
        "2019 年退出评估完成",
        "评估户数",
        "可以退出",
        "不能退出",
        "未达到：2019年人均纯收入高于贫困线",
        "监测",
    ] {
        assert!(summary.contains(expected), "{expected} in:\n{summary}");
    }

    let at = latest_decision(&app, "AT-LINE", 2019).await;
    assert_eq!(at["may_exit"], false);
    assert_eq!(failing(&at), ["income"]);
    assert_eq!(
        criterion(&at, "income")["detail"],
        "人均纯收入 3218.00 元，等于（不算高于）贫困线 3218.00 元"
    );
    assert_eq!(criterion(&at, "income_2018")["passed"], true);
    assert_eq!(
        at["criteria"].as_array().unwrap().len(),
        8,
        "two income years and six guarantees, each listed"
    );

    let above = latest_decision(&app, "ABOVE", 2019).await;
    assert_eq!(above["may_exit"], true, "{above}");
    assert!(failing(&above).is_empty());

    let prev_at = latest_decision(&app, "PREV-AT", 2019).await;
    assert_eq!(
        failing(&prev_at),
        ["income_2018"],
        "2995.00 in 2018 is not above that year's line"
    );
    let prev_below = latest_decision(&app, "PREV-BELOW", 2019).await;
    assert_eq!(failing(&prev_below), ["income_2018"]);
    assert_eq!(
        criterion(&prev_below, "income_2018")["detail"],
        "人均纯收入 2000.00 元，低于贫困线 2995.00 元"
    );
    assert_eq!(criterion(&prev_below, "income")["passed"], true);

    // The summary counts: 1 may exit, 3 may not, 1 failing this year, 2 the year before.
    let (_, runs) = app.get("/api/v1/assessment-runs").await;
    let s = &runs["items"][0]["summary"];
    assert_eq!(
        (
            s["assessed"].as_i64(),
            s["may_exit"].as_i64(),
            s["may_not_exit"].as_i64()
        ),
        (Some(4), Some(1), Some(3))
    );
    let count = |key: &str| {
        s["failing"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key"] == key)
            .map(|f| f["count"].as_i64().unwrap())
    };
    assert_eq!((count("income"), count("income_2018")), (Some(1), Some(2)));

    // With one year of stability required, PREV-BELOW may exit in a new run; the old decision stays.
    let (status, body) = app
        .put(
            "/api/v1/rules",
            &json!({"stable_years": 1, "note": "只看当年"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    run_ok(&app, &["assess", "--year", "2019"]);
    let id = household_id(&app, "PREV-BELOW").await;
    let (_, all) = app
        .get(&format!("/api/v1/households/{id}/assessment?year=2019"))
        .await;
    let decisions = all["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 2);
    assert_eq!(
        (
            decisions[0]["may_exit"].as_bool(),
            decisions[0]["rule_version"].as_i64()
        ),
        (Some(true), Some(2))
    );
    assert_eq!(
        (
            decisions[1]["may_exit"].as_bool(),
            decisions[1]["rule_version"].as_i64()
        ),
        (Some(false), Some(1))
    );
}

#[tokio::test]
async fn each_guarantee_failing_alone_is_the_only_reason() {
    let app = TestApp::spawn().await;
    let keys = [
        "water",
        "food",
        "clothing",
        "education",
        "medical",
        "housing",
    ];
    let mut households = Vec::new();
    let mut incomes = Vec::new();
    let nos: Vec<String> = keys.iter().map(|k| format!("G-{k}")).collect();
    for (i, no) in nos.iter().enumerate() {
        let mut flags = ["是"; 6];
        flags[i] = "否";
        households.push(Hh {
            flags: flags.join(","),
            ..poor(no, EAST_VILLAGE, 10 + i as u32)
        });
        incomes.push((no.as_str(), 2018, "5000"));
        incomes.push((no.as_str(), 2019, "5000"));
    }
    households.push(Hh {
        flags: "是,是,是,是,是,".into(),
        ..poor("G-unknown", EAST_VILLAGE, 20)
    });
    incomes.push(("G-unknown", 2018, "5000"));
    incomes.push(("G-unknown", 2019, "5000"));
    import(&app, &households, &incomes);
    run_ok(&app, &["assess", "--year", "2019"]);
    for (no, key) in nos.iter().zip(keys) {
        let d = latest_decision(&app, no, 2019).await;
        assert_eq!(failing(&d), [key], "{no}: {d}");
        assert_eq!(criterion(&d, key)["passed"], false);
    }
    let unknown = latest_decision(&app, "G-unknown", 2019).await;
    assert_eq!(failing(&unknown), ["housing"]);
    assert_eq!(
        criterion(&unknown, "housing")["detail"],
        "未填报",
        "an unreported guarantee is not a met one"
    );
    assert_eq!(
        criterion(&latest_decision(&app, "G-water", 2019).await, "water")["detail"],
        "饮水不安全"
    );
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {text}"))
        + start.len();
    &text[from..from + text[from..].find(end).unwrap()]
}

/// The map areas a progress page hands its script (an HTML-escaped JSON attribute).
fn map_areas(page: &str) -> Vec<Value> {
    let raw = between(page, "data-areas=\"", "\"");
    let json = raw
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x22;", "\"")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
        .replace("&#x27;", "'")
        .replace("&#39;", "'");
    serde_json::from_str::<Value>(&json)
        .unwrap_or_else(|e| panic!("{e}: {json}"))
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_western_county_passes_and_an_eastern_one_fails_at_two_and_a_half_percent() {
    let app = TestApp::spawn().await;
    let mut households = Vec::new();
    for i in 0..25 {
        households.push(poor(&format!("W{i:02}"), WEST_VILLAGE, 100 + i));
        households.push(poor(&format!("E{i:02}"), EAST_VILLAGE, 100 + i));
    }
    // Exited households are not remaining poor.
    households.push(exited("W-OUT", WEST_VILLAGE, 200));
    households.push(exited("E-OUT", EAST_VILLAGE, 200));
    import(&app, &households, &[]);
    for code in ["451024", WEST_VILLAGE, "441621", EAST_VILLAGE] {
        let (status, body) = app
            .put(
                &format!("/api/v1/regions/{code}/population/2019"),
                &json!({"rural_population": 1000}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let summary = run_ok(&app, &["assess", "--year", "2019"]);
    assert!(summary.contains("县：达到贫困发生率标准"), "{summary}");

    let counties = app
        .get_all("/api/v1/exit-progress?year=2019&level=county")
        .await;
    let county = |code: &str| {
        counties
            .iter()
            .find(|c| c["code"] == code)
            .unwrap_or_else(|| panic!("{code} in {counties:?}"))
            .clone()
    };
    let west = county("451024");
    let east = county("441621");
    assert_eq!(
        (
            west["remaining"].as_i64(),
            west["incidence_bp"].as_i64(),
            west["threshold_bp"].as_i64()
        ),
        (Some(25), Some(250), Some(300))
    );
    assert_eq!(west["passed"], true, "2.5% is below the western 3%");
    assert_eq!(
        (
            east["remaining"].as_i64(),
            east["incidence_bp"].as_i64(),
            east["threshold_bp"].as_i64()
        ),
        (Some(25), Some(250), Some(200))
    );
    assert_eq!(east["passed"], false, "2.5% is not below the eastern 2%");
    assert!(
        east["criteria"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("中东部省份标准 2%"),
        "{east}"
    );
    assert_eq!(east["exit_ready"], false);
    let villages = app
        .get_all("/api/v1/exit-progress?year=2019&level=village")
        .await;
    let village = |code: &str| villages.iter().find(|v| v["code"] == code).unwrap().clone();
    assert_eq!(village(WEST_VILLAGE)["passed"], true);
    assert_eq!(village(EAST_VILLAGE)["passed"], false);
    assert_eq!(village(EAST_VILLAGE)["households"], 26);

    // A province's own incidence threshold and the county review samples are rules and data too.
    let (status, _) = app
        .put(
            "/api/v1/rules",
            &json!({"incidence_bp_by_region": {"44": 300}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, review) = app
        .put(
            "/api/v1/county-reviews/441621/2019",
            &json!({"sampled_exited": 200, "wrongly_exited": 3, "sampled_households": 500,
            "missed_poor": 5, "surveyed": 400, "approving": 380}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{review}");
    let (status, bad) = app
        .put(
            "/api/v1/county-reviews/441621/2019",
            &json!({"sampled_exited": 2, "wrongly_exited": 3, "sampled_households": 5,
            "missed_poor": 0, "surveyed": 4, "approving": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&bad), ["wrongly_exited"]);
    run_ok(&app, &["assess", "--year", "2019", "--region", "441621"]);
    let counties = app
        .get_all("/api/v1/exit-progress?year=2019&level=county")
        .await;
    let east = counties.iter().find(|c| c["code"] == "441621").unwrap();
    assert_eq!(east["passed"], true, "{east}");
    assert_eq!(
        east["exit_ready"], true,
        "1.5% wrongful, 1% missed, 95% approval: {east}"
    );

    // The page: a table, a bar chart and a map coloured by incidence. The counties lie in two
    // provinces, so the map is China's, one area per province with its counties summed.
    let (status, page) = app.get_text("/assessment/progress?year=2019").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<svg") && page.contains("德保县") && page.contains("紫金县"),
        "{page}"
    );
    let areas = map_areas(&page);
    assert!(page.contains("/china.json"), "{page}");
    let area = |code: &str| {
        areas
            .iter()
            .find(|a| a["code"] == code)
            .unwrap_or_else(|| panic!("{code} in {areas:?}"))
            .clone()
    };
    assert_eq!(area("45")["incidence_pct"], 2.5);
    assert_eq!(
        (
            area("45")["counties"].as_i64(),
            area("45")["passed"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(area("44")["incidence_pct"], 2.5);
    assert_eq!(area("44")["passed"], 1, "with 广东's own 3% threshold");
    assert_eq!(
        area("44")["href"],
        "/assessment/progress?year=2019&region=44"
    );
    // One province: its prefectures.
    let (_, page) = app
        .get_text("/assessment/progress?year=2019&region=45")
        .await;
    assert!(page.contains("/province/45.json"), "{page}");
    let areas = map_areas(&page);
    assert_eq!(areas.len(), 1);
    assert_eq!(areas[0]["code"], "4510");
    assert_eq!(areas[0]["remaining"], 25);
    // The script and map files it loads are served.
    for path in [
        "/static/exit_map.js".to_string(),
        between(&page, "<script src=\"", "\"").to_string(),
        between(&page, "data-map-url=\"", "\"").to_string(),
    ] {
        let r = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    // A county's villages: no map (no village outlines).
    let (_, page) = app
        .get_text("/assessment/progress?year=2019&region=451024")
        .await;
    assert!(!page.contains("exit-map-chart"), "{page}");
}

#[tokio::test]
async fn a_provinces_own_monitoring_threshold_overrides_the_default() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[
            exited("M-GD", EAST_VILLAGE, 1),
            exited("M-GX", WEST_VILLAGE, 1),
        ],
        &[
            ("M-GD", 2019, "6700"),
            ("M-GD", 2020, "6500"),
            ("M-GX", 2019, "6700"),
            ("M-GX", 2020, "6500"),
        ],
    );
    // Default: 1.5 × 4000 = 6000.00; 6500 is above it.
    run_ok(&app, &["assess", "--year", "2020"]);
    assert!(app.get_all("/api/v1/monitoring-cases").await.is_empty());

    let (_, current) = app.get("/api/v1/rules").await;
    let mut thresholds = current["rules"]["monitoring_thresholds"]
        .as_array()
        .unwrap()
        .clone();
    thresholds.push(
        json!({"province": 44, "year": 2020, "yuan": 7000, "source": "广东省2020年监测标准"}),
    );
    let (status, body) = app
        .put(
            "/api/v1/rules",
            &json!({"monitoring_thresholds": thresholds, "note": "广东省标准"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    let summary = run_ok(&app, &["assess", "--year", "2020"]);
    assert!(
        summary.contains("脱贫不稳定户") && summary.contains("新纳入监测"),
        "{summary}"
    );

    let cases = app.get_all("/api/v1/monitoring-cases").await;
    assert_eq!(cases.len(), 1, "only the 广东 household: {cases:?}");
    assert_eq!(cases[0]["household_no"], "M-GD");
    assert_eq!(cases[0]["category"], "1");
    assert_eq!(cases[0]["channel"], "screening");
    assert_eq!(
        cases[0]["signals"][0]["detail"],
        "人均纯收入 6500.00 元低于监测标准 7000.00 元"
    );
    let monitored = app.get_all("/api/v1/households?monitoring_type=1").await;
    assert_eq!(
        monitored
            .iter()
            .map(|h| h["household_no"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["M-GD"]
    );

    // Running again finds it again but opens no second case.
    run_ok(&app, &["assess", "--year", "2020"]);
    assert_eq!(
        app.get_all("/api/v1/monitoring-cases?status=all")
            .await
            .len(),
        1
    );

    // A county's own threshold overrides its province's.
    let mut more = thresholds.clone();
    more.push(json!({"province": 45, "county": 451024, "year": 2020, "yuan": 6600}));
    let (status, _) = app
        .put("/api/v1/rules", &json!({"monitoring_thresholds": more}))
        .await;
    assert_eq!(status, StatusCode::OK);
    run_ok(&app, &["assess", "--year", "2020"]);
    let cases = app.get_all("/api/v1/monitoring-cases").await;
    assert_eq!(cases.len(), 2);
    assert!(cases.iter().any(|c| {
        c["household_no"] == "M-GX"
            && c["signals"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("6600.00")
    }));
}

#[tokio::test]
async fn a_household_without_labour_capacity_stays_monitored() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[
            exited("L-YES", EAST_VILLAGE, 1),
            Hh {
                labour: "丧失劳动力",
                ..exited("L-NO", EAST_VILLAGE, 2)
            },
        ],
        &[("L-YES", 2020, "3000"), ("L-NO", 2020, "3000")],
    );
    let mut case_ids = Vec::new();
    for no in ["L-YES", "L-NO"] {
        let id = household_id(&app, no).await;
        let (status, case) = app
            .post(&format!("/api/v1/households/{id}/monitoring-cases"), &json!({"channel": "declaration", "identified_at": "2021-01-05", "note": "因病申报"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{case}");
        assert_eq!(
            case["category"], "1",
            "an exited household declaring hardship is 脱贫不稳定户"
        );
        let (status, dup) = app
            .post(
                &format!("/api/v1/households/{id}/monitoring-cases"),
                &json!({"channel": "visit", "category": "3"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{dup}");
        // Threshold for 2021: no line in the rules after 2020, so 1.5 × 4000 = 6000.00.
        for (date, income) in [("2021-01-10", "6500"), ("2021-07-10", "7000")] {
            let (status, v) = app
                .post(&format!("/api/v1/households/{id}/visits"), &json!({"visit_date": date, "visitor": "驻村第一书记", "findings": "务工收入稳定", "income_12m": income}))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{v}");
        }
        case_ids.push(case["id"].as_i64().unwrap());
    }
    let (status, check) = app
        .get(&format!(
            "/api/v1/monitoring-cases/{}/elimination",
            case_ids[0]
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(check["may_eliminate"], true, "{check}");
    assert_eq!(check["threshold_yuan"], "6000.00");
    let (status, check) = app
        .get(&format!(
            "/api/v1/monitoring-cases/{}/elimination",
            case_ids[1]
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(check["may_eliminate"], false);
    let unmet: Vec<&str> = check["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(unmet, ["labour"], "everything else holds: {check}");

    // The procedure cannot even start for the household without labour capacity.
    let (status, refused) = app
        .post(
            &format!(
                "/api/v1/monitoring-cases/{}/elimination-procedure",
                case_ids[1]
            ),
            &json!({"step": "verification", "date": "2021-07-20", "responsible": "驻村第一书记"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(error_fields(&refused), ["labour"]);
    let (_, still) = app
        .get(&format!("/api/v1/monitoring-cases/{}", case_ids[1]))
        .await;
    assert_eq!(still["status"], "monitoring");

    let path = format!(
        "/api/v1/monitoring-cases/{}/elimination-procedure",
        case_ids[0]
    );
    for (step, date) in [
        ("verification", "2021-07-20"),
        ("village_review", "2021-07-22"),
        ("county_approval", "2021-07-29"),
    ] {
        let (status, procedure) = app
            .post(
                &path,
                &json!({"step": step, "date": date, "responsible": "县乡村振兴局", "note": "村民代表评议通过"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{step}: {procedure}");
    }
    let (_, done) = app
        .get(&format!("/api/v1/monitoring-cases/{}", case_ids[0]))
        .await;
    assert_eq!(
        (done["status"].as_str(), done["eliminated_at"].as_str()),
        (Some("eliminated"), Some("2021-07-29"))
    );
    assert_eq!(
        done["elimination"]["criteria"].as_array().unwrap().len(),
        5,
        "the criteria as computed then are kept"
    );
    let monitored: Vec<String> = app
        .get_all("/api/v1/households?monitored=true")
        .await
        .iter()
        .map(|h| h["household_no"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(monitored, ["L-NO"]);
    // The eliminated case stays on record.
    assert_eq!(
        app.get_all("/api/v1/monitoring-cases?status=all")
            .await
            .len(),
        2
    );
    assert_eq!(
        app.get_all("/api/v1/monitoring-cases?status=eliminated")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_rule_change_never_rewrites_a_past_decision_or_its_explanation() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[poor("R1", EAST_VILLAGE, 1)],
        &[("R1", 2018, "3100"), ("R1", 2019, "3500")],
    );
    run_ok(&app, &["assess", "--year", "2019"]);
    let id = household_id(&app, "R1").await;
    let (_, before) = app
        .get(&format!("/api/v1/households/{id}/assessment?year=2019"))
        .await;
    assert_eq!(before["latest"]["may_exit"], true);
    assert_eq!(before["latest"]["rule_version"], 1);

    // Refusals change nothing.
    let county = app.client_as("county", Some("441621"), None).await;
    let (status, _) = app
        .send(
            &county,
            reqwest::Method::PUT,
            "/api/v1/rules",
            Some(&json!({"stable_years": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, bad) = app
        .put(
            "/api/v1/rules",
            &json!({"stable_years": 0, "publicity_days": 99, "bogus": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&bad), ["bogus"]);
    let (status, bad) = app
        .put(
            "/api/v1/rules",
            &json!({"stable_years": 0, "publicity_days": 99}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&bad), ["stable_years", "publicity_days"]);
    let (_, envelope) = app.get("/api/v1/rules").await;
    let (status, same) = app.put("/api/v1/rules", &envelope).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the GET envelope goes back as it came: {same}"
    );
    assert_eq!(same["rules"], envelope["rules"]);
    let (status, bad) = app
        .put(
            "/api/v1/rules",
            &json!({"poverty_lines": {"2019": {"value": "很多"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&bad), ["poverty_lines"]);
    assert_eq!(
        app.get("/api/v1/rules/versions").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "the refusals stored nothing"
    );

    // The 2019 line raised to 4000: a new version.
    let (_, current) = app.get("/api/v1/rules").await;
    let mut lines = current["rules"]["poverty_lines"].clone();
    lines["2019"]["value"] = json!(4000);
    lines["2019"]["basis"] = json!("按预测线 ×1.06 调整");
    let (status, saved) = app
        .put(
            "/api/v1/rules",
            &json!({"rules": {"poverty_lines": lines}, "note": "调整 2019 年贫困线"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["version"], 3);
    assert_eq!(saved["rules"]["poverty_lines"]["2019"]["value"], 4000);

    let (_, after_change) = app
        .get(&format!("/api/v1/households/{id}/assessment?year=2019"))
        .await;
    assert_eq!(after_change, before, "reads exactly as before");
    let explanation = before["latest"]["criteria"][0]["detail"].as_str().unwrap();
    assert_eq!(explanation, "人均纯收入 3500.00 元，高于贫困线 3218.00 元");

    run_ok(&app, &["assess", "--year", "2019"]);
    let (_, after_run) = app
        .get(&format!("/api/v1/households/{id}/assessment?year=2019"))
        .await;
    let decisions = after_run["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[0]["may_exit"], false);
    assert_eq!(decisions[0]["rule_version"], 3);
    assert_eq!(
        decisions[0]["criteria"][0]["detail"],
        "人均纯收入 3500.00 元，低于贫困线 4000.00 元"
    );
    assert_eq!(
        decisions[1], before["latest"],
        "the earlier decision is kept as it was"
    );
    let (_, v1) = app.get("/api/v1/rules/versions/1").await;
    assert_eq!(v1["rules"]["poverty_lines"]["2019"]["value"], 3218);

    // The household's explanation page names every criterion and the rule version.
    let (status, page) = app
        .get_text(&format!("/households/{id}/assessment?year=2019"))
        .await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        "规则版本 3",
        "规则版本 1",
        "低于贫困线 4000.00 元",
        "高于贫困线 3218.00 元",
        "饮水安全有保障",
    ] {
        assert!(page.contains(expected), "{expected}");
    }
}

async fn step(app: &TestApp, id: i64, state: &str, date: &str, note: &str) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/households/{id}/exit-procedure"),
        &json!({"year": 2019, "state": state, "date": date, "responsible": "驻村第一书记 张明", "note": note}),
    )
    .await
}

#[tokio::test]
async fn publicity_must_last_its_days_and_an_objection_stops_the_procedure() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[
            poor("P-OK", EAST_VILLAGE, 1),
            poor("P-OBJ", EAST_VILLAGE, 2),
            poor("P-NOT", EAST_VILLAGE, 3),
        ],
        &[
            ("P-OK", 2018, "3500"),
            ("P-OK", 2019, "4200"),
            ("P-OBJ", 2018, "3500"),
            ("P-OBJ", 2019, "4200"),
            ("P-NOT", 2018, "3500"),
            ("P-NOT", 2019, "3000"),
        ],
    );
    let (ok, obj, not) = (
        household_id(&app, "P-OK").await,
        household_id(&app, "P-OBJ").await,
        household_id(&app, "P-NOT").await,
    );
    let (status, body) = step(&app, ok, "拟退出", "2019-11-01", "").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no assessment yet: {body}"
    );
    assert_eq!(error_fields(&body), ["year"]);
    run_ok(&app, &["assess", "--year", "2019"]);
    let (status, body) = step(&app, not, "proposed", "2019-11-01", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2019年人均纯收入高于贫困线"),
        "{body}"
    );

    for id in [ok, obj] {
        for (state, date) in [
            ("拟退出", "2019-11-01"),
            ("民主评议", "2019-11-05"),
            ("村两委和驻村工作队核实", "2019-11-06"),
            ("贫困户认可", "2019-11-07"),
            ("公示", "2019-11-10"),
        ] {
            let (status, body) = step(&app, id, state, date, "").await;
            assert_eq!(status, StatusCode::CREATED, "{state}: {body}");
        }
    }
    // The village notice: names, dates, no ID numbers.
    let (status, list) = app
        .get(&format!(
            "/api/v1/publicity?village={EAST_VILLAGE}&year=2019"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["entries"].as_array().unwrap().len(), 2);
    assert_eq!(
        (
            list["entries"][0]["from"].as_str(),
            list["entries"][0]["until"].as_str()
        ),
        (Some("2019-11-10"), Some("2019-11-16"))
    );
    let (status, page) = app
        .get_text(&format!(
            "/assessment/publicity?village={EAST_VILLAGE}&year=2019"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("测试户主") && page.contains("P-OK") && page.contains("2019-11-16"),
        "{page}"
    );
    let id_no = id_number("441621", "19700305", 1, true);
    assert!(
        !page.contains(&id_no) && !page.contains(&id_no[..14]) && !page.contains("**********"),
        "no ID numbers, not even masked"
    );

    // Seven days by default: 公告 on the 16th is too early, the 17th is fine.
    let (status, body) = step(&app, ok, "公告", "2019-11-16", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_fields(&body), ["date"]);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("最早可于 2019-11-17 公告"),
        "{body}"
    );
    // Ten days once the rules say so.
    let (status, _) = app
        .put("/api/v1/rules", &json!({"publicity_days": 10}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = step(&app, ok, "announcement", "2019-11-17", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("最早可于 2019-11-20 公告"),
        "{body}"
    );
    let (status, _) = step(&app, ok, "announcement", "2019-11-20", "").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, done) = step(&app, ok, "销号", "2019-11-25", "").await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["current"], "removed");
    let (_, h) = app.get(&format!("/api/v1/households/{ok}")).await;
    assert_eq!(
        (h["status"]["code"].as_str(), h["exit_year"].as_i64()),
        (Some("1"), Some(2019))
    );
    assert!(
        h["status_history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["note"].as_str().unwrap().contains("销号"))
    );

    // An objection needs its reason, stops the procedure, and is kept.
    let (status, body) = step(&app, obj, "异议", "2019-11-12", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["note"]);
    let (status, body) = step(
        &app,
        obj,
        "异议",
        "2019-11-12",
        "村民反映家中新增大病支出，收入核算有误",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["current"], "objection");
    let (status, body) = step(&app, obj, "公告", "2019-11-25", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["state"]);
    let (_, procedure) = app
        .get(&format!(
            "/api/v1/households/{obj}/exit-procedure?year=2019"
        ))
        .await;
    let states: Vec<&str> = procedure["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "proposed",
            "review",
            "verification",
            "consent",
            "publicity",
            "objection"
        ]
    );
    assert_eq!(
        procedure["steps"][5]["note"],
        "村民反映家中新增大病支出，收入核算有误"
    );
    let (_, h) = app.get(&format!("/api/v1/households/{obj}")).await;
    assert_eq!(h["status"]["code"], "0", "still poor");
    let (_, list) = app
        .get(&format!(
            "/api/v1/publicity?village={EAST_VILLAGE}&year=2019"
        ))
        .await;
    assert!(
        list["entries"].as_array().unwrap().is_empty(),
        "neither household is in 公示 any more"
    );
}

#[tokio::test]
async fn visits_expenses_and_shocks_are_recorded_and_screened() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[
            exited("S-SHOCK", EAST_VILLAGE, 1),
            exited("S-EXP", EAST_VILLAGE, 2),
            exited("S-FINE", EAST_VILLAGE, 3),
        ],
        &[
            ("S-SHOCK", 2020, "20000"),
            ("S-SHOCK", 2021, "13000"),
            ("S-EXP", 2020, "9000"),
            ("S-EXP", 2021, "9000"),
            ("S-FINE", 2020, "9000"),
            ("S-FINE", 2021, "9000"),
        ],
    );
    let (shock, exp) = (
        household_id(&app, "S-SHOCK").await,
        household_id(&app, "S-EXP").await,
    );
    let (status, bad) = app
        .post(
            &format!("/api/v1/households/{shock}/shocks"),
            &json!({"shock_date": "2019-02-30", "kind": "彩票"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&bad), ["shock_date", "kind"]);
    let (status, s) = app
        .post(
            &format!("/api/v1/households/{shock}/shocks"),
            &json!({"shock_date": "2021-05-01", "kind": "重病", "note": "户主突发脑梗"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    assert_eq!(s["kind"], "illness");
    let (status, bad) = app
        .post(&format!("/api/v1/households/{exp}/expenses"), &json!({"expense_date": "2019-06-01", "kind": "医疗", "amount": "1000", "reimbursed": "2000"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&bad), ["reimbursed"]);
    let (status, e) = app
        .post(&format!("/api/v1/households/{exp}/expenses"), &json!({"expense_date": "2021-06-01", "kind": "medical", "amount": "15,000.50", "reimbursed": 4000}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    assert_eq!(
        (e["amount_fen"].as_i64(), e["net_fen"].as_i64()),
        (Some(1_500_050), Some(1_100_050))
    );
    let (status, bad) = app
        .post(
            &format!("/api/v1/households/{exp}/visits"),
            &json!({"visit_date": "2999-01-01", "income_12m": "abc"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&bad), ["visit_date", "visitor", "income_12m"]);

    let summary = run_ok(&app, &["assess", "--year", "2021"]);
    assert!(summary.contains("突发严重困难户"), "{summary}");
    let cases = app.get_all("/api/v1/monitoring-cases").await;
    let by_no = |no: &str| cases.iter().find(|c| c["household_no"] == no).cloned();
    let sudden = by_no("S-SHOCK").expect("shock case");
    assert_eq!(
        sudden["category"], "3",
        "a fall of 35% caused by a shock, still above 1.2 × the threshold: 突发严重困难户"
    );
    assert!(
        sudden["signals"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("重大疾病")
    );
    let expenses = by_no("S-EXP").expect("expense case");
    assert_eq!(
        expenses["category"], "3",
        "income above the threshold, expenses above income: 突发严重困难户"
    );
    assert_eq!(
        expenses["signals"][0]["key"], "rigid_expenses",
        "11000.50 not reimbursed > 9000.00 income"
    );
    assert!(by_no("S-FINE").is_none());
    assert!(
        cases[0]["risk_score"].as_i64() >= cases[1]["risk_score"].as_i64(),
        "ordered by risk"
    );
    assert_eq!(
        cases[0]["identified_at"], "2021-12-31",
        "a past year's finding is dated at its end"
    );

    // Measures on the case, then the expense resolved.
    let case_id = expenses["id"].as_i64().unwrap();
    let (status, bad) = app
        .post(
            &format!("/api/v1/monitoring-cases/{case_id}/measures"),
            &json!({"measure_type": "发钱", "date": "2022-01-05"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&bad), ["measure_type", "responsible"]);
    let (status, with_measure) = app
        .post(&format!("/api/v1/monitoring-cases/{case_id}/measures"), &json!({"measure_type": "医疗", "responsible": "镇卫生院", "date": "2022-01-05", "amount": "3000"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{with_measure}");
    assert_eq!(with_measure["measures"][0]["amount_fen"], 300_000);
    let (status, resolved) = app
        .post(
            &format!("/api/v1/expenses/{}/resolve", e["id"]),
            &json!({"date": "2022-02-01", "reimbursed": "9000"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(
        (
            resolved["resolved"].as_bool(),
            resolved["reimbursed_fen"].as_i64()
        ),
        (Some(true), Some(900_000))
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/expenses/{}/resolve", e["id"]),
            &json!({"date": "2022-02-02"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A visits file: any bad row refuses the whole file, by row and column.
    let dir = tempfile::tempdir().unwrap();
    let bad_file = "户编号,走访日期,走访人,走访情况,近12个月人均纯收入（元）,发现风险\nS-EXP,2020/3/1,李干部,正常,8000,\nS-NONE,2020-03-01,李干部,,8000,\nS-EXP,2020-13-01,,,-5,\n";
    let bad_path = write_file(&dir, "visits.csv", bad_file.as_bytes());
    let out = app.bangfu(&["import", "visits", &bad_path]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "第 3 行 户编号 列",
        "S-NONE",
        "第 4 行 走访日期 列",
        "第 4 行 走访人 列",
        "第 4 行 近12个月人均纯收入（元） 列",
        "未写入任何数据",
    ] {
        assert!(stderr.contains(expected), "{expected} in {stderr}");
    }
    let (_, records) = app
        .get(&format!("/api/v1/households/{exp}/monitoring"))
        .await;
    assert!(
        records["visits"].as_array().unwrap().is_empty(),
        "nothing written"
    );
    let good = write_file(&dir, "good.csv", "户编号,走访日期,走访人,走访情况,近12个月人均纯收入,发现风险\nS-EXP,2020/3/1,李干部,正常,8000,\n".as_bytes());
    let stdout = run_ok(&app, &["import", "visits", &good]);
    assert!(stdout.contains("写入走访记录 1 条"), "{stdout}");
    // The same from a workbook through the API.
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["户编号", "走访日期", "走访人", "近12个月人均纯收入"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, "S-SHOCK").unwrap();
    // A real date cell: 2020-04-02 is serial 43923 in Excel's 1900 date system.
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    ws.write_number_with_format(1, 1, 43923.0, &date_format)
        .unwrap();
    ws.write_string(1, 2, "王干部").unwrap();
    ws.write_number(1, 3, 9100.5).unwrap();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(wb.save_to_buffer().unwrap()).file_name("visits.xlsx"),
    );
    let r = app
        .client
        .post(app.url("/api/v1/imports/visits"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, shock_records) = app
        .get(&format!("/api/v1/households/{shock}/monitoring"))
        .await;
    assert_eq!(shock_records["visits"][0]["income_12m_fen"], 910_050);
    assert_eq!(shock_records["visits"][0]["visit_date"], "2020-04-02");
    let (_, records) = app
        .get(&format!("/api/v1/households/{exp}/monitoring"))
        .await;
    assert_eq!(records["visits"][0]["visit_date"], "2020-03-01");
    assert_eq!(records["visits"][0]["income_12m_fen"], 800_000);
    assert_eq!(records["expenses"][0]["resolved"], true);
    assert_eq!(records["cases"][0]["measures"].as_array().unwrap().len(), 1);

    // A village cadre of another county sees none of it.
    let other = app.client_as("village", Some(WEST_VILLAGE), None).await;
    let (status, _) = app
        .send(
            &other,
            reqwest::Method::GET,
            &format!("/api/v1/households/{exp}/monitoring"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, list) = app
        .send(
            &other,
            reqwest::Method::GET,
            "/api/v1/monitoring-cases",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(list["items"].as_array().unwrap().is_empty());
    let (status, _) = app
        .send(
            &other,
            reqwest::Method::POST,
            &format!("/api/v1/households/{exp}/visits"),
            Some(&json!({"visit_date": "2020-01-01", "visitor": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_run_page_starts_a_background_run_and_shows_its_progress() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[poor("B1", EAST_VILLAGE, 1), exited("B2", EAST_VILLAGE, 2)],
        &[
            ("B1", 2019, "4100"),
            ("B1", 2020, "4100"),
            ("B2", 2020, "1000"),
        ],
    );
    let (status, page) = app.get_text("/assessment").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<form") && !page.contains("<script"));
    let (status, location) = post_form(
        &app,
        "/assessment/runs",
        &[("year", "2020"), ("region", "")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/assessment/runs/"), "{location}");
    // Until it is done the page refreshes itself; then it shows the summary.
    let mut page = String::new();
    for _ in 0..100 {
        let (status, p) = app.get_text(&location).await;
        assert_eq!(status, StatusCode::OK);
        page = p;
        if !page.contains("http-equiv=\"refresh\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        !page.contains("http-equiv=\"refresh\""),
        "the run finished: {page}"
    );
    for expected in [
        "已完成",
        "评估户数",
        "可以退出",
        "防返贫监测",
        "脱贫不稳定户",
    ] {
        assert!(page.contains(expected), "{expected} in {page}");
    }
    let (_, runs) = app.get("/api/v1/assessment-runs").await;
    assert_eq!(runs["items"][0]["status"], "done");
    assert_eq!(
        runs["items"][0]["summary"]["candidates"][0]["count"], 1,
        "B2's income is far below the threshold"
    );

    // The API starts runs too; ?wait=true answers when done.
    let (status, run) = app
        .post(
            "/api/v1/assessment-runs?wait=true",
            &json!({"year": 2020, "region": "441621"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["summary"]["assessed"], 2);
    let (status, bad) = app
        .post(
            "/api/v1/assessment-runs",
            &json!({"year": 2019, "region": "999999"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(error_fields(&bad), ["region"]);
    let outsider = app.client_as("county", Some("451024"), None).await;
    let (status, _) = app
        .send(
            &outsider,
            reqwest::Method::POST,
            "/api/v1/assessment-runs",
            Some(&json!({"year": 2019, "region": "441621"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The monitoring work list page and the household pages.
    let (status, page) = app.get_text("/monitoring?region=441621").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("B2") && page.contains("脱贫不稳定户"),
        "{page}"
    );
    let b2 = household_id(&app, "B2").await;
    let (status, page) = app.get_text(&format!("/households/{b2}/monitoring")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("入户走访") && page.contains("刚性支出") && page.contains("突发变故"),
        "{page}"
    );
    let (status, _) = post_form(
        &app,
        &format!("/households/{b2}/visits"),
        &[
            ("visit_date", "2020-02-01"),
            ("visitor", "王书记"),
            ("findings", "在家"),
            ("income_12m", "3000"),
            ("risks", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, records) = app
        .get(&format!("/api/v1/households/{b2}/monitoring"))
        .await;
    assert_eq!(records["visits"][0]["visitor"], "王书记");

    // The visits import page shows every problem and writes nothing.
    let bad = "户编号,走访日期,走访人\nB2,2020-02-30,王书记\nB9,2020-03-01,王书记\n";
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bad.as_bytes().to_vec()).file_name("v.csv"),
    );
    let r = app
        .client
        .post(app.url("/assessment/visits-import"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("走访日期") && page.contains("B9") && page.contains("未写入任何数据"),
        "{page}"
    );
    let (_, records) = app
        .get(&format!("/api/v1/households/{b2}/monitoring"))
        .await;
    assert_eq!(records["visits"].as_array().unwrap().len(), 1);

    // The rules page shows the lines with their sources; an administrator saves a new version there.
    let (status, page) = app.get_text("/assessment/rules").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("3218") && page.contains("现价（弱确认）") && page.contains("<textarea"),
        "{page}"
    );
    let (status, _) = post_form(
        &app,
        "/assessment/rules",
        &[("rules", "{\"publicity_days\": 8}"), ("note", "公示八天")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, rules) = app.get("/api/v1/rules").await;
    assert_eq!(
        (
            rules["rules"]["publicity_days"].as_i64(),
            rules["note"].as_str()
        ),
        (Some(8), Some("公示八天"))
    );
}

// ---------------------------------------------------------------------------------------------
// 一般农户 (never registered as poor) kept for monitoring: 边缘易致贫户 candidates.

pub(crate) const TASHKURGAN_VILLAGE: &str = "653131100001"; // paired in the stats scenario
const RURAL_ONLY_VILLAGE: &str = "653131100003"; // no registered household: no village result

fn rural_line(
    no: &str,
    village: &str,
    seq: u32,
    household_type: &str,
    identification: &str,
) -> String {
    let id = id_number(&village[..6], "19810203", seq, true);
    format!(
        "{no},,{village},测试农户,男,{id},户主,汉族,初中,非在校生,健康,普通劳动力,6,{identification},13800001234,{ALL_SECURE},{household_type}"
    )
}

fn run_raw(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = app.bangfu(args);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The figures a non-registered household must never move.
async fn poverty_figures(app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/api/v1/stats/overview",
        "/api/v1/stats/overview?region=653131",
        "/api/v1/stats/dashboard",
        "/api/v1/stats/dashboard?region=653131100",
    ] {
        let r = app
            .anonymous_client()
            .get(app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let mut v: Value = r.json().await.unwrap();
        // Only the figures: the answer's own metadata (cache time and the like) may differ.
        if let Some(o) = v.as_object_mut() {
            o.retain(|k, _| {
                !k.contains("generated") && !k.contains("as_of") && !k.contains("computed")
            });
        }
        out.push(v);
    }
    out
}

/// The exit-progress rows without their run and time.
async fn progress_figures(app: &TestApp, level: &str) -> Vec<Value> {
    let rows = app
        .get_all(&format!("/api/v1/exit-progress?year=2019&level={level}"))
        .await;
    rows.iter()
        .map(|r| {
            json!([
                r["code"],
                r["households"],
                r["poor_households"],
                r["remaining"],
                r["incidence_bp"],
                r["passed"],
                r["may_exit_households"]
            ])
        })
        .collect()
}

#[tokio::test]
async fn a_rural_household_under_the_threshold_is_an_edge_candidate_and_in_no_poverty_figure() {
    let app = TestApp::spawn().await;
    crate::stats::scenario(&app).await;
    for code in ["653131", TASHKURGAN_VILLAGE] {
        let (status, body) = app
            .put(
                &format!("/api/v1/regions/{code}/population/2019"),
                &json!({"rural_population": 1000}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // A file with the 户类型 column: a blank type is a registered household under today's rules.
    let dir = tempfile::tempdir().unwrap();
    let header = format!("{HEADER}{FLAG_COLUMNS},户类型");
    let registered = write_file(
        &dir,
        "registered.csv",
        format!(
            "{header}\n{}\n",
            rural_line(
                "REG-NEW",
                "653131100002",
                803,
                "",
                "一般贫困户,国家标准,因病,,2014,未脱贫,"
            )
        )
        .as_bytes(),
    );
    run_ok(&app, &["import", "households", &registered]);
    run_ok(&app, &["assess", "--year", "2019"]);
    let figures_before = poverty_figures(&app).await;
    let counties_before = progress_figures(&app, "county").await;
    let villages_before = progress_figures(&app, "village").await;
    assert!(
        figures_before[0]["people_remaining"].as_i64().unwrap() > 0,
        "{}",
        figures_before[0]
    );

    // A registered household that lacks its identification data is told so.
    let bad = write_file(
        &dir,
        "bad.csv",
        format!(
            "{header}\n{}\n",
            rural_line("R-BAD", TASHKURGAN_VILLAGE, 800, "建档立卡户", ",,,,,,")
        )
        .as_bytes(),
    );
    let (ok, out) = run_raw(&app, &["import", "households", &bad]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("建档立卡户须填写识别年度") && out.contains("建档立卡户须填写贫困户属性"),
        "{out}"
    );
    // A 一般农户 with identification data is refused too, and a registered household cannot become one.
    let mixed = write_file(
        &dir,
        "mixed.csv",
        format!(
            "{header}\n{}\n",
            rural_line(
                "R-MIX",
                TASHKURGAN_VILLAGE,
                801,
                "一般农户",
                "一般贫困户,国家标准,因病,,2014,未脱贫,"
            )
        )
        .as_bytes(),
    );
    let (ok, out) = run_raw(&app, &["import", "households", &mixed]);
    assert!(
        !ok && out.contains("一般农户（未建档立卡）不填写贫困户属性"),
        "{out}"
    );
    let demote = write_file(
        &dir,
        "demote.csv",
        format!(
            "{header}\n{}\n",
            rural_line("REG-NEW", "653131100002", 803, "一般农户", ",,,,,,")
        )
        .as_bytes(),
    );
    let (ok, out) = run_raw(&app, &["import", "households", &demote]);
    assert!(
        !ok && out.contains("已是建档立卡户，不能改为一般农户"),
        "{out}"
    );

    // Through the import: a 一般农户 that will be under the monitoring threshold.
    let good = write_file(
        &dir,
        "rural.csv",
        format!(
            "{header}\n{}\n",
            rural_line("R-LOW", TASHKURGAN_VILLAGE, 802, "一般农户", ",,,,,,")
        )
        .as_bytes(),
    );
    run_ok(&app, &["import", "households", &good]);
    // Through the API: a 一般农户 above it; a registered household without its data is refused.
    let member = json!({"name": "测试农户", "sex": "女", "id_number": id_number("653131", "19820304", 804, false), "relation": "户主",
        "ethnicity": "汉", "education": "初中", "schooling": "非在校生", "health": "健康", "labour": "普通劳动力"});
    let (status, refused) = app
        .post("/api/v1/households", &json!({"household_no": "R-REG", "village_code": TASHKURGAN_VILLAGE, "household_type": "建档立卡户",
            "members": [member.clone()]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        error_fields(&refused).contains(&"identified_year".to_string()),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("建档立卡户须填写识别年度"),
        "{refused}"
    );
    let (status, created) = app
        .post("/api/v1/households", &json!({"household_no": "R-HIGH", "village_code": RURAL_ONLY_VILLAGE, "household_type": "一般农户",
            "members": [member]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["registered"], false, "{created}");
    assert_eq!(created["status"]["name"], "一般农户（未建档立卡）");
    let incomes = write_file(
        &dir,
        "incomes.csv",
        format!("{INCOME_HEADER}\nR-LOW,2019,3100,0,0,0,0\nR-LOW,2020,3000,0,0,0,0\nR-HIGH,2019,9000,0,0,0,0\nR-HIGH,2020,9000,0,0,0,0\n").as_bytes(),
    );
    run_ok(&app, &["import", "incomes", &incomes]);

    // No poverty figure moved: overview, dashboard (people out of poverty, remaining poor).
    assert_eq!(poverty_figures(&app).await, figures_before);

    // The batch: 1.5 × 4000 = 6000.00 is the 2020 threshold; R-LOW (3000) is a 边缘易致贫户, R-HIGH is not.
    run_ok(&app, &["assess", "--year", "2019"]);
    let summary = run_ok(&app, &["assess", "--year", "2020"]);
    assert!(
        summary.contains("筛查一般农户（未建档立卡，不参加退出评估）"),
        "{summary}"
    );
    let edge_line = summary
        .lines()
        .find(|l| l.contains("边缘易致贫户"))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(edge_line.trim_end().ends_with(" 1"), "{edge_line}");
    let cases = app.get_all("/api/v1/monitoring-cases").await;
    let rural: Vec<&Value> = cases
        .iter()
        .filter(|c| c["household_no"].as_str().unwrap().starts_with("R-"))
        .collect();
    assert_eq!(rural.len(), 1, "{cases:?}");
    assert_eq!(rural[0]["household_no"], "R-LOW");
    assert_eq!(rural[0]["category"], "2");
    assert_eq!(rural[0]["category_name"], "边缘易致贫户");
    assert_eq!(
        rural[0]["signals"][0]["detail"],
        "人均纯收入 3000.00 元低于监测标准 6000.00 元"
    );
    let monitored = app.get_all("/api/v1/households?monitoring_type=2").await;
    assert_eq!(
        monitored
            .iter()
            .map(|h| h["household_no"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["R-LOW"]
    );

    // Never in exit assessment or incidence: same village and county results, no decision, no procedure.
    assert_eq!(progress_figures(&app, "county").await, counties_before);
    assert_eq!(progress_figures(&app, "village").await, villages_before);
    for no in ["R-LOW", "R-HIGH"] {
        let id = household_id(&app, no).await;
        let (_, assessment) = app
            .get(&format!("/api/v1/households/{id}/assessment?year=2019"))
            .await;
        assert!(assessment["latest"].is_null(), "{no}: {assessment}");
    }
    let low = household_id(&app, "R-LOW").await;
    let (status, refused) = app
        .post(&format!("/api/v1/households/{low}/exit-procedure"), &json!({"year": 2019, "state": "proposed", "date": "2020-01-10", "responsible": "驻村第一书记 张明"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("一般农户（未建档立卡），不参加贫困退出"),
        "{refused}"
    );
    let (status, refused) = app
        .post(
            &format!("/api/v1/households/{low}/status"),
            &json!({"status": "已脱贫", "year": 2019}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(poverty_figures(&app).await, figures_before);

    // The work list shows the category; the household page says what the household is.
    let (status, page) = app.get_text("/monitoring").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("边缘易致贫户") && page.contains("R-LOW"),
        "{page}"
    );
    let (status, page) = app.get_text(&format!("/households/{low}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("一般农户（未建档立卡）"), "{page}");
}

/// Starts a run through the API (not waiting for it) on a task of its own.
fn start_run_task(app: &TestApp, body: Value) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let (client, url) = (app.client.clone(), app.url("/api/v1/assessment-runs"));
    tokio::spawn(async move {
        let r = client.post(url).json(&body).send().await.expect("request");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    })
}

pub(crate) async fn wait_for_run(app: &TestApp, id: i64) -> Value {
    for _ in 0..300 {
        let (status, run) = app.get(&format!("/api/v1/assessment-runs/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        if run["status"] != "running" {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("run {id} did not finish");
}

#[tokio::test]
async fn a_run_started_while_another_writer_holds_the_database_waits_its_turn() {
    let app = TestApp::spawn().await;
    import(
        &app,
        &[poor("W1", EAST_VILLAGE, 1)],
        &[("W1", 2018, "5000"), ("W1", 2019, "5000")],
    );
    // A first request, so that the token's last use is recorded before the lock is taken.
    assert_eq!(app.get("/api/v1/assessment-runs").await.0, StatusCode::OK);
    // Another writer (on SQLite: the write lock, as a run writing its decisions holds it; on
    // PostgreSQL: the runs table) commits a change while the run is being started.
    let (status, started) = match &app.db {
        store::Db::Sqlite(p) => {
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await.unwrap();
            let task = start_run_task(&app, json!({"year": 2019}));
            tokio::time::sleep(std::time::Duration::from_millis(700)).await;
            assert!(!task.is_finished(), "the start waits for the write lock");
            sqlx::query("UPDATE households SET group_name = group_name")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            task.await.unwrap()
        }
        store::Db::Postgres(p) => {
            let mut tx = p.begin().await.unwrap();
            sqlx::query("LOCK TABLE assessment_runs IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .unwrap();
            let task = start_run_task(&app, json!({"year": 2019}));
            tokio::time::sleep(std::time::Duration::from_millis(700)).await;
            assert!(!task.is_finished(), "the start waits for the lock");
            sqlx::query("UPDATE households SET group_name = group_name")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            task.await.unwrap()
        }
    };
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    // Two runs at once (the page's button pressed twice): both are recorded and both finish.
    let second = start_run_task(&app, json!({"year": 2019, "region": "441621"}));
    let third = start_run_task(&app, json!({"year": 2019}));
    let (s2, r2) = second.await.unwrap();
    let (s3, r3) = third.await.unwrap();
    assert_eq!(
        (s2, s3),
        (StatusCode::ACCEPTED, StatusCode::ACCEPTED),
        "{r2} {r3}"
    );
    for run in [&started, &r2, &r3] {
        let done = wait_for_run(&app, run["id"].as_i64().unwrap()).await;
        assert_eq!(done["status"], "done", "{done}");
        assert_eq!(done["summary"]["assessed"], 1, "{done}");
        assert_eq!(done["summary"]["may_exit"], 1, "{done}");
    }
}

/// SQLite only: PostgreSQL has no database-wide write lock, and waits for row locks without a
/// limit. Takes the busy timeout (30 s).
#[tokio::test]
async fn a_run_that_cannot_get_the_write_lock_in_time_is_a_conflict_not_a_server_error() {
    let app = TestApp::spawn().await;
    let store::Db::Sqlite(pool) = &app.db else {
        return;
    };
    import(
        &app,
        &[poor("W1", EAST_VILLAGE, 1)],
        &[("W1", 2018, "5000"), ("W1", 2019, "5000")],
    );
    assert_eq!(app.get("/api/v1/assessment-runs").await.0, StatusCode::OK);
    let tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let (status, refused) = start_run_task(&app, json!({"year": 2019})).await.unwrap();
    tx.rollback().await.unwrap();
    // 409 when the run's own transaction waited in vain, 503 when an earlier write of the
    // request did (the token's last use): either way a Chinese "busy, try again", never a 500.
    assert!(
        [StatusCode::CONFLICT, StatusCode::SERVICE_UNAVAILABLE].contains(&status),
        "{status} {refused}"
    );
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("数据库正忙"), "{refused}");
    assert!(!refused.to_string().contains("locked"), "{refused}");
    // Nothing was recorded; once the other writer is done, the run starts.
    let (_, runs) = app.get("/api/v1/assessment-runs").await;
    assert_eq!(runs["items"].as_array().map(Vec::len), Some(0), "{runs}");
    let (status, run) = app
        .post("/api/v1/assessment-runs?wait=true", &json!({"year": 2019}))
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["summary"]["assessed"], 1, "{run}");
}
